"""What an emit function works with: its `KernelContext` (node, operand types, C pointers, and sinks for params
structs and calls), the records it produces (Params, Scalar, Array, Call), and the iteration-space helpers every
kernel family shares. Strided iteration spaces are computed here, in Python, once: broadcast dims get stride 0,
size-1 dims are dropped and dims that stay contiguous for every operand are merged, so most kernels run over one
or two dims."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from edgelower.errors import BuildError
from edgelower.ir.graph import DType, Node, TensorType
from edgelower.ir.ops import complete_attrs

from edgelower.backends.c.syntax import Identifiers, c_type, literals, scalar_literal

MAX_DIMS = 6  # EL_MAX_DIMS


@dataclass(frozen=True)
class Params:
    ctype: str
    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Scalar:
    ctype: str
    name: str
    literal: str


@dataclass(frozen=True)
class Array:
    """A `static const` array of exact literals (per-channel integer parameters)."""

    ctype: str
    name: str
    literals: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[str, ...]
    checked: bool = False  # returns a status that invoke() must pass on


@dataclass
class KernelContext:
    """What an emit function sees: its node, operand types and C pointer expressions, and sinks."""

    node: Node
    types: Mapping[str, TensorType]
    pointers: Mapping[str, str]
    idents: Identifiers
    scratch: tuple[str, ...] = ()  # pointers to the kernel's scratch buffers: it runs in place
    defs: list[Params | Scalar | Array] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    @cached_property
    def attrs(self) -> dict[str, Any]:
        return complete_attrs(self.node.op, self.node.attrs)

    def type(self, i: int) -> TensorType:
        return self.types[self.node.inputs[i]]

    @property
    def out(self) -> TensorType:
        return self.types[self.node.output]

    def ptr(self, i: int) -> str:
        """Input i's pointer, or NULL for an optional input the node does not have."""
        return self.pointers[self.node.inputs[i]] if i < len(self.node.inputs) else "NULL"

    @property
    def out_ptr(self) -> str:
        return self.pointers[self.node.output]

    def params(self, ctype: str, fields: Mapping[str, Any]) -> str:
        name = self.idents.unique(f"p_{self.node.name}")
        self.defs.append(Params(ctype, name, fields))
        return f"&{name}"

    def scalar(self, dtype: DType, value: Any) -> str:
        name = self.idents.unique(f"s_{self.node.name}")
        self.defs.append(Scalar(c_type(dtype), name, scalar_literal(value, dtype)))
        return f"&{name}"

    def array(self, dtype: DType, hint: str, values: Any) -> str:
        """A static const array of `values` in `dtype`, defined before anything that points at it; its name."""
        name = self.idents.unique(f"{hint}_{self.node.name}")
        self.defs.append(Array(c_type(dtype), name, tuple(literals(np.asarray(values), dtype))))
        return name

    def call(self, fn: str, *args: str, checked: bool = False) -> None:
        self.calls.append(Call(fn, tuple(args), checked))

    def fail(self, why: str) -> BuildError:
        return BuildError(f"C backend: node {self.node.name} ({self.node.op.name}): {why}")


# --- iteration spaces -----------------------------------------------------------------------------------------

def contiguous_strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides that read `shape` (right-aligned, numpy broadcasting) at every index of `out_shape`."""
    own = [0] * (len(out_shape) - len(shape)) + contiguous_strides(shape)
    dims = [1] * (len(out_shape) - len(shape)) + list(shape)
    return [s if d == o else 0 for s, d, o in zip(own, dims, out_shape)]


def coalesce(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dims and merge neighbours every operand walks contiguously; at least one dim remains."""
    dims = [(d, [s[i] for s in strides]) for i, d in enumerate(shape) if d != 1]
    merged: list[tuple[int, list[int]]] = []
    for d, st in dims:
        if merged and all(prev == cur * d for prev, cur in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * d, st)
        else:
            merged.append((d, st))
    if not merged:
        merged = [(1, [0] * len(strides))]
    return [d for d, _ in merged], [[st[k] for _, st in merged] for k in range(len(strides))]


def fits(k: KernelContext, shape: Sequence[int]) -> None:
    if len(shape) > MAX_DIMS:
        raise k.fail(f"needs a {len(shape)}-d iteration space after merging dims; the runtime has {MAX_DIMS}")


def walk(k: KernelContext, shape: Sequence[int], stride: Sequence[int]) -> dict[str, Any]:
    shape, (stride,) = coalesce(shape, stride)
    fits(k, shape)
    return {"ndim": len(shape), "shape": shape, "stride": stride}


def broadcast(k: KernelContext, out_shape: Sequence[int], sa: Sequence[int], sb: Sequence[int]) -> dict[str, Any]:
    shape, (sa, sb) = coalesce(out_shape, sa, sb)
    fits(k, shape)
    return {"ndim": len(shape), "shape": shape, "stride_a": sa, "stride_b": sb}


def copy(k: KernelContext, elem_size: int, shape: Sequence[int], x_stride: Sequence[int], y_stride: Sequence[int],
         x_offset: int = 0, y_offset: int = 0) -> str:
    shape, (xs, ys) = coalesce(shape, x_stride, y_stride)
    fits(k, shape)
    return k.params("el_copy_params", {"elem_size": elem_size, "ndim": len(shape), "shape": shape,
                                       "x_offset": x_offset, "x_stride": xs, "y_offset": y_offset, "y_stride": ys})


def reduce_params(k: KernelContext) -> str:
    """el_reduce_params of a reduction over `axes`: a walk over the kept dims and one over the reduced dims."""
    shape, axes = k.type(0).shape, set(k.attrs["axes"])
    strides = contiguous_strides(shape)
    kept = [i for i in range(len(shape)) if i not in axes]
    gone = sorted(axes)
    return k.params("el_reduce_params", {
        "outer": walk(k, [shape[i] for i in kept], [strides[i] for i in kept]),
        "inner": walk(k, [shape[i] for i in gone], [strides[i] for i in gone])})
