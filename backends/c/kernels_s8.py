"""The int8 forms of the C kernels: Op -> emit function for integer nodes (docs/quantization.md).

A node is integer when it carries a `q` record (`edgelower.quant.records`), or is an int8 MAX_POOL2D, MAXIMUM or MINIMUM
(exact on int8 with one quantization in and out, so they need none). Each emit function turns the node's record into
the `static const` struct of the runtime's int8 kernel (`runtime/include/edgelower.h`, int8 section: el_dot_q,
el_requant, el_add_q, ...), per-channel multipliers and shifts into `static const int32_t` arrays, and reuses the
float kernels' geometry params. Integers are emitted as exact literals; nothing here is a float.

CONV2D, LINEAR and MATMUL store the int32 accumulator (the `_s32` kernels) unless their record also carries the
requantization (`q.requant`, a RequantQ): then the fused kernel requantizes in its own loop and the accumulator never
reaches the arena. Convolutions pick a specialized kernel (pointwise, depthwise) when the geometry allows; it gives
the generic kernel's bytes, and `SPECIALIZE = False` renders the generic one everywhere (the tests compare both).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from edgelower.ir.graph import DType, Op
from edgelower.quant.records import AddQ, ClampQ, ConvQ, HardSwishQ, LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, \
    TanhQ

from edgelower.backends.c.context import KernelContext, broadcast, broadcast_strides, contiguous_strides, \
    reduce_params, walk
from edgelower.backends.c import kernels, transformer
from edgelower.backends.c.kernels import resample_params
from edgelower.quant.resampling import ResizeBilinearQ
from edgelower.quant.tables import TableQ
from edgelower.backends.c.syntax import int_literal

# Render the pointwise / depthwise convolution kernels where they apply (False: the generic one everywhere).
SPECIALIZE = True



def _int(value: int) -> str:
    return int_literal(value, DType.INT32)


def _record(k: KernelContext, *kinds: type) -> Any:
    q = k.attrs["q"]
    if not isinstance(q, kinds):
        raise k.fail(f"q must be a {' or '.join(t.__name__ for t in kinds)}, got {type(q).__name__}")
    if k.attrs.get("activation") is not None:
        raise k.fail(f"an integer node holds its activation range in q, not activation={k.attrs['activation']}")
    return q


def _check_int8(k: KernelContext, *values: str) -> None:
    for v in values:
        if k.types[v].dtype is not DType.INT8:
            raise k.fail(f"%{v} is {k.types[v].dtype.value}, the int8 kernel wants int8")


def _array(k: KernelContext, hint: str, values: Sequence[int]) -> str:
    """A `static const int32_t` array of exact literals; its name, for a struct field."""
    return k.array(DType.INT32, hint, np.asarray(values, np.int64))


def _requant(k: KernelContext, q: RequantQ, channels: int) -> str:
    """The el_requant of `q` for a kernel whose per-channel pairs follow a channel axis of `channels` entries."""
    per_channel = len(q.multiplier) > 1
    if per_channel and len(q.multiplier) != channels:
        raise k.fail(f"{len(q.multiplier)} requantization pairs for {channels} channels")
    if len(q.shift) != len(q.multiplier) or not all(-31 <= s <= 31 for s in q.shift):
        raise k.fail(f"requantization shifts {q.shift} must pair with the multipliers and lie in [-31, 31]")
    return k.params("el_requant", {
        "per_channel": int(per_channel), "multiplier": _array(k, "mult", q.multiplier),
        "shift": _array(k, "shift", q.shift), "input_offset": _int(q.input_offset),
        "output_offset": _int(q.output_offset), "act_min": _int(q.act_min), "act_max": _int(q.act_max)})


def _dot(k: KernelContext, q: ConvQ) -> str:
    return k.params("el_dot_q", {"input_offset": _int(q.input_offset), "weight_offset": _int(q.weight_offset)})


def _fields(q: Any, names: Sequence[str]) -> dict[str, str]:
    """Struct fields taken from the record's attributes of the same names, as exact literals."""
    return {name: _int(getattr(q, name)) for name in names}


def _accumulating(k: KernelContext, channel_axis: int) -> tuple[str, str | None]:
    """(el_dot_q pointer, el_requant pointer or None) of a CONV2D / LINEAR / MATMUL record. A fused requantization
    must be per tensor or along the output's channel axis: the kernel requantizes by output channel."""
    q = _record(k, ConvQ)
    _check_int8(k, *k.node.inputs[:2])
    rq = getattr(q, "requant", None)
    if rq is None:
        if k.out.dtype is not DType.INT32:
            raise k.fail(f"the accumulator is int32, the output is {k.out.dtype.value}")
        return _dot(k, q), None
    _check_int8(k, k.node.output)
    if len(rq.multiplier) > 1 and rq.axis != channel_axis:
        raise k.fail(f"fused per-channel requantization along axis {rq.axis}; the kernel's channels are axis "
                     f"{channel_axis}")
    return _dot(k, q), _requant(k, rq, k.out.shape[channel_axis])


# --- compute --------------------------------------------------------------------------------------------------

def _conv2d_kernel(k: KernelContext) -> str:
    a, c, (kh, kw) = k.attrs, k.type(0).shape[1], k.type(1).shape[2:]
    if SPECIALIZE and (kh, kw) == (1, 1) and a["stride"] == (1, 1) and not any(a["padding"]) and a["groups"] == 1:
        return "el_conv2d_1x1"
    if SPECIALIZE and a["groups"] == c and c > 1:
        return "el_depthwise_conv2d"
    return "el_conv2d"


def emit_conv2d(k: KernelContext) -> None:
    a = k.attrs
    (n, c, h, w), (o, _, kh, kw), (_, _, oh, ow) = k.type(0).shape, k.type(1).shape, k.out.shape
    dot, rq = _accumulating(k, 1)
    if k.scratch and rq is None:
        raise k.fail("an int32 accumulator cannot be written over its int8 input")
    p = k.params("el_conv2d_params", {
        "batch": n, "in_channels": c, "in_h": h, "in_w": w, "out_channels": o, "out_h": oh, "out_w": ow,
        "kernel_h": kh, "kernel_w": kw, "stride_h": a["stride"][0], "stride_w": a["stride"][1],
        "dilation_h": a["dilation"][0], "dilation_w": a["dilation"][1],
        "pad_top": a["padding"][0], "pad_left": a["padding"][1], "groups": a["groups"]})
    fn = _conv2d_kernel(k)
    if k.scratch:  # planned in place (passes/memory/alias_buffers.py): the output pointer is the input's
        k.call("el_depthwise_conv2d_inplace_s8", p, dot, rq, k.out_ptr, k.ptr(1), k.ptr(2), k.scratch[0])
    elif rq is None:
        k.call(f"{fn}_s8_s32", p, dot, k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)
    else:
        k.call(f"{fn}_s8", p, dot, rq, k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_linear(k: KernelContext) -> None:
    out_features, in_features = k.type(1).shape
    dot, rq = _accumulating(k, len(k.out.shape) - 1)
    p = k.params("el_linear_params", {"rows": k.type(0).numel // in_features, "in_features": in_features,
                                      "out_features": out_features})
    if rq is None:
        k.call("el_linear_s8_s32", p, dot, k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)
    else:
        k.call("el_linear_s8", p, dot, rq, k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_matmul(k: KernelContext) -> None:
    a, b, y = k.type(0).shape, k.type(1).shape, k.out.shape
    dot, rq = _accumulating(k, len(y) - 1)
    m, kk, n = a[-2], a[-1], b[-1]
    batch = y[:-2]
    sa = [s * m * kk for s in broadcast_strides(a[:-2], batch)]
    sb = [s * kk * n for s in broadcast_strides(b[:-2], batch)]
    p = k.params("el_matmul_params", {"m": m, "k": kk, "n": n, "batch": broadcast(k, batch, sa, sb)})
    if rq is None:
        k.call("el_matmul_s8_s32", p, dot, k.ptr(0), k.ptr(1), k.out_ptr)
    else:
        k.call("el_matmul_s8", p, dot, rq, k.ptr(0), k.ptr(1), k.out_ptr)


def emit_requantize(k: KernelContext) -> None:
    q = _record(k, RequantQ)
    shape, x = k.out.shape, k.type(0)
    per_channel = len(q.multiplier) > 1
    if per_channel and q.axis is None:
        raise k.fail(f"{len(q.multiplier)} requantization pairs and no axis")
    # per tensor: one channel holding every element
    outer, channels, inner = (math.prod(shape[:q.axis]), shape[q.axis], math.prod(shape[q.axis + 1:])) \
        if per_channel else (1, 1, k.out.numel)
    p = k.params("el_channel_params", {"outer": outer, "channels": channels, "inner": inner})
    rq = _requant(k, q, channels)
    if x.dtype is DType.INT32:
        k.call("el_requantize_s32_s8", p, rq, k.ptr(0), k.out_ptr)
    else:
        _check_int8(k, k.node.inputs[0])
        k.call("el_requantize_s8", p, rq, k.ptr(0), k.out_ptr)


# --- elementwise ----------------------------------------------------------------------------------------------

ADD_FIELDS = ("input1_offset", "input2_offset", "left_shift", "input1_multiplier", "input1_shift",
              "input2_multiplier", "input2_shift", "output_multiplier", "output_shift", "output_offset", "act_min",
              "act_max")
MUL_FIELDS = ("input1_offset", "input2_offset", "output_multiplier", "output_shift", "output_offset", "act_min",
              "act_max")
BINARY = {Op.ADD: ("el_add_s8", AddQ, "el_add_q", ADD_FIELDS), Op.SUB: ("el_sub_s8", AddQ, "el_add_q", ADD_FIELDS),
          Op.MUL: ("el_mul_s8", MulQ, "el_mul_q", MUL_FIELDS)}
MIN_MAX = {Op.MAXIMUM: "el_maximum_s8", Op.MINIMUM: "el_minimum_s8"}


def _broadcast_params(k: KernelContext) -> str:
    y = k.out.shape
    return k.params("el_broadcast_params", broadcast(k, y, broadcast_strides(k.type(0).shape, y),
                                                     broadcast_strides(k.type(1).shape, y)))


def emit_binary(k: KernelContext) -> None:
    fn, kind, ctype, names = BINARY[k.node.op]
    q = _record(k, kind)
    _check_int8(k, *k.node.inputs, k.node.output)
    p = _broadcast_params(k)
    k.call(fn, p, k.params(ctype, _fields(q, names)), k.ptr(0), k.ptr(1), k.out_ptr)


def emit_min_max(k: KernelContext) -> None:
    """MAXIMUM / MINIMUM of int8 values with one quantization: an exact comparison, no record."""
    _check_int8(k, *k.node.inputs, k.node.output)
    k.call(MIN_MAX[k.node.op], _broadcast_params(k), k.ptr(0), k.ptr(1), k.out_ptr)


def _unary_params(k: KernelContext) -> str:
    _check_int8(k, k.node.inputs[0], k.node.output)
    return k.params("el_unary_params", {"count": k.out.numel})


def emit_clamp(k: KernelContext) -> None:
    q = _record(k, ClampQ)
    k.call("el_clamp_s8", _unary_params(k), _int(q.act_min), _int(q.act_max), k.ptr(0), k.out_ptr)


def emit_hardswish(k: KernelContext) -> None:
    q = _record(k, HardSwishQ)
    fields = _fields(q, ("input_offset", "output_offset", "reluish_multiplier_fixedpoint_int16",
                         "reluish_multiplier_exponent", "output_multiplier_fixedpoint_int16",
                         "output_multiplier_exponent"))
    k.call("el_hardswish_s8", _unary_params(k), k.params("el_hardswish_q", fields), k.ptr(0), k.out_ptr)


def emit_logistic(k: KernelContext) -> None:
    """SIGMOID (LogisticQ) and TANH (TanhQ): one parameter struct, two kernels."""
    q = _record(k, TanhQ if k.node.op is Op.TANH else LogisticQ)
    fields = _fields(q, ("input_offset", "input_range_radius", "input_multiplier", "input_left_shift"))
    fn = "el_tanh_s8" if k.node.op is Op.TANH else "el_sigmoid_s8"
    k.call(fn, _unary_params(k), k.params("el_logistic_q", fields), k.ptr(0), k.out_ptr)


def emit_softmax(k: KernelContext) -> None:
    q = _record(k, SoftmaxQ)
    _check_int8(k, k.node.inputs[0], k.node.output)
    shape, axis = k.type(0).shape, k.attrs["axis"]
    p = k.params("el_softmax_params", {"outer": math.prod(shape[:axis]), "axis": shape[axis],
                                       "inner": math.prod(shape[axis + 1:])})
    fields = _fields(q, ("input_multiplier", "input_left_shift", "diff_min"))
    k.call("el_softmax_s8", p, k.params("el_softmax_q", fields), k.ptr(0), k.out_ptr)


# --- pooling and reductions -----------------------------------------------------------------------------------

def emit_pool2d(k: KernelContext) -> None:
    """MAX_POOL2D with or without a PoolQ (its fused clamp), AVG_POOL2D with one (in-bounds taps only)."""
    a = k.attrs
    is_max = k.node.op is Op.MAX_POOL2D
    q = _record(k, PoolQ) if a["q"] is not None or not is_max else PoolQ()
    _check_int8(k, k.node.inputs[0], k.node.output)
    if not is_max and (any(a["padding"]) and a["count_include_pad"] or a["divisor"] is not None):
        raise k.fail("int8 AVG_POOL2D divides by the in-bounds tap count: padding needs count_include_pad=False "
                     "and no divisor")
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    dh, dw = a["dilation"] if is_max else (1, 1)
    p = k.params("el_pool2d_params", {
        "planes": n * c, "in_h": h, "in_w": w, "out_h": oh, "out_w": ow,
        "kernel_h": a["kernel"][0], "kernel_w": a["kernel"][1], "stride_h": a["stride"][0],
        "stride_w": a["stride"][1], "dilation_h": dh, "dilation_w": dw,
        "pad_top": a["padding"][0], "pad_left": a["padding"][1], "pad_bottom": a["padding"][2],
        "pad_right": a["padding"][3], "count_include_pad": 0, "divisor": 0})
    fn = "el_max_pool2d_s8" if is_max else "el_avg_pool2d_s8"
    k.call(fn, p, _int(q.act_min), _int(q.act_max), k.ptr(0), k.out_ptr)


def emit_mean(k: KernelContext) -> None:
    """MEAN and SUM: TFLM's QuantizedMeanOrSum, one record type."""
    q = _record(k, MeanQ)
    _check_int8(k, k.node.inputs[0], k.node.output)
    shape, axes = k.type(0).shape, set(k.attrs["axes"])
    count = math.prod(shape[i] for i in axes)
    if not 0 < count < MeanQ.MAX_COUNT:
        raise k.fail(f"int8 {k.node.op.name} over {count} elements: TFLM's int32 sum holds fewer than "
                     f"{MeanQ.MAX_COUNT}")
    fields = _fields(q, ("input_offset", "output_offset", "multiplier", "shift"))
    k.call(f"el_{k.node.op.name.lower()}_s8", reduce_params(k), k.params("el_mean_q", fields), k.ptr(0), k.out_ptr)


def emit_reduce_extreme(k: KernelContext) -> None:
    """REDUCE_MAX / REDUCE_MIN of int8 values: a selection."""
    _check_int8(k, k.node.inputs[0], k.node.output)
    k.call(f"el_{k.node.op.name.lower()}_s8", reduce_params(k), k.ptr(0), k.out_ptr)


def emit_lookup(k: KernelContext) -> None:
    q = _record(k, TableQ)
    table = k.array(DType.INT8, "table", q.table)
    k.call("el_lookup_s8", _unary_params(k), table, k.ptr(0), k.out_ptr)


def emit_adaptive_pool2d(k: KernelContext) -> None:
    """ADAPTIVE_MAX_POOL2D (a selection, no record) and ADAPTIVE_AVG_POOL2D (TFLite's average rounding, PoolQ)."""
    _check_int8(k, k.node.inputs[0], k.node.output)
    if k.node.op is Op.ADAPTIVE_MAX_POOL2D:
        if k.attrs["q"] is not None:
            raise k.fail("int8 ADAPTIVE_MAX_POOL2D selects values and carries no record")
        k.call("el_adaptive_max_pool2d_s8", resample_params(k), k.ptr(0), k.out_ptr)
        return
    q = _record(k, PoolQ)
    k.call("el_adaptive_avg_pool2d_s8", resample_params(k), _int(q.act_min), _int(q.act_max), k.ptr(0), k.out_ptr)


def emit_resize_bilinear(k: KernelContext) -> None:
    q = _record(k, ResizeBilinearQ)
    _check_int8(k, k.node.inputs[0], k.node.output)
    fields = _fields(q, ("height_scale_10", "width_scale_10", "half_pixel_centers"))
    k.call("el_resize_bilinear_s8", resample_params(k), k.params("el_resize_bilinear_q", fields), k.ptr(0),
           k.out_ptr)


Emit = Callable[[KernelContext], None]

INT8_KERNELS: dict[Op, Emit] = {
    Op.CONV2D: emit_conv2d,
    Op.LINEAR: emit_linear,
    Op.MATMUL: emit_matmul,
    Op.REQUANTIZE: emit_requantize,
    **{op: emit_binary for op in BINARY},
    **{op: emit_min_max for op in MIN_MAX},
    Op.RELU: emit_clamp,
    Op.CLAMP: emit_clamp,
    Op.HARDSWISH: emit_hardswish,
    Op.SIGMOID: emit_logistic,
    Op.TANH: emit_logistic,
    Op.SOFTMAX: transformer.softmax_or(emit_softmax),
    Op.GELU: transformer.emit_igelu,
    Op.LAYER_NORM: transformer.emit_ilayer_norm,
    Op.MAX_POOL2D: emit_pool2d,
    Op.AVG_POOL2D: emit_pool2d,
    Op.MEAN: emit_mean,
    Op.SUM: emit_mean,
    Op.REDUCE_MAX: emit_reduce_extreme,
    Op.REDUCE_MIN: emit_reduce_extreme,
    Op.LOOKUP: emit_lookup,
    Op.ADAPTIVE_MAX_POOL2D: emit_adaptive_pool2d,
    Op.ADAPTIVE_AVG_POOL2D: emit_adaptive_pool2d,
    Op.RESIZE_BILINEAR: emit_resize_bilinear,
    Op.COMPARE: kernels.emit_compare,
    Op.ARGMAX: kernels.emit_arg_extreme,
    Op.ARGMIN: kernels.emit_arg_extreme,
}
