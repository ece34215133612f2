"""Express every integer op in primitive integer ops, for backends that render arithmetic rather than call fused
kernels (TVM, MLIR, HLS): each node with a `q` record becomes its program (edgelower.interp.integer.PROGRAMS) run
on a graph builder, the very ops the interpreter evaluates for that node.

Pre: a well-formed int8 graph whose integer ops carry `q` records (lower_integer's output, fused or not).
Post: no node carries a `q` record: primitive integer ops and data movement compute the integers; I/O names kept.

`verify(graph, primitive_only=True)` checks the postcondition of a graph without float regions (int_only).

Exactness: the program is the node's definition, applied to the same values with the same types, so the
interpreter computes the same bytes before and after (tests/test_decompose_integer.py). What a program computes
from constants alone (the bias terms of zero points, per-channel shift amounts) stays a small subgraph here;
`lower_to_primitives` folds it into constants with `canonicalize`.
"""

from __future__ import annotations

from edgelower.interp.integer import PROGRAMS
from edgelower.ir.graph import Graph, Node, Op
from edgelower.ir.ops import complete_attrs
from edgelower.ir.traits import is_integer
from edgelower.passes.canonicalize import canonicalize
from edgelower.passes.integer.graph_algebra import GraphAlgebra
from edgelower.passes.rewrite import Rewrite, RewriteContext, Rule, rewrite


def decompose_node(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """A node with a `q` record -> the primitive ops of its program; its output keeps its name and type."""
    if not is_integer(node):
        return None
    A = GraphAlgebra(ctx.graph.types, ctx.fresh, node.name, node.source)
    (result,) = PROGRAMS[node.op](A, list(node.inputs), complete_attrs(node.op, node.attrs))
    if not any(result in n.outputs for n in A.nodes):
        # The program changed nothing (a clamp to the whole range): a copy keeps the output a value of its own.
        result = A.apply(Op.RESHAPE, [result], {"shape": A.shape(result)})
    nodes = [_renamed(n, result, node.output) for n in A.nodes]
    return Rewrite(nodes=tuple(nodes), constants=A.constants, types={node.output: ctx.type(node.output)})


def _renamed(node: Node, old: str, new: str) -> Node:
    if old not in node.inputs + node.outputs:
        return node
    inputs, outputs = (tuple(new if v == old else v for v in values) for values in (node.inputs, node.outputs))
    return Node(node.op, inputs, outputs, node.attrs, new if old in node.outputs else node.name, node.source)


rules_decompose_integer = [Rule("decompose_integer", frozenset(PROGRAMS), decompose_node)]


def decompose_integer(graph: Graph) -> Graph:
    """The graph with every node that has a `q` record replaced by the primitive integer ops of its program."""
    return rewrite(graph, rules_decompose_integer, name="decompose_integer")


def lower_to_primitives(graph: Graph) -> Graph:
    """The pipeline step for backends that render primitive integer ops: decompose_integer, then canonicalize,
    which folds what the programs compute from constants alone into constants (exactly: it runs the interpreter)."""
    return canonicalize(decompose_integer(graph))
