"""The linear program backends render: kernels over buffers, each buffer with a lifetime and an arena offset.

Lifetimes are kernel indices: a buffer is live from `first` (the kernel that writes it; -1 for graph inputs,
which the caller fills before kernel 0) to `last` (the last kernel that reads it; len(kernels) for graph outputs,
which the caller reads after the last kernel). Constants live in flash, not in the arena (offset None).

A *storage* is a run of arena bytes that the memory plan places as one: a buffer with `alias` None is the root of
its own storage; a buffer with `alias` set lives inside its root's storage, `alias_offset` bytes in. Two kinds of
alias exist (passes/memory/alias_buffers.py decides them):
- a view: a kernel marked `view` computes nothing; its output is the same bytes as its input read another way
  (RESHAPE; a SLICE that is a contiguous byte range), so the two stay equal for as long as either is live;
- in place: a kernel writes its output over an input whose whole storage dies at that kernel.
A storage is live from the first to the last step of any of its buffers. Two storages may share arena bytes only
when their lifetimes are disjoint; after planning, every buffer's `offset` is its root's offset + `alias_offset`.
Scratch buffers (BufferKind.SCRATCH, named in `Kernel.scratch`) are arena storages live during their one kernel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from edgelower.ir.graph import Graph, Node, TensorType

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
    alias: str | None = None   # the root buffer whose storage holds this one; None: a root itself
    alias_offset: int = 0      # bytes from the root's start

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
    scratch: tuple[str, ...] = ()   # SCRATCH buffers the kernel uses as work space
    view: bool = False              # the output aliases the input's bytes: no code runs


@dataclass(frozen=True, eq=False)
class Schedule:
    graph: Graph
    kernels: tuple[Kernel, ...]
    buffers: Mapping[str, Buffer]
    arena_bytes: int = 0
    alignment: int = 1   # every storage offset is a multiple of this (set by plan_memory from the backend)

    def __post_init__(self):
        object.__setattr__(self, "kernels", tuple(self.kernels))
        object.__setattr__(self, "buffers", MappingProxyType(dict(self.buffers)))

    def replace(self, **changes) -> "Schedule":
        return replace(self, **changes)

    def arena_buffers(self) -> list[Buffer]:
        return [b for b in self.buffers.values() if b.in_arena]

    def root(self, name: str) -> Buffer:
        """The buffer whose storage holds `name` (itself when it is not an alias)."""
        buf = self.buffers[name]
        return self.buffers[buf.alias] if buf.alias is not None else buf

    def storages(self) -> list[Buffer]:
        """One buffer per storage, in buffer order: the root, its lifetime widened to cover every alias of it.
        These are what a memory plan places."""
        span = {b.name: (b.first, b.last) for b in self.arena_buffers() if b.alias is None}
        for b in self.arena_buffers():
            if b.alias is not None:
                first, last = span[b.alias]
                span[b.alias] = (min(first, b.first), max(last, b.last))
        return [replace(self.buffers[name], first=first, last=last) for name, (first, last) in span.items()]

    def live_at(self, step: int) -> list[Buffer]:
        """The storages live while kernel `step` runs (-1: before the first, len(kernels): after the last)."""
        return [b for b in self.storages() if b.first <= step <= b.last]

    def live_profile(self) -> list[int]:
        """Live storage bytes at every step from -1 to len(kernels): entry i is step i - 1."""
        delta = [0] * (len(self.kernels) + 3)
        for b in self.storages():
            delta[b.first + 1] += b.nbytes
            delta[b.last + 2] -= b.nbytes
        profile, total = [], 0
        for d in delta[:-1]:
            total += d
            profile.append(total)
        return profile

    @property
    def peak_step(self) -> int:
        """The first step at which the live bytes are largest (-1 when only graph inputs are live)."""
        profile = self.live_profile()
        return profile.index(max(profile)) - 1

    @property
    def peak_bytes(self) -> int:
        """The largest total size of simultaneously live storages: a lower bound for any plan of this schedule."""
        return max(self.live_profile())


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
