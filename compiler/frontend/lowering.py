"""What an ATen converter works with: the GraphBuilder being filled, and the FX node being lowered.

A converter (`edgelower.frontend.aten_ops.ATEN_TO_IR`) is called as `convert(cx, *args, **kwargs)` with the FX node's
arguments, where every tensor argument has been replaced by its IR value name (a `str`) and everything else
(ints, floats, lists of ints, dtypes, None) is passed as torch gave it. It returns the IR value name of its
result, or a tuple of names (None for an output the IR does not compute) for a multi-output op, or a plain Python
value for bookkeeping ops such as `sym_size`. It raises `Unlowerable` for a variant the IR cannot express.
Nothing here imports torch: converters see IR names and Python values only.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from edgelower.ir.graph import DType, GraphBuilder, Node, Op, QParams, TensorType


class Unlowerable(Exception):
    """A converter met a variant of its op that the IR cannot express; capture reports it as unsupported."""


class Lowering:
    """The converter's view of the graph under construction. `at()` points it at the FX node being lowered, so
    that every IR node it makes carries that node's name (as a hint) and the user's source line."""

    def __init__(self, builder: GraphBuilder):
        self.builder = builder
        self.hint = ""
        self.source = ""
        self.out_dtype: DType | None = None  # dtype torch computed for the current node's (first) output
        self._producers: dict[str, Node] = {}
        self._scalars: dict[tuple[bytes, DType], str] = {}

    def at(self, hint: str, source: str, out_dtype: DType | None) -> None:
        self.hint, self.source, self.out_dtype = hint, source, out_dtype

    def type(self, value: str) -> TensorType:
        return self.builder.types[value]

    def shape(self, value: str) -> tuple[int, ...]:
        return self.builder.types[value].shape

    def rank(self, value: str) -> int:
        return len(self.builder.types[value].shape)

    def data(self, value: str) -> np.ndarray | None:
        """The data of a constant, None for a value only known at run time."""
        return self.builder.constants.get(value)

    def producer(self, value: str) -> Node | None:
        return self._producers.get(value)

    def op(self, op: Op, inputs: Sequence[str], **attrs: Any) -> str:
        out = self.builder.op(op, inputs, attrs, hint=self.hint, source=self.source)
        self._producers[out] = self.builder.nodes[-1]
        return out

    def const(self, data: np.ndarray, hint: str = "", qparams: QParams | None = None) -> str:
        data = np.asarray(data)
        try:
            DType.of(data.dtype)
        except ValueError:
            raise Unlowerable(f"a {data.dtype} constant (the IR holds float32, integers and bool)") from None
        name = self.builder.constant(hint or self.hint, data)
        if qparams is not None:
            self.annotate(name, qparams)
        return name

    def annotate(self, value: str, qparams: QParams) -> None:
        """Record quantization parameters on a value (a PT2E model's, see `edgelower.frontend.aten_quant`)."""
        t = self.builder.types[value]
        if t.qparams is not None and t.qparams != qparams:
            raise Unlowerable(f"%{value} is quantized twice, with {t.qparams} and {qparams}")
        self.builder.types[value] = replace(t, qparams=qparams)

    def scalar(self, value: float | int | bool, dtype: DType | None = None) -> str:
        """A 0-d constant holding a Python scalar in `dtype` (default: the current node's dtype), shared by every
        use of the same value: torch broadcasts scalars, and so do the IR's binary ops."""
        dtype = dtype or self.out_dtype or DType.FLOAT32
        if dtype is DType.BOOL or (not dtype.is_float and not float(value).is_integer()):
            raise Unlowerable(f"the scalar {value!r} in a {dtype.value} operation")
        data = np.asarray(value, dtype=dtype.numpy)
        key = (data.tobytes(), dtype)  # by bits: -0.0 and 0.0 differ, NaN equals NaN
        if key not in self._scalars:
            self._scalars[key] = self.builder.constant("scalar", data)
        return self._scalars[key]

    def tensor(self, value: str | float | int | bool, dtype: DType | None = None) -> str:
        """An operand in `dtype` (default: the current node's): Python scalars become constants, constants are
        converted; a run-time tensor of another dtype is unlowerable (the IR has no cast op)."""
        dtype = dtype or self.out_dtype or DType.FLOAT32
        if not isinstance(value, str):
            return self.scalar(value, dtype)
        if self.type(value).dtype == dtype:
            return value
        data = self.data(value)
        if data is None:
            raise Unlowerable(f"a run-time {self.type(value).dtype.value} tensor promoted to {dtype.value}")
        return self.const(data.astype(dtype.numpy), hint=value)

    def reshape(self, value: str, shape: Sequence[int]) -> str:
        """RESHAPE, or nothing when the shape does not change; a constant is reshaped in place of a node."""
        shape = tuple(int(d) for d in shape)
        if shape == self.shape(value):
            return value
        data = self.data(value)
        if data is not None:
            return self.const(data.reshape(shape), hint=value)
        return self.op(Op.RESHAPE, [value], shape=shape)

    @staticmethod
    def axis(dim: int, rank: int) -> int:
        """A non-negative axis (the IR's convention) from torch's possibly negative `dim`."""
        rank = max(rank, 1)  # torch accepts dim 0 / -1 on 0-d tensors
        if not -rank <= dim < rank:
            raise Unlowerable(f"dim {dim} out of range for rank {rank}")
        return dim % rank

    def axes(self, dims: Sequence[int] | int | None, rank: int) -> tuple[int, ...]:
        """Sorted non-negative axes; None or [] mean every axis, as in torch's reductions."""
        if dims is None or (not isinstance(dims, int) and len(dims) == 0):
            return tuple(range(rank))
        dims = [dims] if isinstance(dims, int) else dims
        return tuple(sorted({self.axis(d, rank) for d in dims}))

    def infer_shape(self, value: str, shape: Sequence[int]) -> tuple[int, ...]:
        """torch's view shape with at most one -1 resolved against `value`'s element count."""
        shape = [int(d) for d in shape]
        if shape.count(-1) == 1:
            known = math.prod(d for d in shape if d != -1)
            shape[shape.index(-1)] = self.type(value).numel // known if known else 0
        return tuple(shape)
