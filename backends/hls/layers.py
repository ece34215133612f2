"""Which HLS kernel renders each node of the int8 graph, with what config record and ROM tables: `plan_layer`, one
builder per op family in LAYERS, and `unsupported`, which answers per node before anything is written.

A LayerPlan holds the node's io_parallel calls (arrays; also the body of an io_stream layer that buffers its whole
input), its io_stream call when the kernel streams natively (None: the layer buffers), and the Work the estimate
counts. Arguments are graph values (arrays or streams, by name) or Roms, tables the compiler computes: per-channel
multipliers and shifts, lookup tables, index tables. Nothing here is a float: every number comes from a `q` record
or from the types' shapes.
"""

from __future__ import annotations

from typing import Callable, Mapping

from edgelower.ir.graph import DType, Graph, Node, Op, TensorType

from edgelower.backends.hls import layers_compute as compute
from edgelower.backends.hls import layers_movement as movement
from edgelower.backends.hls import layers_reduce as reduce
from edgelower.backends.hls.plan import Context, LayerPlan, Refused

Builder = Callable[[Context], LayerPlan]

LAYERS: dict[Op, Builder] = {
    Op.CONV2D: compute.conv2d,
    Op.LINEAR: compute.linear,
    Op.MATMUL: compute.matmul,
    Op.REQUANTIZE: compute.requantize,
    **{op: compute.binary for op in (Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM)},
    Op.RELU: compute.clamp,
    Op.CLAMP: compute.clamp,
    **{op: compute.lookup for op in (Op.SIGMOID, Op.TANH, Op.HARDSWISH, Op.GELU)},
    Op.MAX_POOL2D: reduce.pool2d,
    Op.AVG_POOL2D: reduce.pool2d,
    Op.MEAN: reduce.mean,
    Op.REDUCE_MAX: reduce.reduce_max,
    Op.SOFTMAX: reduce.softmax,
    Op.LAYER_NORM: reduce.layer_norm,
    **{op: movement.movement for op in (Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND, Op.PAD, Op.UPSAMPLE_NEAREST,
                               Op.CONCAT, Op.GATHER)},
}

FLOAT_REFUSAL = "a float32 op: the HLS backend renders int8 graphs only; compile with quantize=\"int8\""


def plan_layer(node: Node, types: Mapping[str, TensorType], constants) -> LayerPlan:
    """The node's LayerPlan at reuse factor 1; Refused says why there is none."""
    if any(types[v].dtype is DType.FLOAT32 for v in (*node.inputs, *node.outputs)) or \
            node.op in (Op.QUANTIZE, Op.DEQUANTIZE):
        raise Refused(FLOAT_REFUSAL)
    if node.op not in LAYERS:
        raise Refused("no HLS kernel for this op (backends/hls/layers.py LAYERS)")
    if len(node.outputs) != 1:
        raise Refused("a node with several outputs")
    return LAYERS[node.op](Context(node, types, constants))


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """None when an HLS kernel renders `node`, else why not. Constants are not known per node here: weights are
    checked again, by name, when the graph is planned."""
    try:
        plan_layer(node, types, _assumed_constants(node))
    except Refused as e:
        return str(e)
    return None


def _assumed_constants(node: Node) -> dict[str, None]:
    """Inputs that are weights by the op's traits, and GATHER's indices: the per-node check cannot see the
    graph's constants, so it assumes these are (planning the graph checks them again, by name)."""
    from edgelower.ir.traits import traits

    positions = (1,) if node.op is Op.GATHER else traits(node.op).parameters
    return {node.inputs[i]: None for i in positions if i < len(node.inputs)}


def plan_graph(graph: Graph) -> list[LayerPlan]:
    from edgelower.errors import BackendUnsupportedError, Unsupported

    plans, problems = [], []
    for node in graph.nodes:
        try:
            plans.append(plan_layer(node, graph.types, graph.constants))
        except Refused as e:
            problems.append(Unsupported(f"{node.op.name}: {e}", node.name, node.source))
    if problems:
        raise BackendUnsupportedError("hls", "", problems)
    return plans
