"""Integer semantics of the int8 nonlinearities TFLite Micro runs: SIGMOID, TANH, HARDSWISH, SOFTMAX.

Each function reproduces its TFLite reference kernel bit for bit, in integers only (int64 numpy arrays holding the
int32 or int16 values the C code holds), from the parameters of its `q` record (`edgelower.quant.records`).
"""

from __future__ import annotations

import numpy as np

from edgelower.quant import fixedpoint as fp
from edgelower.quant.arith import multiply_by_quantized_multiplier, rounding_divide_by_pot

from edgelower.ir.graph import DType
from edgelower.quant.records import SIGMOID_OUTPUT

INT8_MIN, INT8_MAX = DType.INT8.min, DType.INT8.max


def _gemmlowp_unary(x: np.ndarray, q, function, output_shift: int, output_offset: int) -> np.ndarray:
    """The body shared by reference_integer_ops::Logistic and ::Tanh: inputs at or beyond the range radius
    saturate; the others are rescaled to Q4.27, mapped by `function` to Q0.31, and rounded to 8 bits."""
    value = x.astype(np.int64) + q.input_offset
    in_q4 = multiply_by_quantized_multiplier(np.clip(value, -q.input_range_radius, q.input_range_radius),
                                             q.input_multiplier, q.input_left_shift)
    out_q0 = function(fp.wrap32(in_q4), 4)
    out = np.clip(rounding_divide_by_pot(out_q0, output_shift) + output_offset, INT8_MIN, INT8_MAX)
    out = np.where(value <= -q.input_range_radius, INT8_MIN, np.where(value >= q.input_range_radius, INT8_MAX, out))
    return out.astype(np.int8)


def sigmoid(ins, attrs):
    """reference_integer_ops::Logistic: output Q0.8 (scale 1/256) offset by its zero point."""
    return [_gemmlowp_unary(ins[0], attrs["q"], fp.logistic, 31 - 8, SIGMOID_OUTPUT[1])]


def tanh(ins, attrs):
    """reference_integer_ops::Tanh: output Q0.7 (scale 1/128), zero point 0."""
    return [_gemmlowp_unary(ins[0], attrs["q"], fp.tanh, 31 - 7, 0)]


def _wrap16(x) -> np.ndarray:
    return np.asarray(x, np.int64).astype(np.int16).astype(np.int64)


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul<int16_t>."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    total = ab + nudge
    high = _wrap16(np.sign(total) * (np.abs(total) // (1 << 15)))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _sdhm16(a, b) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul (reference/hard_swish.h): like SRDHM but truncating toward zero."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    high = _wrap16(np.sign(ab) * (np.abs(ab) // (1 << 15)))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _rdbpot16(x, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT<int16_t>: the mask (1 << exponent) - 1 is narrowed to int16, as Dup does."""
    x = np.asarray(x, np.int64)
    mask = int(np.int64((1 << exponent) - 1).astype(np.int16))
    threshold = (mask >> 1) + (x < 0)
    return _wrap16((x >> exponent) + ((x & mask) > threshold))


def _saturating_left_shift16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64) * (1 << amount), -32768, 32767)


def hardswish(ins, attrs):
    """reference_ops::HardSwish<int8_t>: x * relu6(x + 3) / 6 in 16-bit fixed point."""
    q = attrs["q"]
    input_value = _wrap16(ins[0].astype(np.int64) + q.input_offset)
    hires = _wrap16(input_value * (1 << 7))
    preshift_output = _srdhm16(hires, q.output_multiplier_fixedpoint_int16)
    reluish = hires
    exponent = q.reluish_multiplier_exponent
    if exponent > 0:
        reluish = _saturating_left_shift16(reluish, exponent - 1)
    reluish = _srdhm16(reluish, q.reluish_multiplier_fixedpoint_int16)
    if exponent > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if exponent < 0:
        reluish = _rdbpot16(reluish, -exponent)
    reluish = _wrap16((reluish + (1 << 15)) >> 1)
    preshift = _sdhm16(reluish, preshift_output)
    out = _wrap16(_rdbpot16(preshift, -q.output_multiplier_exponent) + q.output_offset)
    return [np.clip(out, INT8_MIN, INT8_MAX).astype(np.int8)]


def softmax(ins, attrs):
    """reference_ops::Softmax<int8_t, int8_t> (TFLM's int8 path; only int16 uses lookup tables): along `axis`,
    differences to the row maximum rescaled to Q5.26, exp in Q0.31, the sum in Q12.19, its reciprocal from
    GetReciprocal, and outputs in Q0.8 offset by int8's minimum. Differences below diff_min contribute nothing and
    give that minimum."""
    q, axis = attrs["q"], attrs["axis"]
    x = np.moveaxis(ins[0].astype(np.int64), axis, -1)
    diff = x - x.max(axis=-1, keepdims=True)
    valid = diff >= q.diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(diff * 2**left_shift, multiplier). Only valid
    # differences reach it in TFLite, and only they fit in int32 after the shift.
    rescaled = fp.srdhm(fp.wrap32(np.where(valid, diff, 0) << q.input_left_shift), q.input_multiplier)
    exps = fp.exp_on_negative_values(rescaled, 5)
    sum_of_exps = fp.wrap32(np.where(valid, fp.rescale(exps, 0, 12), 0).sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = fp.get_reciprocal(sum_of_exps, 12)
    unsat = rounding_divide_by_pot(fp.srdhm(shifted_scale, exps), num_bits_over_unit + 31 - 8)
    out = np.where(valid, np.clip(unsat - 128, INT8_MIN, INT8_MAX), INT8_MIN)
    return [np.moveaxis(out.astype(np.int8), -1, axis)]
