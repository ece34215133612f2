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
from edgelower.quant.records import AddQ, ConvQ, MulQ, RequantQ

from strategies_s8 import EDGE_INT32, INT32_MAX, INT32_MIN, Int8Graph, int8_graphs

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


MULTIPLIERS = (0, 1, 1 << 30, (1 << 30) + 12345, INT32_MAX - 1, INT32_MAX)
SHIFTS = (-31, -30, -17, -1, 0, 1, 17, 30, 31)


def test_requantize_at_every_multiplier_and_shift_limit():
    rng = np.random.default_rng(7)
    acc = np.concatenate([EDGE_INT32, rng.integers(INT32_MIN, INT32_MAX, 55, endpoint=True)])
    acc = acc.astype(np.int32).reshape(4, 16)
    b = GraphBuilder("edges")
    x = b.input("acc", TensorType(acc.shape, DType.INT32))
    for i, m in enumerate(MULTIPLIERS):
        for j, s in enumerate(SHIFTS):
            offset, (lo, hi) = (-128, 127, 0)[(i + j) % 3], ((-128, 127), (-5, 9), (127, 127))[(i * j) % 3]
            b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ((m,), (s,), offset, 0, lo, hi)}))
    b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ(MULTIPLIERS[:4], (-31, 0, 30, 31), 3, -7, -128, 127, axis=0)}))
    assert_decomposes_exactly(b.build(), [acc])


def test_accumulators_that_wrap_past_int32_with_both_zero_points():
    """Saturated inputs and weights, biases at the int32 limits, input and weight offsets: the int32 accumulator
    wraps, and the expanded form (zero-point padding, offset bias, weight offset times window sums) wraps with it."""
    g = Int8Graph(GraphBuilder("wrap"), np.random.default_rng(1))
    x = g.input((1, 4, 5, 5), -128, values=np.full((1, 4, 5, 5), 127))
    weights = g.b.constant("w", np.full((4, 4, 3, 3), 127, np.int8))
    for bias in (np.full(4, INT32_MIN), np.full(4, INT32_MAX), np.array(EDGE_INT32[:4])):
        acc = g.op(Op.CONV2D, [x, weights, g.b.constant("b", bias.astype(np.int32))],
                   {"padding": (1, 1, 1, 1), "q": ConvQ(128, 127)})
        g.b.output(acc)
        g.out(Op.REQUANTIZE, [acc], {"q": RequantQ((INT32_MAX,), (30,), 127, 0)})
    a = g.input((2, 3, 70), -128, values=np.full((2, 3, 70), 127))
    w = g.b.constant("fc", np.full((5, 70), -128, np.int8))
    g.b.output(g.op(Op.LINEAR, [a, w, g.b.constant("fc_b", np.full(5, INT32_MAX, np.int32))], {"q": ConvQ(128, 127)}))
    g.b.output(g.op(Op.MATMUL, [a, g.input((70, 4), 127, values=np.full((70, 4), -128))], {"q": ConvQ(128, -127)}))
    graph = g.b.build()
    assert_decomposes_exactly(graph, g.inputs)
    assert_decomposes_exactly(fuse(graph), g.inputs)


def test_add_and_mul_with_limit_multipliers_and_shifts():
    rng = np.random.default_rng(3)
    b = GraphBuilder("binary_edges")
    x = b.input("x", TensorType((8, 16), DType.INT8, QParams((0.1,), (0,))))
    y = b.input("y", TensorType((16,), DType.INT8, QParams((0.1,), (0,))))
    for m in MULTIPLIERS:
        for s in (-31, -1, 0):
            add = AddQ(128, -127, -128, 20, m, s, INT32_MAX - m, -31 - s, m, s)
            b.output(b.op(Op.ADD, [x, y], {"q": add}))
            b.output(b.op(Op.SUB, [y, x], {"q": add}))
        for s in (-31, 0, 30):
            b.output(b.op(Op.MUL, [x, y], {"q": MulQ(-128, 128, 127, m, s)}))
    inputs = [rng.integers(-128, 128, (8, 16)).astype(np.int8), np.array([-128, 127] * 8, np.int8)]
    assert_decomposes_exactly(b.build(), inputs)


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
    with pytest.raises(IRError, match=r"node rq \(REQUANTIZE\) is not a primitive integer op \(it carries a q record\)"):
        verify(b.build(), primitive_only=True)
    verify(decompose_integer(b.build()), primitive_only=True)
    assert Op.REQUANTIZE not in PRIMITIVE_INTEGER_OPS and Op.GELU not in PRIMITIVE_INTEGER_OPS
