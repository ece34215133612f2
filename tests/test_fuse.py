"""fuse: activations into CONV2D/LINEAR/ADD and zero PAD into CONV2D, bit-exact on float32.

Properties: on random graphs and on conv chains built to fuse, the interpreter gives identical bytes before and
after, the verifier accepts the result and nothing fusable is left. Before/Expected tests pin each rule and the
cases that must not fuse. The C side (fused kernels bit-exact with unfused ones) is in test_memory_c.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgelower.interp import run_graph
from edgelower.ir.graph import Graph, GraphBuilder, Op, TensorType
from edgelower.ir.ops import IRError, infer_types
from edgelower.ir.traits import traits
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.fuse import FUSES_ACTIVATION, fuse
from edgelower.ir.printer import print_graph
from edgelower.ir.verifier import verify

from strategies import graph_and_inputs

ACTIVATIONS = [(Op.RELU, {}), (Op.CLAMP, {"min": 0.0, "max": 6.0}), (Op.CLAMP, {"min": None, "max": 0.5}),
               (Op.HARDSWISH, {})]


def assert_identical(before: Graph, after: Graph, inputs) -> None:
    assert (after.inputs, after.outputs) == (before.inputs, before.outputs)
    for name, want, got in zip(before.outputs, run_graph(before, inputs), run_graph(after, inputs)):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), f"output %{name}"


def fusable_left(graph: Graph) -> list[str]:
    """Nodes fuse should have merged, by this test's own reading of its postcondition."""
    producers, users = graph.producers(), graph.users()
    left = []
    for node in graph.nodes:
        p = producers.get(node.inputs[0])
        single = p is not None and users[p.output] == [node] and p.output not in graph.outputs
        if traits(node.op).fusable_activation and single and p.op in FUSES_ACTIVATION and p.attrs["activation"] is None \
                and graph.types[p.output] == graph.types[node.output]:
            left.append(node.name)
        if node.op is Op.CONV2D and single and p.op is Op.PAD and p.attrs["value"] == 0 \
                and not np.signbit(p.attrs["value"]) and not any(p.attrs["pads"][0] + p.attrs["pads"][1]):
            left.append(node.name)
    return left


@st.composite
def conv_chains(draw):
    """PAD? -> CONV2D|LINEAR -> activation? -> (+ skip, activation?) chains: what fuse is for."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = GraphBuilder("chain")
    c, h = draw(st.integers(1, 4)), draw(st.integers(3, 7))
    x = b.input("x", TensorType((1, c, h, h)))
    for _ in range(draw(st.integers(1, 3))):
        skip = x
        if draw(st.booleans()):
            pads = ((0, 0), (0, 0), (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                    (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
            x = b.op(Op.PAD, [x], {"pads": pads, "value": draw(st.sampled_from([0.0, 0.0, -0.0, 1.0]))})
        groups = draw(st.sampled_from([1, c]))
        k = draw(st.integers(1, 3))
        w = b.constant("w", rng.uniform(-1, 1, (c, c // groups, k, k)).astype(np.float32))
        attrs = {"padding": (k // 2,) * 4, "groups": groups}
        if b.types[x].shape[2] + 2 * (k // 2) < k:
            attrs["padding"] = (k,) * 4
        x = b.op(Op.CONV2D, [x, w, b.constant("b", rng.uniform(-1, 1, (c,)).astype(np.float32))], attrs)
        act = draw(st.sampled_from(ACTIVATIONS + [None]))
        if act:
            x = b.op(act[0], [x], act[1])
        if b.types[x] == b.types[skip] and draw(st.booleans()):
            x = b.op(Op.ADD, [x, skip])
            act = draw(st.sampled_from(ACTIVATIONS + [None]))
            if act:
                x = b.op(act[0], [x], act[1])
    flat = b.op(Op.RESHAPE, [x], {"shape": (1, b.types[x].numel)})
    y = b.op(Op.LINEAR, [flat, b.constant("w", rng.uniform(-1, 1, (3, b.types[x].numel)).astype(np.float32))])
    act = draw(st.sampled_from(ACTIVATIONS))
    b.output(b.op(act[0], [y], act[1]))
    graph = b.build()
    # Inputs well past the activations' kinks (relu6 clips, hardswish's -3 and 3), and exact zeros.
    data = rng.uniform(-8, 8, (1, c, h, h)).astype(np.float32)
    data.reshape(-1)[::5] = 0.0
    return graph, [data]


@settings(max_examples=60)
@given(conv_chains())
def test_fused_conv_chains_are_bit_exact(case):
    graph, inputs = case
    fused = verify(fuse(graph), after="fuse")
    assert_identical(graph, fused, inputs)
    assert fusable_left(fused) == []
    assert len(fused.nodes) < len(graph.nodes)


@settings(max_examples=50)
@given(graph_and_inputs(max_nodes=10))
def test_fuse_on_random_graphs_is_bit_exact(case):
    graph, inputs = case
    fused = verify(fuse(graph), after="fuse")
    assert_identical(graph, fused, inputs)
    assert fusable_left(fused) == []


def test_float_pipeline_fuses_after_folding_batchnorm():
    b = GraphBuilder()
    x = b.input("x", TensorType((1, 2, 4, 4)))
    y = b.op(Op.CONV2D, [x, b.constant("w", np.ones((2, 2, 1, 1), np.float32))])
    stats = [b.constant(n, np.float32(v) * np.ones(2, np.float32)) for n, v in
             (("mean", 0.5), ("var", 2.0), ("gamma", 1.5), ("beta", -0.25))]
    b.output(b.op(Op.CLAMP, [b.op(Op.BATCH_NORM, [y, *stats])], {"min": 0.0, "max": 6.0}))
    graph = run_pipeline(b.build(), PIPELINES["float"], verify=True)
    assert [(n.op, n.attrs["activation"]) for n in graph.nodes] == [(Op.CONV2D, ("CLAMP", 0.0, 6.0))]


def pad_conv(value: float = 0.0, pads=((0, 0), (0, 0), (1, 0), (2, 1))) -> Graph:
    b = GraphBuilder("pad_conv")
    x = b.input("x", TensorType((1, 2, 5, 5)))
    p = b.op(Op.PAD, [x], {"pads": pads, "value": value})
    w = b.constant("w", np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3) / 36)
    b.output(b.op(Op.CONV2D, [p, w], {"padding": (1, 1, 0, 0)}, hint="y"))
    return b.build()


def test_zero_spatial_pad_folds_into_the_convolution_padding():
    after = fuse(pad_conv())
    assert "= conv2d(%x, %w; activation=None, dilation=(1, 1), groups=1, out_dtype=None, padding=(2, 3, 0, 1)" \
        in print_graph(after)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    assert_identical(pad_conv(), after, [x])


@pytest.mark.parametrize("graph", [pad_conv(value=-0.0), pad_conv(value=1.0),
                                   pad_conv(pads=((1, 0), (0, 0), (1, 1), (1, 1)))],
                         ids=["negative-zero", "nonzero", "batch-pad"])
def test_pads_that_are_not_spatial_zeros_stay(graph):
    assert [n.op for n in fuse(graph).nodes] == [Op.PAD, Op.CONV2D]


def test_activation_with_a_second_reader_or_on_an_output_stays():
    b = GraphBuilder()
    x = b.input("x", TensorType((2, 3)))
    y = b.op(Op.LINEAR, [x, b.constant("w", np.ones((3, 3), np.float32))])
    b.output(b.op(Op.RELU, [y]))
    b.output(b.op(Op.NEG, [y]))  # a second reader of the unactivated value
    z = b.op(Op.ADD, [x, x])
    b.output(z)  # an output itself
    b.output(b.op(Op.HARDSWISH, [z]))
    assert [n.op for n in fuse(b.build()).nodes] == [Op.LINEAR, Op.RELU, Op.NEG, Op.ADD, Op.HARDSWISH]


def test_an_already_activated_producer_keeps_the_second_activation_apart():
    b = GraphBuilder()
    x = b.input("x", TensorType((2, 3)))
    y = b.op(Op.RELU, [b.op(Op.ADD, [x, x])])
    b.output(b.op(Op.CLAMP, [y], {"min": None, "max": 1.0}))
    after = fuse(b.build())
    assert [(n.op, n.attrs.get("activation")) for n in after.nodes] == [(Op.ADD, ("RELU",)), (Op.CLAMP, None)]


def test_activation_attribute_is_checked():
    x, w = TensorType((2, 3)), TensorType((4, 3))
    for bad in [("SIGMOID",), ("CLAMP", 0.0), ("RELU", 1.0), "RELU"]:
        with pytest.raises(IRError, match="activation"):
            infer_types(Op.LINEAR, [x, w], {"activation": bad})
    with pytest.raises(IRError, match="HARDSWISH is defined on float32"):
        infer_types(Op.ADD, [TensorType((2,), x.dtype.INT32)] * 2, {"activation": ("HARDSWISH",)})
