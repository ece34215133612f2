"""Deterministic text form of a Graph: same graph, same text (used in debug output and Before/Expected tests)."""

from __future__ import annotations

import numpy as np

from edgelower.ir.graph import Graph
from edgelower.ir.packed import Packed


def _attr(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_attr(v) for v in value) + ")"
    return repr(value) if isinstance(value, str) else str(value)


def _const_summary(data) -> str:
    if isinstance(data, Packed):
        return f"{data.format} {data.nbytes} B of {_const_summary(data.decode())}"
    if data.size <= 4:
        return np.array2string(data.reshape(-1), separator=", ", precision=6)
    return f"<{data.size} values, sum={float(np.sum(data, dtype=np.float64)):.6g}>"


def print_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name}(" + ", ".join(f"%{i}: {graph.types[i]}" for i in graph.inputs) + ") {"]
    for name in sorted(graph.constants):
        lines.append(f"  %{name}: {graph.types[name]} = const {_const_summary(graph.constants[name])}")
    for node in graph.nodes:
        outs = ", ".join(f"%{o}: {graph.types[o]}" for o in node.outputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in node.attrs.items())
        args = ", ".join(f"%{i}" for i in node.inputs)
        lines.append(f"  {outs} = {node.op.name.lower()}({args}{'; ' + attrs if attrs else ''})")
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
