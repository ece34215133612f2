"""The HLS backend's kernels against the integer interpreter: int8 graphs rendered as HLS C++, really built with g++
and the ap_types headers (C-simulation) and run, compared byte for byte, in both architectures (io_parallel and
io_stream); random graphs from tests/strategies_s8.py and the arithmetic's limits. The whole-model path (zoo,
families) is tests/test_conformance.py; the project, the estimates and the refusals are test_backend_hls_project.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelower.backends.hls import HLS_BACKEND, HlsOptions
from edgelower.backends.hls.csim import HlsToolError, ap_types_dir, build_csim
from edgelower.backends.protocol import EmitRequest
from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.passes.fuse import fuse
from edgelower.quant.records import AddQ, ConvQ, MulQ, RequantQ
from edgelower.runtime.loader import run_executable
from edgelower.targets import get_target

from strategies_s8 import EDGE_INT32, FAMILIES, INT32_MAX, Int8Graph, int8_graphs


def _headers_missing() -> bool:
    try:
        ap_types_dir()
    except HlsToolError:
        return True
    return shutil.which("g++") is None


pytestmark = pytest.mark.skipif(_headers_missing(), reason="needs g++ and the ap_types headers: pip install hls4ml "
                                                            "(the 'hls' extra), apt-get install g++")

IO_TYPES = ("io_parallel", "io_stream")
# Random graphs hold GATHER with indices from a tensor only in the movement family's last node, which the HLS
# kernels refuse by name (tests/test_backend_hls_project.py); the other families cover every kernel.
HLS_FAMILIES = tuple(name for name in FAMILIES if name != "movement")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """This module's builds go to a cache of its own (conftest.py), so g++ really runs."""


def emit(graph: Graph, io_type: str = "io_parallel", target: str = "hls", **options):
    return HLS_BACKEND.emit(EmitRequest(graph, None, get_target(target), "model",
                                        HlsOptions(io_type=io_type, **options)))


def run_hls(graph: Graph, inputs, io_type: str = "io_parallel", sanitize: bool = False) -> list[np.ndarray]:
    artifact = emit(graph, io_type)
    return run_executable(build_csim(artifact.files, "model", sanitize), artifact.spec, inputs)


def assert_matches_interpreter(graph: Graph, inputs, io_type: str, sanitize: bool = False) -> None:
    got, expected = run_hls(graph, inputs, io_type, sanitize), run_graph(graph, inputs)
    assert len(got) == len(expected)
    for name, g, e in zip(graph.outputs, got, expected):
        assert (g.dtype, g.shape) == (e.dtype, e.shape), name
        diff = np.flatnonzero(g.reshape(-1) != e.reshape(-1))
        assert diff.size == 0, (f"{io_type} output %{name}: {diff.size} of {e.size} values differ, first at "
                                f"{diff[0]}: HLS {g.reshape(-1)[diff[0]]}, interpreter {e.reshape(-1)[diff[0]]}")


@pytest.mark.slow
@pytest.mark.parametrize("io_type", IO_TYPES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                HealthCheck.function_scoped_fixture])
@given(case=int8_graphs(HLS_FAMILIES))
def test_random_int8_graphs_through_c_simulation(io_type, case):
    graph, inputs = case
    assert_matches_interpreter(graph, inputs, io_type)
    assert_matches_interpreter(fuse(graph), inputs, io_type)


@pytest.mark.parametrize("io_type", IO_TYPES)
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_kernel_family_under_address_and_undefined_behaviour_sanitizers(io_type, data):
    """One graph of every family, built with -fsanitize=address,undefined (any report is fatal) and run."""
    graph, inputs = data.draw(int8_graphs(HLS_FAMILIES))
    assert_matches_interpreter(fuse(graph), inputs, io_type, sanitize=True)


MULTIPLIERS = (INT32_MAX, 1 << 30, (1 << 30) + 1, 1, 0, -(2 ** 31), 1518500250)
SHIFTS = (-31, -30, -17, -1, 0, 1, 17, 30, 31)


@pytest.mark.parametrize("io_type", IO_TYPES)
def test_requantize_at_every_multiplier_and_shift_limit(io_type):
    """int32 accumulators at INT32_MIN, INT32_MAX and between, through every pairing of limit multipliers and
    shifts (a positive shift's left shift wraps), output offsets and activation ranges at their ends."""
    rng = np.random.default_rng(7)
    acc = np.concatenate([EDGE_INT32, rng.integers(-(2 ** 31), 2 ** 31, 64 - len(EDGE_INT32))])
    acc = acc.astype(np.int32).reshape(4, 16)
    b = GraphBuilder("edges")
    x = b.input("acc", TensorType(acc.shape, DType.INT32))
    for i, m in enumerate(MULTIPLIERS):
        for j, s in enumerate(SHIFTS):
            offset, (lo, hi) = (-128, 127, 0)[(i + j) % 3], ((-128, 127), (-5, 9), (127, 127))[(i * j) % 3]
            b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ((m,), (s,), offset, 0, lo, hi)}))
    per_channel = RequantQ(MULTIPLIERS[:4], (-31, 0, 30, 31), 3, -7, -128, 127, axis=0)
    b.output(b.op(Op.REQUANTIZE, [x], {"q": per_channel}))
    assert_matches_interpreter(b.build(), [acc], io_type)


@pytest.mark.parametrize("io_type", IO_TYPES)
def test_accumulators_that_wrap_past_int32_and_extreme_biases(io_type):
    g = Int8Graph(GraphBuilder("wrap"), np.random.default_rng(1))
    x = g.input((1, 4, 5, 5), -128, values=np.full((1, 4, 5, 5), 127))
    weights = g.b.constant("w", np.full((4, 4, 3, 3), 127, np.int8))
    for bias in (np.full(4, -(2 ** 31)), np.full(4, INT32_MAX), np.array(EDGE_INT32[:4])):
        acc = g.op(Op.CONV2D, [x, weights, g.b.constant("b", bias.astype(np.int32))],
                   {"padding": (1, 1, 1, 1), "q": ConvQ(128, 127)})
        g.b.output(acc)
        g.out(Op.REQUANTIZE, [acc], {"q": RequantQ((INT32_MAX,), (30,), 127, 0)})
    graph = g.b.build()
    assert_matches_interpreter(graph, g.inputs, io_type)
    assert_matches_interpreter(fuse(graph), g.inputs, io_type)


@pytest.mark.parametrize("io_type", IO_TYPES)
def test_add_sub_and_mul_with_limit_multipliers_and_shifts(io_type):
    rng = np.random.default_rng(3)
    b = GraphBuilder("binary_edges")
    x = b.input("x", TensorType((8, 16), DType.INT8, QParams((0.1,), (0,))))
    y = b.input("y", TensorType((8, 16), DType.INT8, QParams((0.1,), (0,))))
    z = b.input("z", TensorType((16,), DType.INT8, QParams((0.1,), (0,))))
    for m in MULTIPLIERS:
        for s in (-31, -1, 0):
            out_m = INT32_MAX - m if m >= 0 else 1 << 30   # a multiplier is an int32: INT32_MAX - MIN is not
            add = AddQ(128, -127, -128, 20, m, s, out_m, -31 - s, m, s)
            b.output(b.op(Op.ADD, [x, y], {"q": add}))       # same shapes: streamed
            b.output(b.op(Op.SUB, [z, x], {"q": add}))       # broadcast: buffered
        for s in (-31, 0, 30):
            b.output(b.op(Op.MUL, [x, y], {"q": MulQ(-128, 128, 127, m, s)}))
    inputs = [rng.integers(-128, 128, (8, 16)).astype(np.int8), rng.integers(-128, 128, (8, 16)).astype(np.int8),
              np.array([-128, 127] * 8, np.int8)]
    assert_matches_interpreter(b.build(), inputs, io_type)


def test_both_architectures_compute_the_same_bytes_on_a_residual_network():
    """A value read by two layers (the skip connection) and by the graph's outputs: io_stream clones its stream."""
    g = Int8Graph(GraphBuilder("residual"), np.random.default_rng(11))
    x = g.input((1, 4, 7, 7), 3)
    rq = RequantQ((1 << 30,), (-6,), 2, 0, -128, 127)
    a = g.op(Op.CONV2D, [x, g.weights((4, 4, 3, 3)), g.bias(4, False)],
             {"padding": (1, 1, 1, 1), "q": ConvQ(-3, 0, rq)})
    b = g.op(Op.CONV2D, [a, g.weights((4, 1, 3, 3)), g.bias(4, False)],
             {"padding": (1, 1, 1, 1), "groups": 4, "stride": (2, 2), "q": ConvQ(-2, 0, rq)})
    up = g.op(Op.UPSAMPLE_NEAREST, [b], {"size": (7, 7)})
    add = AddQ.from_scales(0.05, 2, 0.05, 2, 0.1, -1)
    g.b.output(a)
    g.out(Op.ADD, [a, up], {"q": add})
    graph = g.b.build()
    outputs = [run_hls(graph, g.inputs, io) for io in IO_TYPES]
    for p, s, e in zip(*outputs, run_graph(graph, g.inputs)):
        np.testing.assert_array_equal(p, e)
        np.testing.assert_array_equal(s, e)
