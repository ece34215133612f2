"""The integer form of ops whose result is not a quantized value: COMPARE (bool), ARGMAX and ARGMIN (indices).
`lower_integer` rewrites them where they read DEQUANTIZEd int8 values (`SELECTIONS`; no QUANTIZE follows them).

Pre: such a node reading DEQUANTIZE(a) (and for COMPARE, DEQUANTIZE(b) or a constant).
Post: the same op on the int8 values, with the same result as the float op on the dequantized values.

- ARGMAX / ARGMIN: dequantization is increasing, so the first extreme int8 value is the first extreme real one.
- COMPARE against a constant: the float comparison is evaluated for each of the 256 int8 codes (as the float graph
  computes it, in float32), and since it is monotone in the code for lt/le/gt/ge, it is one comparison of the code
  with an int8 threshold, exactly; eq / ne hold for at most one code. Both operands int8: they are compared in one
  quantization, the second requantized to the first's parameters when they differ (TFLite's int8 comparisons
  rescale too): there it is within one step of the second operand.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgelower.interp import evaluate_node
from edgelower.ir.graph import DType, Node, Op, QParams, TensorType
from edgelower.passes.rewrite import Rewrite, RewriteContext
from edgelower.quant.records import RequantQ
from edgelower.quant.tables import INPUTS

FLIPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


def _int8_behind(ctx: RewriteContext, name: str) -> str | None:
    producer = ctx.producer(name)
    if producer is None or producer.op is not Op.DEQUANTIZE:
        return None
    q = producer.inputs[0]
    t = ctx.type(q)
    return q if t.dtype is DType.INT8 and t.qparams is not None and len(t.qparams.scale) == 1 else None


def lower_arg_extreme(node: Node, ctx: RewriteContext) -> Rewrite | None:
    x = _int8_behind(ctx, node.inputs[0])
    if x is None:
        return None
    return Rewrite(nodes=(Node(node.op, (x,), node.outputs, dict(node.attrs), node.name, node.source),),
                   types={node.output: ctx.type(node.output)})


def _threshold(predicate: str, truth: np.ndarray) -> tuple[str, int]:
    """(predicate, int8 code) such that `code predicate threshold` is `truth` for every code (INPUTS order)."""
    if truth.all():
        return "ge", int(INPUTS[0])
    if not truth.any():
        return "gt", int(INPUTS[-1])
    hits = INPUTS[truth]
    if predicate in ("gt", "ge"):
        return "ge", int(hits[0])
    if predicate in ("lt", "le"):
        return "le", int(hits[-1])
    if predicate == "eq" and hits.size == 1:
        return "eq", int(hits[0])
    if predicate == "ne" and (~truth).sum() == 1:
        return "ne", int(INPUTS[~truth][0])
    raise ValueError(f"{predicate} is not a threshold on the int8 grid")


def _constant_value(ctx: RewriteContext, name: str) -> np.ndarray | None:
    """The float32 value of a one-element constant operand: a float constant, or an int8 one dequantized."""
    data = ctx.constant(name)
    if data is not None:
        return data.reshape(()).astype(np.float32) if data.size == 1 and data.dtype.kind == "f" else None
    q = _int8_behind(ctx, name)
    data = None if q is None else ctx.constant(q)
    if data is None or data.size != 1:
        return None
    qp = ctx.type(q).qparams
    return np.float32(int(data.reshape(())) - qp.zero_point[0]) * np.float32(qp.scale[0])


def _compare_with_constant(node: Node, ctx: RewriteContext, a: str, predicate: str, value: np.ndarray,
                           shape: tuple[int, ...]) -> Rewrite | None:
    qp = ctx.type(a).qparams
    reals = (INPUTS - qp.zero_point[0]).astype(np.float32) * np.float32(qp.scale[0])
    (truth,) = evaluate_node(Node(Op.COMPARE, ("a", "b"), ("y",), {"predicate": predicate}), [reals, value])
    try:
        predicate, code = _threshold(predicate, np.asarray(truth, bool))
    except ValueError:
        return None
    threshold = ctx.fresh(f"{node.name}_threshold")
    return Rewrite(nodes=(Node(Op.COMPARE, (a, threshold), node.outputs, {"predicate": predicate}, node.name,
                               node.source),),
                   constants={threshold: np.full(shape, code, np.int8)},
                   types={threshold: TensorType(shape, DType.INT8, QParams(qp.scale, qp.zero_point)),
                          node.output: ctx.type(node.output)})


def lower_compare(node: Node, ctx: RewriteContext) -> Rewrite | None:
    (x, y), predicate = node.inputs, node.attrs["predicate"]
    for value_side, const_side, pred in ((x, y, predicate), (y, x, FLIPPED[predicate])):
        a, value = _int8_behind(ctx, value_side), _constant_value(ctx, const_side)
        if a is not None and value is not None and ctx.constant(a) is None:
            return _compare_with_constant(node, ctx, a, pred, value, ctx.type(const_side).shape)
    a, b = _int8_behind(ctx, x), _int8_behind(ctx, y)
    if a is None or b is None:
        return None
    qa, qb = ctx.type(a).qparams, ctx.type(b).qparams
    nodes, types = [], {node.output: ctx.type(node.output)}
    if qb != qa:
        rq = ctx.fresh(f"{node.name}_rq")
        q = RequantQ.from_scales(qb.scale[0], qb.zero_point[0], qa.scale[0], qa.zero_point[0])
        nodes.append(Node(Op.REQUANTIZE, (b,), (rq,), {"q": q}, rq, node.source))
        types[rq] = TensorType(ctx.type(b).shape, DType.INT8, qa)
        b = rq
    nodes.append(Node(Op.COMPARE, (a, b), node.outputs, {"predicate": predicate}, node.name, node.source))
    return Rewrite(nodes=tuple(nodes), types=types)


SELECTIONS: dict[Op, Callable[[Node, RewriteContext], Rewrite | None]] = {
    Op.ARGMAX: lower_arg_extreme,
    Op.ARGMIN: lower_arg_extreme,
    Op.COMPARE: lower_compare,
}
