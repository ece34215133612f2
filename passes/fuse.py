"""Fuse operators into the kernel before them: activations into CONV2D, LINEAR and ADD, zero PAD into CONV2D, the
REQUANTIZE of an int32 accumulator into its CONV2D, LINEAR or MATMUL.

Pre: a well-formed graph.
Post: no RELU, CLAMP or HARDSWISH that is the only use of a float CONV2D, LINEAR or ADD without an activation; no
zero PAD of only the spatial dims that is the only use of a CONV2D's input; no REQUANTIZE that is the only use of an
int32 accumulator it can fuse with; no dead code; I/O names kept.

Every rule is exact, on float32 and on any other dtype:
- a fused activation is the activation op's own definition applied to the producer's rounded result
  (the `fusable_activation` trait), and the C kernels apply it with the standalone kernel's expression;
- CONV2D pads with zeros itself, so PAD(x, +0.0) on H and W followed by CONV2D reads the same padded image as
  CONV2D with the summed padding. Only +0.0 folds: a -0.0 fill could change the sign of an all-zero sum.
- a fused requantization is the REQUANTIZE's record moved into the accumulating node's (`ConvQ.requant`), which
  the interpreter and the int8 kernels apply to the same int32 accumulator: TFLite's ConvPerChannel end to end.
Fusion saves the intermediate buffer and one pass over memory; the memory planner sees one buffer fewer (for a
fused requantization, the int32 accumulator, four bytes per output, never reaches the arena).
"""

from __future__ import annotations

import numpy as np

from dataclasses import replace

from edgelower.ir.graph import Graph, Node, Op
from edgelower.ir.ops import activation_spec
from edgelower.ir.traits import is_integer, ops_where, traits
from edgelower.passes.rewrite import Rewrite, RewriteContext, Rule, rewrite

# The ops that take a fused `activation` attribute.
FUSES_ACTIVATION = ops_where(takes_activation=True)


def fuse_activation(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """act(producer(...)) -> producer(..., activation=act) when the activation is the producer's only use and
    keeps its type (quantized graphs: the same quantization parameters)."""
    x = node.inputs[0]
    producer = ctx.producer(x)
    if producer is None or producer.op not in FUSES_ACTIVATION or producer.attrs.get("activation") is not None:
        return None
    if is_integer(node) or is_integer(producer):
        return None  # integer nodes hold their activation range in their `q` record (lower_integer folds it there)
    if not ctx.only_user(x, node) or ctx.type(x) != ctx.type(node.output):
        return None
    # The fused node keeps the producer's name (a report row is the conv, not its ReLU) and the activation's
    # output value (its name is what the graph's users read).
    fused = Node(producer.op, producer.inputs, node.outputs, {**producer.attrs,
                 "activation": activation_spec(node.op, node.attrs)}, producer.name, producer.source or node.source)
    return Rewrite(nodes=(fused,), types={node.output: ctx.type(node.output)})


def fold_pad_into_conv2d(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """CONV2D(PAD(x, spatial pads, value +0.0)) -> CONV2D(x) with the pads added to its padding."""
    pad = ctx.producer(node.inputs[0])
    if pad is None or pad.op is not Op.PAD or not ctx.only_user(pad.output, node):
        return None
    (n_lo, n_hi), (c_lo, c_hi), (top, bottom), (left, right) = pad.attrs["pads"]
    value = pad.attrs["value"]
    if n_lo or n_hi or c_lo or c_hi or value != 0 or np.signbit(value):
        return None
    pt, pl, pb, pr = node.attrs["padding"]
    folded = node.with_attrs(padding=(pt + top, pl + left, pb + bottom, pr + right))
    return Rewrite(nodes=(Node(Op.CONV2D, (pad.inputs[0],) + node.inputs[1:], node.outputs, folded.attrs,
                               node.name, node.source),),
                   types={node.output: ctx.type(node.output)})


def fuse_requantize(node: Node, ctx: RewriteContext) -> Rewrite | None:
    """REQUANTIZE(CONV2D / LINEAR / MATMUL accumulator) -> the accumulating node with the requantization in its
    record, when the accumulator is used only there and the requantization is per tensor or along the node's output
    channel axis (1 for CONV2D, the last for LINEAR and MATMUL), which is where the fused kernels take it."""
    acc = node.inputs[0]
    producer = ctx.producer(acc)
    if producer is None or not traits(producer.op).accumulates or not ctx.only_user(acc, node):
        return None
    q, rq = producer.attrs.get("q"), node.attrs["q"]
    if q is None or getattr(q, "requant", None) is not None or producer.attrs.get("activation") is not None:
        return None
    channel_axis = 1 if producer.op is Op.CONV2D else len(ctx.type(acc).shape) - 1
    if len(rq.multiplier) > 1 and rq.axis != channel_axis:
        return None
    fused = Node(producer.op, producer.inputs, node.outputs, {**producer.attrs, "q": replace(q, requant=rq)},
                 producer.name, producer.source or node.source)
    return Rewrite(nodes=(fused,), types={node.output: ctx.type(node.output)})


rules_fuse = [
    Rule("fold_pad_into_conv2d", Op.CONV2D, fold_pad_into_conv2d),
    Rule("fuse_activation", ops_where(fusable_activation=True), fuse_activation),
    Rule("fuse_requantize", Op.REQUANTIZE, fuse_requantize),
]


def fuse(graph: Graph) -> Graph:
    """The graph with activations fused into their producers, zero spatial padding folded into convolutions and
    requantizations fused into their accumulators."""
    return rewrite(graph, rules_fuse, name="fuse")
