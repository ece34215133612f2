"""The rule table: how each IR op becomes linalg-on-tensors, one rule per op, gathered from the op families'
modules (`elementwise`, `compute`, `reduce`, `movement`), and what the backend refuses, by name, before anything is
written. A rule is `rule(E, node) -> value`, E the module builder's Emitter; no module here imports the MLIR
bindings, so the declaration and `unsupported` work without iree installed."""

from __future__ import annotations

from typing import Mapping

from edgelower.interp.integer import PROGRAMS
from edgelower.ir.graph import DType, Node, Op, TensorType
from edgelower.ir.traits import is_integer

from edgelower.backends.mlir import compute, movement, reduce
from edgelower.backends.mlir.elementwise import SCALAR, elementwise

# The element type of each DType in MLIR (signless integers: the ops carry the signedness). UINT8 and the sub-byte
# types have none here: no graph the pipelines produce computes on them.
ELEMENT_TYPES = {DType.FLOAT32: "f32", DType.BOOL: "i1", DType.INT8: "i8", DType.INT16: "i16", DType.INT32: "i32",
                 DType.INT64: "i64"}

RULES = {**{op: elementwise for op in SCALAR}, **compute.RULES, **reduce.RULES, **movement.RULES}


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """None when the backend renders `node`, else why not. A node with a `q` record is rendered as the primitive
    ops of its program (decompose_integer runs first), so it is supported when it has one."""
    if is_integer(node):
        return None if node.op in PROGRAMS else "an integer record without a program of primitive ops"
    if node.op not in RULES:
        return "no linalg rule for this op (edgelower.backends.mlir.rules.RULES)"
    odd = sorted({types[v].dtype.value for v in node.inputs + node.outputs} - {d.value for d in ELEMENT_TYPES})
    if odd:
        return f"element type(s) {', '.join(odd)} have no MLIR form in this backend"
    return None
