"""Reductions and normalizations: MEAN, SUM, REDUCE_MAX, SOFTMAX, LOG_SOFTMAX, LAYER_NORM, BATCH_NORM, and the
float <-> int8 conversions at the edges of an integer region (QUANTIZE, DEQUANTIZE).

An integer SUM accumulates where it cannot overflow and wraps once (rules_integer.wrapping), as the IR defines.
QUANTIZE is TFLite's AffineQuantize exactly as the interpreter computes it: x / scale in float32 (IEEE division,
which LLVM keeps), clamped to +-QUANTIZE_FLOAT_BOUND, rounded half away from zero by the distance to trunc (exact,
unlike floor(|x| + 0.5)), NaN to the zero point, then the zero point added and clamped to int8.
"""

from __future__ import annotations

from edgelower.backends.tvm.rules import Rule, float_only
from edgelower.backends.tvm.rules_integer import wrapping
from edgelower.interp.float_ops import QUANTIZE_FLOAT_BOUND
from edgelower.ir.graph import DType, Op


def _axes(call) -> tuple[list[int], bool]:
    return list(call.attrs["axes"]), call.attrs["keepdim"]


def _mean(ctx, call):
    axes, keep = _axes(call)
    return ctx.R.mean(call.args[0], axis=axes, keepdims=keep)


def _sum(ctx, call):
    axes, keep = _axes(call)
    if call.out.dtype.is_float:
        return ctx.R.sum(call.args[0], axis=axes, keepdims=keep)
    return wrapping(ctx, lambda x: ctx.R.sum(x, axis=axes, keepdims=keep), [call.args[0]], call.dtype)


def _reduce_max(ctx, call):
    axes, keep = _axes(call)
    return ctx.R.max(call.args[0], axis=axes, keepdims=keep)


def _softmax(ctx, call):
    return ctx.R.nn.softmax(call.args[0], axis=call.attrs["axis"])


def _log_softmax(ctx, call):
    return ctx.R.nn.log_softmax(call.args[0], axis=call.attrs["axis"])


def _layer_norm(ctx, call):
    R, k = ctx.R, call.attrs["normalized_ndim"]
    shape = call.out.shape[-k:]
    gamma = call.args[1] if len(call.args) > 1 else R.ones(shape, "float32")
    beta = call.args[2] if len(call.args) > 2 else R.zeros(shape, "float32")
    return R.nn.layer_norm(call.args[0], gamma, beta, axes=list(range(-k, 0)), epsilon=call.attrs["eps"])


def _batch_norm(ctx, call):
    """(x - mean) / sqrt(var + eps) * weight + bias, the parameters broadcast along axis 1."""
    R = ctx.R
    x, mean, var, weight, bias = call.args
    shape = (1, -1) + (1,) * (len(call.out.shape) - 2)
    mean, var, weight, bias = (ctx.emit(R.reshape(v, shape)) for v in (mean, var, weight, bias))
    std = ctx.emit(R.sqrt(R.add(var, ctx.const(call.attrs["eps"], "float32"))))
    return R.add(R.multiply(ctx.emit(R.divide(R.subtract(x, mean), std)), weight), bias)


def _quantize(ctx, call):
    R, f = ctx.R, lambda v: ctx.const(v, "float32")
    bound = float(QUANTIZE_FLOAT_BOUND)
    scaled = ctx.emit(R.divide(call.args[0], f(call.attrs["scale"])))
    clamped = ctx.emit(R.minimum(R.maximum(scaled, f(-bound)), f(bound)))
    whole = ctx.emit(R.trunc(clamped))
    away = R.where(R.greater_equal(R.abs(R.subtract(clamped, whole)), f(0.5)), R.sign(clamped), f(0.0))
    rounded = ctx.emit(R.add(whole, away))
    integer = R.astype(R.where(R.isnan(scaled), f(0.0), rounded), "int32")
    shifted = R.add(ctx.emit(integer), ctx.const(call.attrs["zero_point"], "int32"))
    q = R.minimum(R.maximum(ctx.emit(shifted), ctx.const(DType.INT8.min, "int32")), ctx.const(DType.INT8.max, "int32"))
    return R.astype(ctx.emit(q), "int8")


def _dequantize(ctx, call):
    R = ctx.R
    centered = R.subtract(R.astype(call.args[0], "int32"), ctx.const(call.attrs["zero_point"], "int32"))
    return R.multiply(R.astype(ctx.emit(centered), "float32"), ctx.const(call.attrs["scale"], "float32"))


RULES: dict[Op, Rule] = {
    Op.MEAN: Rule(_mean, float_only),
    Op.SUM: Rule(_sum),
    Op.REDUCE_MAX: Rule(_reduce_max),
    Op.SOFTMAX: Rule(_softmax, float_only),
    Op.LOG_SOFTMAX: Rule(_log_softmax, float_only),
    Op.LAYER_NORM: Rule(_layer_norm, float_only),
    Op.BATCH_NORM: Rule(_batch_norm, float_only),
    Op.QUANTIZE: Rule(_quantize, float_only),
    Op.DEQUANTIZE: Rule(_dequantize),
}
