"""Elementwise ops as the scalar body of one pointwise `linalg.generic` (numpy broadcasting in its indexing maps).

`SCALAR[op](E, xs, attrs, dtype) -> scalar`: `xs` are the operands' scalars, `dtype` the first operand's DType.
Each body computes what `edgelower.interp` defines for the op:
- float32 ops in f32 (`arith`, `math`); MAXIMUM, MINIMUM, RELU and CLAMP propagate NaN like numpy
  (`arith.maximumf` / `minimumf`); the interpreter's float64-then-round ops (SIGMOID, GELU, ...) are within a few
  ulps here, far inside the conformance tolerance;
- integer ops wrap modulo 2^bits (`arith.addi` ...), shifts are arithmetic, comparisons signed;
- the primitive integer ops of `edgelower.interp.primitives` exactly, in the formulations its docstring gives
  (MUL_HIGH through a type twice as wide, TRUNC_DIV with MIN / -1 made defined, as `arith.divsi` leaves it
  undefined, CLZ by binary search, as SPIR-V has no 64-bit count of leading zeros);
- QUANTIZE / DEQUANTIZE exactly as `Op.QUANTIZE` (float32 division, clamp to [-512, 512], round half away from zero
  with `math.round`, NaN to the zero point) and `Op.DEQUANTIZE`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from edgelower.interp.float_ops import QUANTIZE_FLOAT_BOUND
from edgelower.ir.graph import DType, Node, Op
from edgelower.ir.ops import parse_activation

Scalar = Callable[[Any, Sequence[Any], Mapping[str, Any], DType], Any]
F32, I32, I64, BOOL = DType.FLOAT32, DType.INT32, DType.INT64, DType.BOOL

_PREDICATES = {"lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge", "eq": "eq", "ne": "ne"}
# Float comparisons as torch makes them: ordered (False with a NaN), but != is True with a NaN.
_FLOAT_PREDICATES = {"lt": "OLT", "le": "OLE", "gt": "OGT", "ge": "OGE", "eq": "OEQ", "ne": "UNE"}


def _by_kind(float_op: str, int_op: str) -> Scalar:
    """One arith op on floats, another on integers, applied left to right over the operands."""
    def body(E, xs, attrs, dtype):
        op = getattr(E.arith, float_op if dtype.is_float else int_op)
        out = xs[0]
        for x in xs[1:]:
            out = op(out, x)
        return out
    return body


def _float(fn: Callable[..., Any]) -> Scalar:
    return lambda E, xs, attrs, dtype: fn(E, *xs)


def _zero(E, dtype: DType):
    return E.scalar(0, dtype)


def _relu(E, xs, attrs, dtype):
    return (E.arith.maximumf if dtype.is_float else E.arith.maxsi)(xs[0], _zero(E, dtype))


def _clamp(E, xs, attrs, dtype):
    x = xs[0]
    hi_op, lo_op = (E.arith.minimumf, E.arith.maximumf) if dtype.is_float else (E.arith.minsi, E.arith.maxsi)
    if attrs["min"] is not None:
        x = lo_op(x, E.scalar(attrs["min"], dtype))
    if attrs["max"] is not None:
        x = hi_op(x, E.scalar(attrs["max"], dtype))
    return x


def _hardsigmoid(E, x):
    a = E.arith
    clipped = a.minimumf(a.maximumf(a.addf(x, E.scalar(3.0, F32)), _zero(E, F32)), E.scalar(6.0, F32))
    return a.divf(clipped, E.scalar(6.0, F32))


def _sigmoid(E, x):
    """The interpreter's form: e = exp(-|x|), then 1 / (1 + e) or e / (1 + e): no overflow, full precision."""
    a = E.arith
    e = E.math.exp(a.negf(E.math.absf(x)))
    one_plus = a.addf(E.scalar(1.0, F32), e)
    positive = a.cmpf(a.CmpFPredicate.OGE, x, _zero(E, F32))
    return a.select(positive, a.divf(E.scalar(1.0, F32), one_plus), a.divf(e, one_plus))


def _gelu(E, xs, attrs, dtype):
    a, m, x, half = E.arith, E.math, xs[0], E.scalar(0.5, F32)
    if attrs["approximate"] == "tanh":
        cube = a.mulf(E.scalar(0.044715, F32), a.mulf(x, a.mulf(x, x)))
        inner = m.tanh(a.mulf(E.scalar(math.sqrt(2.0 / math.pi), F32), a.addf(x, cube)))
    else:
        inner = m.erf(a.divf(x, E.scalar(math.sqrt(2.0), F32)))
    return a.mulf(a.mulf(half, x), a.addf(E.scalar(1.0, F32), inner))


def _neg(E, xs, attrs, dtype):
    return E.arith.negf(xs[0]) if dtype.is_float else E.arith.subi(_zero(E, dtype), xs[0])


def _abs(E, xs, attrs, dtype):
    """|x|; on integers abs(MIN) wraps to MIN, as numpy's does."""
    if dtype.is_float:
        return E.math.absf(xs[0])
    negative = E.arith.cmpi(E.arith.CmpIPredicate.slt, xs[0], _zero(E, dtype))
    return E.arith.select(negative, E.arith.subi(_zero(E, dtype), xs[0]), xs[0])


def _cast(E, xs, attrs, dtype):
    out = DType(attrs["dtype"])
    x = xs[0]
    if out.bits == dtype.bits and dtype is not BOOL:
        return x
    if dtype is BOOL:
        return E.arith.extui(E.element(out), x)
    return (E.arith.extsi if out.bits > dtype.bits else E.arith.trunci)(E.element(out), x)


def _mul_high(E, xs, attrs, dtype):
    """gemmlowp's SaturatingRoundingDoublingHighMul in int64: ab + nudge, divided by 2^(bits-1) toward zero. The
    division is a bias and an arithmetic shift: IREE rewrites a divsi it proves non-negative into divui, which its
    SPIR-V i64 emulation cannot lower (iree-vulkan, "bitwidth emulation is not implemented yet on unsigned op")."""
    a, bits = E.arith, dtype.bits
    wide = [a.extsi(E.element(I64), x) for x in xs]
    ab = a.muli(*wide)
    nonnegative = a.cmpi(a.CmpIPredicate.sge, ab, _zero(E, I64))
    nudge = a.select(nonnegative, E.scalar(1 << (bits - 2), I64), E.scalar(1 - (1 << (bits - 2)), I64))
    total = a.addi(ab, nudge)
    bias = a.select(a.cmpi(a.CmpIPredicate.slt, total, _zero(E, I64)), E.scalar((1 << (bits - 1)) - 1, I64),
                    _zero(E, I64))
    high = a.trunci(E.element(dtype), a.shrsi(a.addi(total, bias), E.scalar(bits - 1, I64)))
    lowest = E.scalar(dtype.min, dtype)
    both_min = a.andi(a.cmpi(a.CmpIPredicate.eq, xs[0], lowest), a.cmpi(a.CmpIPredicate.eq, xs[1], lowest))
    return a.select(both_min, E.scalar(dtype.max, dtype), high)


def _rounding_shift_right(E, xs, attrs, dtype):
    """gemmlowp's RoundingDivideByPOT: (x >> e) + ((x & mask) > (mask >> 1) + (x < 0)), mask = 2^e - 1."""
    a, (x, e) = E.arith, xs
    one = E.scalar(1, dtype)
    mask = a.subi(a.shli(one, e), one)
    negative = a.extui(E.element(dtype), a.cmpi(a.CmpIPredicate.slt, x, _zero(E, dtype)))
    threshold = a.addi(a.shrsi(mask, one), negative)
    up = a.extui(E.element(dtype), a.cmpi(a.CmpIPredicate.sgt, a.andi(x, mask), threshold))
    return a.addi(a.shrsi(x, e), up)


def _trunc_div(E, xs, attrs, dtype):
    """C's / (arith.divsi), with MIN / -1 wrapping to MIN where divsi is undefined."""
    a, (x, y) = E.arith, xs
    minus_one = a.cmpi(a.CmpIPredicate.eq, y, E.scalar(-1, dtype))
    safe = a.select(minus_one, E.scalar(1, dtype), y)
    return a.select(minus_one, a.subi(_zero(E, dtype), x), a.divsi(x, safe))


def _compare(E, xs, attrs, dtype):
    if isinstance(xs[0].type, E.ir.FloatType):
        return E.arith.cmpf(getattr(E.arith.CmpFPredicate, _FLOAT_PREDICATES[attrs["predicate"]]), *xs)
    return E.arith.cmpi(getattr(E.arith.CmpIPredicate, _PREDICATES[attrs["predicate"]]), *xs)


def _where(E, xs, attrs, dtype):
    return E.arith.select(*xs)


def _clz(E, xs, attrs, dtype):
    """Leading zeros by binary search for the highest set bit (logical shifts of the bit pattern), as the
    interpreter counts them: `math.ctlz` has no SPIR-V lowering for int64."""
    a, v = E.arith, xs[0]
    zero = _zero(E, dtype)
    length = zero
    for step in (32, 16, 8, 4, 2, 1):
        if step >= dtype.bits:
            continue
        shifted = a.shrui(v, E.scalar(step, dtype))
        big = a.cmpi(a.CmpIPredicate.ne, shifted, zero)
        v = a.select(big, shifted, v)
        length = a.addi(length, a.select(big, E.scalar(step, dtype), zero))
    nonzero = a.extui(E.element(dtype), a.cmpi(a.CmpIPredicate.ne, v, zero))
    return a.subi(a.subi(E.scalar(dtype.bits, dtype), length), nonzero)


def _quantize(E, xs, attrs, dtype):
    a, x = E.arith, xs[0]
    bound = float(QUANTIZE_FLOAT_BOUND)
    scaled = a.divf(x, E.scalar(attrs["scale"], F32))
    clipped = a.minimumf(a.maximumf(scaled, E.scalar(-bound, F32)), E.scalar(bound, F32))  # NaN stays NaN
    rounded = E.math.round(clipped)  # ties away from zero
    is_nan = a.cmpf(a.CmpFPredicate.UNO, rounded, rounded)
    integer = a.fptosi(E.element(I32), a.select(is_nan, _zero(E, F32), rounded))
    shifted = a.addi(integer, E.scalar(attrs["zero_point"], I32))
    clamped = a.minsi(a.maxsi(shifted, E.scalar(DType.INT8.min, I32)), E.scalar(DType.INT8.max, I32))
    return a.trunci(E.element(DType.INT8), clamped)


def _dequantize(E, xs, attrs, dtype):
    a = E.arith
    centred = a.subi(a.extsi(E.element(I32), xs[0]), E.scalar(attrs["zero_point"], I32))
    return a.mulf(a.sitofp(E.element(F32), centred), E.scalar(attrs["scale"], F32))


def _float_op(name: str) -> Scalar:
    return lambda E, xs, attrs, dtype: getattr(E.math, name)(xs[0])


SCALAR: dict[Op, Scalar] = {
    Op.ADD: _by_kind("addf", "addi"),
    Op.SUB: _by_kind("subf", "subi"),
    Op.MUL: _by_kind("mulf", "muli"),
    Op.DIV: _by_kind("divf", "divsi"),
    Op.MAXIMUM: _by_kind("maximumf", "maxsi"),
    Op.MINIMUM: _by_kind("minimumf", "minsi"),
    Op.RELU: _relu,
    Op.CLAMP: _clamp,
    Op.HARDSWISH: _float(lambda E, x: E.arith.mulf(x, _hardsigmoid(E, x))),
    Op.HARDSIGMOID: _float(_hardsigmoid),
    Op.SIGMOID: _float(_sigmoid),
    Op.TANH: _float_op("tanh"),
    Op.GELU: _gelu,
    Op.SILU: _float(lambda E, x: E.arith.mulf(x, _sigmoid(E, x))),
    Op.EXP: _float_op("exp"),
    Op.LOG: _float_op("log"),
    Op.SQRT: _float_op("sqrt"),
    Op.RSQRT: _float(lambda E, x: E.arith.divf(E.scalar(1.0, F32), E.math.sqrt(x))),
    Op.NEG: _neg,
    Op.ABS: _abs,
    Op.ERF: _float_op("erf"),
    Op.CAST: _cast,
    Op.SHIFT_LEFT: _by_kind("shli", "shli"),
    Op.SHIFT_RIGHT: _by_kind("shrsi", "shrsi"),
    Op.BITWISE_AND: _by_kind("andi", "andi"),
    Op.MUL_HIGH: _mul_high,
    Op.ROUNDING_SHIFT_RIGHT: _rounding_shift_right,
    Op.TRUNC_DIV: _trunc_div,
    Op.COMPARE: _compare,
    Op.WHERE: _where,
    Op.CLZ: _clz,
    Op.QUANTIZE: _quantize,
    Op.DEQUANTIZE: _dequantize,
}


def activate(E, y, spec, dtype: DType):
    """`y` with a fused `activation` attribute applied (the activation op's own body), or `y`."""
    fused = parse_activation(spec)
    return y if fused is None else SCALAR[fused[0]](E, [y], fused[1], dtype)


def elementwise(E, node: Node):
    """One pointwise generic: the op's body on the broadcast operands, then its fused activation."""
    out = E.types[node.output]
    dtype = E.dtype(node.inputs[0])
    body = SCALAR[node.op]
    operands = [(E.value(v), E.shape(v)) for v in node.inputs]
    return E.pointwise(operands, out.shape, out.dtype,
                       lambda *xs: activate(E, body(E, list(xs), node.attrs, dtype), node.attrs.get("activation"),
                                            out.dtype))
