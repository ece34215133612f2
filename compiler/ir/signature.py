"""What an op signature is (arity, attributes with defaults, type inference) and the checks signatures share. The
signatures themselves are in `edgelower.ir.ops` (every op) and `edgelower.ir.integer_signatures` (the primitive
integer ops)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgelower.ir.graph import DType, TensorType

Infer = Callable[[Sequence[TensorType], Mapping[str, Any]], list[TensorType]]


class IRError(ValueError):
    """A malformed graph or node; the message names the node."""


@dataclass(frozen=True)
class OpSignature:
    min_inputs: int
    max_inputs: int
    attrs: Mapping[str, Any]  # name -> default (REQUIRED when it has none)
    infer: Infer


REQUIRED = object()


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError as e:
        raise IRError(f"shapes {[tuple(s) for s in shapes]} do not broadcast") from e


def binary(ins, attrs):
    """Two operands of one dtype, broadcast like numpy."""
    if ins[0].dtype != ins[1].dtype:
        raise IRError(f"operand dtypes differ: {ins[0].dtype.value} and {ins[1].dtype.value}")
    return [TensorType(broadcast_shapes(ins[0].shape, ins[1].shape), ins[0].dtype)]


def dtype_attr(value: Any) -> DType:
    """A dtype attribute (its value string, e.g. "int32") as a DType."""
    try:
        return DType(value)
    except ValueError:
        raise IRError(f"{value!r} is not a dtype ({', '.join(d.value for d in DType)})") from None
