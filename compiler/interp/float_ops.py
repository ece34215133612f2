"""The float (and plain integer) definition of every IR op, in numpy: `IMPLS`.

`IMPLS` maps each `Op` to one numpy implementation `(inputs, attrs) -> outputs`, with `attrs` complete (defaults
filled as `edgelower.ops.complete_attrs` gives them) and the conventions of `edgelower.ir.ops`. Every pass, backend and
runtime kernel is held to what these functions compute: `run_graph` runs a Graph, `run_schedule` runs a planned
Schedule on a simulated arena, so that a wrong memory plan changes the result.

Numerical contract for float32 (the dtype every float op sees):
- Exactly rounded ops (ADD, SUB, MUL, DIV, SQRT, MAXIMUM, ...) compute in float32 and are bit-identical to PyTorch.
- Everything else (transcendentals, convolutions, matmuls, reductions, normalizations) computes in float64 from
  the float32 inputs and rounds once to float32 at the end. That is the exact result to within float32 rounding,
  independent of BLAS summation order, and it sits within a few float32 ulps (times sqrt of the reduction length)
  of PyTorch's float32 kernels, which accumulate in float32.

Integer arrays run without ever passing through float: data movement, RELU, CLAMP, NEG, ABS, MAXIMUM, MINIMUM, the
selections (REDUCE_MAX, REDUCE_MIN, ADAPTIVE_MAX_POOL2D, GATHER) keep the dtype, ARGMAX / ARGMIN give indices;
ADD, SUB, MUL wrap like C and torch; CONV2D, LINEAR, MATMUL and SUM
accumulate in int64 and wrap once to the input dtype, or to CONV2D / LINEAR / MATMUL's `out_dtype` (the IR keeps
the dtype where torch would promote SUM to int64). Quantized nodes (attribute `q` set) dispatch to
`edgelower.interp.integer.INTEGER_IMPLS`; the other primitive integer ops are in `edgelower.interp.primitives`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import as_strided

from edgelower.interp.resampling import adaptive_avg_pool2d, adaptive_max_pool2d, resize_bilinear
from edgelower.ir.graph import DType, Op
from edgelower.ir.ops import parse_activation, pool_geometry, pool_out
from edgelower.quant.arith import round_half_away

Impl = Callable[[list[np.ndarray], Mapping[str, Any]], list[np.ndarray]]


def _wide(a: np.ndarray) -> np.ndarray:
    """The accumulation type: float64 for floats, int64 for integers."""
    return a.astype(np.float64 if a.dtype.kind == "f" else np.int64)


def _narrow(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round (floats) or wrap modulo 2**bits (integers) once, back to `dtype`."""
    return np.asarray(a).astype(dtype)


def _scalar(value: Any, dtype: np.dtype) -> np.ndarray:
    """A bound or fill value in the tensor's dtype, as torch casts a Python scalar to the tensor's dtype."""
    return np.asarray(value).astype(dtype)


def _lowest(dtype: np.dtype) -> np.ndarray:
    return _scalar(-np.inf if dtype.kind == "f" else np.iinfo(dtype).min, dtype)


_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    """libm's double-precision erf, elementwise (numpy has none; scipy is not a dependency)."""
    return np.asarray(_erf_scalar(x), dtype=np.float64).reshape(np.shape(x))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows, and the e / (1 + e) branch keeps full relative precision for very negative x.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if approximate == "none":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")


def _exact(fn: Callable[..., np.ndarray]) -> Impl:
    """An op computed in the input dtype: exactly rounded for float32, wrapping for integers."""
    return lambda ins, attrs: [np.asarray(fn(*ins))]


def _float(fn: Callable[[np.ndarray], np.ndarray]) -> Impl:
    """A float op computed in float64 and rounded once to the input dtype."""
    return lambda ins, attrs: [_narrow(fn(_wide(ins[0])), ins[0].dtype)]


def _windows(x: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Read-only view [N, C, KH, KW, OH, OW] of the (already padded) input under every kernel tap."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    n, c, h, w = x.shape
    if (oh - 1) * sh + (kh - 1) * dh >= h or (ow - 1) * sw + (kw - 1) * dw >= w:
        raise ValueError(f"windows {kernel} stride {stride} dilation {dilation} x {out_hw} exceed input {x.shape}")
    s0, s1, s2, s3 = x.strides
    return as_strided(x, (n, c, kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False)


def _pad_hw(x: np.ndarray, top: int, left: int, bottom: int, right: int, value: np.ndarray) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _out_dtype(x: np.ndarray, attrs) -> np.dtype:
    """Where CONV2D, LINEAR, MATMUL round or wrap their exact sum: `out_dtype`, else the input's dtype."""
    return x.dtype if attrs.get("out_dtype") is None else np.dtype(attrs["out_dtype"])


def _conv2d(ins, attrs):
    x, w = ins[0], ins[1]
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups = attrs["groups"]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = attrs["stride"], attrs["dilation"], attrs["padding"]
    oh, ow = pool_out(h, kh, sh, pt, pb, dh), pool_out(wd, kw, sw, pl, pr, dw)
    # im2col: [N, G, Cg*KH*KW, OH*OW] columns against [G, O/G, Cg*KH*KW] weights, one batched matmul.
    xw = _wide(x)
    xp = _pad_hw(xw, pt, pl, pb, pr, _scalar(0, xw.dtype))
    cols = _windows(xp, (kh, kw), (sh, sw), (dh, dw), (oh, ow)).reshape(n, groups, cg * kh * kw, oh * ow)
    y = np.matmul(_wide(w).reshape(groups, o // groups, cg * kh * kw), cols).reshape(n, o, oh, ow)
    if len(ins) == 3:
        y = y + _wide(ins[2]).reshape(1, o, 1, 1)
    return [_narrow(y, _out_dtype(x, attrs))]


def _linear(ins, attrs):
    x, w = ins[0], ins[1]
    y = _wide(x) @ _wide(w).T
    if len(ins) == 3:
        y = y + _wide(ins[2])
    return [_narrow(y, _out_dtype(x, attrs))]


def _matmul(ins, attrs):
    a, b = ins
    return [_narrow(np.matmul(_wide(a), _wide(b)), _out_dtype(a, attrs))]


def _relu(x):
    return np.maximum(x, _scalar(0, x.dtype))


def _clamp(ins, attrs):
    x, lo, hi = ins[0], attrs["min"], attrs["max"]
    if lo is not None:
        x = np.maximum(x, _scalar(lo, x.dtype))
    if hi is not None:
        x = np.minimum(x, _scalar(hi, x.dtype))
    return [np.asarray(x)]


def _hardsigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


def _gelu_impl(ins, attrs):
    return [_narrow(_gelu(_wide(ins[0]), attrs["approximate"]), ins[0].dtype)]


def _max_pool2d(ins, attrs):
    x = ins[0]
    oh, ow, bottom, right = pool_geometry(x.shape, attrs)
    pt, pl = attrs["padding"][:2]
    # Padding never wins: it is -inf (the dtype's minimum for integers). NaN propagates, as in torch.
    xp = _pad_hw(x, pt, pl, bottom, right, _lowest(x.dtype))
    win = _windows(xp, attrs["kernel"], attrs["stride"], attrs["dilation"], (oh, ow))
    return [win.max(axis=(2, 3))]


def _avg_divisor(size: int, out: int, kernel: int, stride: int, pad_lo: int, pad_hi: int,
                 include_pad: bool) -> np.ndarray:
    # PyTorch: a window is clipped to the padded extent [-pad_lo, size + pad_hi) when counting padding, and to
    # the input [0, size) when not; ceil_mode windows past the padding never count those positions.
    start = np.arange(out) * stride - pad_lo
    end = np.minimum(start + kernel, size + pad_hi)
    if include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_pool2d(ins, attrs):
    x = ins[0]
    oh, ow, bottom, right = pool_geometry(x.shape, attrs)
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
    xw = _wide(x)
    xp = _pad_hw(xw, pt, pl, bottom, right, _scalar(0, xw.dtype))
    total = _windows(xp, (kh, kw), (sh, sw), (1, 1), (oh, ow)).sum(axis=(2, 3))
    if attrs["divisor"] is not None:
        divisor = float(attrs["divisor"])
    else:
        include = attrs["count_include_pad"]
        h, w = x.shape[2:]
        divisor = np.outer(_avg_divisor(h, oh, kh, sh, pt, pb, include), _avg_divisor(w, ow, kw, sw, pl, pr, include))
    return [_narrow(total / divisor, x.dtype)]


def _reduction(fn: Callable[..., np.ndarray], wide: bool) -> Impl:
    def impl(ins, attrs):
        x = ins[0]
        y = fn(_wide(x) if wide else x, axis=tuple(attrs["axes"]), keepdims=attrs["keepdim"])
        return [_narrow(y, x.dtype)]
    return impl


def _slice(ins, attrs):
    index = [slice(None)] * ins[0].ndim
    index[attrs["axis"]] = slice(attrs["start"], attrs["end"], attrs["step"])
    return [ins[0][tuple(index)]]


def _pad(ins, attrs):
    x = ins[0]
    return [np.pad(x, [tuple(p) for p in attrs["pads"]], constant_values=_scalar(attrs["value"], x.dtype))]


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    # floor(i * in / out) in exact integer arithmetic (torch's "nearest", not "nearest-exact").
    return np.minimum(np.arange(out_size) * in_size // out_size, in_size - 1)


def _upsample_nearest(ins, attrs):
    x = ins[0]
    oh, ow = attrs["size"]
    rows, cols = _nearest_index(x.shape[2], oh), _nearest_index(x.shape[3], ow)
    return [x[:, :, rows[:, None], cols[None, :]]]


def _gather(ins, attrs):
    table, idx = ins
    rows = table.shape[attrs["axis"]]
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise IndexError(f"gather index out of range [0, {rows}): min {idx.min()}, max {idx.max()}")
    return [np.take(table, idx, axis=attrs["axis"])]


def _arg_extreme(pick: Callable[..., np.ndarray]) -> Impl:
    """numpy's argmax / argmin: the first extreme index, NaN counting as extreme (torch's rule too)."""
    def impl(ins, attrs):
        x, axis = ins[0], attrs["axis"]
        if x.ndim == 0:
            return [np.zeros((), np.dtype(attrs["out_dtype"]))]
        return [pick(x, axis=axis, keepdims=attrs["keepdim"]).astype(attrs["out_dtype"])]
    return impl


def _softmax(ins, attrs):
    x, axis = _wide(ins[0]), attrs["axis"]
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # subtracting the max keeps exp from overflowing
    return [_narrow(e / e.sum(axis=axis, keepdims=True), ins[0].dtype)]


def _log_softmax(ins, attrs):
    x, axis = _wide(ins[0]), attrs["axis"]
    shifted = x - x.max(axis=axis, keepdims=True)
    return [_narrow(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)), ins[0].dtype)]


def _layer_norm(ins, attrs):
    x = _wide(ins[0])
    axes = tuple(range(x.ndim - attrs["normalized_ndim"], x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # biased, as torch
    y = (x - mean) / np.sqrt(var + attrs["eps"])
    if len(ins) > 1:
        y = y * _wide(ins[1])
    if len(ins) > 2:
        y = y + _wide(ins[2])
    return [_narrow(y, ins[0].dtype)]


def _batch_norm(ins, attrs):
    x = _wide(ins[0])
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var, weight, bias = (_wide(a).reshape(shape) for a in ins[1:])
    y = (x - mean) / np.sqrt(var + attrs["eps"]) * weight + bias
    return [_narrow(y, ins[0].dtype)]


# Beyond this |x / scale| every int8 zero point saturates: clamping there, in float and before the conversion to
# an integer, keeps the conversion defined for infinities and huge values and keeps their sign.
QUANTIZE_FLOAT_BOUND = np.float32(512.0)


def _quantize(ins, attrs):
    # TFLite AffineQuantize: float32 division, std::round (half away from zero), then the zero point and clamp.
    # TFLite leaves non-finite inputs undefined (a float -> int32 cast); here, and in el_quantize_f32_s8, values
    # beyond the int8 range (+-inf included) saturate to the end of their sign, and NaN becomes the zero point
    # (the code of real 0): docs/quantization.md.
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = ins[0].astype(np.float32) / np.float32(attrs["scale"])
    rounded = round_half_away(np.clip(scaled, -QUANTIZE_FLOAT_BOUND, QUANTIZE_FLOAT_BOUND))  # NaN stays NaN
    integers = np.where(np.isnan(rounded), np.float32(0), rounded).astype(np.int32)
    int8 = DType.INT8
    return [np.clip(integers + np.int32(attrs["zero_point"]), int8.min, int8.max).astype(int8.numpy)]


def _dequantize(ins, attrs):
    return [((ins[0].astype(np.int32) - attrs["zero_point"]).astype(np.float32) * np.float32(attrs["scale"]))]


def _activated(impl: Impl) -> Impl:
    """An op with a fused `activation`: the activation's own implementation applied to the op's rounded result,
    so that fused and unfused graphs compute the same values, bit for bit."""
    def fused(ins, attrs):
        outs = impl(ins, attrs)
        activation = parse_activation(attrs["activation"])
        if activation is None:
            return outs
        op, act_attrs = activation
        return IMPLS[op](outs, act_attrs)
    return fused


IMPLS: dict[Op, Impl] = {
    Op.CONV2D: _activated(_conv2d),
    Op.LINEAR: _activated(_linear),
    Op.MATMUL: _matmul,
    Op.ADD: _activated(_exact(np.add)),
    Op.SUB: _exact(np.subtract),
    Op.MUL: _exact(np.multiply),
    Op.DIV: _exact(np.divide),
    Op.MAXIMUM: _exact(np.maximum),
    Op.MINIMUM: _exact(np.minimum),
    Op.POW: lambda ins, attrs: [_narrow(np.power(_wide(ins[0]), _wide(ins[1])), ins[0].dtype)],
    Op.RELU: _exact(_relu),
    Op.CLAMP: _clamp,
    Op.HARDSWISH: _float(lambda x: x * _hardsigmoid(x)),
    Op.HARDSIGMOID: _float(_hardsigmoid),
    Op.SIGMOID: _float(_sigmoid),
    Op.TANH: _float(np.tanh),
    Op.GELU: _gelu_impl,
    Op.SILU: _float(lambda x: x * _sigmoid(x)),
    Op.EXP: _float(np.exp),
    Op.LOG: _float(np.log),
    Op.SQRT: _exact(np.sqrt),
    Op.RSQRT: _float(_rsqrt),
    Op.NEG: _exact(np.negative),
    Op.ABS: _exact(np.abs),
    Op.ERF: _float(_erf),
    Op.FLOOR: _exact(np.floor),
    Op.CEIL: _exact(np.ceil),
    Op.ROUND: _exact(np.rint),  # half to even
    Op.TRUNC: _exact(np.trunc),
    Op.MAX_POOL2D: _max_pool2d,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.ADAPTIVE_AVG_POOL2D: adaptive_avg_pool2d,
    Op.ADAPTIVE_MAX_POOL2D: adaptive_max_pool2d,
    Op.MEAN: _reduction(np.mean, wide=True),
    Op.SUM: _reduction(np.sum, wide=True),
    Op.REDUCE_MAX: _reduction(np.max, wide=False),
    Op.REDUCE_MIN: _reduction(np.min, wide=False),
    Op.ARGMAX: _arg_extreme(np.argmax),
    Op.ARGMIN: _arg_extreme(np.argmin),
    Op.RESHAPE: lambda ins, attrs: [ins[0].reshape(attrs["shape"])],
    Op.PERMUTE: lambda ins, attrs: [ins[0].transpose(attrs["perm"])],
    Op.CONCAT: lambda ins, attrs: [np.concatenate(ins, axis=attrs["axis"])],
    Op.SLICE: _slice,
    Op.EXPAND: lambda ins, attrs: [np.broadcast_to(ins[0], attrs["shape"])],
    Op.PAD: _pad,
    Op.UPSAMPLE_NEAREST: _upsample_nearest,
    Op.RESIZE_BILINEAR: resize_bilinear,
    Op.GATHER: _gather,
    Op.SOFTMAX: _softmax,
    Op.LOG_SOFTMAX: _log_softmax,
    Op.LAYER_NORM: _layer_norm,
    Op.BATCH_NORM: _batch_norm,
    Op.QUANTIZE: _quantize,
    Op.DEQUANTIZE: _dequantize,
}
