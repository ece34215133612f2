"""The edges a new user hits (issue 8): each test is one input that used to give a wrong answer, an unclear error
or a surprise, and now gives the right answer or one clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import edgelower
from edgelower.interpreter import IMPLS, run_graph
from edgelower.ir import DType, GraphBuilder, Op, TensorType
from edgelower.runtime.loader import HostModel, IOSpec, build_shared_library
from edgelower.schedule import linearize
from edgelower.passes.plan_memory import plan_memory
from edgelower.backends.c import render_c

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(scope="module")
def mlp():
    model, (x,) = edgelower.zoo.get("mlp")
    return model, x, edgelower.compile(model, (x,))


# --- 1. extra call arguments ----------------------------------------------------------------------------------------


def test_extra_call_arguments_raise_naming_the_inputs(mlp):
    model, x, cm = mlp
    with pytest.raises(TypeError, match=r"takes 1 input\(s\) \(input: float32\[1, 64\]\), got 2"):
        cm(x, torch.zeros(5))
    with pytest.raises(TypeError, match="got 0"):
        cm()
    with pytest.raises(ValueError, match=r"takes 1 input\(s\) \(input: float32"):
        cm.run_numpy([x.numpy(), x.numpy()])
    torch.testing.assert_close(cm(x), model(x), rtol=1e-5, atol=1e-5)


# --- 2. QUANTIZE of infinities, NaN and huge values -----------------------------------------------------------------

SCALES_AND_ZERO_POINTS = ((0.0219, -17), (1.0, 127), (1.0, -128), (3e-39, 0), (2.5e38, 5), (0.5, -1))


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return IMPLS[Op.QUANTIZE]([np.asarray(x, np.float32)], {"scale": scale, "zero_point": zero_point})[0]


def test_quantize_saturates_to_the_end_of_its_sign_and_nan_is_the_zero_point():
    x = np.array([-1e30, -np.inf, 1e30, np.inf, np.nan, -0.0, 0.0], np.float32)
    assert quantize(x, 0.0219, -17).tolist() == [-128, -128, 127, 127, -17, -17, -17]
    assert quantize(x, 1.0, 127).tolist() == [-128, -128, 127, 127, 127, 127, 127]


@pytest.fixture(scope="module")
def quantize_kernel():
    """One C build holding a QUANTIZE per (scale, zero point) over the same input, and the graph it renders."""
    b = GraphBuilder("quantize_edges")
    x = b.input("x", TensorType((64,), DType.FLOAT32))
    for scale, zero_point in SCALES_AND_ZERO_POINTS:
        b.output(b.op(Op.QUANTIZE, [x], {"scale": scale, "zero_point": zero_point}))
    graph = b.build()
    schedule = plan_memory(linearize(graph))
    return graph, HostModel(build_shared_library(render_c(schedule)), IOSpec.from_schedule(schedule))


_TIES = [np.float32(k + 0.5) * s for k in (-3, -1, 0, 1, 2, 127) for s in (1, -1)]
EDGE_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.17e-38, -1.17e-38, 3.4028235e38,
                     -3.4028235e38, 1e30, -1e30, 127.5, -128.5, 511.5, -512.5, *_TIES]),
    st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(-300.0, 300.0, width=32).map(lambda v: float(np.floor(v)) + 0.5))


@needs_cc
@settings(max_examples=60, deadline=None)
@given(st.lists(EDGE_FLOATS, min_size=64, max_size=64))
def test_quantize_c_kernel_equals_the_interpreter_on_float32_edges(quantize_kernel, values):
    graph, compiled = quantize_kernel
    x = np.array(values, np.float32)
    for got, expected in zip(compiled.run([x]), run_graph(graph, [x])):
        np.testing.assert_array_equal(got, expected)


# --- 10. the caller's model keeps its mode ---------------------------------------------------------------------------


def test_compile_restores_the_callers_training_mode():
    model, (x,) = edgelower.zoo.get("mlp")
    model.train()
    model[0].eval() if isinstance(model, torch.nn.Sequential) else None
    before = {name: m.training for name, m in model.named_modules()}
    edgelower.compile(model, (x,))
    assert {name: m.training for name, m in model.named_modules()} == before
