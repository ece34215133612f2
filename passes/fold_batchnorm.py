"""Fold inference-mode BATCH_NORM into the CONV2D or LINEAR before it, or lower it to a per-channel MUL and ADD.

Pre: a well-formed graph.
Post: no BATCH_NORM whose mean, var, weight and bias are constants; no dead code; I/O names kept.

With constant statistics, BATCH_NORM(x) = x * scale + shift per channel (axis 1), where
scale = weight / sqrt(var + eps) and shift = bias - mean * scale. When x is the only use of a CONV2D (grouped and
depthwise included: output channel o is weight row o either way) or of a LINEAR on 2-d input (its features are
axis 1) with constant weights and no fused activation, scale goes into the weight rows and shift into the bias
(created when missing). scale and shift are computed in float64 and rounded once to float32, like the
interpreter's BATCH_NORM, so the folded graph differs from the original by float32 rounding only.
"""

from __future__ import annotations

import numpy as np

from edgelower.ir.graph import DType, Graph, Node, Op
from edgelower.passes.rewrite import Rewrite, RewriteContext, Rule, rewrite


def _scale_shift(node: Node, ctx: RewriteContext) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (scale, shift) in float64, or None when a statistic is not a constant."""
    stats = [ctx.constant(i) for i in node.inputs[1:]]
    if any(s is None for s in stats) or ctx.type(node.output).dtype is not DType.FLOAT32:
        return None
    mean, var, weight, bias = (s.astype(np.float64) for s in stats)
    scale = weight / np.sqrt(var + node.attrs["eps"])
    return scale, bias - mean * scale


def _fold_into_producer(producer_op: Op, rank: int):
    """BATCH_NORM(producer(x, W[, b])) -> producer(x, W * scale, b * scale + shift), W scaled along its rows."""
    def rule(node: Node, ctx: RewriteContext) -> Rewrite | None:
        x = node.inputs[0]
        producer = ctx.producer(x)
        if producer is None or producer.op is not producer_op or len(ctx.type(x).shape) != rank:
            return None
        # A fused activation sits between the producer's affine part and the BATCH_NORM: nothing to fold into.
        if not ctx.only_user(x, node) or producer.attrs.get("activation") is not None:
            return None
        weight = ctx.constant(producer.inputs[1])
        bias = ctx.constant(producer.inputs[2]) if len(producer.inputs) == 3 else np.zeros(ctx.type(x).shape[1])
        affine = _scale_shift(node, ctx)
        if weight is None or bias is None or affine is None or weight.dtype != np.float32:
            return None
        scale, shift = affine
        rows = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
        # Named after the producer, which the folded node still is (a report row says conv, not its batch norm).
        w_name, b_name = ctx.fresh(f"{producer.name}_folded_weight"), ctx.fresh(f"{producer.name}_folded_bias")
        folded = Node(producer_op, (producer.inputs[0], w_name, b_name), node.outputs, producer.attrs,
                      producer.name, producer.source)
        return Rewrite(nodes=(folded,), constants={
            w_name: (weight.astype(np.float64) * rows).astype(np.float32),
            b_name: (bias.astype(np.float64) * scale + shift).astype(np.float32)})
    return rule


def lower_batchnorm_to_affine(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """BATCH_NORM(x) -> x * scale + shift, with scale and shift shaped (C, 1, ...) to broadcast over axis 1."""
    affine = _scale_shift(node, ctx)
    if affine is None:
        return None
    shape = (-1,) + (1,) * (len(ctx.type(node.output).shape) - 2)
    scale, shift = (a.reshape(shape).astype(np.float32) for a in affine)
    s_name, t_name = ctx.fresh(f"{node.name}_scale"), ctx.fresh(f"{node.name}_shift")
    scaled = ctx.fresh(f"{node.name}_scaled")
    return Rewrite(nodes=(Node(Op.MUL, (node.inputs[0], s_name), (scaled,), source=node.source),
                          Node(Op.ADD, (scaled, t_name), node.outputs, name=node.name, source=node.source)),
                   constants={s_name: scale, t_name: shift})


# Folding before lowering: a BATCH_NORM that can disappear into its producer never becomes MUL + ADD.
rules_fold_batchnorm = [
    Rule("fold_batchnorm_into_conv2d", Op.BATCH_NORM, _fold_into_producer(Op.CONV2D, rank=4)),
    Rule("fold_batchnorm_into_linear", Op.BATCH_NORM, _fold_into_producer(Op.LINEAR, rank=2)),
    Rule("lower_batchnorm_to_affine", Op.BATCH_NORM, lower_batchnorm_to_affine),
]


def fold_batchnorm(graph: Graph) -> Graph:
    """The graph with every BATCH_NORM of constant statistics folded into its producer or lowered to MUL + ADD."""
    return rewrite(graph, rules_fold_batchnorm, name="fold_batchnorm")
