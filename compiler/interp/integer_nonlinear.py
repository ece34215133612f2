"""Integer programs of the int8 nonlinearities TFLite Micro runs: SIGMOID, TANH, HARDSWISH, SOFTMAX.

Each reproduces its TFLite reference kernel bit for bit, in the integer algebra (edgelower.quant.algebra), from the
parameters of its `q` record (`edgelower.quant.records`), with the int32 and int16 types the C code uses.
"""

from __future__ import annotations

from edgelower.quant import fixedpoint as fp
from edgelower.quant.algebra import INT8, INT16, INT32, INT64, IntegerAlgebra
from edgelower.quant.arith import multiply_by_quantized_multiplier
from edgelower.quant.records import SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT, HardSwishQ, LogisticQ, SoftmaxQ, \
    TanhQ, record_of

INT8_MIN, INT8_MAX = INT8.min, INT8.max


def _gemmlowp_unary(A: IntegerAlgebra, x, q, function, output_shift: int, output_offset: int):
    """The body shared by reference_integer_ops::Logistic and ::Tanh: inputs at or beyond the range radius
    saturate; the others are rescaled to Q4.27, mapped by `function` to Q0.31, and rounded to 8 bits."""
    value = A.add(A.cast(x, INT32), q.input_offset)
    if q.input_range_radius == 0:
        # Input scales of 8 and more: every input saturates (and the rescaling's shift would pass 31).
        return A.where(A.le(value, 0), INT8_MIN, INT8_MAX, INT8)
    # |value| < 2**9, so a radius beyond int32 compares as INT32_MAX does.
    radius = min(q.input_range_radius, INT32.max)
    in_q4 = multiply_by_quantized_multiplier(A, A.clamp(value, -radius, radius), q.input_multiplier,
                                             q.input_left_shift)
    out_q0 = function(A, in_q4, 4)
    out = A.clamp(A.add(A.rounding_shift_right(out_q0, output_shift), output_offset), INT8_MIN, INT8_MAX)
    out = A.where(A.le(value, -radius), INT8_MIN, A.where(A.ge(value, radius), INT8_MAX, out))
    return A.cast(out, INT8)


def sigmoid(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::Logistic: output Q0.8 (scale 1/256) offset by its zero point."""
    return [_gemmlowp_unary(A, ins[0], record_of(attrs, LogisticQ), fp.logistic, 31 - 8, SIGMOID_OUTPUT[1])]


def tanh(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::Tanh: output Q0.7 (scale 1/128), zero point 0."""
    return [_gemmlowp_unary(A, ins[0], record_of(attrs, TanhQ), fp.tanh, 31 - 7, TANH_OUTPUT[1])]


def _rounding_divide_by_pot16(A: IntegerAlgebra, x, exponent: int):
    """gemmlowp RoundingDivideByPOT<int16_t>, exponent in [0, 31]. gemmlowp builds the mask 2**exponent - 1 and
    narrows it to int16 (Dup): from exponent 16 on it is -1, and the result is 1 for x >= 0 and -1 below."""
    if exponent < 16:
        return A.rounding_shift_right(x, exponent)
    return A.where(A.lt(x, 0), -1, 1, A.dtype(x))


def _saturating_left_shift16(A: IntegerAlgebra, x, amount: int):
    """TFLite's SaturatingLeftShift (reference/hard_swish.h): int16 x * 2**amount clamped to int16, computed in a
    type that holds the product (amount in [0, 30], as the C kernel takes it)."""
    wide = INT32 if amount <= 16 else INT64
    return A.cast(A.clamp(A.shift_left(A.cast(x, wide), amount), INT16.min, INT16.max), INT16)


def _saturating_doubling_high_mul16(A: IntegerAlgebra, a, b):
    """TFLite's SaturatingDoublingHighMul (int16): a * b / 2**15 truncated toward zero, in int32; only
    -32768 * -32768 leaves int16 (32768), and saturates."""
    product = A.trunc_div(A.mul(A.cast(a, INT32), A.cast(b, INT32)), 1 << 15)
    return A.cast(A.minimum(product, INT16.max), INT16)


def hardswish(A: IntegerAlgebra, ins, attrs):
    """reference_ops::HardSwish<int8_t>: x * relu6(x + 3) / 6 in 16-bit fixed point; int16 values wrap as the C
    code narrows them."""
    q = record_of(attrs, HardSwishQ)
    input_value = A.add(A.cast(ins[0], INT16), q.input_offset)
    hires = A.shift_left(input_value, 7)
    preshift_output = A.mul_high(hires, q.output_multiplier_fixedpoint_int16)
    reluish = hires
    exponent = q.reluish_multiplier_exponent
    if exponent > 0:
        reluish = _saturating_left_shift16(A, reluish, exponent - 1)
    reluish = A.mul_high(reluish, q.reluish_multiplier_fixedpoint_int16)
    if exponent > 0:
        reluish = _saturating_left_shift16(A, reluish, 1)
    if exponent < 0:
        reluish = _rounding_divide_by_pot16(A, reluish, -exponent)
    reluish = A.cast(A.shift_right(A.add(A.cast(reluish, INT32), 1 << 15), 1), INT16)  # in [0, 2**15)
    preshift = _saturating_doubling_high_mul16(A, reluish, preshift_output)
    out = A.add(_rounding_divide_by_pot16(A, preshift, -q.output_multiplier_exponent), q.output_offset)
    return [A.cast(A.clamp(out, INT8_MIN, INT8_MAX), INT8)]


def softmax(A: IntegerAlgebra, ins, attrs):
    """reference_ops::Softmax<int8_t, int8_t> (TFLM's int8 path; only int16 uses lookup tables): along `axis`,
    differences to the row maximum rescaled to Q5.26, exp in Q0.31, the sum in Q12.19, its reciprocal from
    GetReciprocal, and outputs in Q0.8 offset by the output zero point. Differences below diff_min contribute
    nothing and give int8's minimum."""
    q, axis = record_of(attrs, SoftmaxQ), attrs["axis"]
    x = ins[0]
    diff = A.sub(A.cast(x, INT32), A.cast(A.reduce_max(x, (axis,)), INT32))
    valid = A.ge(diff, q.diff_min)
    # MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(diff * 2**left_shift, multiplier). Only valid
    # differences reach it in TFLite, and only they fit in int32 after the shift.
    rescaled = A.mul_high(A.shift_left(A.where(valid, diff, 0), q.input_left_shift), q.input_multiplier)
    exps = fp.exp_on_negative_values(A, rescaled, 5)
    sum_of_exps = A.sum(A.where(valid, fp.rescale(A, exps, 0, 12), 0), (axis,))
    shifted_scale, num_bits_over_unit = fp.get_reciprocal(A, sum_of_exps, 12)
    # Outputs are divided by 2**(num_bits_over_unit + 31 - 8). A sum of 2**28 or more (rows of over 2**9 maxima)
    # makes that 2**32 or more, which rounds every int32 to 0 (the C kernel says so; TFLite asserts): the
    # division runs with the exponent capped inside int32's width and that case selects 0.
    exponent = A.add(num_bits_over_unit, 31 - 8)
    unsat = A.where(A.gt(exponent, 31), 0,
                    A.rounding_shift_right(A.mul_high(shifted_scale, exps), A.minimum(exponent, 31)))
    out = A.where(valid, A.clamp(A.add(unsat, SOFTMAX_OUTPUT[1]), INT8_MIN, INT8_MAX), INT8_MIN)
    return [A.cast(out, INT8)]
