"""Patch-based inference: tile_patches is bit-exact and its tiles cover the split value exactly once; choose_patches
picks what planning every candidate would; the driver patches to fit a budget, fails clearly when it cannot, and
the report plots both curves.

Bit-exactness is checked on random conv / pool / pad / residual / channel-concat stages with random (uneven) grids
through the interpreter, through the planned schedule on the simulated arena, and through the generated C (float32
and int8).
"""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import assume, given, reject, settings, strategies as st

import edgelower
from edgelower import cli
from edgelower.driver import compile_graph
from edgelower.errors import EdgelowerError, IntegerLoweringError, MemoryBudgetError
from edgelower.interp import run_graph, run_schedule
from edgelower.ir.graph import Graph, GraphBuilder, Op, TensorType
from edgelower.ir.ops import activation_spec, pool_out
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.backends.c.memory import C_MEMORY
from edgelower.passes.memory.features import READ_BEFORE_WRITE
from edgelower.passes.patches.choose_patches import GRIDS, choose_patches, patched_memory, plan_patches

PATCHED_MEMORY = patched_memory(READ_BEFORE_WRITE)
from edgelower.passes.memory.reorder_nodes import reorder_nodes
from edgelower.passes.integer.quantize import QuantizeOptions
from edgelower.passes.memory.schedule_graph import schedule_graph
from edgelower.passes.patches.tile_patches import PatchError, split_points, tile_patches
from edgelower.report import Report
from edgelower.ir.schedule import linearize
from edgelower.ir.verifier import verify

from int8_util import calibration_for
from strategies import attributes

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


# --- random stages ----------------------------------------------------------------------------------------------

def _conv(draw, b: GraphBuilder, rng, x: str) -> str | None:
    n, c, h, w = b.types[x].shape
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))), (draw(st.integers(1, 2)), 1)
    # Padding up to 2 on a kernel of 1 makes rows that read only padding: the span-growing path.
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    if min(pool_out(h, kernel[0], stride[0], padding[0], padding[2], dilation[0]),
           pool_out(w, kernel[1], stride[1], padding[1], padding[3], dilation[1])) < 1:
        return None
    groups = draw(st.sampled_from([g for g in (1, c) if c % g == 0]))
    out = groups * draw(st.integers(1, 3))
    weight = b.constant("w", rng.uniform(-1, 1, (out, c // groups) + kernel).astype(np.float32))
    inputs = [x, weight] + ([b.constant("b", rng.uniform(-1, 1, out).astype(np.float32))] if draw(st.booleans())
                            else [])
    act = draw(st.sampled_from([None, activation_spec(Op.RELU, {}), activation_spec(Op.CLAMP, {"min": 0.0,
                                                                                            "max": 6.0})]))
    return b.op(Op.CONV2D, inputs, {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                                    "activation": act})


def _pool(draw, b: GraphBuilder, rng, x: str, op: Op) -> str:
    return b.op(op, [x], draw(attributes(op, b.types[x])))


def _pad(draw, b: GraphBuilder, rng, x: str) -> str:
    pads = ((0, 0), (0, draw(st.integers(0, 1))), (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
            (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    return b.op(Op.PAD, [x], {"pads": pads, "value": draw(st.sampled_from([0.0, -1.5]))})


def _join(draw, b: GraphBuilder, rng, x: str, values: list[str], op: Op) -> str:
    """ADD or channel CONCAT with an earlier value of the same size (a DAG), or ADD of a per-channel constant."""
    shape = b.types[x].shape
    same = [v for v in values if b.types[v].shape[2:] == shape[2:] and b.types[v].shape[0] == shape[0] and v != x
            and (op is Op.CONCAT or b.types[v].shape == shape)]
    if same:
        return b.op(op, [x, draw(st.sampled_from(same))], {"axis": 1} if op is Op.CONCAT else {})
    return b.op(Op.ADD, [x, b.constant("k", rng.uniform(-1, 1, (shape[1], 1, 1)).astype(np.float32))])


@st.composite
def stages(draw) -> Graph:
    """A float32 NCHW graph: a random DAG of spatially local ops, then maybe a head (MEAN) or a second output."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = GraphBuilder("stage")
    x = b.input("x", TensorType((draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(2, 12)),
                                 draw(st.integers(2, 12)))))
    values = [x]
    for _ in range(draw(st.integers(1, 7))):
        v = values[-1] if draw(st.integers(0, 3)) else draw(st.sampled_from(values))
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg", "pad", "relu", "add", "concat"]))
        if kind == "conv":
            y = _conv(draw, b, rng, v)
        elif kind in ("max", "avg"):
            y = _pool(draw, b, rng, v, Op.MAX_POOL2D if kind == "max" else Op.AVG_POOL2D)
        elif kind == "pad":
            y = _pad(draw, b, rng, v)
        elif kind == "relu":
            y = b.op(Op.RELU, [v])
        else:
            y = _join(draw, b, rng, v, values, Op.ADD if kind == "add" else Op.CONCAT)
        if y is not None and b.types[y].numel <= 4096:
            values.append(y)
    last = values[-1]
    b.output(b.op(Op.MEAN, [last], {"axes": (2, 3), "keepdim": False}) if draw(st.booleans()) else last)
    if len(values) > 2 and draw(st.booleans()):  # a stage value read outside: splits after it must not exist
        b.output(draw(st.sampled_from(values[1:-1])))
    return b.build()


@st.composite
def patched_cases(draw):
    graph = draw(stages())
    splits = split_points(graph)
    assume(splits)
    split = splits[-1] if draw(st.integers(0, 2)) else draw(st.sampled_from(splits))  # long stages, mostly
    h, w = graph.types[split].shape[2:]
    grid = (draw(st.integers(1, min(h, 8))), draw(st.integers(1, min(w, 8))))
    inputs = [np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(-1, 1, graph.types[x].shape)
              .astype(np.float32) for x in graph.inputs]
    return graph, split, grid, inputs


def tile_cover(graph: Graph, split: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The regions of the split value that the leaves of its CONCAT tree (along H and W) hold."""
    producers, regions = graph.producers(), []

    def walk(value: str, rows: tuple[int, int], cols: tuple[int, int]) -> None:
        node = producers.get(value)
        if node is None or node.op is not Op.CONCAT or node.attrs["axis"] not in (2, 3):
            regions.append((rows, cols))
            return
        start = rows[0] if node.attrs["axis"] == 2 else cols[0]
        for part in node.inputs:
            size = graph.types[part].shape[node.attrs["axis"]]
            span = (start, start + size)
            walk(part, span, cols) if node.attrs["axis"] == 2 else walk(part, rows, span)
            start += size

    h, w = graph.types[split].shape[2:]
    walk(split, (0, h), (0, w))
    return regions


def assert_same_bytes(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), f"output {i}"


# --- tile_patches ------------------------------------------------------------------------------------------------

@settings(max_examples=150)
@given(patched_cases())
def test_patches_are_bit_exact_and_tiles_cover_the_split_value_once(case):
    graph, split, grid, inputs = case
    try:
        patched = verify(tile_patches(graph, split, grid))
    except PatchError as e:
        # A window whose every output row reads only padding (e.g. a kernel of 2 under a top padding of 2) leaves
        # no input rows to cut into tiles: refused by name, and never a candidate of choose_patches.
        assert "reads no input row at all" in str(e)
        reject()
    assert_same_bytes(run_graph(patched, inputs), run_graph(graph, inputs))
    h, w = graph.types[split].shape[2:]
    cover = np.zeros((h, w), np.int64)
    regions = tile_cover(patched, split)
    for (r0, r1), (c0, c1) in regions:
        cover[r0:r1, c0:c1] += 1
    assert len(regions) == grid[0] * grid[1] and (cover == 1).all()
    sizes = {r1 - r0 for (r0, r1), _ in regions}, {c1 - c0 for _, (c0, c1) in regions}
    assert all(max(s) - min(s) <= 1 for s in sizes)  # an even grid, also where it does not divide
    # Post: nothing outside the stage moved; the inputs, outputs and constants are the original ones.
    stage_outputs = set(graph.types) - set(patched.types) | {split}
    kept = [n for n in graph.nodes if n.output not in stage_outputs]
    assert [n for n in patched.nodes if n in set(kept)] == kept
    assert (patched.inputs, patched.outputs, set(patched.constants)) == (graph.inputs, graph.outputs,
                                                                         set(graph.constants))


@settings(max_examples=50)
@given(patched_cases())
def test_planned_patched_schedules_run_bit_exactly_on_the_arena(case):
    graph, split, grid, inputs = case
    schedule = schedule_graph(tile_patches(graph, split, grid), PATCHED_MEMORY)
    assert_same_bytes(run_schedule(schedule, inputs), run_graph(graph, inputs))


@settings(max_examples=40)
@given(patched_cases(), st.integers(0, 2**16))
def test_patches_of_int8_graphs_are_bit_exact(case, seed):
    graph, _, _, _ = case
    try:
        integer = run_pipeline(graph, PIPELINES["int8"], options=(QuantizeOptions(calibration_for(graph, 2, seed)),))
    except IntegerLoweringError:
        assume(False)  # an op with no integer form here (e.g. a padded AVG_POOL2D counting its padding)
    splits = split_points(integer)
    assume(splits)
    split = splits[seed % len(splits)]
    h, w = integer.types[split].shape[2:]
    grid = (1 + seed % min(h, 8), 1 + (seed // 8) % min(w, 8))
    x = np.random.default_rng(seed).integers(-128, 128, integer.types[integer.inputs[0]].shape).astype(np.int8)
    assert_same_bytes(run_graph(tile_patches(integer, split, grid), [x]), run_graph(integer, [x]))


def stem(seed: int = 0, size: int = 32) -> Graph:
    """The first blocks of a MobileNetV2 on a GraphBuilder graph (no torch capture): a stride-2 conv, a
    depthwise-separable block, an inverted residual block with a stride-2 depthwise, one with a residual ADD, then
    a 1x1 conv, MEAN and LINEAR."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("stem")

    def conv(x, out, k=1, stride=1, depthwise=False, act=True):
        c = b.types[x].shape[1]
        groups = c if depthwise else 1
        w = b.constant("w", rng.uniform(-0.5, 0.5, (out, c // groups, k, k)).astype(np.float32))
        bias = b.constant("b", rng.uniform(-0.1, 0.1, out).astype(np.float32))
        return b.op(Op.CONV2D, [x, w, bias], {"stride": (stride, stride), "padding": (k // 2,) * 4,
                                              "groups": groups, "activation": ("CLAMP", 0.0, 6.0) if act else None})

    x = b.input("x", TensorType((1, 3, size, size)))
    y = conv(conv(conv(x, 16, 3, 2), 16, 3, depthwise=True), 8, act=False)
    y = conv(conv(conv(y, 48), 48, 3, 2, depthwise=True), 16, act=False)
    y = b.op(Op.ADD, [y, conv(conv(conv(y, 96), 96, 3, depthwise=True), 16, act=False)])
    pooled = b.op(Op.MEAN, [conv(y, 128)], {"axes": (2, 3), "keepdim": False})
    b.output(b.op(Op.LINEAR, [pooled, b.constant("fc", rng.uniform(-1, 1, (10, 128)).astype(np.float32))]))
    return b.build()


def test_tile_patches_explains_bad_split_points_and_grids():
    graph = stem()
    splits = split_points(graph)
    assert splits and graph.outputs[0] not in splits
    head = [n.output for n in graph.nodes if n.op is Op.MEAN][0]
    with pytest.raises(PatchError, match=rf"%{head} is not a split point.*split points of stem: %"):
        tile_patches(graph, head, (2, 2))
    inner = graph.nodes[6].output  # inside the residual block: the block input is read by the ADD after it
    assert graph.nodes[6].op is Op.CONV2D and inner not in splits
    h = graph.types[splits[-1]].shape[2]
    with pytest.raises(PatchError, match=r"does not fit"):
        tile_patches(graph, splits[-1], (h + 1, 1))


# --- choose_patches ----------------------------------------------------------------------------------------------

def every_candidate(graph: Graph) -> list[tuple[str, tuple[int, int], int, int]]:
    """(split, grid, arena, recomputed MACs) of every candidate, planned the way the driver plans it."""
    ordered = reorder_nodes(graph)
    base_macs = Report.from_schedule(linearize(graph), "host").macs
    out = []
    for split in split_points(ordered):
        h, w = ordered.types[split].shape[2:]
        for grid in (g for g in GRIDS if g[0] <= h and g[1] <= w):
            schedule = schedule_graph(tile_patches(ordered, split, grid), PATCHED_MEMORY)
            out.append((split, grid, schedule.arena_bytes, Report.from_schedule(schedule, "host").macs - base_macs))
    return out


def test_choose_patches_returns_what_planning_every_candidate_would():
    graph = stem()
    unpatched = schedule_graph(graph).arena_bytes
    everything = every_candidate(graph)
    macs = Report.from_schedule(linearize(graph), "host").macs
    # Without a budget: the smallest arena within 10% recomputed MACs (ties: fewer MACs).
    within = [c for c in everything if c[3] <= 0.10 * macs]
    best = min(within, key=lambda c: (c[2], c[3]))
    plan = plan_patches(graph)
    assert best[2] < unpatched and (plan.arena_bytes, plan.recompute_macs) == (best[2], best[3])
    assert choose_patches(graph) == (plan.split, plan.grid)
    # With budgets: the fewest recomputed MACs that fit (ties: the smaller arena); the recompute figure is the
    # report's, to the MAC.
    for budget in sorted({c[2] for c in everything})[::3] + [unpatched]:
        fitting = [c for c in everything if c[2] <= budget]
        choice = choose_patches(graph, budget)
        if budget >= unpatched:
            assert choice is None
            continue
        plan = plan_patches(graph, budget)
        want = min(fitting, key=lambda c: (c[3], c[2]))
        assert choice == (plan.split, plan.grid) and (plan.recompute_macs, plan.arena_bytes) == (want[3], want[2])
    assert choose_patches(graph, min(c[2] for c in everything) - 1) is None


# --- the driver, the report, the plot -----------------------------------------------------------------------------

@needs_cc
def test_compile_patches_to_fit_a_budget_bit_exactly_in_c():
    graph = stem()
    plain = compile_graph(graph, patches=None)
    budget = (plain.report.arena_bytes + plan_patches(graph, None, max_recompute=1.0, features=C_MEMORY).arena_bytes) // 2
    cm = compile_graph(graph, memory_budget=budget)
    r = cm.report
    assert r.patches.startswith("split at %") and r.arena_bytes <= budget < r.unpatched_arena_bytes
    assert r.unpatched_arena_bytes == plain.report.arena_bytes and r.unpatched_macs == plain.report.macs
    assert r.recompute_macs == r.macs - plain.report.macs > 0
    assert [name for name, _ in r.unpatched_live] == [row.name for row in plain.report.rows]
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    assert_same_bytes(cm.run_numpy([x]), plain.run_numpy([x]))
    split = split_points(graph)[-1]
    forced = compile_graph(graph, patches=(split, (3, 2)))  # uneven: 6x6 tiles of 2 or 3 rows and 3 columns
    assert forced.report.patches == f"split at %{split}, 3x2 patches"
    assert_same_bytes(forced.run_numpy([x]), plain.run_numpy([x]))


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 1, 1), torch.nn.ReLU6(),
                                        torch.nn.Conv2d(16, 16, 3, 1, 1, groups=16), torch.nn.ReLU6(),
                                        torch.nn.Conv2d(16, 8, 1), torch.nn.MaxPool2d(2, ceil_mode=True),
                                        torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.stem(x).mean((2, 3)))


@needs_cc
def test_int8_compile_patches_bit_exactly_in_c():
    torch.manual_seed(0)
    model, x = TinyNet().eval(), torch.randn(1, 3, 31, 31)  # odd: the ceil_mode pool adds a window
    calibration = [torch.randn(1, 3, 31, 31) for _ in range(4)]
    plain = edgelower.compile(model, x, quantize="int8", calibration=calibration, patches=None)
    cm = edgelower.compile(model, x, quantize="int8", calibration=calibration,
                           memory_budget=plain.report.arena_bytes * 3 // 4)
    assert cm.report.patches and cm.report.arena_bytes < plain.report.arena_bytes
    q = np.random.default_rng(0).integers(-128, 128, (1, 3, 31, 31)).astype(np.int8)
    assert_same_bytes(cm.run_numpy([q]), plain.run_numpy([q]))


def test_a_budget_nothing_fits_names_the_best_patching_and_its_peak():
    graph = stem()
    best = plan_patches(graph, None, max_recompute=float("inf"), features=C_MEMORY)
    with pytest.raises(MemoryBudgetError) as info:
        compile_graph(graph, memory_budget=best.arena_bytes - 1)
    message = str(info.value)
    assert f"arena {best.arena_bytes:,} bytes" in message and f"%{best.split}, {best.grid[0]}x{best.grid[1]}" in message
    assert "peak at node" in message and "over by 1 bytes. Nothing was written." in message
    with pytest.raises(MemoryBudgetError, match=r"no stage of it can be patched"):
        b = GraphBuilder("mlp")
        v = b.input("x", TensorType((1, 64)))
        b.output(b.op(Op.LINEAR, [v, b.constant("w", np.ones((64, 64), np.float32))]))
        compile_graph(b.build(), memory_budget=64)


def test_the_cli_writes_nothing_when_patching_cannot_fit(tmp_path):
    factory = tmp_path / "tiny.py"
    factory.write_text("import torch\nfrom torch import nn\n\n\ndef tiny():\n    torch.manual_seed(0)\n"
                       "    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1))\n"
                       "    return model.eval(), (torch.randn(1, 3, 30, 30),)\n")
    out = tmp_path / "out"
    assert cli.main(["compile", f"{factory}:tiny", "--memory-budget", "2000", "-o", str(out)]) == 2
    assert not out.exists()


@needs_cc
def test_report_plot_draws_both_curves_of_a_patched_project(tmp_path):
    graph = stem()
    cm = compile_graph(graph, patches=(split_points(graph)[-1], (4, 4)))
    project = cm.save(tmp_path / "project")
    report = Report.from_dict(json.loads((project / "manifest.json").read_text())["report"])
    assert report == cm.report and report.unpatched_live == cm.report.unpatched_live
    png = tmp_path / "mem.png"
    assert cli.main(["report", str(project), "--plot", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    import builtins

    from edgelower.plot import plot_memory

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    report = Report.from_schedule(schedule_graph(stem()), "host")
    with pytest.raises(EdgelowerError, match=r"edgelower\[plot\]"):
        plot_memory(report, tmp_path / "mem.png")
    assert not (tmp_path / "mem.png").exists()


def test_aligned_steps_anchor_shared_nodes_and_spread_the_rest():
    from edgelower.plot import aligned_steps

    xs = aligned_steps(["a", "b", "c", "d"], ["t0", "t1", "t2", "t3", "t4", "t5", "c", "d"])
    assert xs[2:] == [6, 7] and -1 < xs[0] < xs[1] < 6
    assert list(itertools.pairwise(xs)) and all(a < b for a, b in itertools.pairwise(xs))
