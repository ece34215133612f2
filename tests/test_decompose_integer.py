"""decompose_integer: every node with a `q` record becomes primitive integer ops that compute exactly its bytes.

The property runs on random int8 graphs of every integer op (tests/strategies_s8.py: records built by the
constructors and raw at the edges of their ranges, multipliers up to 2**31 - 1, shifts -31..30, accumulators at
INT32_MIN and INT32_MAX), unfused and fused, and on fixed graphs at the limits; the zoo check holds the interpreter
running each int8 zoo model's decomposed graph to the C backend's bytes. The postcondition (no `q`, no float, only
primitive ops) is the verifier's primitive_only check.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.ir.ops import IRError, PRIMITIVE_INTEGER_OPS
from edgelower.ir.verifier import verify
from edgelower.passes.fuse import fuse
from edgelower.passes.integer.decompose_integer import decompose_integer, lower_to_primitives
from edgelower.quant.records import ConvQ, LogisticQ, RequantQ, TanhQ

from strategies_s8 import EDGE_GRAPHS, Int8Graph, int8_graphs

EXAMPLES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])


def assert_decomposes_exactly(graph: Graph, inputs) -> Graph:
    """Both the decomposed graph and its folded form (lower_to_primitives) are primitive-only and give the record
    form's bytes; returns the folded one."""
    expected = run_graph(graph, inputs)
    for decomposed in (decompose_integer(graph), lower_to_primitives(graph)):
        verify(decomposed, after="decompose_integer", primitive_only=True)
        assert decomposed.inputs == graph.inputs and decomposed.outputs == graph.outputs
        assert [decomposed.types[n] for n in graph.outputs] == [graph.types[n] for n in graph.outputs]
        for name, got, want in zip(graph.outputs, run_graph(decomposed, inputs), expected):
            assert got.dtype == want.dtype and got.shape == want.shape, name
            diff = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
            assert diff.size == 0, (f"output %{name}: {diff.size} of {want.size} values differ, first at {diff[0]}: "
                                    f"decomposed {got.reshape(-1)[diff[0]]}, record form {want.reshape(-1)[diff[0]]}")
    return decomposed


@EXAMPLES
@given(int8_graphs())
def test_decomposed_graph_gives_the_record_forms_bytes(case):
    graph, inputs = case
    assert_decomposes_exactly(graph, inputs)


@EXAMPLES
@given(int8_graphs(("conv", "dense")))
def test_fused_requantization_decomposes_to_the_same_bytes(case):
    graph, inputs = case
    assert_decomposes_exactly(fuse(graph), inputs)


@pytest.mark.parametrize("name", sorted(EDGE_GRAPHS))
def test_edges_of_the_fixed_point_arithmetic(name):
    """strategies_s8.EDGE_GRAPHS: requantization at every pairing of limit multipliers and shifts; int32
    accumulators that wrap, with both zero points (the expanded form: zero-point padding, offset bias, weight
    offset times window sums, wraps with them); ADD / SUB / MUL with limit multipliers and shifts."""
    graph, inputs = EDGE_GRAPHS[name]()
    assert_decomposes_exactly(graph, inputs)
    assert_decomposes_exactly(fuse(graph), inputs)


def test_logistic_and_tanh_of_coarse_inputs_saturate_everywhere():
    """From input scale 8 on TFLite's range radius is 0 and its Q4.27 rescaling would shift left by 31 or more:
    every output saturates, in the record form and in the decomposition."""
    b = GraphBuilder("coarse")
    x = b.input("x", TensorType((256,), DType.INT8, QParams((16.0,), (3,))))
    for scale in (8.0, 16.0, 40.0):
        b.output(b.op(Op.SIGMOID, [x], {"q": LogisticQ.from_scale(scale, 3)}))
        b.output(b.op(Op.TANH, [x], {"q": TanhQ.from_scale(scale, 3)}))
    graph, inputs = b.build(), [np.arange(-128, 128).astype(np.int8)]
    saturated = np.where(np.arange(-128, 128) - 3 <= 0, -128, 127)
    assert all(np.array_equal(out, saturated) for out in run_graph(graph, inputs))
    assert_decomposes_exactly(graph, inputs)


def test_constant_terms_fold_into_constants():
    """A convolution with an input zero point: PAD with the zero point, one int8 x int8 -> int32 convolution, and
    after folding a single constant bias holding bias + input_offset * sum(w)."""
    g = Int8Graph(GraphBuilder("conv"), np.random.default_rng(5))
    x = g.input((1, 3, 6, 6), -4)
    acc = g.op(Op.CONV2D, [x, g.weights((4, 3, 3, 3)), g.bias(4, extreme=False)],
               {"padding": (1, 1, 1, 1), "q": ConvQ(4)})
    g.out(Op.REQUANTIZE, [acc], {"q": RequantQ((1 << 30,), (-3,), 5, 0)})
    folded = assert_decomposes_exactly(fuse(g.b.build()), g.inputs)
    ops = [n.op for n in folded.nodes]
    assert ops[:2] == [Op.PAD, Op.CONV2D] and ops.count(Op.CONV2D) == 1
    conv = folded.nodes[1]
    assert conv.attrs["out_dtype"] == "int32" and folded.nodes[0].attrs["value"] == -4
    assert conv.inputs[2] in folded.constants and folded.types[conv.inputs[2]].dtype is DType.INT32
    assert Op.MUL_HIGH in ops and Op.ROUNDING_SHIFT_RIGHT in ops and Op.CAST in ops


def test_primitive_only_rejects_records_and_other_ops():
    b = GraphBuilder("left")
    x = b.input("x", TensorType((4,), DType.INT32))
    y = b.op(Op.REQUANTIZE, [x], {"q": RequantQ((1 << 30,), (0,), 0)}, hint="rq")
    b.types[y] = TensorType((4,), DType.INT8, QParams((0.5,), (0,)))
    b.output(y)
    with pytest.raises(IRError, match=r"node rq \(REQUANTIZE\) is not a primitive integer op \(it carries a q"):
        verify(b.build(), primitive_only=True)
    verify(decompose_integer(b.build()), primitive_only=True)
    assert Op.REQUANTIZE not in PRIMITIVE_INTEGER_OPS and Op.GELU not in PRIMITIVE_INTEGER_OPS
