"""The memory plan in generated C: aliases, in-place kernels and fused activations really built and really run.

- Random graphs, planned with views, in place and reordering, match the interpreter as the plain C backend does
  (test_backend_c.py's tolerance), and the arena symbol is exactly Report.arena_bytes (nm -S).
- Fused kernels are bit-exact with the unfused graph's kernels, and the in-place depthwise kernel with the
  out-of-place one: same bytes out of the C build, not only within a tolerance.
- The backend refuses a plan that overlaps an output with an input its kernel cannot overwrite.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import edgelower
from edgelower import zoo
from edgelower.backends.c.render import render_c
from edgelower.errors import BuildError
from edgelower.interp import run_graph
from edgelower.ir.graph import Graph, GraphBuilder, Op, TensorType
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.fuse import fuse
from edgelower.backends.c.memory import C_MEMORY
from edgelower.passes.memory.features import NO_SHARING
from edgelower.passes.memory.schedule_graph import MemoryOptions, schedule_graph

C = MemoryOptions(features=C_MEMORY)  # the memory plan the driver makes for the C backend
from edgelower.report import Report
from edgelower.backends.artifact import IOSpec
from edgelower.runtime.loader import HostModel, build_shared_library
from edgelower.ir.schedule import Schedule

from strategies import graphs, inputs_for
from test_fuse import conv_chains

pytestmark = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("nm") is None,
                                reason="needs a C compiler and nm: apt-get install gcc binutils")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


def build(schedule: Schedule):
    library = build_shared_library(render_c(schedule))
    return library, HostModel(library, IOSpec.from_graph(schedule.graph))


def arena_symbol_bytes(library) -> int:
    table = subprocess.run(["nm", "-S", str(library)], capture_output=True, text=True, check=True).stdout
    sizes = [int(line.split()[1], 16) for line in table.splitlines() if line.endswith(" model_arena")]
    return sizes[0] if sizes else 0


def side_by_side(parts: list[Graph]) -> Graph:
    """Independent graphs in one (names prefixed g<i>_), so that one C build tests them all."""
    def renamed(i, name):
        return f"g{i}_{name}"
    nodes, types, constants, inputs, outputs = [], {}, {}, [], []
    for i, g in enumerate(parts):
        inputs += [renamed(i, n) for n in g.inputs]
        outputs += [renamed(i, n) for n in g.outputs]
        nodes += [replace(n, inputs=tuple(renamed(i, v) for v in n.inputs), name=renamed(i, n.name),
                          outputs=tuple(renamed(i, v) for v in n.outputs)) for n in g.nodes]
        types.update({renamed(i, k): t for k, t in g.types.items()})
        constants.update({renamed(i, k): v for k, v in g.constants.items()})
    return Graph(tuple(inputs), tuple(outputs), tuple(nodes), types, constants, "side_by_side")


@settings(max_examples=8)
@given(st.lists(graphs(max_nodes=12), min_size=3, max_size=3), st.data())
def test_planned_random_graphs_match_the_interpreter_in_c(parts, data):
    graph = run_pipeline(side_by_side(parts), PIPELINES["float"])
    inputs = data.draw(inputs_for(graph))
    schedule = schedule_graph(graph, C)
    library, model = build(schedule)
    assert arena_symbol_bytes(library) == Report.from_schedule(schedule, "host").arena_bytes
    for name, got, want in zip(graph.outputs, model.run(inputs), run_graph(graph, inputs)):
        scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, equal_nan=True, err_msg=name)


@settings(max_examples=6)
@given(st.lists(conv_chains(), min_size=4, max_size=4))
def test_fused_kernels_give_the_unfused_bytes(cases):
    graph = side_by_side([g for g, _ in cases])
    inputs = [x for _, xs in cases for x in xs]
    plain = MemoryOptions(reorder=False, features=NO_SHARING)
    fused = schedule_graph(fuse(graph), plain)
    assert any(n.attrs.get("activation") for n in fused.graph.nodes)
    for got, want in zip(build(fused)[1].run(inputs), build(schedule_graph(graph, plain))[1].run(inputs)):
        assert got.tobytes() == want.tobytes()


def depthwise_stack() -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("dw")
    x = b.input("x", TensorType((2, 6, 9, 7)))
    y = b.op(Op.EXP, [x])
    for k, act in ((3, ("CLAMP", 0.0, 6.0)), (5, ("HARDSWISH",)), (1, None), (3, ("RELU",))):
        w = b.constant("w", rng.uniform(-1, 1, (6, 1, k, k)).astype(np.float32))
        bias = b.constant("b", rng.uniform(-1, 1, (6,)).astype(np.float32))
        y = b.op(Op.CONV2D, [y, w, bias], {"padding": (k // 2,) * 4, "groups": 6, "activation": act})
    b.output(y)
    return b.build()


def test_in_place_depthwise_gives_the_out_of_place_bytes():
    graph = depthwise_stack()
    x = [np.random.default_rng(1).uniform(-2, 2, (2, 6, 9, 7)).astype(np.float32)]
    in_place = schedule_graph(graph, C)
    assert sum(bool(k.scratch) for k in in_place.kernels) == 4
    assert render_c(in_place)["model.c"].count("el_depthwise_conv2d_inplace_f32(") == 4
    out_of_place = schedule_graph(graph, MemoryOptions(features=NO_SHARING))
    assert in_place.arena_bytes < out_of_place.arena_bytes
    (got,), (want,) = build(in_place)[1].run(x), build(out_of_place)[1].run(x)
    assert got.tobytes() == want.tobytes()
    np.testing.assert_allclose(got, run_graph(graph, x)[0], rtol=1e-5, atol=1e-5)


def test_backend_refuses_an_output_over_an_input_it_cannot_overwrite():
    b = GraphBuilder("bad")
    x = b.input("x", TensorType((4, 4)))
    b.output(b.op(Op.PERMUTE, [b.op(Op.NEG, [x], hint="n")], {"perm": (1, 0)}, hint="t"))
    schedule = schedule_graph(b.build(), C)
    bad = schedule.replace(buffers={**schedule.buffers, "t": replace(schedule.buffers["t"],
                                                                     offset=schedule.buffers["n"].offset)})
    with pytest.raises(BuildError, match=r"node t \(PERMUTE\) would write %t over %n"):
        render_c(bad)


@pytest.mark.parametrize("name", ["ds-cnn", "vit-tiny"])  # depthwise in place; views
def test_compiled_zoo_arena_symbol_is_the_report(name):
    model, example = zoo.get(name)
    cm = edgelower.compile(model, example)
    assert arena_symbol_bytes(cm.artifact.library) == cm.report.arena_bytes >= cm.report.peak_bytes
    assert cm.report.peak_op in {r.name for r in cm.report.rows}
