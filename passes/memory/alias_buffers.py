"""Let buffers share bytes: a view is its input's bytes read another way, and a kernel that may run in place writes
its output over an input that dies there.

Pre: a linearized Schedule (lifetimes set, no aliases, no offsets).
Post: view kernels are marked `view` and their outputs alias their input; in-place outputs alias a dying input's
storage, with a SCRATCH buffer for the kernel where it needs one; every alias names a root; no storage is written
while another of its buffers is still to be read.

Both rules are data (`VIEWS`, `IN_PLACE`) and dtype-generic: they look at shapes, element sizes and lifetimes only.
`passes/memory/reorder_nodes.py` models the same rules to choose an order, through `view_offset` and `in_place_inputs`.

- A view's bytes never change while any buffer of its storage is live: nothing writes a storage in place unless
  the whole storage dies at that kernel. So a view may alias its input whatever their lifetimes.
- In place: kernel k may write output y over input x when y has x's shape and dtype, the kernel reads each element
  before writing it (runtime/include/edgelower.h, "Aliasing"), the last use of any buffer in x's storage is k, x
  fills that storage from its first byte, and the kernel reads the storage through x alone (x + x is fine; x plus
  a reshaped x is not, as the two would be walked in different orders).
- Depthwise convolution runs in place as TinyEngine's does: each channel's output plane goes to a one-plane
  scratch buffer, then over that channel's input plane, which no later channel reads. The scratch is an arena
  storage live for that one kernel. Only where the output has the input's shape (stride 1, "same" padding), so
  that a storage never changes size; TinyEngine also shrinks the storage after a stride-2 layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from edgelower.ir.graph import Node, Op, TensorType
from edgelower.ir.schedule import Buffer, BufferKind, Schedule


@dataclass(frozen=True)
class AliasOptions:
    """What the backend can express: views need buffers at arbitrary offsets inside another's bytes, in-place
    kernels need kernels that read before they write. The C backend does both."""

    views: bool = True
    in_place: bool = True


ViewFn = Callable[[Node, Mapping[str, TensorType]], "int | None"]


def _reshape_view(node: Node, types: Mapping[str, TensorType]) -> int | None:
    return 0  # row-major contiguous in, row-major contiguous out: the same bytes


def _permute_view(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """A permutation that moves only size-1 dims keeps every element where it was."""
    shape = types[node.inputs[0]].shape
    moved = [p for p in node.attrs["perm"] if shape[p] != 1]
    return 0 if moved == sorted(moved) else None


def _expand_view(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """An EXPAND that adds only size-1 dims repeats nothing."""
    return 0 if types[node.output].numel == types[node.inputs[0]].numel else None


def _slice_view(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """A slice is one contiguous byte range when every dim before its axis has size 1 and it takes consecutive
    rows (step 1, or a single row)."""
    x, y, a = types[node.inputs[0]], types[node.output], node.attrs
    axis = a["axis"]
    if math.prod(x.shape[:axis]) != 1 or (a["step"] != 1 and y.shape[axis] != 1):
        return None
    return a["start"] * math.prod(x.shape[axis + 1:]) * x.dtype.itemsize


# op -> byte offset of the output inside input 0, or None when this node is not a view.
VIEWS: dict[Op, ViewFn] = {
    Op.RESHAPE: _reshape_view,
    Op.PERMUTE: _permute_view,
    Op.EXPAND: _expand_view,
    Op.SLICE: _slice_view,
}

@dataclass(frozen=True)
class InPlace:
    """A kernel that may write its output over one of the inputs at `positions` (one of the output's type), when
    `applies` to the node; `scratch` gives the work space it needs then, or None."""

    positions: tuple[int, ...]
    applies: Callable[[Node, Mapping[str, TensorType]], bool] = lambda node, types: True
    scratch: Callable[[Node, Mapping[str, TensorType]], "TensorType | None"] = lambda node, types: None


def _is_depthwise(node: Node, types: Mapping[str, TensorType]) -> bool:
    """Depthwise with more than one channel: with one, the scratch would cost what running in place saves."""
    channels = types[node.inputs[0]].shape[1]
    return node.attrs["groups"] == channels == types[node.output].shape[1] > 1


def _one_plane(node: Node, types: Mapping[str, TensorType]) -> TensorType:
    y = types[node.output]
    return TensorType((y.shape[2] * y.shape[3],), y.dtype)


_BINARY = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.MINIMUM)
_UNARY = (Op.RELU, Op.CLAMP, Op.HARDSWISH, Op.HARDSIGMOID, Op.SIGMOID, Op.TANH, Op.GELU, Op.SILU, Op.EXP, Op.LOG,
          Op.SQRT, Op.RSQRT, Op.NEG, Op.ABS, Op.ERF)
_NORM = (Op.SOFTMAX, Op.LOG_SOFTMAX, Op.LAYER_NORM, Op.BATCH_NORM)

IN_PLACE: dict[Op, InPlace] = {
    **{op: InPlace((0, 1)) for op in _BINARY},
    **{op: InPlace((0,)) for op in _UNARY + _NORM},
    Op.CONV2D: InPlace((0,), _is_depthwise, _one_plane),
}


def view_offset(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """The byte offset of `node`'s output inside its input when the node is a pure view, else None."""
    rule = VIEWS.get(node.op)
    return rule(node, types) if rule is not None and len(node.outputs) == 1 else None


def in_place_inputs(node: Node, types: Mapping[str, TensorType]) -> list[str]:
    """The inputs, in order, that `node`'s kernel could overwrite with its output, by op and type alone."""
    rule = IN_PLACE.get(node.op)
    if rule is None or len(node.outputs) != 1 or not rule.applies(node, types):
        return []
    out = types[node.output]
    return [node.inputs[i] for i in rule.positions if i < len(node.inputs)
            and (types[node.inputs[i]].shape, types[node.inputs[i]].dtype) == (out.shape, out.dtype)]


def in_place_scratch(node: Node, types: Mapping[str, TensorType]) -> TensorType | None:
    """The scratch buffer `node`'s kernel needs to run in place, if any."""
    return IN_PLACE[node.op].scratch(node, types)


def alias_buffers(schedule: Schedule, options: AliasOptions = AliasOptions()) -> Schedule:
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
        offset = view_offset(node, types) if options.views and x is not None and buffers[x].in_arena else None
        if offset is not None:
            join(node.output, root(x), buffers[x].alias_offset + offset)
            kernels[step] = replace(kernel, view=True)
            continue
        for x in in_place_inputs(node, types) if options.in_place else ():
            r = root(x)
            storage_reads = {i for i in node.inputs if buffers[i].in_arena and root(i) == r}
            if (buffers[x].in_arena and last[r] == step and buffers[x].alias_offset == 0
                    and buffers[r].nbytes == buffers[x].nbytes and storage_reads == {x}):
                join(node.output, r, 0)
                scratch = in_place_scratch(node, types)
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
