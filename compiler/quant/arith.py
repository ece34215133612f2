"""TFLite's int8 requantization, bit for bit: the compile-time half (`quantize_multiplier`, and `round_half_away`,
the one rounding of real values) and the run-time half written against the integer algebra
(`multiply_by_quantized_multiplier`, `requantize`; edgelower.quant.algebra).

The C runtime mirrors them in `runtime/src/fixedpoint.h`. Sources of truth (tensorflow/tensorflow):
tensorflow/lite/kernels/internal/quantization_util.cc (`QuantizeMultiplier`), common.h/common.cc
(`MultiplyByQuantizedMultiplier`, double rounding, TFLite's default and TFLite Micro's reference), gemmlowp
fixedpoint.h (`SaturatingRoundingDoublingHighMul` and `RoundingDivideByPOT`: the primitives MUL_HIGH and
ROUNDING_SHIFT_RIGHT). Where TFLite's C code computes in int32 and can overflow (the left shift before the high
multiply, adding the output offset), the result wraps modulo 2**32, as TFLite Micro's compiled kernels do (checked
against the tflite-micro runtime with accumulators at the int32 limits): the algebra's int32 ops wrap.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from edgelower.quant.algebra import INT8, INT32, IntegerAlgebra

INT32_MIN, INT32_MAX = INT32.min, INT32.max


def round_half_away(x):
    """Round to the nearest integer, ties away from zero: C's round / roundf, std::round and TfLiteRound. The one
    rounding of real values here: QUANTIZE, and every compile-time quantization (scales to multipliers, constants,
    bounds and zero points to their grids), because TFLite computes all of them with std::round.

    Exact in the precision of `x`: float64 for Python floats and float64 arrays, float32 for float32 arrays (TFLite
    rounds the float32 quotient x / scale with roundf). The distance to trunc(x) is exact in any binary format,
    where the textbook floor(|x| + 0.5) is not: |x| + 0.5 rounds first (0.49999997f + 0.5f == 1.0f). Returns
    floats of x's type (call int() for a Python int)."""
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: infinities and NaN come back unchanged
        return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(t.dtype)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (Q31 multiplier, shift) with real ~= multiplier * 2**(shift - 31).

    Exactly TFLite's QuantizeMultiplier: frexp, round half away from zero (std::round), renormalize when rounding
    reaches 2**31, flush to zero below 2**-31 (shift < -31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = int(round_half_away(fraction * (1 << 31)))
    if abs(q) == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def multiply_by_quantized_multiplier(A: IntegerAlgebra, x, multiplier, shift):
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), the requantization of every int8 kernel, on an int32
    value: RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**max(shift, 0), multiplier), max(-shift, 0)).
    The left shift wraps modulo 2**32, as in TFLM's compiled kernels (TFLite shifts left only values that fit).

    `multiplier` and `shift` are compile-time ints, or int arrays shaped to broadcast against x (one pair per
    channel); shifts lie in [-31, 31], so both shift amounts stay inside int32's width."""
    shift = np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    if left.any():
        x = A.shift_left(x, A.const(left, INT32))
    x = A.mul_high(x, A.const(multiplier, INT32))
    if right.any():
        x = A.rounding_shift_right(x, A.const(right, INT32))
    return x


def requantize(A: IntegerAlgebra, acc, multiplier: Sequence[int], shift: Sequence[int], output_offset: int,
               act_min: int, act_max: int, axis: int | None = None):
    """int32 `acc` -> int8: MultiplyByQuantizedMultiplier per tensor, or per channel along `axis` with one
    multiplier and shift per channel, plus the output offset (wrapping in int32, as TFLM adds it), clamped to
    [act_min, act_max]."""
    multiplier, shift = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    if axis is not None and multiplier.size > 1:
        view = [1] * len(A.shape(acc))
        view[axis] = multiplier.size
        multiplier, shift = multiplier.reshape(view), shift.reshape(view)
    else:
        multiplier, shift = multiplier.reshape(()), shift.reshape(())
    out = A.add(multiply_by_quantized_multiplier(A, acc, multiplier, shift), int(output_offset))
    return A.cast(A.clamp(out, act_min, act_max), INT8)
