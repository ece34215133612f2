"""Fold constants, remove no-ops and merge data-movement chains, drop dead code.

Pre: a well-formed graph.
Post: nothing left to fold (within MAX_FOLD_GROWTH), no no-op, no RESHAPE/PERMUTE chain, no dead code; I/O names kept;
no node reads or writes a value without elements (zero-size values are constants, or unread graph inputs).

A value with no elements holds no data: whatever computes it is an empty constant, and a node that reads only such
values and constants (a sum over an empty axis, a product of [n, 0] by [0, m]) is a constant too, whatever its
size. So kernels never see an empty tensor, and backends need no special case for one.

A no-op whose output is a graph output and whose input is a graph input (or another output) stays: it is the copy
that keeps the two names apart. Any other output that would become an alias gives its name to the value instead.

Every rule here is exact: folding runs the reference interpreter's own `evaluate_node`, and a removed no-op
returned its input unchanged (x + 0 only up to the sign of zero), so the interpreter gives equal results.
"""

from __future__ import annotations

import numpy as np

from edgelower.interp import evaluate_node
from edgelower.ir.traits import is_integer
from edgelower.ir.graph import Graph, Node, Op
from edgelower.passes.rewrite import Rewrite, RewriteContext, Rule, alias, rewrite

# Folding must not turn a small constant into a big one (EXPAND of a scalar to an image): flash is scarce too.
MAX_FOLD_GROWTH = 4
MIN_FOLD_ELEMENTS = 64  # below this many output elements, always fold


def fold_constant(node: Node, ctx: RewriteContext) -> Rewrite | None:
    arrays = [ctx.constant(i) for i in node.inputs]
    if not arrays or any(a is None for a in arrays):
        return None
    produced = sum(ctx.type(o).numel for o in node.outputs)
    if produced > max(MAX_FOLD_GROWTH * sum(a.size for a in arrays), MIN_FOLD_ELEMENTS):
        return None
    results = evaluate_node(node, arrays)
    # The folded constants take the node's output names and types (qparams, layout included), so no use and no
    # graph output is renamed.
    return Rewrite(constants={o: np.asarray(r, dtype=ctx.type(o).dtype.numpy) for o, r in zip(node.outputs, results)},
                   types={o: ctx.type(o) for o in node.outputs})


def fold_empty(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """Outputs without elements become empty constants; a node reading only empty values and constants is folded
    on zeros of its empty inputs (they hold no element to read)."""
    if all(ctx.type(o).numel == 0 for o in node.outputs):
        return Rewrite(constants={o: np.zeros(ctx.type(o).shape, ctx.type(o).dtype.numpy) for o in node.outputs},
                       types={o: ctx.type(o) for o in node.outputs})
    empty = [ctx.type(i).numel == 0 for i in node.inputs]
    if not any(empty) or not all(e or ctx.constant(i) is not None for i, e in zip(node.inputs, empty)):
        return None
    arrays = [np.zeros(ctx.type(i).shape, ctx.type(i).dtype.numpy) if e else ctx.constant(i)
              for i, e in zip(node.inputs, empty)]
    results = evaluate_node(node, arrays)
    return Rewrite(constants={o: np.asarray(r, dtype=ctx.type(o).dtype.numpy) for o, r in zip(node.outputs, results)},
                   types={o: ctx.type(o) for o in node.outputs})


def drop_empty_concat_operands(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """CONCAT of some empty operands: the others alone (the empty ones add nothing along the axis)."""
    kept = [i for i in node.inputs if ctx.type(i).numel > 0]
    if len(kept) == len(node.inputs) or not kept:
        return None
    return Rewrite(nodes=(Node(Op.CONCAT, tuple(kept), node.outputs, node.attrs, node.name, node.source),),
                   types={node.output: ctx.type(node.output)})


def _alias_if_same_type(node: Node, ctx: RewriteContext, value: str) -> Rewrite | None:
    return alias(node, value) if ctx.type(value) == ctx.type(node.output) else None


def remove_same_type_move(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """RESHAPE, EXPAND or UPSAMPLE to the input's own shape; SLICE keeping the whole axis (an output as long as
    the input along a step >= 1 slice starting at >= 0 must be start 0, step 1 or a length-1 axis)."""
    return _alias_if_same_type(node, ctx, node.inputs[0])


# The type checks below also keep a quantized node whose output qparams differ from its input's: that rescales.

def remove_identity_permute(node: Node, ctx: RewriteContext) -> Rewrite | None:
    identity = tuple(node.attrs["perm"]) == tuple(range(len(node.attrs["perm"])))
    return _alias_if_same_type(node, ctx, node.inputs[0]) if identity else None


def remove_single_concat(node: Node, ctx: RewriteContext) -> Rewrite | None:
    return _alias_if_same_type(node, ctx, node.inputs[0]) if len(node.inputs) == 1 else None


def remove_unbounded_clamp(node: Node, ctx: RewriteContext) -> Rewrite | None:
    unbounded = node.attrs["min"] is None and node.attrs["max"] is None
    return _alias_if_same_type(node, ctx, node.inputs[0]) if unbounded else None


def remove_zero_pad(node: Node, ctx: RewriteContext) -> Rewrite | None:
    zero = all(lo == 0 and hi == 0 for lo, hi in node.attrs["pads"])
    return _alias_if_same_type(node, ctx, node.inputs[0]) if zero else None


def _is_filled(ctx: RewriteContext, name: str, value: float) -> bool:
    data = ctx.constant(name)
    return data is not None and bool(np.all(data == value))


def _identity_operand(value: float, commutes: bool):
    """x op c -> x when c is all `value` (and c op x too, for commuting ops); only when the result has x's type,
    since a broadcasting identity still changes the shape, and only in plain float arithmetic: a fused activation
    or an integer rescale (`q`) is not the identity."""
    def rule(node: Node, ctx: RewriteContext) -> Rewrite | None:
        if node.attrs.get("activation") is not None or is_integer(node):
            return None
        x, c = node.inputs
        if _is_filled(ctx, c, value):
            return _alias_if_same_type(node, ctx, x)
        if commutes and _is_filled(ctx, x, value):
            return _alias_if_same_type(node, ctx, c)
        return None
    return rule


def _inner_of_same_kind(node: Node, ctx: RewriteContext) -> Node | None:
    """The producer of node's input when it is the same data movement and the pair does not rescale."""
    inner = ctx.producer(node.inputs[0])
    if inner is None or inner.op is not node.op:
        return None
    return inner if ctx.type(inner.inputs[0]).qparams == ctx.type(node.output).qparams else None


def merge_reshapes(node: Node, ctx: RewriteContext) -> Rewrite | None:
    inner = _inner_of_same_kind(node, ctx)
    if inner is None:
        return None
    # The merged node keeps the outer node's output type: inference alone would drop qparams and layout.
    return Rewrite(nodes=(Node(Op.RESHAPE, inner.inputs, node.outputs, node.attrs, node.name, node.source),),
                   types={node.output: ctx.type(node.output)})


def merge_permutes(node: Node, ctx: RewriteContext) -> Rewrite | None:
    inner = _inner_of_same_kind(node, ctx)
    if inner is None:
        return None
    # out[j] = mid[outer[j]] = in[inner[outer[j]]]
    perm = tuple(inner.attrs["perm"][p] for p in node.attrs["perm"])
    return Rewrite(nodes=(Node(Op.PERMUTE, inner.inputs, node.outputs, {**node.attrs, "perm": perm}, node.name,
                               node.source),), types={node.output: ctx.type(node.output)})


rules_fold = [Rule("fold_constant", tuple(Op), fold_constant), Rule("fold_empty", tuple(Op), fold_empty),
              Rule("drop_empty_concat_operands", Op.CONCAT, drop_empty_concat_operands)]

rules_noop = [
    Rule("remove_same_type_move", (Op.RESHAPE, Op.EXPAND, Op.SLICE, Op.UPSAMPLE_NEAREST), remove_same_type_move),
    Rule("remove_identity_permute", Op.PERMUTE, remove_identity_permute),
    Rule("remove_single_concat", Op.CONCAT, remove_single_concat),
    Rule("remove_unbounded_clamp", Op.CLAMP, remove_unbounded_clamp),
    Rule("remove_zero_pad", Op.PAD, remove_zero_pad),
    Rule("remove_add_zero", Op.ADD, _identity_operand(0.0, commutes=True)),
    Rule("remove_sub_zero", Op.SUB, _identity_operand(0.0, commutes=False)),
    Rule("remove_mul_one", Op.MUL, _identity_operand(1.0, commutes=True)),
    Rule("remove_div_one", Op.DIV, _identity_operand(1.0, commutes=False)),
]

rules_merge = [
    Rule("merge_reshapes", Op.RESHAPE, merge_reshapes),
    Rule("merge_permutes", Op.PERMUTE, merge_permutes),
]

# Folding first: a node of constants becomes data before any other rule looks at it.
rules_canonicalize = rules_fold + rules_noop + rules_merge


def canonicalize(graph: Graph) -> Graph:
    """The graph with constants folded, no-ops removed, RESHAPE and PERMUTE chains merged, dead code dropped."""
    return rewrite(graph, rules_canonicalize, name="canonicalize")
