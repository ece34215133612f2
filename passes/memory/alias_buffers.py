"""Let buffers share bytes: a view is its input's bytes read another way, and a kernel that may run in place writes
its output over an input that dies there.

Pre: a linearized Schedule (lifetimes set, no aliases, no offsets).
Post: view kernels are marked `view` and their outputs alias their input; in-place outputs alias a dying input's
storage, with a SCRATCH buffer for the kernel where it needs one; every alias names a root; no storage is written
while another of its buffers is still to be read.

What may share is data: which nodes are views is an IR fact (`edgelower.ir.views`), which kernels may run in place
is the backend's declaration (`MemoryFeatures`, passes/memory/features.py). Both are dtype-generic: they look at
shapes, element sizes and lifetimes only. `passes/memory/reorder_nodes.py` models the same rules to choose an
order, through `view_offset` and `in_place_inputs`.

- A view's bytes never change while any buffer of its storage is live: nothing writes a storage in place unless
  the whole storage dies at that kernel. So a view may alias its input whatever their lifetimes.
- In place: kernel k may write output y over input x when y has x's shape and dtype, the kernel reads each element
  before writing it (runtime/include/edgelower.h, "Aliasing"), the last use of any buffer in x's storage is k, x
  fills that storage from its first byte, and the kernel reads the storage through x alone (x + x is fine; x plus
  a reshaped x is not, as the two would be walked in different orders).
- A kernel with a scratch rule (the C backend's in-place depthwise convolution) gets a SCRATCH buffer, an arena
  storage live for that one kernel.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from edgelower.ir.graph import Node, TensorType
from edgelower.ir.schedule import Buffer, BufferKind, Schedule
from edgelower.ir.views import view_offset
from edgelower.passes.memory.features import READ_BEFORE_WRITE, MemoryFeatures


def in_place_inputs(node: Node, types: Mapping[str, TensorType], features: MemoryFeatures) -> list[str]:
    """The inputs, in order, that `node`'s kernel could overwrite with its output, by op and type alone."""
    rule = features.in_place.get(node.op)
    if rule is None or len(node.outputs) != 1 or not rule.applies(node, types):
        return []
    out = types[node.output]
    return [node.inputs[i] for i in rule.positions if i < len(node.inputs)
            and (types[node.inputs[i]].shape, types[node.inputs[i]].dtype) == (out.shape, out.dtype)]


def in_place_scratch(node: Node, types: Mapping[str, TensorType], features: MemoryFeatures) -> TensorType | None:
    """The scratch buffer `node`'s kernel needs to run in place, if any."""
    return features.in_place[node.op].scratch(node, types)


def alias_buffers(schedule: Schedule, features: MemoryFeatures = READ_BEFORE_WRITE) -> Schedule:
    """The schedule with view outputs aliasing their inputs and in-place outputs aliasing dying inputs."""
    buffers = dict(schedule.buffers)
    kernels = list(schedule.kernels)
    types = {name: b.type for name, b in buffers.items()}
    last = {b.name: b.last for b in schedule.arena_buffers()}  # root -> last step of any buffer in its storage

    def root(name: str) -> str:
        return buffers[name].alias or name

    def join(y: str, r: str, offset: int) -> None:
        buffers[y] = replace(buffers[y], alias=r, alias_offset=offset)
        last[r] = max(last[r], last.pop(y))

    for step, kernel in enumerate(kernels):
        node = kernel.node
        if len(node.outputs) != 1 or not buffers[node.output].in_arena:
            continue
        x = node.inputs[0] if node.inputs else None
        offset = view_offset(node, types) if features.views and x is not None and buffers[x].in_arena else None
        if offset is not None:
            join(node.output, root(x), buffers[x].alias_offset + offset)
            kernels[step] = replace(kernel, view=True)
            continue
        for x in in_place_inputs(node, types, features):
            r = root(x)
            storage_reads = {i for i in node.inputs if buffers[i].in_arena and root(i) == r}
            if (buffers[x].in_arena and last[r] == step and buffers[x].alias_offset == 0
                    and buffers[r].nbytes == buffers[x].nbytes and storage_reads == {x}):
                join(node.output, r, 0)
                scratch = in_place_scratch(node, types, features)
                if scratch is not None:
                    name = _fresh(f"{node.name}_scratch", buffers)
                    buffers[name] = Buffer(name, scratch, BufferKind.SCRATCH, step, step)
                    kernels[step] = replace(kernel, scratch=kernel.scratch + (name,))
                break
    return schedule.replace(buffers=buffers, kernels=tuple(kernels))


def _fresh(hint: str, taken: Mapping[str, object]) -> str:
    name, n = hint, 0
    while name in taken:
        n += 1
        name = f"{hint}_{n}"
    return name
