"""Convolutions, matrix products and pools as linalg named ops and contractions.

CONV2D is `linalg.conv_2d_nchw_fchw` (groups 1), `depthwise_conv_2d_nchw_chw` (one filter per channel) or
`conv_2d_ngchw_gfchw` (other groups, through free reshapes), over the input padded with zeros by `tensor.pad`; its
accumulator starts from the broadcast bias. On integers the named ops sign-extend int8 operands into the int32
accumulator and wrap like the IR's `out_dtype` (a sum modulo 2^32 is the exact sum wrapped once). LINEAR and
MATMUL are `linalg.generic` contractions (batch dims broadcast in the indexing maps), so one rule covers every rank
and both kinds. Pools pad with the value that never wins (max: -inf or the dtype's minimum; sum: 0), including the
extra rows and columns a ceil_mode window reaches (`pool_geometry`), and AVG_POOL2D divides the window sums by the
interpreter's own divisor table.
"""

from __future__ import annotations

import numpy as np

from edgelower.interp.float_ops import _avg_divisor
from edgelower.ir.graph import DType, Node, Op
from edgelower.ir.ops import pool_geometry

from edgelower.backends.mlir.elementwise import activate


def _accumulate(E, x, w, acc_dtype: DType):
    """acc + x * w in the accumulator's type (operands sign-extended into it), or in f32."""
    a = E.arith

    def body(xv, wv, acc):
        if acc_dtype.is_float:
            return a.addf(acc, a.mulf(xv, wv))
        widen = lambda v: v if v.type == E.element(acc_dtype) else a.extsi(E.element(acc_dtype), v)
        return a.addi(acc, a.muli(widen(xv), widen(wv)))
    return body


def _initial(E, node: Node, bias_shape: tuple[int, ...]):
    """The accumulator's start: the bias broadcast over the output (reshaped to `bias_shape`), or zeros."""
    out = E.types[node.output]
    if len(node.inputs) < 3:
        return E.filled(out.shape, out.dtype, 0)
    bias = E.reshape(E.value(node.inputs[2]), bias_shape)
    return E.pointwise([(bias, bias_shape)], out.shape, out.dtype, lambda b: b)


def _activated(E, node: Node, y):
    """The result with the node's fused activation applied in one more pointwise pass, if it has one."""
    out = E.types[node.output]
    if node.attrs.get("activation") is None:
        return y
    return E.pointwise([(y, out.shape)], out.shape, out.dtype,
                       lambda v: activate(E, v, node.attrs["activation"], out.dtype))


def conv2d(E, node: Node):
    x, w = node.inputs[:2]
    (n, c, _, _), (o, cg, kh, kw) = E.shape(x), E.shape(w)
    out = E.types[node.output]
    groups = node.attrs["groups"]
    pt, pl, pb, pr = node.attrs["padding"]
    geometry = {"strides": list(node.attrs["stride"]), "dilations": list(node.attrs["dilation"])}
    xp = E.pad(E.value(x), [0, 0, pt, pl], [0, 0, pb, pr], 0, E.dtype(x))
    xp = E.windows(xp, out.shape[2:], (kh, kw), node.attrs["stride"], node.attrs["dilation"])
    init = _initial(E, node, (o, 1, 1))
    if groups == 1:
        y = E.linalg.conv_2d_nchw_fchw(xp, E.value(w), outs=[init], **geometry)
    elif groups == c == o:
        y = E.linalg.depthwise_conv_2d_nchw_chw(xp, E.reshape(E.value(w), (o, kh, kw)), outs=[init], **geometry)
    else:
        hp, wp = E.ir.RankedTensorType(xp.type).shape[2:]
        grouped = E.reshape(xp, (n, groups, cg, hp, wp))
        weights = E.reshape(E.value(w), (groups, o // groups, cg, kh, kw))
        acc = E.reshape(init, (n, groups, o // groups, *out.shape[2:]))
        y = E.reshape(E.linalg.conv_2d_ngchw_gfchw(grouped, weights, outs=[acc], **geometry), out.shape)
    return _activated(E, node, y)


def linear(E, node: Node):
    """y = x @ W.T + b over x's last dim: a contraction on x collapsed to [M, K]."""
    x, w = node.inputs[:2]
    out = E.types[node.output]
    k, nout = E.shape(x)[-1], E.shape(w)[0]
    m = out.numel // nout
    m_, n_, k_ = E.dims(3)
    init = E.reshape(_initial(E, node, (nout,)), (m, nout))
    y = E.generic([E.reshape(E.value(x), (m, k)), E.value(w)], [init], [[m_, k_], [n_, k_], [m_, n_]],
                  [E.PAR, E.PAR, E.RED], _accumulate(E, x, w, out.dtype), 3)
    return _activated(E, node, E.reshape(y, out.shape))


def matmul(E, node: Node):
    """Batched a @ b with numpy's broadcasting over the batch dims, in the maps."""
    a, b = node.inputs
    out = E.types[node.output]
    rank = len(out.shape)
    d = E.dims(rank + 1)
    batch, (m, n, k) = d[:rank - 2], d[rank - 2:]
    maps = [E.broadcast_exprs(E.shape(a)[:-2], out.shape[:-2], batch) + [m, k],
            E.broadcast_exprs(E.shape(b)[:-2], out.shape[:-2], batch) + [k, n], d[:rank]]
    return E.generic([E.value(a), E.value(b)], [E.filled(out.shape, out.dtype, 0)], maps,
                     [E.PAR] * rank + [E.RED], _accumulate(E, a, b, out.dtype), rank + 1)


def _pool_input(E, node: Node, fill):
    """The input padded with `fill` (ceil_mode's overhang included) and cut to what the windows read."""
    x, attrs = node.inputs[0], node.attrs
    oh, ow, bottom, right = pool_geometry(E.shape(x), attrs)
    pt, pl = attrs["padding"][:2]
    padded = E.pad(E.value(x), [0, 0, pt, pl], [0, 0, bottom, right], fill, E.dtype(x))
    return E.windows(padded, (oh, ow), attrs["kernel"], attrs["stride"], attrs.get("dilation", (1, 1)))


def _lowest(dtype: DType):
    return -np.inf if dtype.is_float else dtype.min


def max_pool2d(E, node: Node):
    out = E.types[node.output]
    lowest = _lowest(out.dtype)
    window = E.empty(node.attrs["kernel"], out.dtype)
    y = E.linalg.pooling_nchw_max(_pool_input(E, node, lowest), window, outs=[E.filled(out.shape, out.dtype, lowest)],
                                  strides=list(node.attrs["stride"]), dilations=list(node.attrs["dilation"]))
    return y


def avg_pool2d(E, node: Node):
    """Float AVG_POOL2D: window sums over the zero-padded input, divided by the interpreter's divisor."""
    x = node.inputs[0]
    out = E.types[node.output]
    attrs = node.attrs
    window = E.empty(attrs["kernel"], out.dtype)
    sums = E.linalg.pooling_nchw_sum(_pool_input(E, node, 0.0), window, outs=[E.filled(out.shape, out.dtype, 0.0)],
                                     strides=list(attrs["stride"]), dilations=[1, 1])
    if attrs["divisor"] is not None:
        divisor = np.float64(attrs["divisor"])
    else:
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
        (h, w), (oh, ow) = E.shape(x)[2:], out.shape[2:]
        include = attrs["count_include_pad"]
        divisor = np.outer(_avg_divisor(h, oh, kh, sh, pt, pb, include), _avg_divisor(w, ow, kw, sw, pl, pr, include))
    table = np.asarray(divisor, np.float32)
    return E.pointwise([(sums, out.shape), (E.array(table, DType.FLOAT32), table.shape)], out.shape, out.dtype,
                       lambda s, dv: E.arith.divf(s, dv))


RULES = {Op.CONV2D: conv2d, Op.LINEAR: linear, Op.MATMUL: matmul, Op.MAX_POOL2D: max_pool2d,
         Op.AVG_POOL2D: avg_pool2d}
