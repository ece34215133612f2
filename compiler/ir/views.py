"""Views: nodes whose output is its input's bytes read another way (a byte offset into input 0), decided from shapes.

An IR fact, not a backend's: a backend that can address a buffer inside another's bytes (MemoryFeatures.views)
renders these nodes as no code. The ops that may be views have the `view` trait (edgelower.ir.traits).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from edgelower.ir.graph import Node, Op, TensorType
from edgelower.ir.traits import ops_where

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

def view_offset(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """The byte offset of `node`'s output inside its input when the node is a pure view, else None."""
    rule = VIEWS.get(node.op)
    return rule(node, types) if rule is not None and len(node.outputs) == 1 else None

assert set(VIEWS) == ops_where(view=True), "every op with the view trait needs a view rule"


def view_offset(node: Node, types: Mapping[str, TensorType]) -> int | None:
    """The byte offset of `node`'s output inside its input when the node is a pure view, else None."""
    rule = VIEWS.get(node.op)
    return rule(node, types) if rule is not None and len(node.outputs) == 1 else None
