"""The shape of a lowering rule, shared by the rule tables. Rules import nothing from TVM at module level: they
reach Relax through the `Lowering` context they are given (`ctx.R` is `tvm.relax.op`), so the tables, and with
them `unsupported`, are available without TVM installed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from edgelower.ir.graph import Node, Op, TensorType

Lower = Callable[[Any, Any], Any]            # (Lowering, OpCall) -> relax.Expr
Refuse = Callable[[Node, Mapping[str, TensorType]], "str | None"]


def _accepts(node: Node, types: Mapping[str, TensorType]) -> str | None:
    return None


@dataclass(frozen=True)
class Rule:
    """How one op becomes Relax: `lower` builds the expression; `refuses` says, before anything is built, why a
    particular node (its dtypes, its attributes) is out of reach, or None."""

    lower: Lower
    refuses: Refuse = _accepts


def merge_rules(*tables: Mapping[Op, Rule]) -> dict[Op, Rule]:
    merged: dict[Op, Rule] = {}
    for table in tables:
        clash = set(merged) & set(table)
        if clash:
            raise ValueError(f"ops lowered by two rule tables: {sorted(op.name for op in clash)}")
        merged.update(table)
    return merged


def float_only(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """For ops the IR defines on float32 only (their integer forms arrive decomposed)."""
    dtype = types[node.inputs[0]].dtype
    return None if dtype.is_float else f"defined on float32, got {dtype.value}"
