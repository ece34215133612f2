"""Integer-only transformer nonlinearities on int8: softmax (I-BERT i-exp or I-ViT Shiftmax), GELU (I-BERT i-GELU)
and LayerNorm (I-BERT with an exact integer square root). TFLite has no int8 GELU or LayerNorm; its softmax is in
`edgelower.quant.records.SoftmaxQ`. docs/quantization.md, "Integer transformer ops", states the algorithms, constants,
valid scale ranges and error bounds; the originals are I-BERT (arXiv:2101.01321) and I-ViT (arXiv:2207.01405).

Each op has a `q` record (a frozen dataclass of ints) built once at compile time by its `from_scale(s)`
constructor, the only place a float appears; semantics in integers only, written against the integer algebra
(edgelower.quant.algebra) with the int32 and int64 types of the C code, which `runtime/src/transformer_s8.c`
reproduces bit for bit; and a worst-case error in output LSBs against the exact function of the dequantized input
rounded to the output grid (`ERROR_BOUNDS`, measured by bench/int_transformer_error.py and held by
tests/test_int_transformer.py).

Where the papers divide by a floored constant (I-BERT's floor(-ln 2 / S), floor(b / S)), these forms multiply by a
Q24 or Q20 dyadic constant instead: the same algorithms, without a division per element and with a precision that
does not fall as the input scale grows. Right shifts of negative values floor (numpy's >>, and C's arithmetic
shift on every compiler the runtime targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgelower.errors import EdgelowerError
from edgelower.quant.algebra import INT8, INT32, INT64, IntegerAlgebra
from edgelower.quant.arith import round_half_away

INT8_MIN, INT8_MAX = INT8.min, INT8.max
LN2 = math.log(2.0)

# Worst-case |integer result - exact result| in output LSBs, over the valid ranges below. The exact result is the
# float64 function of the dequantized input, rounded half away from zero to the output grid and clamped.
ERROR_BOUNDS = {"softmax/iexp": 1, "softmax/shiftmax": 4, "gelu": 3, "layer_norm": 1}


class ScaleRangeError(EdgelowerError, ValueError):
    """A scale outside the valid range of an integer approximation: its constants would overflow or its error
    would exceed ERROR_BOUNDS. The message names the range."""


def _check_range(what: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ScaleRangeError(f"{what} {float(value):g} is outside the valid range [{lo:g}, {hi:g}] of the integer "
                              "form")


def _round(x: float) -> int:
    return int(round_half_away(x))


def dyadic(real: float, max_shift: int = 62) -> tuple[int, int]:
    """A positive real as I-ViT's dyadic number (m, s): real ~= m / 2**s with m in [2**30, 2**31) (relative error
    below 2**-31), or, when that would need s > max_shift, s = max_shift and m = round(real * 2**s) (absolute error
    2**-(s+1)). Applied as (x * m + 2**(s - 1)) >> s in int64: one rounding, half up."""
    if not real > 0.0 or not math.isfinite(real):
        raise ScaleRangeError(f"multiplier {real!r} must be positive and finite")
    fraction, exponent = math.frexp(real)
    m, s = _round(fraction * (1 << 31)), 31 - exponent
    if m == 1 << 31:
        m, s = m >> 1, s - 1
    if s > max_shift:
        m, s = _round(real * 2.0 ** max_shift), max_shift
    return m, s


def bit_length(A: IntegerAlgebra, n):
    """Bits of each non-negative int64 value (0 for 0): 64 minus its leading zeros."""
    return A.sub(A.const(64, INT64), A.clz(n))


# Newton steps that take isqrt from its start to floor(sqrt(n)) for every n < 2**63. The start is at most twice the
# root, so the real Newton iterates' relative errors fall from 1 to 1/4, 1/40, 3.1e-4, 4.6e-8 and 1.1e-15: after five
# steps they are within 2**31.5 * 1.1e-15 < 1 of the root. The floored iterates stay between floor(sqrt(n)) and the
# real ones, so the fifth is floor(sqrt(n)) or one more, and a sixth step lowers the latter (n < (r + 1)**2 gives
# floor(n / (r + 1)) <= r). Measured: 6 steps on 2**61-sized n, 4 below 2**20.
ISQRT_STEPS = 6


def isqrt(A: IntegerAlgebra, n):
    """floor(sqrt(n)) for each int64 n in [0, 2**63): I-BERT's Algorithm 4, Newton's iteration
    x <- floor((x + floor(n / x)) / 2) from 2**ceil(bits(n) / 2) >= sqrt(n). From any start at or above
    floor(sqrt(n)) the iterates fall strictly to floor(sqrt(n)) and the next one is not smaller, so
    x <- min(x, next) for ISQRT_STEPS steps is exact; x + n / x stays below 2**34."""
    m = A.maximum(n, 1)
    x = A.shift_left(A.const(1, INT64), A.shift_right(A.add(bit_length(A, m), 1), 1))
    for _ in range(ISQRT_STEPS):
        x = A.minimum(x, A.shift_right(A.add(x, A.trunc_div(m, x)), 1))
    return A.where(A.eq(n, 0), 0, x)


# --- softmax: I-BERT i-exp / I-ViT Shiftmax -----------------------------------------------------------------------

EXP_INPUT_BITS = 24   # d * exp_multiplier is (x_max - x) / ln2 in Q24
EXP_POLY_BITS = 15    # the fraction phi of that and the polynomial coefficients, Q15
EXP_FLUSH = 31        # exponents z >= 31 flush a Q30 value to 0
# 2**-phi on [0, 1) as 1 - b*phi + a*phi**2 (Q15). I-BERT's exp(r) ~ 0.35815147 r**2 + 0.96963238 r + 1 on
# (-ln2, 0] with r = -phi ln2; I-ViT's Shiftmax 2**-phi ~ 1 - phi/2.
SOFTMAX_METHODS = {
    "iexp": (_round(0.35815147 * LN2 ** 2 * (1 << EXP_POLY_BITS)), _round(0.96963238 * LN2 * (1 << EXP_POLY_BITS))),
    "shiftmax": (0, 1 << (EXP_POLY_BITS - 1)),
}
SOFTMAX_SCALE_RANGE = (2.0 ** -16, 16.0)
SOFTMAX_OUTPUT = (1.0 / 256.0, INT8_MIN)  # scale, zero point: as TFLite's softmax


@dataclass(frozen=True)
class ISoftmaxQ:
    """SOFTMAX on int8 along the node's axis (I-BERT's integer softmax; Shiftmax with the "shiftmax" polynomial).
    Output SOFTMAX_OUTPUT (scale 1/256, zero point int8's minimum). With d = x_max - x >= 0 (the zero point cancels):

        u = d * exp_multiplier (Q24 of d*S/ln2), z = u >> 24, phi = (u mod 2**24) >> 9 (Q15)
        e = (2**30 + (((poly_a * phi) >> 15) - poly_b) * phi) >> z          exp(-d*S) in Q30, e = 0 if d >= diff_limit
        out = min(((e * floor(2**62 / sum(e)) + 2**53) >> 54) + zero point, int8 max)   the sum is int64, >= 2**30
    """

    exp_multiplier: int
    diff_limit: int
    poly_a: int
    poly_b: int

    @classmethod
    def from_scale(cls, input_scale: float, method: str = "iexp") -> "ISoftmaxQ":
        _check_range("SOFTMAX input scale", input_scale, *SOFTMAX_SCALE_RANGE)
        if method not in SOFTMAX_METHODS:
            raise ValueError(f"softmax method {method!r} is not one of {sorted(SOFTMAX_METHODS)}")
        k = _round(input_scale / LN2 * (1 << EXP_INPUT_BITS))
        # The smallest d with d * k >= 31 * 2**24: every live d keeps d * k below 2**29.
        limit = -(-(EXP_FLUSH << EXP_INPUT_BITS) // k)
        return cls(k, min(limit, 256), *SOFTMAX_METHODS[method])


def _exp_q30(A: IntegerAlgebra, d, q: ISoftmaxQ):
    """exp(-d S) in Q30 for int32 d = x_max - x >= 0; 0 from diff_limit on. Every live d keeps d * exp_multiplier
    below 31 * 2**24, so the shift z stays in [0, 30] and nothing leaves int32."""
    live = A.lt(d, q.diff_limit)
    u = A.mul(A.where(live, d, 0), q.exp_multiplier)
    z = A.shift_right(u, EXP_INPUT_BITS)
    phi = A.shift_right(A.bitwise_and(u, (1 << EXP_INPUT_BITS) - 1), EXP_INPUT_BITS - EXP_POLY_BITS)
    p = A.add(A.mul(A.sub(A.shift_right(A.mul(phi, q.poly_a), EXP_POLY_BITS), q.poly_b), phi), 1 << 30)
    return A.where(live, A.shift_right(p, z), 0)


def softmax(A: IntegerAlgebra, x, axis: int, q: ISoftmaxQ):
    """The integer softmax of int8 `x` along `axis` (ISoftmaxQ)."""
    peak = A.reduce_max(x, (axis,))
    e = A.cast(_exp_q30(A, A.sub(A.cast(peak, INT32), A.cast(x, INT32)), q), INT64)
    reciprocal = A.trunc_div(A.const(1 << 62, INT64), A.sum(e, (axis,)))  # <= 2**32: e * reciprocal <= 2**62
    out = A.add(A.shift_right(A.add(A.mul(e, reciprocal), 1 << 53), 54), SOFTMAX_OUTPUT[1])
    return A.cast(A.minimum(out, INT8_MAX), INT8)


# --- GELU: I-BERT i-GELU ------------------------------------------------------------------------------------------

ERF_BITS = 20         # |x| / sqrt(2) in Q20
ERF_POLY_BITS = 14    # the clipped distance to b, Q14; erf in Q28
# I-BERT: erf(t) ~ sgn(t) [a (min(|t|, -b) + b)**2 + 1], a = -0.2888, b = -1.769.
IGELU_A, IGELU_B = -0.2888, -1.769
# The largest |i-GELU(x) - GELU(x)| over all real x (at |x| = 2.3498), in real units.
IGELU_MAX_ERROR = 0.01816
GELU_SCALE_RANGE = (2.0 ** -10, 2.0 ** 6)
# The finest output grid: there gelu_error_bound is ERROR_BOUNDS["gelu"].
GELU_MIN_OUTPUT_SCALE = 2.0 ** -7


def gelu_error_bound(output_scale: float) -> int:
    """Worst |i-GELU - exact| in output steps on a grid of `output_scale`: the approximation's error in steps,
    plus one for rounding (the integer evaluation adds far less than a step)."""
    return math.floor(IGELU_MAX_ERROR / output_scale) + 1


@dataclass(frozen=True)
class IGeluQ:
    """GELU on int8, I-BERT's i-GELU, GELU(x) = x (1 + erf(x / sqrt 2)) / 2, requantized to the output grid. With
    v = x + input_offset:

        m = min(min(|v|, erf_limit) * erf_multiplier, erf_clip)            |v| S / sqrt 2 in Q20, clipped at -b
        t = (erf_clip - m) >> 6                                           Q14
        erf = 2**28 - ((t * erf_a) >> 15) * t                             |erf| in Q28
        g = v * ((2**28 + sgn(v) * erf) >> 8)                             GELU = g * S / 2**21
        out = clamp(output_offset + ((g * output_multiplier + 2**(output_shift - 1)) >> output_shift))
    """

    input_offset: int
    erf_multiplier: int
    erf_limit: int
    erf_clip: int
    erf_a: int
    output_multiplier: int
    output_shift: int
    output_offset: int

    @classmethod
    def from_scales(cls, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> "IGeluQ":
        _check_range("GELU input scale", input_scale, *GELU_SCALE_RANGE)
        _check_range("GELU output scale", output_scale, GELU_MIN_OUTPUT_SCALE, math.inf)
        k = _round(input_scale / math.sqrt(2.0) * (1 << ERF_BITS))
        clip = _round(-IGELU_B * (1 << ERF_BITS))
        m, s = dyadic(input_scale / output_scale / (1 << (ERF_BITS + 1)))
        if not 1 <= s <= 62:
            raise ScaleRangeError(f"GELU scales {input_scale} -> {output_scale} need a shift {s} outside [1, 62]")
        return cls(-_zero_point(input_zp), k, -(-clip // k), clip, _round(-IGELU_A * (1 << 15)), m, s,
                   _zero_point(output_zp))


def _zero_point(zp: int) -> int:
    if not INT8_MIN <= zp <= INT8_MAX:
        raise ValueError(f"zero point {zp} is outside [{INT8_MIN}, {INT8_MAX}]")
    return int(zp)


def gelu(A: IntegerAlgebra, x, q: IGeluQ):
    """The integer i-GELU of int8 `x` (IGeluQ). int32 up to g (|m| < clip + erf_multiplier < 2**26, |g| < 2**29),
    the output rescaling in int64."""
    v = A.add(A.cast(x, INT32), q.input_offset)
    m = A.minimum(A.mul(A.minimum(A.abs(v), q.erf_limit), q.erf_multiplier), q.erf_clip)
    t = A.shift_right(A.sub(A.const(q.erf_clip, INT32), m), ERF_BITS - ERF_POLY_BITS)
    erf = A.sub(A.const(1 << 28, INT32), A.mul(A.shift_right(A.mul(t, q.erf_a), 15), t))
    signed_erf = A.where(A.gt(v, 0), erf, A.where(A.lt(v, 0), A.neg(erf), 0))
    g = A.cast(A.mul(v, A.shift_right(A.add(signed_erf, 1 << 28), 8)), INT64)
    rounded = A.shift_right(A.add(A.mul(g, q.output_multiplier), 1 << (q.output_shift - 1)), q.output_shift)
    return A.cast(A.clamp(A.add(rounded, q.output_offset), INT8_MIN, INT8_MAX), INT8)


# --- LayerNorm: I-BERT's integer LayerNorm with an exact integer square root --------------------------------------

NORM_BITS = 24            # y / sqrt(var) in Q24
BIAS_BITS = 8             # the affine result in 1/256 output steps
LAYER_NORM_MAX_COLS = 1 << 15
# max |weight| sqrt(cols) / output_scale and max |bias| / output_scale: the affine result stays far inside int32
# and its rounding far below an output step.
LAYER_NORM_MAX_GAIN = 2.0 ** 16


@dataclass(frozen=True)
class ILayerNormQ:
    """LAYER_NORM on int8 over the last `cols` elements, with inputs (x, weight, bias): weight and bias int32[cols]
    fold gamma / output_scale and beta / output_scale. Per row, exactly (the zero point cancels):

        y = cols * x - sum(x)                                             cols * (x - mean), int32
        T = (sum(y**2) << 2 variance_shift) + epsilon                    cols**2 (var + eps / S**2) * cols * 4**e
        k = (62 - bits(T)) // 2,  R = isqrt(T << 2k),  f = 2**62 // R     R in [2**30, 2**31)
        z = sgn(y) ((|y| f) >> (norm_shift - k))                          y / sqrt(T / 4**e) in Q24
        out = clamp(output_offset + ((((z * weight) >> weight_shift) + bias + 128) >> 8))
    """

    variance_shift: int
    epsilon: int
    norm_shift: int
    weight_shift: int
    output_offset: int

    @classmethod
    def from_scales(cls, cols: int, input_scale: float, eps: float, weight, bias, output_scale: float,
                    output_zp: int) -> tuple["ILayerNormQ", np.ndarray, np.ndarray]:
        """The record and the int32 weight and bias inputs; weight / bias None mean ones / zeros."""
        _check_range("LAYER_NORM row length", cols, 1, LAYER_NORM_MAX_COLS)
        if not input_scale > 0 or not output_scale > 0 or not eps >= 0:
            raise ScaleRangeError(f"LAYER_NORM scales {input_scale}, {output_scale} and eps {eps} must be positive")
        gamma = np.ones(cols) if weight is None else np.asarray(weight, np.float64).reshape(cols)
        beta = np.zeros(cols) if bias is None else np.asarray(bias, np.float64).reshape(cols)
        gain = float(np.max(np.abs(gamma))) * math.sqrt(cols) / output_scale
        _check_range("LAYER_NORM max |weight| * sqrt(cols) / output scale", gain, 0.0, LAYER_NORM_MAX_GAIN)
        _check_range("LAYER_NORM max |bias| / output scale", float(np.max(np.abs(beta))) / output_scale, 0.0,
                     LAYER_NORM_MAX_GAIN)
        # sum(y**2) <= cols**3 * (255 / 2)**2; eps / S**2 enters T at the same scale cols**3.
        eps_term = cols ** 3 * eps / input_scale ** 2
        bound = cols ** 3 * 16257 + math.ceil(eps_term)
        if bound.bit_length() > 61:
            raise ScaleRangeError(f"LAYER_NORM eps / input_scale**2 = {eps / input_scale ** 2:g} over {cols} "
                                  "elements overflows the int64 variance")
        e = (61 - bound.bit_length()) // 2
        # Largest weight_shift with every |weight| below 2**31; the affine result is in 1/256 output steps.
        unit = math.sqrt(cols) / output_scale * 2.0 ** (BIAS_BITS - NORM_BITS)
        weight_shift = 62 if gain == 0 else min(62, 30 - math.floor(math.log2(gain * 2.0 ** (BIAS_BITS - NORM_BITS))))
        w = np.array([_round(g * unit * 2.0 ** weight_shift) for g in gamma], np.int64)
        while np.max(np.abs(w)) >= 1 << 31:
            weight_shift -= 1
            w = np.array([_round(g * unit * 2.0 ** weight_shift) for g in gamma], np.int64)
        if weight_shift < 0:
            raise ScaleRangeError(f"LAYER_NORM weight gain {gain:g} needs a negative shift")
        b = np.array([_round(v / output_scale * (1 << BIAS_BITS)) for v in beta], np.int64)
        q = cls(e, _round(eps_term * 4.0 ** e), 62 - NORM_BITS - e, weight_shift, _zero_point(output_zp))
        return q, w.astype(np.int32), b.astype(np.int32)


def layer_norm(A: IntegerAlgebra, x, weight, bias, q: ILayerNormQ, normalized_ndim: int):
    """The integer LayerNorm of int8 `x` over its last `normalized_ndim` dims (ILayerNormQ), in int64; weight and
    bias (int32) have those dims' shape."""
    shape = A.shape(x)
    axes = tuple(range(len(shape) - normalized_ndim, len(shape)))
    cols = math.prod(shape[len(shape) - normalized_ndim:])
    x = A.cast(x, INT64)
    y = A.sub(A.mul(x, cols), A.sum(x, axes))
    t = A.add(A.shift_left(A.sum(A.mul(y, y), axes), 2 * q.variance_shift), q.epsilon)
    k = A.shift_right(A.sub(A.const(62, INT64), bit_length(A, t)), 1)
    f = A.trunc_div(A.const(1 << 62, INT64), A.maximum(isqrt(A, A.shift_left(t, A.add(k, k))), 1))
    # A row with every y = 0 may have k > norm_shift; its z is 0 whatever the shift.
    magnitude = A.shift_right(A.mul(A.abs(y), f), A.maximum(A.sub(A.const(q.norm_shift, INT64), k), 0))
    z = A.where(A.lt(y, 0), A.neg(magnitude), magnitude)
    acc = A.add(A.shift_right(A.mul(z, A.cast(weight, INT64)), q.weight_shift), A.cast(bias, INT64))
    out = A.add(A.shift_right(A.add(acc, 1 << (BIAS_BITS - 1)), BIAS_BITS), q.output_offset)
    return A.cast(A.clamp(out, INT8_MIN, INT8_MAX), INT8)


# --- the exact functions the error bounds are measured against (float64; tests and benchmarks only) --------------

def _to_grid(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    q = round_half_away(y / scale) + zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def exact_softmax(x: np.ndarray, axis: int, scale: float) -> np.ndarray:
    v = np.asarray(x, np.float64) * scale
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return _to_grid(e / e.sum(axis=axis, keepdims=True), *SOFTMAX_OUTPUT)


# libm's double-precision erf, elementwise (numpy has none).
erf = np.vectorize(math.erf, otypes=[np.float64])


def exact_gelu(x: np.ndarray, scale: float, zero_point: int, output_scale: float, output_zp: int) -> np.ndarray:
    v = (np.asarray(x, np.float64) - zero_point) * scale
    return _to_grid(0.5 * v * (1.0 + erf(v / math.sqrt(2.0))), output_scale, output_zp)


def exact_layer_norm(x: np.ndarray, scale: float, zero_point: int, eps: float, weight, bias, output_scale: float,
                     output_zp: int) -> np.ndarray:
    """LayerNorm over the last axis of the dequantized `x`, with weight / bias (None: ones / zeros)."""
    v = (np.asarray(x, np.float64) - zero_point) * scale
    centred = v - v.mean(axis=-1, keepdims=True)
    y = centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + eps)
    y = y * (1.0 if weight is None else np.asarray(weight, np.float64)) + (0.0 if bias is None else
                                                                           np.asarray(bias, np.float64))
    return _to_grid(y, output_scale, output_zp)
