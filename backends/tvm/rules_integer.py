"""The primitive integer ops (edgelower.interp.primitives defines each) as exact Relax formulations, and the
wrapping arithmetic the other integer rules share.

Why wrapping is spelled out: TVM's code generator marks signed integer add, subtract and multiply as unable to
overflow (LLVM `nsw`), and its simplifier reasons the same way, so a signed int32 sum that wraps is undefined
there and a following widening cast may silently see the unwrapped value. Every integer operation on 8, 16 or 32
bits that may wrap therefore runs in int64, where it cannot overflow (a product of two int32 values is below
2^62), and comes back by a narrowing cast, which TVM defines as truncation (measured: int64 -> int32 of 2^31 gives
INT32_MIN). int64 arithmetic runs as it is: nothing wider exists, and unsigned arithmetic is no way out (measured on
TVM 0.27: `0 - x` in uint64 gives 0 for every x), so int64 values must stay within int64, which the decomposed
programs do (their widest values are products of two int32 values).

Other facts the formulations rest on, measured on TVM 0.27 (shared notes, probes §1):
- `right_shift` of a signed value is arithmetic; a shift count at or beyond the bit width is masked on x86, so the
  IR's precondition (counts in [0, bits)) is checked here for constant counts, and the formulations below never
  shift by more than the width;
- integer `divide` truncates toward zero (C's `/`); dividing INT_MIN by -1 would trap, so that divisor is replaced
  and the wrapped negation selected instead;
- `astype` between integer types wraps modulo 2^bits.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgelower.backends.tvm.rules import Rule
from edgelower.ir.graph import DType, Node, Op, TensorType


def wrapping(ctx, fn, operands, dtype: str):
    """fn(*operands) modulo 2^bits of `dtype`, computed in int64 (see the module docstring)."""
    if dtype == "int64":
        return fn(*operands)
    return ctx.astype(ctx.emit(fn(*[ctx.astype(o, "int64") for o in operands])), dtype)


def negate(ctx, x, dtype: str):
    """-x modulo 2^bits (INT_MIN stays INT_MIN below 64 bits)."""
    return wrapping(ctx, lambda v: ctx.R.subtract(ctx.const(0, "int64"), v), [x], dtype)


def absolute(ctx, x, dtype: str):
    """|x| modulo 2^bits (|INT_MIN| is INT_MIN, as numpy and C's two's complement give)."""
    R = ctx.R
    return R.where(R.less(x, ctx.const(0, dtype)), ctx.emit(negate(ctx, x, dtype)), x)


def _bits(dtype: str) -> int:
    return np.dtype(dtype).itemsize * 8


def _check_count(call) -> None:
    """A constant shift count outside [0, bits) is an error, never a silent answer: TVM would mask it (x86)."""
    values, bits = call.constant(1), _bits(call.dtype)
    if values is not None and values.size and (values.min() < 0 or values.max() >= bits):
        raise ValueError(f"{call.name}: shift count {int(values.min())}..{int(values.max())} outside [0, {bits})")


def _cast(ctx, call):
    return ctx.R.astype(call.args[0], call.dtype)


def _shift_left(ctx, call):
    x, count = call.args
    _check_count(call)
    return wrapping(ctx, ctx.R.left_shift, [x, count], call.dtype)


def _shift_right(ctx, call):
    x, count = call.args
    _check_count(call)
    return ctx.R.right_shift(x, ctx.astype(count, call.dtype))


def _bitwise_and(ctx, call):
    a, b = call.args
    if call.out.dtype is DType.BOOL:
        return ctx.R.logical_and(a, b)
    return ctx.R.bitwise_and(a, b)


def _mul_high(ctx, call):
    """gemmlowp's SaturatingRoundingDoublingHighMul in int64: ab + nudge, divided by 2^(bits-1) truncating toward
    zero (by arithmetic shifts of |t|), MIN * MIN saturated to MAX (as the shared notes' bit-exact requant)."""
    R, i64 = ctx.R, lambda v: ctx.const(v, "int64")
    bits = _bits(call.dtype)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    a, b = (ctx.emit(ctx.astype(v, "int64")) for v in call.args)
    ab = ctx.emit(R.multiply(a, b))
    nudge = R.where(R.greater_equal(ab, i64(0)), i64(1 << (bits - 2)), i64(1 - (1 << (bits - 2))))
    total = ctx.emit(R.add(ab, nudge))
    shift = i64(bits - 1)
    truncated = R.where(R.greater_equal(total, i64(0)), R.right_shift(total, shift),
                        R.negative(R.right_shift(R.negative(total), shift)))
    saturate = R.logical_and(R.equal(a, i64(low)), R.equal(b, i64(low)))
    return R.astype(ctx.emit(R.where(saturate, i64(high), ctx.emit(truncated))), call.dtype)


def _rounding_shift_right(ctx, call):
    """gemmlowp's RoundingDivideByPOT: (x >> e) + ((x & mask) > (mask >> 1) + (x < 0)), mask = 2^e - 1, in int64.
    The mask is INT64_MAX >> (63 - e): no intermediate overflows, even for e = 63."""
    R = ctx.R
    x, e = call.args
    _check_count(call)
    x64, e64 = ctx.emit(ctx.astype(x, "int64")), ctx.emit(ctx.astype(e, "int64"))
    mask = ctx.emit(R.right_shift(ctx.const(np.iinfo(np.int64).max, "int64"), R.subtract(ctx.const(63, "int64"), e64)))
    threshold = R.add(R.right_shift(mask, ctx.const(1, "int64")), R.astype(R.less(x64, ctx.const(0, "int64")), "int64"))
    round_up = R.astype(R.greater(R.bitwise_and(x64, mask), ctx.emit(threshold)), "int64")
    return R.astype(ctx.emit(R.add(R.right_shift(x64, e64), round_up)), call.dtype)


def _trunc_div(ctx, call):
    """a / b toward zero; b = -1 gives the wrapped negation (INT_MIN / -1 traps in hardware). A zero divisor breaks
    the op's precondition; it is replaced by 1 so that the program cannot trap."""
    R = ctx.R
    a, b = (ctx.astype(v, call.dtype) for v in call.args)
    minus_one = ctx.emit(R.equal(b, ctx.const(-1, call.dtype)))
    unsafe = R.logical_or(minus_one, R.equal(b, ctx.const(0, call.dtype)))
    safe = ctx.emit(R.where(unsafe, ctx.const(1, call.dtype), b))
    quotient = ctx.emit(R.divide(a, safe))
    return R.where(minus_one, ctx.emit(negate(ctx, a, call.dtype)), quotient)


_PREDICATES = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
               "ne": "not_equal"}


def _compare(ctx, call):
    return getattr(ctx.R, _PREDICATES[call.attrs["predicate"]])(*call.args)


def _where(ctx, call):
    return ctx.R.where(*call.args)


def _clz(ctx, call):
    """Leading zero bits, by TIR's clz intrinsic (LLVM ctlz, defined at 0; CUDA __clz / __clzll)."""
    from tvm import te, tirx

    return ctx.bb.call_te(lambda x: te.compute(x.shape, lambda *i: tirx.clz(x(*i)).astype(x.dtype), name="clz"),
                          call.args[0], primfunc_name_hint="clz")


def _int_only(node: Node, types: Mapping[str, TensorType]) -> str | None:
    bad = [types[v].dtype.value for v in node.inputs if not (types[v].dtype.is_integer
                                                            or types[v].dtype is DType.BOOL)]
    return f"integer operands only, got {', '.join(bad)}" if bad else None


RULES: dict[Op, Rule] = {
    Op.CAST: Rule(_cast, _int_only),
    Op.SHIFT_LEFT: Rule(_shift_left, _int_only),
    Op.SHIFT_RIGHT: Rule(_shift_right, _int_only),
    Op.BITWISE_AND: Rule(_bitwise_and, _int_only),
    Op.MUL_HIGH: Rule(_mul_high, _int_only),
    Op.ROUNDING_SHIFT_RIGHT: Rule(_rounding_shift_right, _int_only),
    Op.TRUNC_DIV: Rule(_trunc_div, _int_only),
    Op.COMPARE: Rule(_compare, _int_only),
    Op.WHERE: Rule(_where),
    Op.CLZ: Rule(_clz, _int_only),
}
