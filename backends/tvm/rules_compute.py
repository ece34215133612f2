"""Convolution, dense products and pooling.

Integer accumulation: int8 x int8 products are summed by Relax's conv2d / matmul with `out_dtype` int32, as the
IR's CONV2D / LINEAR / MATMUL with out_dtype "int32" define; the bias is added afterwards with wrapping arithmetic
(rules_integer.wrapping), where the decomposed programs put the zero-point terms and where a sum may wrap. The
products alone wrap only past 2^31 / 2^14 = 131072 int8 x int8 terms per output, beyond any model here.

Pooling windows are made explicit: the input is padded (with the dtype's lowest value for max pooling, zeros for
average pooling) to exactly the extent `pool_geometry` gives, ceil_mode included, and then pooled without
padding, so the windows are the interpreter's by construction.
"""

from __future__ import annotations

import numpy as np

from edgelower.backends.tvm.rules import Rule, float_only
from edgelower.backends.tvm.rules_integer import wrapping
from edgelower.interp.float_ops import _avg_divisor
from edgelower.ir.graph import Op
from edgelower.ir.ops import pool_geometry


def _accumulator(call) -> str:
    """What Relax accumulates in: float32, or int32 (int64 for an int64 result) for integer products."""
    if call.out.dtype.is_float:
        return "float32"
    return "int64" if call.dtype == "int64" else "int32"


def _biased(ctx, call, acc, bias, shape):
    """acc + bias (reshaped to broadcast along the output channels), then the result's own dtype."""
    if bias is not None:
        bias = ctx.R.reshape(ctx.astype(bias, ctx.struct_dtype(acc)), shape)
        if call.out.dtype.is_float:
            acc = ctx.R.add(acc, ctx.emit(bias))
        else:
            acc = wrapping(ctx, ctx.R.add, [acc, ctx.emit(bias)], ctx.struct_dtype(acc))
    return ctx.activated(call, ctx.astype(ctx.emit(acc), call.dtype))


def _conv2d(ctx, call):
    x, w = call.args[:2]
    a = call.attrs
    acc = ctx.emit(ctx.R.nn.conv2d(x, w, strides=a["stride"], padding=a["padding"], dilation=a["dilation"],
                                   groups=a["groups"], out_dtype=_accumulator(call)))
    bias = call.args[2] if len(call.args) == 3 else None
    return _biased(ctx, call, acc, bias, (1, call.out.shape[1], 1, 1))


def _linear(ctx, call):
    x, w = call.args[:2]
    acc = ctx.emit(ctx.R.matmul(x, ctx.emit(ctx.R.permute_dims(w)), out_dtype=_accumulator(call)))
    bias = call.args[2] if len(call.args) == 3 else None
    return _biased(ctx, call, acc, bias, (call.out.shape[-1],))


def _matmul(ctx, call):
    acc = ctx.emit(ctx.R.matmul(*call.args, out_dtype=_accumulator(call)))
    return ctx.astype(acc, call.dtype)


def _lowest(dtype: str) -> float:
    return float("-inf") if dtype == "float32" else float(np.iinfo(dtype).min)


def _pooled(ctx, call, pool, pad_value: float):
    """The input padded to the pool's full extent, pooled without padding, cut to the IR's output size."""
    R, a = ctx.R, call.attrs
    (pt, pl) = a["padding"][:2]
    oh, ow, bottom, right = pool_geometry(call.ins[0].shape, a)
    x = call.args[0]
    if pt or pl or bottom or right:
        x = ctx.emit(R.nn.pad(x, [0, 0, 0, 0, pt, bottom, pl, right], pad_value=pad_value))
    y = ctx.emit(pool(x))
    if ctx.shape(y)[2:] != (oh, ow):  # a ceil_mode window dropped by PyTorch's rule may still fit the padding
        y = R.strided_slice(y, axes=[2, 3], begin=[0, 0], end=[oh, ow])
    return y


def _max_pool2d(ctx, call):
    a = call.attrs
    return _pooled(ctx, call, lambda x: ctx.R.nn.max_pool2d(x, a["kernel"], a["stride"], 0, a.get("dilation", (1, 1))),
                   _lowest(call.dtype))


def _avg_pool2d(ctx, call):
    """The window sums (an average over the whole window, times its size), divided by the interpreter's divisor
    per output position: the padded or in-bounds tap count, or `divisor`."""
    a = call.attrs
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["stride"], a["padding"]
    oh, ow = pool_geometry(call.ins[0].shape, a)[:2]
    if a["divisor"] is not None:
        divisor = np.full((oh, ow), float(a["divisor"]))
    else:
        h, w = call.ins[0].shape[2:]
        include = a["count_include_pad"]
        divisor = np.outer(_avg_divisor(h, oh, kh, sh, pt, pb, include), _avg_divisor(w, ow, kw, sw, pl, pr, include))
    mean = _pooled(ctx, call, lambda x: ctx.R.nn.avg_pool2d(x, (kh, kw), (sh, sw), 0, count_include_pad=True), 0.0)
    factor = (kh * kw / divisor).astype(np.float32)
    if np.all(factor == 1):
        return mean
    return ctx.R.multiply(ctx.emit(mean), ctx.relax.const(factor, "float32"))


RULES: dict[Op, Rule] = {
    Op.CONV2D: Rule(_conv2d),
    Op.LINEAR: Rule(_linear),
    Op.MATMUL: Rule(_matmul),
    Op.MAX_POOL2D: Rule(_max_pool2d),
    Op.AVG_POOL2D: Rule(_avg_pool2d, float_only),
}
