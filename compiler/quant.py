"""TFLite's int8 fixed-point arithmetic, vectorized in numpy, bit for bit.

The integer interpreter, `lower_integer` and the tests use these helpers; the C runtime mirrors them in
`runtime/src/fixedpoint.h`. Sources of truth (tensorflow/tensorflow): tensorflow/lite/kernels/internal/
quantization_util.cc (`QuantizeMultiplier`), common.h/common.cc (`MultiplyByQuantizedMultiplier`, double rounding,
TFLite's default and TFLite Micro's reference), gemmlowp fixedpoint.h (`SaturatingRoundingDoublingHighMul`,
`RoundingDivideByPOT`).

All array arithmetic runs in int64 and returns int32 values, so no intermediate can overflow silently. Where
TFLite's C code computes in int32 and can overflow (the left shift before the high multiply, adding the output
offset), the result wraps modulo 2**32, as TFLite Micro's compiled kernels do (checked against the tflite-micro
runtime with accumulators at the int32 limits).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (Q31 multiplier, shift) with real ~= multiplier * 2**(shift - 31).

    Exactly TFLite's QuantizeMultiplier: frexp, round half away from zero (std::round), renormalize when rounding
    reaches 2**31, flush to zero below 2**-31 (shift < -31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = int(math.floor(abs(fraction) * (1 << 31) + 0.5)) * (1 if fraction >= 0 else -1)
    if abs(q) == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SRDHM: the high 32 bits of 2*a*b, rounded to nearest; INT32_MIN * INT32_MIN saturates."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C's int64 division truncates toward zero; numpy's // floors, so divide magnitudes.
    result = np.sign(total) * (np.abs(total) // (1 << 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, result).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding): the requantization of every int8 kernel."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # int32 wraparound of x << left is what C does; TFLite only uses a left shift on values that fit.
    shifted = _wrap32(x * (np.int64(1) << left))
    return _wrap32(rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right))


def wrap_int32(x) -> np.ndarray:
    """int32 two's-complement wraparound of an integer array, kept in int64."""
    return _wrap32(x)


def _wrap32(x) -> np.ndarray:
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize(acc, multiplier, shift, output_offset: int, act_min: int, act_max: int,
               axis: int | None = None) -> np.ndarray:
    """acc (int32) -> int8: per-tensor, or per-channel along `axis` with one multiplier/shift per channel."""
    acc = np.asarray(acc, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    if axis is not None and multiplier.size > 1:
        view = [1] * acc.ndim
        view[axis] = multiplier.size
        multiplier, shift = multiplier.reshape(view), shift.reshape(view)
    else:
        multiplier, shift = multiplier.reshape(()), shift.reshape(())
    out = _wrap32(multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset)
    return np.clip(out, act_min, act_max).astype(np.int8)
