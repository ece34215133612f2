"""The linear program backends render: kernels over buffers, each buffer with a lifetime and an arena offset.

Lifetimes are kernel indices: a buffer is live from `first` (the kernel that writes it; -1 for graph inputs,
which the caller fills before kernel 0) to `last` (the last kernel that reads it; len(kernels) for graph outputs,
which the caller reads after the last kernel). Two buffers may share arena bytes only when their lifetimes are
disjoint. Constants live in flash, not in the arena (offset None).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from edgelower.ir import Graph, Node, TensorType

ARENA_ALIGN = 16


class BufferKind(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"
    ACTIVATION = "activation"
    CONSTANT = "constant"
    SCRATCH = "scratch"


@dataclass(frozen=True)
class Buffer:
    name: str
    type: TensorType
    kind: BufferKind
    first: int
    last: int
    offset: int | None = None

    @property
    def nbytes(self) -> int:
        return self.type.nbytes

    @property
    def in_arena(self) -> bool:
        return self.kind is not BufferKind.CONSTANT

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Kernel:
    node: Node
    scratch: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Schedule:
    graph: Graph
    kernels: tuple[Kernel, ...]
    buffers: Mapping[str, Buffer]
    arena_bytes: int = 0

    def __post_init__(self):
        object.__setattr__(self, "kernels", tuple(self.kernels))
        object.__setattr__(self, "buffers", MappingProxyType(dict(self.buffers)))

    def replace(self, **changes) -> "Schedule":
        return replace(self, **changes)

    def arena_buffers(self) -> list[Buffer]:
        return [b for b in self.buffers.values() if b.in_arena]

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self.arena_buffers() if b.first <= step <= b.last]

    @property
    def peak_bytes(self) -> int:
        """The largest total size of simultaneously live arena buffers: a lower bound for any plan."""
        steps = range(-1, len(self.kernels) + 1)
        return max((sum(b.nbytes for b in self.live_at(s)) for s in steps), default=0)


def linearize(graph: Graph) -> Schedule:
    """One kernel per node in graph order; buffers with lifetimes, no offsets yet."""
    n = len(graph.nodes)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for name in graph.inputs:
        first[name] = last[name] = -1
    for step, node in enumerate(graph.nodes):
        for i in node.inputs:
            last[i] = step
        for o in node.outputs:
            first[o] = last[o] = step
    for name in graph.outputs:
        last[name] = n
    buffers: dict[str, Buffer] = {}
    for name, ttype in graph.types.items():
        if name in graph.constants:
            kind = BufferKind.CONSTANT
        elif name in graph.outputs:
            kind = BufferKind.OUTPUT
        elif name in graph.inputs:
            kind = BufferKind.INPUT
        elif name in first:
            kind = BufferKind.ACTIVATION
        else:
            continue
        if kind is BufferKind.CONSTANT:
            buffers[name] = Buffer(name, ttype, kind, -1, n)
        else:
            buffers[name] = Buffer(name, ttype, kind, first[name], last.get(name, first[name]))
    return Schedule(graph, tuple(Kernel(node) for node in graph.nodes), buffers)
