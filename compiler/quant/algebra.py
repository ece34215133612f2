"""The integer algebra: the primitive integer ops as methods, so that the arithmetic of every integer op is written
once and runs two ways.

The integer arithmetic of the IR (requantization in `arith`, gemmlowp's fixed point in `fixedpoint`, the I-BERT
ops in `transformer`, and the programs of `edgelower.interp.integer`) is written against `IntegerAlgebra`. Two
implementations run it:
- `NumpyAlgebra` (edgelower.interp.numpy_algebra) evaluates each primitive with the interpreter's definition of its
  op: this is how the interpreter runs a node with a `q` record;
- `GraphAlgebra` (edgelower.passes.integer.graph_algebra) adds one node per primitive: this is how
  `decompose_integer` replaces such a node by primitive ops.
Both apply the same ops, in the same order, to values of the same types, so a decomposed graph computes its
record's bytes by construction (tests/test_decompose_integer.py holds them to it).

Values are opaque: numpy arrays, or the names of graph values. Wherever one operand is a value, the other may be a
Python int, which becomes a constant of the value's dtype; arrays of compile-time constants (per-channel
multipliers) go through `const`. A constant must fit its dtype: it never wraps silently. Everything decided at
compile time (per-channel parameters, the steps of a barrel shifter, iteration counts) is plain Python around the
calls. The methods apply only the identities that hold for every value (x + 0, a shift by 0, a cast to the same
type), so what they emit is what they compute.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, Mapping, Sequence, TypeVar

import numpy as np

from edgelower.ir.graph import DType, Op, TensorType

V = TypeVar("V")
Operand = Any  # a value, or a Python int where the other operand is a value

INT8, INT16, INT32, INT64, BOOL = DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.BOOL


def is_int(operand: Any) -> bool:
    """A compile-time integer operand: a Python int (numpy scalars are values, as numpy computes them)."""
    return isinstance(operand, int) and not isinstance(operand, bool)


class IntegerAlgebra(ABC, Generic[V]):
    """The primitive integer ops (edgelower.interp.primitives states each one's semantics)."""

    @abstractmethod
    def apply(self, op: Op, inputs: Sequence[V], attrs: Mapping[str, Any]) -> V:
        """The single output of `op` on `inputs`."""

    @abstractmethod
    def constant(self, data: np.ndarray) -> V:
        """A value holding `data` (already of its dtype)."""

    @abstractmethod
    def type_of(self, value: V) -> TensorType:
        """The type of a value."""

    def dtype(self, value: V) -> DType:
        return self.type_of(value).dtype

    def shape(self, value: V) -> tuple[int, ...]:
        return self.type_of(value).shape

    def const(self, data: Any, dtype: DType) -> V:
        """A compile-time integer (or integer array) as a value of `dtype`; it must fit."""
        data = np.asarray(data)
        if data.dtype.kind not in "iub" or (data.size and (int(data.min()) < dtype.min or int(data.max()) > dtype.max)):
            raise ValueError(f"constant {data.reshape(-1)[:4].tolist()} does not fit {dtype.value}")
        return self.constant(data.astype(dtype.numpy))

    def _values(self, *operands: Operand, dtype: DType | None = None) -> list[V]:
        """The operands as values: Python ints become constants of the first value's dtype (or `dtype`)."""
        if dtype is None:
            values = [o for o in operands if not is_int(o)]
            if not values:
                raise TypeError(f"operands {operands} are all compile-time integers: name their dtype")
            dtype = self.dtype(values[0])
        return [self.const(o, dtype) if is_int(o) else o for o in operands]

    def _binary(self, op: Op, a: Operand, b: Operand, **attrs: Any) -> V:
        return self.apply(op, self._values(a, b), attrs)

    # --- conversion ---------------------------------------------------------------------------------------------

    def cast(self, x: V, dtype: DType) -> V:
        return x if self.dtype(x) is dtype else self.apply(Op.CAST, [x], {"dtype": dtype.value})

    # --- wrapping arithmetic ------------------------------------------------------------------------------------

    def add(self, a: Operand, b: Operand) -> V:
        return a if is_int(b) and b == 0 else self._binary(Op.ADD, a, b)

    def sub(self, a: Operand, b: Operand) -> V:
        return a if is_int(b) and b == 0 else self._binary(Op.SUB, a, b)

    def mul(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.MUL, a, b)

    def neg(self, x: V) -> V:
        return self.apply(Op.NEG, [x], {})

    def abs(self, x: V) -> V:
        return self.apply(Op.ABS, [x], {})

    def maximum(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.MAXIMUM, a, b)

    def minimum(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.MINIMUM, a, b)

    def clamp(self, x: V, lo: int | None, hi: int | None) -> V:
        """x limited to [lo, hi]; a bound at or beyond the dtype's own limit changes nothing and is dropped."""
        dtype = self.dtype(x)
        lo = None if lo is None or lo <= dtype.min else int(lo)
        hi = None if hi is None or hi >= dtype.max else int(hi)
        return x if lo is None and hi is None else self.apply(Op.CLAMP, [x], {"min": lo, "max": hi})

    def shift_left(self, x: V, amount: Operand) -> V:
        return x if is_int(amount) and amount == 0 else self._binary(Op.SHIFT_LEFT, x, amount)

    def shift_right(self, x: V, amount: Operand) -> V:
        return x if is_int(amount) and amount == 0 else self._binary(Op.SHIFT_RIGHT, x, amount)

    def bitwise_and(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.BITWISE_AND, a, b)

    def mul_high(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.MUL_HIGH, a, b)

    def rounding_shift_right(self, x: V, exponent: Operand) -> V:
        return x if is_int(exponent) and exponent == 0 else self._binary(Op.ROUNDING_SHIFT_RIGHT, x, exponent)

    def trunc_div(self, a: Operand, b: Operand) -> V:
        return self._binary(Op.TRUNC_DIV, a, b)

    def clz(self, x: V) -> V:
        return self.apply(Op.CLZ, [x], {})

    # --- comparison and selection -------------------------------------------------------------------------------

    def compare(self, a: Operand, predicate: str, b: Operand) -> V:
        return self._binary(Op.COMPARE, a, b, predicate=predicate)

    def lt(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "lt", b)

    def le(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "le", b)

    def gt(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "gt", b)

    def ge(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "ge", b)

    def eq(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "eq", b)

    def ne(self, a: Operand, b: Operand) -> V:
        return self.compare(a, "ne", b)

    def where(self, cond: V, a: Operand, b: Operand, dtype: DType | None = None) -> V:
        """a where cond, else b; `dtype` when both are Python ints."""
        return self.apply(Op.WHERE, [cond, *self._values(a, b, dtype=dtype)], {})

    # --- reductions, accumulation, data movement ----------------------------------------------------------------

    def sum(self, x: V, axes: Sequence[int], keepdim: bool = True) -> V:
        return self.apply(Op.SUM, [x], {"axes": tuple(axes), "keepdim": keepdim})

    def reduce_max(self, x: V, axes: Sequence[int], keepdim: bool = True) -> V:
        return self.apply(Op.REDUCE_MAX, [x], {"axes": tuple(axes), "keepdim": keepdim})

    def pad(self, x: V, pads: Sequence[tuple[int, int]], value: int) -> V:
        return x if not any(lo or hi for lo, hi in pads) else \
            self.apply(Op.PAD, [x], {"pads": tuple(tuple(p) for p in pads), "value": int(value)})

    def max_pool2d(self, x: V, attrs: Mapping[str, Any]) -> V:
        return self.apply(Op.MAX_POOL2D, [x], attrs)

    def conv2d(self, x: V, w: V, bias: V | None, out_dtype: DType, **attrs: Any) -> V:
        """The exact sum of x * w over each window (plus bias), wrapped once to `out_dtype`."""
        inputs = [x, w] + ([bias] if bias is not None else [])
        return self.apply(Op.CONV2D, inputs, {**attrs, "out_dtype": out_dtype.value})

    def linear(self, x: V, w: V, bias: V | None, out_dtype: DType) -> V:
        inputs = [x, w] + ([bias] if bias is not None else [])
        return self.apply(Op.LINEAR, inputs, {"out_dtype": out_dtype.value})

    def matmul(self, a: V, b: V, out_dtype: DType) -> V:
        return self.apply(Op.MATMUL, [a, b], {"out_dtype": out_dtype.value})
