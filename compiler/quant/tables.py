"""TableQ: the integer form of an elementwise function of one int8 value, as 256 int8 results.

An int8 input has 256 possible values, so any function of it alone (EXP, LOG, SQRT, RSQRT, ABS, NEG, POW by a
constant exponent, a reciprocal, ...) is exactly a table computed once at compile time, and LOOKUP reads it: one
load per element, no arithmetic at run time, 256 bytes of flash.
- Where TFLite Micro defines the int8 arithmetic of the op (ABS, RSQRT: elementwise.cc), the table holds what that
  arithmetic gives for each input (`TableQ.abs`, `TableQ.rsqrt`, integer-only, mirrored here in Python ints), so
  the table is TFLM's kernel, bit for bit, and `export_tflite` writes the op itself.
- Elsewhere the table is the exact function on the input grid (`TableQ.from_reals`): each entry is the QUANTIZE of
  the float result for that input, 0 LSB from the exact function of the int8 input.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from edgelower.quant.arith import quantize_multiplier, round_half_away
from edgelower.quant.records import INT8_MAX, INT8_MIN, f32

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INPUTS = np.arange(INT8_MIN, INT8_MAX + 1)  # the table's index order: entry i is the result for int8 value i - 128


@dataclass(frozen=True)
class TableQ:
    """LOOKUP: out = table[x - INT8_MIN]. `function` names what the table computes (an Op name, e.g. "EXP";
    "ABS" and "RSQRT" are TFLite Micro's integer kernels), for the report and the .tflite export."""

    function: str
    table: tuple[int, ...]

    def __post_init__(self):
        if len(self.table) != 256 or any(not INT8_MIN <= v <= INT8_MAX for v in self.table):
            raise ValueError(f"a lookup table holds 256 int8 values, got {len(self.table)}")

    def __repr__(self) -> str:  # printed graphs name the function and its range, not 256 numbers
        crc = zlib.crc32(np.asarray(self.table, np.int8).tobytes())
        return f"TableQ({self.function}, {min(self.table)}..{max(self.table)}, crc32={crc:08x})"

    @classmethod
    def from_reals(cls, function: str, reals: np.ndarray, output_scale: float, output_zp: int) -> "TableQ":
        """The table of float32 results `reals` (one per input, in INPUTS order) quantized to the output exactly as
        Op.QUANTIZE does: float32 division, round half away from zero, clamp; +-inf saturate, NaN is the zero
        point (docs/quantization.md)."""
        with np.errstate(all="ignore"):
            scaled = np.asarray(reals, np.float32) / np.float32(f32(output_scale))
        rounded = round_half_away(np.clip(scaled, np.float32(-512), np.float32(512)))
        codes = np.where(np.isnan(rounded), 0, rounded).astype(np.int64) + int(output_zp)
        return cls(function, tuple(int(v) for v in np.clip(codes, INT8_MIN, INT8_MAX)))

    @classmethod
    def abs(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> "TableQ":
        """TFLM's int8 ABS (elementwise.cc AbsEvalQuantized): |x - zp_in|, rescaled by QuantizeMultiplier(double(
        float(s_in / s_out))) unless the two float32 scales are equal, plus zp_out, clamped."""
        rescale = f32(input_scale) != f32(output_scale)
        m, s = quantize_multiplier(float(np.float32(f32(input_scale)) / np.float32(f32(output_scale))))
        out = []
        for q in INPUTS:
            value = abs(int(q) - input_zp)
            y = multiply_by_quantized_multiplier(value, m, s) if rescale else value
            out.append(min(max(y + output_zp, INT8_MIN), INT8_MAX))
        return cls("ABS", tuple(out))

    @classmethod
    def rsqrt(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> "TableQ":
        """TFLM's int8 RSQRT (elementwise.cc RsqrtEvalQuantized): 1 / sqrt(x - zp_in) in gemmlowp fixed point
        (GetInvSqrtQuantizedMultiplierExp), rescaled by QuantizeMultiplier(1 / double(sqrtf(s_in) * s_out)). The
        input equal to the zero point gives the int8 maximum. TFLM refuses inputs below the zero point (the square root of a
        negative number); here they give the zero point, as QUANTIZE does a NaN."""
        product = np.float32(np.sqrt(np.float32(f32(input_scale)))) * np.float32(f32(output_scale))
        m, s = quantize_multiplier(1.0 / float(product))
        out = []
        for q in INPUTS:
            value = int(q) - input_zp
            if value < 0:
                out.append(output_zp)
                continue
            if value == 0:
                out.append(INT8_MAX)
                continue
            inv, inv_shift = inv_sqrt_quantized_multiplier_exp(value)
            data = multiply_by_quantized_multiplier(1, inv, inv_shift + 20)
            y = multiply_by_quantized_multiplier(data, m, s - 20) + output_zp
            out.append(min(max(y, INT8_MIN), INT8_MAX))
        return cls("RSQRT", tuple(out))


# --- TFLite's integer helpers on Python ints (gemmlowp fixedpoint.h, tensorflow/lite/kernels/internal/common.h) ----

def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)  # C's int64 division, toward zero


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding) on one int32."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(_wrap32(x << left), multiplier), right)


def _saturating_shift_left(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent > 0>."""
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else _wrap32(x << exponent)


def inv_sqrt_quantized_multiplier_exp(value: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp(value, kReverseShift = -1): 1 / sqrt(value) as a multiplier and
    a left shift, by five Newton steps in FixedPoint<int32, 3>."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left_shift_bit_pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    srdhm = saturating_rounding_doubling_high_mul
    half_input = rounding_divide_by_pot(value >> 1, 1)  # F3, SaturatingRoundingMultiplyByPOT<-1>
    half_three = (1 << 28) + (1 << 27)                   # 1.5 in F3
    x = 1 << 28                                          # F3::One()
    for _ in range(5):
        x3 = _saturating_shift_left(srdhm(srdhm(x, x), x), 6)          # F9 -> Rescale<3>
        x = _saturating_shift_left(_wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)  # F6 -> F3
    x = srdhm(x, 1518500250)                             # times sqrt(2) / 2 in F0
    if shift < 0:
        x, shift = _wrap32(x << -shift), 0
    return x, -shift
