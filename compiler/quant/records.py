"""The `q` records: integer parameters that define the arithmetic of quantized nodes (docs/quantization.md).

Each record is a frozen dataclass of ints and tuples of ints, set by `lower_integer` from the tensors' scales with
`edgelower.quant.arith`, and read by the integer interpreter, the int8 C kernels and the .tflite export. No record holds
a float: the integer graph computes without one.

Every record has a classmethod constructor that computes, from float scales and zero points, exactly what TFLite
Micro's Prepare function computes from the .tflite file (the mirrored function is named in each docstring). A
.tflite file stores scales as float32, so constructors first round every scale to float32; the export writes those
same float32 values, and `export_tflite` re-derives each record from the file's scales and rejects a mismatch.
Field names follow TFLite's ArithmeticParams / ConvParams / SoftmaxParams so that the C structs map one to one.
Offsets follow TFLite's sign convention: input offsets are minus the input zero point, output offsets are the
output zero point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from edgelower.ir.graph import DType
from edgelower.quant.arith import quantize_multiplier, round_half_away

INT8_MIN, INT8_MAX = DType.INT8.min, DType.INT8.max


def f32(x: float) -> float:
    """A scale as TFLite holds it: a float32 (TfLiteQuantizationParams.scale), widened to double where TFLite
    computes in double."""
    return float(np.float32(x))


def _f32_div(a: float, b: float) -> float:
    """float32 / float32 in float32, as C++ computes `float / float`."""
    return float(np.float32(a) / np.float32(b))


def _f32_mul(a: float, b: float) -> float:
    return float(np.float32(a) * np.float32(b))


def _round_half_away(x: float) -> int:
    return int(round_half_away(x))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation: TFLite's CalculateActivationRangeQuantized (kernel_util.cc).

    `activation` is "NONE", "RELU", "RELU6" or "RELU_N1_TO_1"; bounds are zero_point + round(bound / scale) in
    float32 (TfLiteRound of a float division), intersected with int8's range."""
    def quantize(value: float) -> int:
        return zero_point + _round_half_away(_f32_div(value, scale))

    bounds = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
    if activation not in bounds:
        raise ValueError(f"activation {activation!r} is not one of {sorted(bounds)}")
    lo, hi = bounds[activation]
    return (INT8_MIN if lo is None else max(INT8_MIN, quantize(lo)),
            INT8_MAX if hi is None else min(INT8_MAX, quantize(hi)))


def record_of(attrs: Mapping[str, Any], *kinds: type) -> Any:
    """A node's `q`, checked to be one of `kinds`; integer nodes hold their activation range in `q`."""
    q = attrs["q"]
    if not isinstance(q, kinds):
        raise ValueError(f"q must be a {' or '.join(k.__name__ for k in kinds)}, got {type(q).__name__}")
    if attrs.get("activation") is not None:
        raise ValueError(f"an integer node holds its activation range in q, not in activation={attrs['activation']}")
    return q


def _check_zero_point(zp: int, what: str) -> int:
    if not INT8_MIN <= zp <= INT8_MAX:
        raise ValueError(f"{what} zero point {zp} is outside [{INT8_MIN}, {INT8_MAX}]")
    return int(zp)


def _check_act(act_min: int, act_max: int) -> tuple[int, int]:
    if not INT8_MIN <= act_min <= act_max <= INT8_MAX:
        raise ValueError(f"activation range [{act_min}, {act_max}] is not inside [{INT8_MIN}, {INT8_MAX}]")
    return int(act_min), int(act_max)


@dataclass(frozen=True)
class ConvQ:
    """CONV2D, LINEAR, MATMUL on int8: acc(int32) = sum((x + input_offset) * (w + weight_offset)) (+ bias).

    TFLite's ConvParams.input_offset / weights_offset (reference_integer_ops::ConvPerChannel, FullyConnected,
    reference_ops::BatchMatMul). For MATMUL the second operand is an activation: weight_offset is minus its zero
    point. The int32 accumulator is requantized by the following REQUANTIZE, or, in the fused form (`requant` set,
    by `passes/fuse.py`), by the node itself: its output is then that REQUANTIZE's int8 result, per tensor or
    along the output's channel axis (1 for CONV2D, the last for LINEAR and MATMUL), and no int32 tensor exists."""

    input_offset: int
    weight_offset: int = 0
    requant: RequantQ | None = None

    @classmethod
    def from_zero_points(cls, input_zp: int, weight_zp: int = 0) -> "ConvQ":
        return cls(-_check_zero_point(input_zp, "input"), -_check_zero_point(weight_zp, "weight"))


@dataclass(frozen=True)
class RequantQ:
    """REQUANTIZE: out = clamp(MultiplyByQuantizedMultiplier(x + input_offset, M[c], s[c]) + output_offset).

    One (multiplier, shift) pair per tensor, or one per channel along `axis`. After an int32 accumulator this is
    the tail of TFLite's ConvPerChannel / FullyConnected / BatchMatMul; on int8 it is TFLite's QUANTIZE int8 -> int8
    (reference_ops::Requantize)."""

    multiplier: tuple[int, ...]
    shift: tuple[int, ...]
    output_offset: int
    input_offset: int = 0
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    axis: int | None = None

    @classmethod
    def per_channel(cls, input_scale: float, weight_scales: Sequence[float], output_scale: float, output_zp: int,
                    act_min: int = INT8_MIN, act_max: int = INT8_MAX, axis: int = 1) -> "RequantQ":
        """Conv / depthwise conv (any number of weight scales), and fully connected with more than one:
        PopulateConvolutionQuantizationParams and CalculateOpDataFullyConnected's per-channel branch,
        M[c] = double(input_scale) * double(weight_scale[c]) / double(output_scale)."""
        pairs = [quantize_multiplier(f32(input_scale) * f32(w) / f32(output_scale)) for w in weight_scales]
        act_min, act_max = _check_act(act_min, act_max)
        return cls(tuple(m for m, _ in pairs), tuple(s for _, s in pairs), _check_zero_point(output_zp, "output"),
                   0, act_min, act_max, axis if len(pairs) > 1 else None)

    @classmethod
    def per_tensor(cls, input_scale: float, weight_scale: float, output_scale: float, output_zp: int,
                   act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> "RequantQ":
        """Fully connected with one weight scale, and BATCH_MATMUL (weight = the second operand):
        GetQuantizedConvolutionMultipler, M = double(input_scale) * double(weight_scale) / double(output_scale).

        TFLM multiplies the two scales in double (checked against the tflite-micro runtime: multiplying them in
        float32 first, as older TFLite did, flips outputs at rounding ties)."""
        m, s = quantize_multiplier(f32(input_scale) * f32(weight_scale) / f32(output_scale))
        act_min, act_max = _check_act(act_min, act_max)
        return cls((m,), (s,), _check_zero_point(output_zp, "output"), 0, act_min, act_max, None)

    @classmethod
    def fully_connected(cls, input_scale: float, weight_scales: Sequence[float], output_scale: float,
                        output_zp: int, act_min: int = INT8_MIN, act_max: int = INT8_MAX, *,
                        axis: int) -> "RequantQ":
        """LINEAR: CalculateOpDataFullyConnected takes the per-channel branch for more than one weight scale and
        GetQuantizedConvolutionMultipler for one. `axis` is the index of the output's last dim (1 for [N, O])."""
        if len(weight_scales) > 1:
            return cls.per_channel(input_scale, weight_scales, output_scale, output_zp, act_min, act_max, axis)
        return cls.per_tensor(input_scale, weight_scales[0], output_scale, output_zp, act_min, act_max)

    @classmethod
    def from_scales(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                    act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> "RequantQ":
        """int8 -> int8 with a new scale (TFLite QUANTIZE, quantize_common.cc PrepareQuantizeReference):
        M = double(input_scale) / double(output_scale)."""
        m, s = quantize_multiplier(f32(input_scale) / f32(output_scale))
        act_min, act_max = _check_act(act_min, act_max)
        return cls((m,), (s,), _check_zero_point(output_zp, "output"), -_check_zero_point(input_zp, "input"),
                   act_min, act_max, None)


@dataclass(frozen=True)
class AddQ:
    """ADD and SUB on int8: TFLite's AddElementwise / SubElementwise (reference_integer_ops/add.h, reference/sub.h).

    x_i' = MultiplyByQuantizedMultiplierSmallerThanOneExp((x_i + input_i_offset) << left_shift, M_i, s_i);
    out = clamp(MultiplyByQuantizedMultiplierSmallerThanOneExp(x1' +/- x2', M_out, s_out) + output_offset)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX

    LEFT_SHIFT = 20

    @classmethod
    def from_scales(cls, s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int,
                    act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> "AddQ":
        """ADD and SUB: TFLM CalculateOpDataAdd / CalculateOpDataSub (add_common.cc, sub_common.cc), int8, in
        double: left_shift 20, twice_max = 2 * max(s1, s2), M_i = s_i / twice_max, M_out = twice_max / (2**20 * s_out).

        Some TFLM sources compute SUB's ratios in float32; the tflite-micro runtime this project tests against
        computes them in double for both ops (float32 ratios flip outputs at rounding ties there)."""
        twice_max = 2.0 * max(f32(s1), f32(s2))
        ratios = (f32(s1) / twice_max, f32(s2) / twice_max, twice_max / (float(1 << cls.LEFT_SHIFT) * f32(s_out)))
        return cls._build(ratios, zp1, zp2, zp_out, act_min, act_max)

    @classmethod
    def from_sub_scales(cls, s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int,
                        act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> "AddQ":
        """SUB's record: CalculateOpDataSub computes the same ratios as ADD (see from_scales)."""
        return cls.from_scales(s1, zp1, s2, zp2, s_out, zp_out, act_min, act_max)

    @classmethod
    def _build(cls, ratios, zp1, zp2, zp_out, act_min, act_max) -> "AddQ":
        # QuantizeMultiplierSmallerThanOneExp: every ratio must be below one (shift <= 0).
        (m1, sh1), (m2, sh2), (mo, sho) = (quantize_multiplier(r) for r in ratios)
        if max(sh1, sh2, sho) > 0:
            raise ValueError(f"ADD/SUB output scale too small for TFLite's left shift of 20 (ratios {ratios})")
        act_min, act_max = _check_act(act_min, act_max)
        return cls(-_check_zero_point(zp1, "input1"), -_check_zero_point(zp2, "input2"),
                   _check_zero_point(zp_out, "output"), cls.LEFT_SHIFT, m1, sh1, m2, sh2, mo, sho, act_min, act_max)


@dataclass(frozen=True)
class MulQ:
    """MUL on int8: out = clamp(MultiplyByQuantizedMultiplier((x1 + o1) * (x2 + o2), M, s) + output_offset)
    (reference_integer_ops/mul.h MulElementwise)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX

    @classmethod
    def from_scales(cls, s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int,
                    act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> "MulQ":
        """TFLM CalculateOpDataMul (mul_common.cc): M = double(s1) * double(s2) / double(s_out)."""
        m, s = quantize_multiplier(f32(s1) * f32(s2) / f32(s_out))
        act_min, act_max = _check_act(act_min, act_max)
        return cls(-_check_zero_point(zp1, "input1"), -_check_zero_point(zp2, "input2"),
                   _check_zero_point(zp_out, "output"), m, s, act_min, act_max)


@dataclass(frozen=True)
class PoolQ:
    """AVG_POOL2D on int8, input and output with the same scale and zero point: TFLite's
    reference_integer_ops::AveragePool. The window sums the raw int8 values of its in-bounds taps (padding is
    never counted), divides by that count rounding half away from zero, and clamps to [act_min, act_max]."""

    act_min: int = INT8_MIN
    act_max: int = INT8_MAX

    @classmethod
    def from_activation(cls, activation: str, scale: float, zero_point: int) -> "PoolQ":
        """The fused activation's range (CalculateActivationRangeQuantized)."""
        return cls(*activation_range(activation, scale, zero_point))


@dataclass(frozen=True)
class MeanQ:
    """MEAN on int8: TFLite's integer reference_ops::QuantizedMeanOrSum (mean branch), as TFLM runs it.

    With n reduced elements, TFLM folds 1/n into the multiplier at run time: k = min(floor(log2 n), 32, 31 + shift),
    M_n = (multiplier << k) / n (int64, truncating), s_n = shift - k; then
    out = clamp(MultiplyByQuantizedMultiplier(int32(sum + n * input_offset), M_n, s_n) + output_offset)."""

    input_offset: int
    output_offset: int
    multiplier: int
    shift: int

    # Sums of up to 2**23 int8 values, re-centred on the zero point, fit TFLM's int32 accumulator.
    MAX_COUNT = 1 << 23

    @classmethod
    def from_scales(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> "MeanQ":
        """TFLM PrepareMeanOrSum (reduce_common.cc): QuantizeMultiplier(double(input_scale) / output_scale)."""
        m, s = quantize_multiplier(f32(input_scale) / f32(output_scale))
        return cls(-_check_zero_point(input_zp, "input"), _check_zero_point(output_zp, "output"), m, s)


@dataclass(frozen=True)
class ClampQ:
    """RELU and CLAMP on int8, the same scale and zero point in and out: out = clamp(x, act_min, act_max).

    TFLM's int8 RELU (ReluQuantized with the identity multiplier 2**30, shift 1), RELU6 (Relu6Quantized) and
    MAXIMUM / MINIMUM against a constant all compute exactly this."""

    act_min: int = INT8_MIN
    act_max: int = INT8_MAX

    @classmethod
    def from_bounds(cls, lo: float | None, hi: float | None, scale: float, zero_point: int) -> "ClampQ":
        """The int8 bounds of clamp(x, lo, hi): zero_point + round(bound / scale) in float32, as TFLite's
        CalculateReluOpData and FloatToQuantizedType compute them (None = unbounded)."""
        def quantize(value: float) -> int:
            return min(INT8_MAX, max(INT8_MIN, zero_point + _round_half_away(_f32_div(value, scale))))

        _check_zero_point(zero_point, "clamp")
        return cls(INT8_MIN if lo is None else quantize(lo), INT8_MAX if hi is None else quantize(hi))


def _gemmlowp_input_params(input_scale: float) -> tuple[int, int, int]:
    """(multiplier, left shift, range radius) of an int8 LOGISTIC / TANH input in Q4.27: TFLM's
    CalculateArithmeticOpDataLogistic / tanh.cc CalculateArithmeticOpData. frexp of input_scale * 2**27, the
    fraction rounded to Q31 with TfLiteRound (a float32 scale times 2**27 has at most 24 significant bits, so it
    never rounds up to 2**31), and CalculateInputRadius(4, shift)."""
    input_integer_bits = 4
    fraction, shift = math.frexp(f32(input_scale) * float(1 << (31 - input_integer_bits)))
    multiplier = _round_half_away(fraction * (1 << 31))
    return multiplier, shift, calculate_input_radius(input_integer_bits, shift)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius (quantization_util.cc): the largest |input| whose rescaled value stays below
    the fixed-point format's maximum, floor(((2**ib - 1) * 2**(tsb - ib)) / 2**shift)."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) * float(1 << (total_signed_bits - input_integer_bits))
                          / float(2.0 ** input_left_shift))
    return int(math.floor(max_input_rescaled))


@dataclass(frozen=True)
class LogisticQ:
    """SIGMOID on int8: TFLite's reference_integer_ops::Logistic. Output scale 1/256, zero point int8's minimum
    (SIGMOID_OUTPUT).

    x = input + input_offset; |x| >= range radius saturates to int8's minimum / maximum; otherwise
    gemmlowp::logistic(Q4.27(MultiplyByQuantizedMultiplier(x, input_multiplier, input_left_shift))) rounded to
    Q0.8 and offset by the output zero point."""

    input_offset: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int

    @classmethod
    def from_scale(cls, input_scale: float, input_zp: int) -> "LogisticQ":
        """TFLM CalculateArithmeticOpDataLogistic (logistic_common.cc)."""
        m, s, radius = _gemmlowp_input_params(input_scale)
        return cls(-_check_zero_point(input_zp, "input"), radius, m, s)


@dataclass(frozen=True)
class TanhQ:
    """TANH on int8: TFLite's reference_integer_ops::Tanh. Output scale 1/128, zero point 0. Same input
    parameters as LogisticQ; gemmlowp::tanh, rounded to Q0.7."""

    input_offset: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int

    @classmethod
    def from_scale(cls, input_scale: float, input_zp: int) -> "TanhQ":
        """TFLM tanh.cc CalculateArithmeticOpData."""
        m, s, radius = _gemmlowp_input_params(input_scale)
        return cls(-_check_zero_point(input_zp, "input"), radius, m, s)


def _downscale_int32_to_int16_multiplier(multiplier: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15, saturating near 2**31."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


@dataclass(frozen=True)
class HardSwishQ:
    """HARDSWISH on int8: TFLite's reference_ops::HardSwish (16-bit fixed point, reference/hard_swish.h).

    Multipliers are Q15 (int16) with a power-of-two exponent; offsets follow the TFLite sign convention."""

    input_offset: int
    output_offset: int
    reluish_multiplier_fixedpoint_int16: int
    reluish_multiplier_exponent: int
    output_multiplier_fixedpoint_int16: int
    output_multiplier_exponent: int

    @classmethod
    def from_scales(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> "HardSwishQ":
        """TFLM HardSwishPrepare (hard_swish_common.cc): hires_input_scale = input_scale / 128 and the two ratios
        in float32, then QuantizeMultiplier and DownScaleInt32ToInt16Multiplier."""
        hires_input_scale = _f32_mul(1.0 / 128.0, input_scale)
        reluish_scale = float(np.float32(3.0) / np.float32(32768.0))
        out_m, out_e = quantize_multiplier(_f32_div(hires_input_scale, output_scale))
        if out_e > 0:
            raise ValueError(f"HARDSWISH output scale {output_scale} is below input scale / 128 ({input_scale}): "
                             "TFLite requires output_multiplier_exponent <= 0")
        rel_m, rel_e = quantize_multiplier(_f32_div(hires_input_scale, reluish_scale))
        return cls(-_check_zero_point(input_zp, "input"), _check_zero_point(output_zp, "output"),
                   _downscale_int32_to_int16_multiplier(rel_m), rel_e,
                   _downscale_int32_to_int16_multiplier(out_m), out_e)


@dataclass(frozen=True)
class SoftmaxQ:
    """SOFTMAX on int8 over the last axis: TFLite's reference_ops::Softmax (gemmlowp fixed point: exp in Q0.31 of
    input differences in Q5.26, sum in Q12.19, GetReciprocal). Output SOFTMAX_OUTPUT: scale 1/256, zero point
    int8's minimum.

    input_multiplier / input_left_shift rescale (x - max) to Q5.26; differences below diff_min give int8's minimum."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int

    @classmethod
    def from_scale(cls, input_scale: float, beta: float = 1.0) -> "SoftmaxQ":
        """TFLM CalculateSoftmaxParams (softmax_common.cc), int8 -> int8: PreprocessSoftmaxScaling(beta,
        input_scale, 5) = QuantizeMultiplierGreaterThanOne(min(beta * input_scale * 2**26, 2**31 - 1)), and
        diff_min = -CalculateInputRadius(5, input_left_shift)."""
        scaled_diff_integer_bits = 5
        real = min(f32(beta) * f32(input_scale) * float(1 << (31 - scaled_diff_integer_bits)), (1 << 31) - 1.0)
        multiplier, left_shift = quantize_multiplier(real)
        if real <= 1.0 or left_shift < 0:
            raise ValueError(f"SOFTMAX input scale {input_scale} (beta {beta}) is below 2**-26: "
                             "TFLite's QuantizeMultiplierGreaterThanOne needs a multiplier above one")
        return cls(multiplier, left_shift, -calculate_input_radius(scaled_diff_integer_bits, left_shift))


# The fixed output quantization TFLite requires of these ops on int8: (scale, zero point).
# SIGMOID and SOFTMAX map [0, 1) onto all of int8: zero point at its minimum.
SIGMOID_OUTPUT = (1.0 / 256.0, INT8_MIN)
SOFTMAX_OUTPUT = (1.0 / 256.0, INT8_MIN)
TANH_OUTPUT = (1.0 / 128.0, 0)
