"""The reference semantics of quantized nodes: those whose attribute `q` holds integer parameters.

Every function here computes in integers only (int64 intermediates, results in the node's int8/int32 dtype) and
follows TFLite's int8 reference kernels bit for bit, through the helpers of `edgelower.quant.arith` and
`edgelower.quant.fixedpoint`. `edgelower.interpreter.evaluate_node` dispatches here when a node carries `q`; the
nonlinearities live in `edgelower.interp.integer_nonlinear`.

Which int8 nodes carry `q` (docs/quantization.md):
- arithmetic (CONV2D, LINEAR, MATMUL, REQUANTIZE, ADD, SUB, MUL, AVG_POOL2D, MEAN, RELU, CLAMP, HARDSWISH, SIGMOID,
  TANH, SOFTMAX) always does: its `q` record is the whole of its arithmetic;
- data movement (RESHAPE, PERMUTE, CONCAT, SLICE, EXPAND, PAD, UPSAMPLE_NEAREST, GATHER), MAX_POOL2D, MAXIMUM and
  MINIMUM never need one: on int8 they are exact copies and comparisons with the same qparams in and out, and the
  float implementations run on int8 arrays unchanged (they keep the dtype; PAD fills with its `value`, which
  `lower_integer` sets to the zero point, and MAX_POOL2D pads with int8's minimum, which never wins a window holding an
  input). MAX_POOL2D may carry a PoolQ for a fused activation clamp.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import as_strided

from edgelower.quant import transformer
from edgelower.interp import integer_nonlinear as nonlinear
from edgelower.ir.graph import DType, Op
from edgelower.ir.ops import pool_geometry, pool_out
from edgelower.quant.records import AddQ, ClampQ, ConvQ, HardSwishQ, LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, \
    TanhQ
from edgelower.quant.arith import multiply_by_quantized_multiplier, requantize, wrap_int32

IntImpl = Callable[[list[np.ndarray], Mapping[str, Any]], list[np.ndarray]]

INT8_MIN, INT8_MAX = DType.INT8.min, DType.INT8.max


def _record(attrs, *kinds):
    """The node's `q`, checked to be one of `kinds`; integer nodes hold their activation range in `q`."""
    q = attrs["q"]
    if not isinstance(q, kinds):
        raise ValueError(f"q must be a {' or '.join(k.__name__ for k in kinds)}, got {type(q).__name__}")
    if attrs.get("activation") is not None:
        raise ValueError(f"an integer node holds its activation range in q, not in activation={attrs['activation']}")
    return q


def _int32(acc: np.ndarray) -> np.ndarray:
    """The int32 accumulator: C's int32 arithmetic wraps modulo 2**32."""
    return acc.astype(np.int32)


def _accumulated(acc: np.ndarray, q: ConvQ) -> np.ndarray:
    """The int32 accumulator, or in the fused form (q.requant) exactly what REQUANTIZE makes of it."""
    acc = _int32(acc)
    r = q.requant
    if r is None:
        return acc
    return requantize(acc.astype(np.int64) + r.input_offset, r.multiplier, r.shift, r.output_offset, r.act_min,
                      r.act_max, r.axis)


def _windows(x: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Read-only view [N, C, KH, KW, OH, OW] of an (already padded) NCHW array under every kernel tap."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    s0, s1, s2, s3 = x.strides
    return as_strided(x, x.shape[:2] + (kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw),
                      writeable=False)


def _conv2d(ins, attrs):
    """ConvPerChannel / DepthwiseConvPerChannel up to the accumulator: padding taps contribute nothing (TFLite
    skips them, which is padding x + input_offset with 0), acc = sum((x + input_offset) * (w + weight_offset))
    + bias, in int32."""
    q = _record(attrs, ConvQ)
    x, w = ins[0], ins[1]
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups = attrs["groups"]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = attrs["stride"], attrs["dilation"], attrs["padding"]
    oh, ow = pool_out(h, kh, sh, pt, pb, dh), pool_out(wd, kw, sw, pl, pr, dw)
    xs = np.pad(x.astype(np.int64) + q.input_offset, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = _windows(xs, (kh, kw), (sh, sw), (dh, dw), (oh, ow)).reshape(n, groups, cg * kh * kw, oh * ow)
    ws = (w.astype(np.int64) + q.weight_offset).reshape(groups, o // groups, cg * kh * kw)
    acc = np.matmul(ws, cols).reshape(n, o, oh, ow)
    if len(ins) == 3:
        acc = acc + ins[2].astype(np.int64).reshape(1, o, 1, 1)
    return [_accumulated(acc, q)]


def _linear(ins, attrs):
    """reference_integer_ops::FullyConnected (per tensor or per channel) up to the accumulator."""
    q = _record(attrs, ConvQ)
    acc = (ins[0].astype(np.int64) + q.input_offset) @ (ins[1].astype(np.int64) + q.weight_offset).T
    if len(ins) == 3:
        acc = acc + ins[2].astype(np.int64)
    return [_accumulated(acc, q)]


def _matmul(ins, attrs):
    """reference_ops::BatchMatMul<int8_t, int32_t> up to the accumulator: both operands are activations."""
    q = _record(attrs, ConvQ)
    acc = np.matmul(ins[0].astype(np.int64) + q.input_offset, ins[1].astype(np.int64) + q.weight_offset)
    return [_accumulated(acc, q)]


def _requantize(ins, attrs):
    """The requantization tail of ConvPerChannel / FullyConnected / BatchMatMul on int32, or TFLite's QUANTIZE
    (reference_ops::Requantize) on int8."""
    q = _record(attrs, RequantQ)
    x = ins[0].astype(np.int64) + q.input_offset
    return [requantize(x, q.multiplier, q.shift, q.output_offset, q.act_min, q.act_max, q.axis)]


def _add_sub(sign: int) -> IntImpl:
    """reference_integer_ops::AddElementwise / reference_ops::SubElementwise with numpy broadcasting: both inputs
    shifted left by left_shift, each rescaled (MultiplyByQuantizedMultiplierSmallerThanOneExp), summed or
    subtracted in int32, rescaled to the output, offset and clamped."""
    def impl(ins, attrs):
        q = _record(attrs, AddQ)
        x1 = (ins[0].astype(np.int64) + q.input1_offset) << q.left_shift
        x2 = (ins[1].astype(np.int64) + q.input2_offset) << q.left_shift
        scaled1 = multiply_by_quantized_multiplier(x1, q.input1_multiplier, q.input1_shift)
        scaled2 = multiply_by_quantized_multiplier(x2, q.input2_multiplier, q.input2_shift)
        raw = wrap_int32(multiply_by_quantized_multiplier(_int32(scaled1 + sign * scaled2), q.output_multiplier,
                                                          q.output_shift) + q.output_offset)
        return [np.clip(raw, q.act_min, q.act_max).astype(np.int8)]
    return impl


def _mul(ins, attrs):
    """reference_integer_ops::MulElementwise with numpy broadcasting."""
    q = _record(attrs, MulQ)
    product = (ins[0].astype(np.int64) + q.input1_offset) * (ins[1].astype(np.int64) + q.input2_offset)
    raw = wrap_int32(multiply_by_quantized_multiplier(product, q.output_multiplier, q.output_shift) + q.output_offset)
    return [np.clip(raw, q.act_min, q.act_max).astype(np.int8)]


def _avg_pool2d(ins, attrs):
    """reference_integer_ops::AveragePool: the raw int8 values of the in-bounds taps are summed and divided by
    their count, rounding half away from zero ((acc +/- count / 2) / count in C), then clamped. Padding is never
    counted, so a padded int8 pool must say count_include_pad=False (and use no divisor override)."""
    q = _record(attrs, PoolQ)
    if any(attrs["padding"]) and attrs["count_include_pad"] or attrs["divisor"] is not None:
        raise ValueError("int8 AVG_POOL2D divides by the in-bounds tap count: padding needs count_include_pad=False "
                         "and no divisor")
    x = ins[0]
    oh, ow, bottom, right = pool_geometry(x.shape, attrs)
    pt, pl = attrs["padding"][:2]
    pads = ((0, 0), (0, 0), (pt, bottom), (pl, right))
    value_windows = _windows(np.pad(x.astype(np.int64), pads), attrs["kernel"], attrs["stride"], (1, 1), (oh, ow))
    inside = np.pad(np.ones((1, 1) + x.shape[2:], np.int64), pads)
    count_windows = _windows(inside, attrs["kernel"], attrs["stride"], (1, 1), (oh, ow))
    total, count = value_windows.sum(axis=(2, 3)), count_windows.sum(axis=(2, 3))
    if (count == 0).any():
        raise ValueError("an int8 AVG_POOL2D window holds no input element")
    rounded = np.sign(total) * ((np.abs(total) + count // 2) // count)
    return [np.clip(rounded, q.act_min, q.act_max).astype(np.int8)]


def _max_pool2d(ins, attrs):
    """reference_integer_ops::MaxPool: the maximum of the in-bounds taps, clamped to the PoolQ range."""
    q = _record(attrs, PoolQ)
    x = ins[0]
    oh, ow, bottom, right = pool_geometry(x.shape, attrs)
    pt, pl = attrs["padding"][:2]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, bottom), (pl, right)), constant_values=np.int8(INT8_MIN))
    best = _windows(xp, attrs["kernel"], attrs["stride"], attrs["dilation"], (oh, ow)).max(axis=(2, 3))
    return [np.clip(best, q.act_min, q.act_max).astype(np.int8)]


def _mean(ins, attrs):
    """TFLM's int8 MEAN (reference_ops::QuantizedMeanOrSum): the raw sum over `axes` re-centred on the input zero
    point, times the record's multiplier with 1/n folded in as TFLM folds it (MeanQ), plus the output zero point,
    clamped."""
    q = _record(attrs, MeanQ)
    x, axes = ins[0], tuple(attrs["axes"])
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if not 0 < count < MeanQ.MAX_COUNT:
        raise ValueError(f"int8 MEAN over {count} elements: TFLM's int32 sum holds fewer than {MeanQ.MAX_COUNT}")
    total = _int32(x.astype(np.int64).sum(axis=axes, keepdims=attrs["keepdim"]) + count * q.input_offset)
    k = min(count.bit_length() - 1, 32, 31 + q.shift)
    multiplier = (q.multiplier << k) // count  # positive operands: C's truncating division
    out = wrap_int32(multiply_by_quantized_multiplier(total, multiplier, q.shift - k) + q.output_offset)
    return [np.clip(out, INT8_MIN, INT8_MAX).astype(np.int8)]


def _clamp(ins, attrs):
    """RELU / CLAMP on int8 with the same qparams in and out: TFLM's ReluQuantized (identity multiplier),
    Relu6Quantized, or MAXIMUM / MINIMUM against a constant."""
    q = _record(attrs, ClampQ)
    return [np.clip(ins[0], q.act_min, q.act_max).astype(np.int8)]


def _checked(impl: IntImpl, kind: type) -> IntImpl:
    def run(ins, attrs):
        _record(attrs, kind)
        return impl(ins, attrs)
    return run


INTEGER_IMPLS: dict[Op, IntImpl] = {
    Op.CONV2D: _conv2d,
    Op.LINEAR: _linear,
    Op.MATMUL: _matmul,
    Op.REQUANTIZE: _requantize,
    Op.ADD: _add_sub(+1),
    Op.SUB: _add_sub(-1),
    Op.MUL: _mul,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.MAX_POOL2D: _max_pool2d,
    Op.MEAN: _mean,
    Op.RELU: _clamp,
    Op.CLAMP: _clamp,
    Op.SIGMOID: _checked(nonlinear.sigmoid, LogisticQ),
    Op.TANH: _checked(nonlinear.tanh, TanhQ),
    Op.HARDSWISH: _checked(nonlinear.hardswish, HardSwishQ),
    Op.SOFTMAX: transformer.softmax_or(_checked(nonlinear.softmax, SoftmaxQ)),
    Op.GELU: transformer.gelu_impl,
    Op.LAYER_NORM: transformer.layer_norm_impl,
}
