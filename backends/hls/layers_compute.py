"""Layer builders for compute and elementwise ops: CONV2D, LINEAR, MATMUL, REQUANTIZE, ADD / SUB / MUL /
MAXIMUM / MINIMUM, RELU / CLAMP, and the lookup tables of SIGMOID, TANH, HARDSWISH and GELU."""

from __future__ import annotations

import math

import numpy as np

from edgelower.interp import run_graph
from edgelower.ir.graph import GraphBuilder, Op, TensorType
from edgelower.ir.traits import is_integer
from edgelower.quant.records import AddQ, ClampQ, HardSwishQ, LogisticQ, MulQ, RequantQ, TanhQ
from edgelower.quant.transformer import IGeluQ

from edgelower.backends.hls import configs as cfg
from edgelower.backends.hls.plan import (
    INT8, MAX_DIMS, Call, Context, LayerPlan, Refused, Work, accumulating, array_type, bias_arg, element,
    line_buffer, require_constants, require_int8_unary, requant_fields,
)


def conv2d(k: Context) -> LayerPlan:
    a = k.attrs
    require_constants(k, 1, 2)
    (n, c, h, w), (o, cg, kh, kw), (_, _, oh, ow) = k.type(0).shape, k.type(1).shape, k.out.shape
    q, fields, mult, shift = accumulating(k, 1)
    (sh, sw), (dh, dw), (pt, pl, _, _) = a["stride"], a["dilation"], a["padding"]
    config = cfg.Conv2dConfig(**fields, batch=n, in_channels=c, in_h=h, in_w=w, out_channels=o, out_h=oh, out_w=ow,
                              kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                              pad_top=pt, pad_left=pl, groups=a["groups"], input_offset=q.input_offset,
                              weight_offset=q.weight_offset, **line_buffer(h, oh, kh, sh, dh, pt))
    args = (k.node.inputs[1], bias_arg(k, 2, o), mult, shift)
    types = (element(k.out),)
    return LayerPlan(k.node, (Call("el::conv2d", config, (k.node.inputs[0], *args, k.node.output), types),),
                     Call("el::conv2d_stream", config, (k.node.inputs[0], *args, k.node.output), types),
                     Work(n * oh * ow, macs=o * cg * kh * kw, wide=o if fields else 0, depth=8))


def linear(k: Context) -> LayerPlan:
    require_constants(k, 1, 2)
    out_features, in_features = k.type(1).shape
    q, fields, mult, shift = accumulating(k, len(k.out.shape) - 1)
    rows = k.type(0).numel // in_features
    config = cfg.LinearConfig(**fields, rows=rows, in_features=in_features, out_features=out_features,
                              input_offset=q.input_offset, weight_offset=q.weight_offset)
    args = (k.node.inputs[0], k.node.inputs[1], bias_arg(k, 2, out_features), mult, shift, k.node.output)
    flat = len(k.type(0).shape) != 4 and len(k.out.shape) != 4 and not k.is_constant(0)
    types = (element(k.out),)
    return LayerPlan(k.node, (Call("el::linear", config, args, types),),
                     Call("el::linear_stream", config, args, types) if flat else None,
                     Work(rows, macs=out_features * in_features, wide=out_features if fields else 0, depth=8))


def _batch_offsets(a_shape, b_shape, out_shape) -> tuple[list[int], list[int]]:
    """Where each (broadcast) batch entry of a and b starts, in output batch order."""
    batch = out_shape[:-2]
    count = math.prod(batch)
    a_index = np.broadcast_to(np.arange(math.prod(a_shape[:-2])).reshape(a_shape[:-2] or (1,)) if a_shape[:-2]
                              else np.zeros(()), batch).reshape(count)
    b_index = np.broadcast_to(np.arange(math.prod(b_shape[:-2])).reshape(b_shape[:-2] or (1,)) if b_shape[:-2]
                              else np.zeros(()), batch).reshape(count)
    return ([int(i) * a_shape[-2] * a_shape[-1] for i in a_index], [int(i) * b_shape[-2] * b_shape[-1] for i in b_index])


def matmul(k: Context) -> LayerPlan:
    a, b, y = k.type(0).shape, k.type(1).shape, k.out.shape
    q, fields, mult, shift = accumulating(k, len(y) - 1)
    sa, sb = _batch_offsets(a, b, y)
    config = cfg.MatmulConfig(**fields, batch=len(sa), m=a[-2], k=a[-1], n=b[-1], input_offset=q.input_offset,
                              weight_offset=q.weight_offset)
    args = (k.node.inputs[0], k.node.inputs[1], k.rom("a_offset", "int", sa, "batch starts of a"),
            k.rom("b_offset", "int", sb, "batch starts of b"), mult, shift, k.node.output)
    types = (array_type(k, 0), array_type(k, 1), element(k.out))
    return LayerPlan(k.node, (Call("el::matmul", config, args, types),), None,
                     Work(len(sa) * a[-2], macs=b[-1] * a[-1], wide=b[-1] if fields else 0, depth=8))


def requantize(k: Context) -> LayerPlan:
    q = k.record(RequantQ)
    shape = k.out.shape
    per_channel = len(q.multiplier) > 1
    if per_channel and q.axis is None:
        raise Refused(f"{len(q.multiplier)} requantization pairs and no axis")
    channels = shape[q.axis] if per_channel else 1
    fields, mult, shift = requant_fields(k, q, channels)
    inner = math.prod(shape[q.axis + 1:]) if per_channel else 1
    base = dict(count=k.out.numel, channels=channels, per_channel=per_channel, input_offset=q.input_offset,
                output_offset=q.output_offset, act_min=q.act_min, act_max=q.act_max)
    types = (array_type(k, 0),)
    args = (k.node.inputs[0], mult, shift, k.node.output)
    stream = None
    if not k.is_constant(0):
        # channels-last streams carry the channel axis innermost; C-order streams keep `inner`
        nhwc = len(shape) == 4
        if not per_channel or not nhwc or q.axis == 1:
            stream_inner = 1 if (per_channel and nhwc) else inner
            stream = Call("el::requantize_stream", cfg.RequantizeConfig(inner=stream_inner, **base),
                          args, (element(k.type(0)),))
    return LayerPlan(k.node, (Call("el::requantize", cfg.RequantizeConfig(inner=inner, **base), args, types),),
                     stream, Work(k.out.numel, wide=1, depth=6))


def _coalesce(shape, *strides):
    """Drop size-1 dims and merge neighbours every operand walks contiguously (as the C backend does)."""
    from edgelower.backends.c.context import coalesce

    return coalesce(shape, *strides)


def binary(k: Context) -> LayerPlan:
    from edgelower.backends.c.context import broadcast_strides

    op = k.node.op
    if op in (Op.MAXIMUM, Op.MINIMUM):
        if is_integer(k.node):
            raise Refused("an int8 MAXIMUM / MINIMUM compares values of one quantization; it carries no record")
        fields = {}
    elif op is Op.MUL:
        q = k.record(MulQ)
        fields = dict(input1_offset=q.input1_offset, input2_offset=q.input2_offset,
                      output_multiplier=q.output_multiplier, output_shift=q.output_shift,
                      output_offset=q.output_offset, act_min=q.act_min, act_max=q.act_max)
    else:
        q = k.record(AddQ)
        fields = {f: getattr(q, f) for f in ("input1_offset", "input2_offset", "left_shift", "input1_multiplier",
                                             "input1_shift", "input2_multiplier", "input2_shift",
                                             "output_multiplier", "output_shift", "output_offset", "act_min",
                                             "act_max")}
    for v in (*k.node.inputs, k.node.output):
        if k.types[v].dtype is not INT8:
            raise Refused(f"%{v} is {k.types[v].dtype.value}; the binary kernels take int8")
    y = k.out.shape
    shape, (sa, sb) = _coalesce(y, broadcast_strides(k.type(0).shape, y), broadcast_strides(k.type(1).shape, y))
    if len(shape) > MAX_DIMS:
        raise Refused(f"a {len(shape)}-d broadcast; the kernel walks {MAX_DIMS}")
    pad = MAX_DIMS - len(shape)
    config = cfg.BinaryConfig(op=cfg.BINARY_OPS.index(op.name), count=k.out.numel, ndim=len(shape), **fields)
    args = (k.node.inputs[0], k.node.inputs[1], k.rom("shape", "int", list(shape) + [1] * pad, "output dims"),
            k.rom("stride_a", "int", list(sa) + [0] * pad, "strides of a"),
            k.rom("stride_b", "int", list(sb) + [0] * pad, "strides of b"), k.node.output)
    same = k.type(0).shape == k.type(1).shape == y and not k.is_constant(0) and not k.is_constant(1)
    stream = Call("el::binary_stream", config, (k.node.inputs[0], k.node.inputs[1], k.node.output)) if same else None
    wide = {Op.ADD: 3, Op.SUB: 3, Op.MUL: 2}.get(op, 0)
    return LayerPlan(k.node, (Call("el::binary", config, args, (array_type(k, 0), array_type(k, 1))),), stream,
                     Work(k.out.numel, wide=wide, depth=8 if wide else 1))


def clamp(k: Context) -> LayerPlan:
    q = k.record(ClampQ)
    require_int8_unary(k)
    config = cfg.UnaryConfig(count=k.out.numel, act_min=q.act_min, act_max=q.act_max)
    args = (k.node.inputs[0], k.node.output)
    return LayerPlan(k.node, (Call("el::clamp", config, args),), Call("el::clamp_stream", config, args),
                     Work(k.out.numel, depth=1))


def lookup(k: Context) -> LayerPlan:
    """Any int8 -> int8 pointwise op with a record (SIGMOID, TANH, HARDSWISH, GELU): a 256-entry table, each entry
    the reference interpreter's result for that input value."""
    k.record({Op.SIGMOID: LogisticQ, Op.TANH: TanhQ, Op.HARDSWISH: HardSwishQ, Op.GELU: IGeluQ}[k.node.op])
    require_int8_unary(k)
    b = GraphBuilder("table")
    x = b.input("x", TensorType((256,), INT8, k.type(0).qparams))
    b.output(b.op(k.node.op, [x], dict(k.node.attrs)))
    graph = b.build()
    values = run_graph(graph, [np.arange(INT8.min, INT8.max + 1, dtype=np.int8)])[0]
    table = k.rom("table", "el::rom8", values, f"{k.node.op.name.lower()} of x = {INT8.min} .. {INT8.max}, by the interpreter")
    config = cfg.UnaryConfig(count=k.out.numel)
    return LayerPlan(k.node, (Call("el::table", config, (k.node.inputs[0], table, k.node.output)),),
                     Call("el::table_stream", config, (k.node.inputs[0], table, k.node.output)),
                     Work(k.out.numel, depth=2))
