"""The primitive integer ops, defined once in numpy: `PRIMITIVE_IMPLS` (registered in the interpreter), and the
functions the numpy integer algebra (`edgelower.interp.numpy_algebra`) evaluates them with.

Together with ADD, SUB, MUL, NEG, ABS, MAXIMUM, MINIMUM, CLAMP, SUM, REDUCE_MAX, CONV2D / LINEAR / MATMUL with an
`out_dtype` and data movement on integers (`edgelower.interp.float_ops`, which wrap like C), these are the ops every
integer op of the IR decomposes into (`passes/integer/decompose_integer.py`). Each is chosen so that TVM (Relax and
TIR int32/int64 arithmetic, arithmetic shifts, where, clip, astype), MLIR (arith, linalg) and HLS (ap_int) express
it exactly:

- CAST: conversion between integer types (or from bool) modulo 2**bits, two's complement (astype, arith.trunci /
  extsi, ap_int assignment).
- SHIFT_LEFT: a * 2**s modulo 2**bits; SHIFT_RIGHT: arithmetic, floor(a / 2**s). The amount s must lie in
  [0, bits): TVM on x86 masks larger amounts, C and MLIR leave them undefined, so a value outside is an error here,
  never a silent answer.
- BITWISE_AND of integers (or bool).
- MUL_HIGH: gemmlowp's SaturatingRoundingDoublingHighMul on int16 / int32: 2ab / 2**bits rounded to nearest with
  ties toward +infinity (floor(ab / 2**(bits-1) + 1/2)), and MIN * MIN saturated to MAX. In a type twice as wide:
  ab plus 2**(bits-2) (or 1 - 2**(bits-2) when ab < 0), divided by 2**(bits-1) truncating toward zero.
- ROUNDING_SHIFT_RIGHT: gemmlowp's RoundingDivideByPOT: a / 2**e rounded to nearest, ties away from zero, for e in
  [0, bits): (a >> e) + ((a & mask) > (mask >> 1) + (a < 0)) with mask = 2**e - 1.
- TRUNC_DIV: a / b rounded toward zero (C's /, arith.divsi, TVM's truncdiv); b must not be 0; MIN / -1 wraps to
  MIN.
- COMPARE with a predicate lt, le, gt, ge, eq, ne -> bool; WHERE(cond, a, b) selects, broadcasting all three.
- CLZ: the number of leading zero bits of an int32 / int64's two's complement pattern (bits for 0).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from edgelower.ir.graph import DType, Op

Impl = Callable[[list[np.ndarray], Mapping[str, Any]], list[np.ndarray]]


def _bits(a: np.ndarray) -> int:
    return np.dtype(a.dtype).itemsize * 8


def _check_amount(amount: np.ndarray, bits: int, what: str) -> None:
    if amount.size and (amount.min() < 0 or amount.max() >= bits):
        raise ValueError(f"{what} {int(amount.min())}..{int(amount.max())} outside [0, {bits}) on int{bits}")


def cast(a: np.ndarray, dtype: DType) -> np.ndarray:
    return np.asarray(a).astype(dtype.numpy)


def shift_left(a: np.ndarray, amount: np.ndarray) -> np.ndarray:
    _check_amount(np.asarray(amount), _bits(a), "shift amount")
    return np.left_shift(a, amount)


def shift_right(a: np.ndarray, amount: np.ndarray) -> np.ndarray:
    _check_amount(np.asarray(amount), _bits(a), "shift amount")
    return np.right_shift(a, amount)


def bitwise_and(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_and(a, b)


def mul_high(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bits = _bits(a)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    ab = a.astype(np.int64) * b.astype(np.int64)
    total = ab + np.where(ab >= 0, 1 << (bits - 2), 1 - (1 << (bits - 2)))
    high = np.sign(total) * (np.abs(total) // (1 << (bits - 1)))  # |total| < 2**63: truncating division
    return np.where((a == lo) & (b == lo), hi, high).astype(a.dtype)


def rounding_shift_right(a: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    exponent = np.asarray(exponent)
    _check_amount(exponent, _bits(a), "rounding shift")
    # The mask 2**e - 1 is built in uint64, so that e = 63 does not overflow; it fits a's type for e < bits.
    mask = ((np.uint64(1) << exponent.astype(np.uint64)) - np.uint64(1)).astype(a.dtype)
    threshold = (mask >> 1) + (a < 0)
    return ((a >> exponent.astype(a.dtype)) + (np.bitwise_and(a, mask) > threshold)).astype(a.dtype)


def trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.any(b == 0):
        raise ValueError("integer division by zero")
    minus_one = b == -1
    safe = np.where(minus_one, 1, b).astype(a.dtype)
    q = a // safe
    q = q + ((q * safe != a) & ((a < 0) != (safe < 0)))  # floor -> toward zero where the signs differ
    return np.where(minus_one, np.negative(a), q).astype(np.result_type(a, b))


COMPARISONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal,
    "ne": np.not_equal}


def compare(a: np.ndarray, b: np.ndarray, predicate: str) -> np.ndarray:
    return np.asarray(COMPARISONS[predicate](a, b))


def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(cond, a, b).astype(np.result_type(a, b))


def clz(a: np.ndarray) -> np.ndarray:
    bits = _bits(a)
    v = a.astype(np.int64).view(np.uint64) if bits == 64 else a.astype(np.int64) & ((1 << bits) - 1)
    v = np.asarray(v).astype(np.uint64)
    length = np.zeros(v.shape, np.int64)
    for step in (32, 16, 8, 4, 2, 1):  # binary search for the highest set bit
        big = (v >> np.uint64(step)) != 0
        v = np.where(big, v >> np.uint64(step), v)
        length += big * step
    return (bits - length - (v != 0)).astype(a.dtype)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Impl:
    return lambda ins, attrs: [np.asarray(fn(ins[0], ins[1]))]


PRIMITIVE_IMPLS: dict[Op, Impl] = {
    Op.CAST: lambda ins, attrs: [cast(ins[0], DType(attrs["dtype"]))],
    Op.SHIFT_LEFT: _binary(shift_left),
    Op.SHIFT_RIGHT: _binary(shift_right),
    Op.BITWISE_AND: _binary(bitwise_and),
    Op.MUL_HIGH: _binary(mul_high),
    Op.ROUNDING_SHIFT_RIGHT: _binary(rounding_shift_right),
    Op.TRUNC_DIV: _binary(trunc_div),
    Op.COMPARE: lambda ins, attrs: [compare(ins[0], ins[1], attrs["predicate"])],
    Op.WHERE: lambda ins, attrs: [where(*ins)],
    Op.CLZ: lambda ins, attrs: [clz(ins[0])],
}
