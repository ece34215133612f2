"""lower_integer: from the quantized float graph to the integer graph of docs/quantization.md.

Properties, on random graphs calibrated on random inputs:
- postcondition: the verifier's integer_only check passes, or IntegerLoweringError names exactly the nodes whose
  form has no integer lowering (and int_only=False then keeps just those in float);
- single ops: the integer result is within OP_LSB[op] output steps of the float op evaluated on the int8 grid
  (`int8_util.grid_reference`: the same inputs, weights and biases, rounded to their grids; then one rounding to
  the output grid). What is left is where TFLite's fixed point rounds differently: one step for a requantization
  (the Q31 multiplier and the double rounding can land on the other side of a tie), more for the gemmlowp and
  I-BERT approximations of exp, tanh, erf and 1/sqrt;
- random multi-op graphs: against the float graph on its own calibration inputs, SQNR >= 20 dB, or an RMS error
  within 4 steps of a unit-range int8 input (cancellations such as x - x or a mean of values around 0 leave a tiny
  signal and the inputs' rounding noise, which int8 cannot do better than).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from edgelower.errors import IntegerLoweringError
from edgelower.quant.transformer import ERROR_BOUNDS
from edgelower.interp import run_graph
from edgelower.ir.graph import DType, GraphBuilder, Op, TensorType
from edgelower.ir.ops import IRError
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.integer.lower_integer import INTEGER_FORMS, LowerIntegerOptions, lower_integer
from edgelower.passes.integer.quantize import QuantizeOptions, quantize
from edgelower.ir.verifier import verify

from int8_util import calibration_for, grid_reference, lower, lsb_error, run_dequantized, sqnr_db, to_int8
from strategies import graphs

PROPERTY = settings(max_examples=4 * settings.default.max_examples)

# Ops the generator makes that have an integer form (BATCH_NORM folds into CONV2D/LINEAR or MUL + ADD first).
INTEGER_OPS = frozenset(INTEGER_FORMS) | {Op.BATCH_NORM}

# Output steps between the integer op and the float op on the int8 grid (module docstring).
OP_LSB = {op: 1 for op in INTEGER_FORMS}
OP_LSB.update({Op.GELU: ERROR_BOUNDS["gelu"], Op.LAYER_NORM: ERROR_BOUNDS["layer_norm"],
               Op.HARDSIGMOID: 2})  # 1 + S_in / (12 S_out) from rounding the +3 into an integer input offset
SQNR_DB, FLOOR = 20.0, 4 * 2 / 255


# The forms with no integer lowering, by this test's own reading of the ops, and the words of the reason given.
def expected_float(node, reason: str) -> bool:
    a = node.attrs
    if node.op not in INTEGER_FORMS:
        return reason == f"{node.op.name} has no integer-only lowering"
    if a.get("activation") is not None and a["activation"][0] == "HARDSWISH":
        return "fused HARDSWISH activation" in reason
    if node.op is Op.AVG_POOL2D and (a["divisor"] is not None or (a["count_include_pad"] and any(a["padding"]))):
        return "in-bounds taps" in reason
    if node.op is Op.DIV:  # only a division by a positive scalar constant folds into a requantization
        return "positive scalar" in reason or "broadcasts" in reason
    # I-BERT's GELU / LayerNorm and TFLite's HARDSWISH take scales in a stated range only
    return node.op in (Op.GELU, Op.LAYER_NORM, Op.HARDSWISH) and ("range" in reason or "scale" in reason)


@PROPERTY
@given(graphs(ops=INTEGER_OPS, max_nodes=8), st.integers(0, 2 ** 16))
def test_integer_only_postcondition(graph, seed):
    calibration = calibration_for(graph, 3, seed)
    try:
        _, quantized, integer = lower(graph, calibration)
    except IntegerLoweringError as e:
        folded = run_pipeline(graph, PIPELINES["int8"][:3])
        nodes = {n.name: n for n in folded.nodes}
        assert e.items and all(expected_float(nodes[u.node], u.what.split(": ", 1)[1]) for u in e.items), str(e)
        mixed = lower(graph, calibration, int_only=False)[2]
        verify(mixed, after="lower_integer")
        left = {n.name for n in mixed.nodes if n.op not in (Op.QUANTIZE, Op.DEQUANTIZE)
                and mixed.types[n.output].dtype.is_float}
        assert left == {u.node for u in e.items}
        return
    verify(integer, after="lower_integer", integer_only=True)
    assert (integer.inputs, integer.outputs) == (quantized.inputs, quantized.outputs)
    for name in integer.inputs + integer.outputs:
        if quantized.types[name].qparams is not None:
            assert integer.types[name] == TensorType(quantized.types[name].shape, DType.INT8,
                                                     quantized.types[name].qparams)


@st.composite
def single_op_graphs(draw):
    op = draw(st.sampled_from(sorted(INTEGER_FORMS, key=lambda o: o.value)))
    return op, draw(graphs(ops=[op], max_nodes=1))


@PROPERTY
@given(single_op_graphs(), st.integers(0, 2 ** 16))
def test_single_ops_match_float_on_the_grid(op_graph, seed):
    op, graph = op_graph
    calibration = calibration_for(graph, 3, seed)
    try:
        _, quantized, integer = lower(graph, calibration)
    except IntegerLoweringError:
        assume(False)
    reference = grid_reference(quantized)
    for sample in calibration:
        for name, steps in lsb_error(integer, reference, sample).items():
            assert steps <= OP_LSB[op], f"{op.name}: output %{name} is {steps} steps off"


# Step functions move a whole unit when quantizing the input moves it across a step: no SQNR bound holds for them
# on random data. They are exact on the int8 grid (test_single_ops_match_float_on_the_grid) instead.
STEPS = frozenset({Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC})
# Lookup tables of functions whose slope grows without bound (exp of large inputs, log / sqrt / rsqrt near zero,
# pow): exact on the int8 grid too, but they magnify the input's quantization step by that slope, so after a
# chain of ops no SQNR bound holds either (hypothesis found SUM -> DIV -> CLAMP -> EXP at 13.5 dB).
STEEP = frozenset({Op.EXP, Op.LOG, Op.SQRT, Op.RSQRT, Op.POW})


@PROPERTY
@given(graphs(ops=INTEGER_OPS - STEPS - STEEP, max_nodes=8), st.integers(0, 2 ** 16))
def test_random_graphs_stay_close_to_float(graph, seed):
    calibration = calibration_for(graph, 4, seed)
    try:
        folded, _, integer = lower(graph, calibration)
    except IntegerLoweringError:
        assume(False)
    for sample in calibration:
        for name, want, got in zip(folded.outputs, run_graph(folded, list(sample)), run_dequantized(integer, sample)):
            rms = float(np.sqrt(np.mean((got - want) ** 2)))
            assert rms <= FLOOR or sqnr_db(want, got) >= SQNR_DB, f"output %{name}: rms error {rms:.4g}, " \
                f"SQNR {sqnr_db(want, got):.1f} dB"


# --- Before / Expected ---------------------------------------------------------------------------------------------

def conv_relu_graph():
    b = GraphBuilder("conv_relu")
    x = b.input("x", TensorType((1, 2, 4, 4)))
    w = b.constant("w", np.linspace(-1, 1, 2 * 2 * 3 * 3, dtype=np.float32).reshape(2, 2, 3, 3))
    bias = b.constant("b", np.array([0.25, -0.5], np.float32))
    y = b.op(Op.CONV2D, [x, w, bias], {"padding": (1, 1, 1, 1)}, hint="conv")
    b.output(b.op(Op.RELU, [y], hint="relu"))
    return b.build()


def test_conv_relu_becomes_conv_and_a_clamped_requantize():
    graph = conv_relu_graph()
    calibration = calibration_for(graph, 4, 0)
    quantized = quantize(graph, QuantizeOptions(calibration))
    assert quantized.types["conv"].qparams is None  # fused: never stored in int8
    integer = lower_integer(quantized)
    verify(integer, integer_only=True)
    assert [n.op for n in integer.nodes] == [Op.CONV2D, Op.REQUANTIZE]
    conv, requant = integer.nodes
    x_zp = quantized.types["x"].qparams.zero_point[0]
    out = quantized.types["relu"].qparams
    assert conv.attrs["q"].input_offset == -x_zp and conv.attrs["q"].weight_offset == 0
    assert integer.types[conv.output].dtype is DType.INT32
    assert integer.constants[conv.inputs[1]].dtype == np.int8 and integer.constants[conv.inputs[2]].dtype == np.int32
    assert np.abs(integer.constants[conv.inputs[1]]).max() == 127  # each channel's largest weight is +-127
    q = requant.attrs["q"]
    assert (q.act_min, q.act_max, q.output_offset, q.axis) == (out.zero_point[0], 127, out.zero_point[0], 1)
    assert len(q.multiplier) == 2
    assert requant.output == "relu" and integer.types["relu"] == TensorType((1, 2, 4, 4), DType.INT8, out)


def test_concat_requantizes_only_the_inputs_with_other_parameters():
    b = GraphBuilder("concat")
    x = b.input("x", TensorType((1, 4)))
    y = b.op(Op.MUL, [x, b.constant("three", np.full(4, 3.0, np.float32))], hint="big")
    b.output(b.op(Op.CONCAT, [x, y], {"axis": 1}, hint="cat"))
    graph = b.build()
    integer = lower_integer(quantize(graph, QuantizeOptions(calibration_for(graph, 4, 1))))
    cat = integer.nodes[-1]
    assert cat.op is Op.CONCAT
    producers = integer.producers()
    kinds = [producers[i].op if i in producers else None for i in cat.inputs]
    # the concat's range is the product's: x needs a rescale, the product already has it
    assert kinds == [Op.REQUANTIZE, Op.MUL]
    assert integer.types[cat.inputs[1]].qparams == integer.types["cat"].qparams


def test_unlowerable_ops_are_all_named_with_node_and_line():
    b = GraphBuilder("mixed")
    x = b.input("x", TensorType((2, 3)))
    e = b.op(Op.LOG_SOFTMAX, [x], {"axis": 0}, hint="e", source="model.py:7: y = x.log_softmax(0)")
    r = b.op(Op.RELU, [e], hint="r")
    b.output(b.op(Op.LOG_SOFTMAX, [r], {"axis": 1}, hint="ls", source="model.py:9: return y.log_softmax(1)"))
    graph = b.build()
    quantized = quantize(graph, QuantizeOptions(calibration_for(graph, 2, 0)))
    with pytest.raises(IntegerLoweringError) as info:
        lower_integer(quantized)
    message = str(info.value)
    assert "LOG_SOFTMAX: LOG_SOFTMAX has no integer-only lowering (node e)" in message
    assert "model.py:7: y = x.log_softmax(0)" in message
    assert "LOG_SOFTMAX" in message and "(node ls)" in message and "model.py:9" in message
    assert "int_only=False" in message and "RELU" not in message.split("Nothing")[0]
    assert sorted(u.node for u in info.value.items) == ["e", "ls"]


def test_int_only_false_keeps_float_islands_between_dequantize_and_quantize():
    b = GraphBuilder("island")
    x = b.input("x", TensorType((2, 3)))
    w = b.constant("w", np.full((3, 3), 0.5, np.float32))
    e = b.op(Op.LOG_SOFTMAX, [b.op(Op.LINEAR, [x, w], hint="fc")], {"axis": 1}, hint="e")
    b.output(b.op(Op.LINEAR, [e, w], hint="out"))
    graph = b.build()
    calibration = calibration_for(graph, 4, 3)
    quantized = quantize(graph, QuantizeOptions(calibration))
    mixed = lower_integer(quantized, LowerIntegerOptions(int_only=False))
    verify(mixed)
    with pytest.raises(IRError, match="DEQUANTIZE"):
        verify(mixed, integer_only=True)
    ops = [n.op for n in mixed.nodes]
    assert ops == [Op.LINEAR, Op.REQUANTIZE, Op.DEQUANTIZE, Op.LOG_SOFTMAX, Op.QUANTIZE, Op.LINEAR, Op.REQUANTIZE]
    for sample in calibration:
        want = run_graph(graph, list(sample))[0]
        got = run_dequantized(mixed, sample)[0]
        assert sqnr_db(want, got) >= 30


def test_pipeline_runs_the_integer_check_after_lowering():
    graph = conv_relu_graph()
    options = (QuantizeOptions(calibration_for(graph, 2, 0)),)
    integer = run_pipeline(graph, PIPELINES["int8"], options=options, verify=True)
    verify(integer, integer_only=True)
    names = [step.__name__ for step in PIPELINES["int8"]]
    assert names == ["canonicalize", "fold_batchnorm", "canonicalize", "quantize", "lower_integer", "check_integer",
                     "fuse"]


def test_verifier_integer_only_rejects_float_tensors_and_ops():
    b = GraphBuilder("f")
    x = b.input("x", TensorType((2,), DType.INT8))
    b.output(b.op(Op.RELU, [x]))
    with pytest.raises(IRError, match="int8 interface value %x has no quantization parameters"):
        verify(b.build(), integer_only=True)
    b = GraphBuilder("f")
    b.output(b.op(Op.RELU, [b.input("x", TensorType((2,)))]))
    with pytest.raises(IRError, match=r"value %x is float32\[2\] in an integer-only graph"):
        verify(b.build(), integer_only=True)


def test_quantize_then_dequantize_of_one_value_is_a_requantize_or_nothing():
    b = GraphBuilder("rq")
    x = b.input("x", TensorType((4,)))
    b.output(b.op(Op.RESHAPE, [x], {"shape": (2, 2)}, hint="r"))
    graph = b.build()
    quantized = quantize(graph, QuantizeOptions(calibration_for(graph, 2, 0)))
    integer = lower_integer(quantized)
    assert [n.op for n in integer.nodes] == [Op.RESHAPE]  # one set of parameters: nothing to rescale
    sample = to_int8(np.array([-1, -0.5, 0.25, 1], np.float32), quantized.types["x"].qparams)
    assert np.array_equal(run_graph(integer, [sample])[0], sample.reshape(2, 2))
