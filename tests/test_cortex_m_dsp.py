"""The DSP fast paths of the int8 kernels (runtime/src/*_dsp.c), really cross-compiled and run on QEMU's Cortex-M4
and Cortex-M55, against the portable kernels byte for byte.

A build for a core with the DSP extension compiles the fast paths (runtime/src/s8_dsp.h); the host build is the
portable kernels. Each example is one graph of a dozen int8 convolutions and fully connected layers (fused and not,
odd and even channel counts, pixel counts and reduction lengths so that every tile and tail runs), built once per
core: the firmware's output bytes must equal the host build's and the integer interpreter's.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelower.backends.c.render import render_c
from edgelower.interp import run_graph
from edgelower.ir.graph import Graph, GraphBuilder, Op
from edgelower.passes.fuse import fuse
from edgelower.passes.memory.schedule_graph import schedule_graph
from edgelower.quant.records import ConvQ, RequantQ
from edgelower.runtime import cortex_m
from edgelower.backends.artifact import IOSpec
from edgelower.runtime.loader import HostModel, build_shared_library
from edgelower.targets import TARGETS
from c_plan import C_PLAN

from strategies_s8 import FAMILIES, Int8Graph, _requantized, zero_points

_MISSING = cortex_m.missing_packages(TARGETS["cortex-m4"])
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"needs the Debian packages {' '.join(_MISSING)} "
                                                         "(`make test` installs them as root)")

CORES = ("cortex-m4", "cortex-m55")
# Each example costs one host build and two firmware builds and runs (about 10 s on 2 cores).
EXAMPLES = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


def portable(core: str):
    """`core` built with the fast paths off: the switch the benchmark uses (docs/cortex-m.md)."""
    target = TARGETS[core]
    settings = target.settings
    return dataclasses.replace(target, settings=dataclasses.replace(
        settings, cflags=settings.cflags + ("-DEL_PORTABLE_KERNELS",)))


@st.composite
def dsp_layers(draw, g: Int8Graph) -> None:
    """Shapes that reach the fast paths' inner loops: reduction lengths past 4, 3-wide depthwise windows with
    interior pairs, and wider fully connected layers."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 9))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 10))
    zp = draw(zero_points)
    x = g.input((n, c, h, w), zp)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 1))
    generic = {"stride": (draw(st.integers(1, 2)), draw(st.integers(1, 2))), "padding": (pad, pad, pad, pad),
               "dilation": (1, 1), "groups": 1}
    depthwise = {"stride": (draw(st.integers(1, 2)), 1), "padding": (pad, draw(st.integers(0, 1))) * 2,
                 "dilation": (draw(st.integers(1, 2)), 1), "groups": c}
    pointwise = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    layers = [(generic, (draw(st.integers(1, 7)), c, kh, kw)),
              (depthwise, (c * draw(st.integers(1, 2)), 1, min(3, (h + 2 * pad - 1) // depthwise["dilation"][0] + 1),
                           3)),
              (pointwise, (draw(st.integers(1, 9)), c, 1, 1))]
    for attrs, w_shape in layers:
        inputs = [x, g.weights(w_shape)]
        if draw(st.booleans()):
            inputs.append(g.bias(w_shape[0], extreme=draw(st.integers(0, 3)) == 0))
        q = ConvQ(-zp, draw(st.sampled_from([0, 0, -3, 127])))
        _requantized(draw, g, g.op(Op.CONV2D, inputs, {**attrs, "q": q}), 1)
    features, zf = draw(st.integers(1, 40)), draw(zero_points)
    v = g.input((draw(st.integers(1, 3)), features), zf)
    out_features = draw(st.integers(1, 11))
    inputs = [v, g.weights((out_features, features))]
    if draw(st.booleans()):
        inputs.append(g.bias(out_features, extreme=draw(st.integers(0, 3)) == 0))
    _requantized(draw, g, g.op(Op.LINEAR, inputs, {"q": ConvQ(-zf, draw(st.sampled_from([0, 0, 5])))}), 1)


@st.composite
def dsp_graphs(draw) -> tuple[Graph, list[np.ndarray]]:
    """The fast paths' shapes, and the int8 strategies' conv and dense families (their records at the edges of
    their ranges), in one graph."""
    g = Int8Graph(GraphBuilder("dsp"), np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))))
    draw(dsp_layers(g))
    draw(FAMILIES["conv"](g))
    draw(FAMILIES["dense"](g))
    graph = g.b.build()
    return (fuse(graph) if draw(st.booleans()) else graph), g.inputs


def render(graph: Graph) -> tuple[dict[str, str], IOSpec]:
    schedule = schedule_graph(graph, C_PLAN)
    return render_c(schedule), IOSpec.from_graph(schedule.graph)


def firmware(files, spec, target) -> cortex_m.QemuModel:
    return cortex_m.QemuModel(cortex_m.build_firmware(files, spec, target), spec)


def assert_bytes_equal(graph: Graph, got, expected, what: str) -> None:
    assert len(got) == len(expected) == len(graph.outputs)
    for name, g, e in zip(graph.outputs, got, expected):
        assert (g.dtype, g.shape) == (e.dtype, e.shape), f"{what}: %{name}"
        diff = np.flatnonzero(g.reshape(-1) != e.reshape(-1))
        assert diff.size == 0, (f"{what}: %{name}: {diff.size} of {e.size} values differ, first at {diff[0]}: "
                                f"{g.reshape(-1)[diff[0]]} instead of {e.reshape(-1)[diff[0]]}")


@EXAMPLES
@given(dsp_graphs())
def test_dsp_kernels_give_the_portable_bytes(case):
    graph, inputs = case
    files, spec = render(graph)
    host = HostModel(build_shared_library(files), spec).run(inputs)
    assert_bytes_equal(graph, host, run_graph(graph, inputs), "host")
    for core in CORES:
        assert_bytes_equal(graph, firmware(files, spec, TARGETS[core]).run(inputs), host, core)


@functools.lru_cache(maxsize=None)
def conv_graph() -> tuple[Graph, list[np.ndarray]]:
    """One layer of each fast path, fused, at sizes where the inner loops dominate."""
    g = Int8Graph(GraphBuilder("dsp_paths"), np.random.default_rng(7))
    x = g.input((1, 16, 10, 10), 3)
    conv = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1)}
    for attrs, shape in (({**conv, "groups": 1}, (16, 16, 3, 3)), ({**conv, "groups": 16}, (16, 1, 3, 3)),
                         ({**conv, "padding": (0, 0, 0, 0), "groups": 1}, (24, 16, 1, 1))):
        acc = g.op(Op.CONV2D, [x, g.weights(shape), g.bias(shape[0], False)], {**attrs, "q": ConvQ(-3, 0)})
        g.out(Op.REQUANTIZE, [acc], {"q": _fixed_requant(shape[0])})
    v = g.input((1, 64), -5)
    acc = g.op(Op.LINEAR, [v, g.weights((10, 64)), g.bias(10, False)], {"q": ConvQ(5, 0)})
    g.out(Op.REQUANTIZE, [acc], {"q": _fixed_requant(10, axis=1)})
    return fuse(g.b.build()), g.inputs


def _fixed_requant(channels: int, axis: int = 1) -> RequantQ:
    return RequantQ((1 << 30,) * channels, (-8,) * channels, -2, axis=axis)


def _symbols(target, elf) -> str:
    return subprocess.run([cortex_m._binutil(target, "nm"), str(elf)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("core", CORES)
def test_dsp_paths_are_taken_and_cut_instructions(core):
    graph, inputs = conv_graph()
    files, spec = render(graph)
    fast, slow = (cortex_m.build_firmware(files, spec, t) for t in (TARGETS[core], portable(core)))
    fast_symbols, slow_symbols = _symbols(fast.target, fast.size_elf), _symbols(slow.target, slow.size_elf)
    for name in ("el_conv_im2col_dsp", "el_conv_depthwise_dsp", "el_linear_dsp"):
        assert name in fast_symbols and name not in slow_symbols, name
    expected = run_graph(graph, inputs)
    for fw in (fast, slow):
        assert_bytes_equal(graph, cortex_m.QemuModel(fw, spec).run(inputs), expected, core)
    # Counts are deterministic (docs/cortex-m.md); the bench prints the ratios, the test only that they improve.
    assert fast.measurement.instructions * 2 < slow.measurement.instructions
