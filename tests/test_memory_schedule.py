"""The memory half of compilation on whole graphs: reorder_nodes, alias_buffers, plan_memory, and the Report.

On random graphs (raw, and after the float pipeline): the planned schedule never lets a kernel write bytes that a
live buffer still needs (checked here from first principles: two buffers live at once share bytes only as a view
of one another or as an in-place write over an input that dies there), the arena covers the live-set bound, and
the planned schedule run on the simulated arena (views run nothing, scratch is clobbered) equals run_graph bit for
bit. reorder_nodes is a topological permutation, never raises the peak, its cost model is exactly the schedule's
peak, and on small graphs it finds the best order of all.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgelower.backends.c.memory import C_MEMORY
from edgelower.interp import run_graph, run_schedule
from edgelower.ir.graph import Graph, GraphBuilder, Op, TensorType
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.memory.alias_buffers import alias_buffers
from edgelower.passes.memory.plan_memory import greedy_by_size
from edgelower.passes.memory.reorder_nodes import PeakModel, best_order, reorder_nodes
from edgelower.passes.memory.features import NO_SHARING
from edgelower.passes.memory.schedule_graph import MemoryOptions, schedule_graph
from edgelower.report import Report
from edgelower.ir.schedule import BufferKind, Schedule, linearize
from edgelower.ir.verifier import verify

from strategies import graph_and_inputs


def assert_plan_is_safe(schedule: Schedule) -> None:
    """Every pair of buffers live at one step that share a byte is justified by the kernel that made the later one:
    a view (no code) whose bytes lie inside its input's, or an in-place kernel that writes exactly the bytes of an
    input it reads for the last time."""
    kernels, arena = schedule.kernels, schedule.buffers
    bufs = schedule.arena_buffers()
    for b in bufs:
        assert 0 <= b.offset and b.offset + b.nbytes <= schedule.arena_bytes, b
        assert b.offset % b.type.dtype.itemsize == 0 and (b.alias is not None or b.offset % schedule.alignment == 0), b
    for a, b in itertools.combinations(bufs, 2):
        if not a.overlaps_in_time(b) or a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset:
            continue
        early, late = sorted((a, b), key=lambda u: (u.first, u.name not in kernels[u.first].node.inputs
                                                    if u.first >= 0 else 0))
        step = late.first
        assert step >= 0 and late.name in kernels[step].node.outputs, (early, late)
        kernel = kernels[step]
        if kernel.view:
            x = arena[kernel.node.inputs[0]]
            assert x.offset <= late.offset and late.offset + late.nbytes <= x.offset + x.nbytes, (x, late)
        else:
            rule = C_MEMORY.in_place.get(kernel.node.op)
            assert rule is not None and (rule.scratch(kernel.node, schedule.graph.types) is None) != bool(kernel.scratch)
            assert early.last == step and early.name in kernel.node.inputs, (early, late)
            assert (early.offset, early.nbytes) == (late.offset, late.nbytes), (early, late)
    for kernel in schedule.kernels:
        for name in kernel.scratch:
            assert arena[name].kind is BufferKind.SCRATCH and arena[name].first == arena[name].last


def storage_peak(schedule: Schedule) -> int:
    """Live bytes at the worst step, each storage (a root with its aliases) counted once over its whole span."""
    spans: dict[str, list[int]] = {}
    for b in schedule.arena_buffers():
        span = spans.setdefault(b.alias or b.name, [b.first, b.last])
        span[0], span[1] = min(span[0], b.first), max(span[1], b.last)
    return max((sum(schedule.buffers[r].nbytes for r, (f, l) in spans.items() if f <= s <= l)
                for s in range(-1, len(schedule.kernels) + 1)), default=0)


def assert_runs_bit_exactly(schedule: Schedule, graph: Graph, inputs) -> None:
    for name, got, want in zip(graph.outputs, run_schedule(schedule, inputs), run_graph(graph, inputs)):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), f"output %{name}"


@settings(max_examples=60)
@given(graph_and_inputs(max_nodes=14), st.booleans())
def test_planned_random_graphs_are_safe_and_bit_exact(case, after_pipeline):
    graph, inputs = case
    if after_pipeline:
        graph = run_pipeline(graph, PIPELINES["float"])
    schedule = schedule_graph(graph, verify=True)
    assert_plan_is_safe(schedule)
    report = Report.from_schedule(schedule, "host")
    assert report.peak_bytes == storage_peak(schedule) <= schedule.arena_bytes == report.arena_bytes
    peak_rows = [r for r in report.rows if r.name == report.peak_op]
    assert all(r.live_bytes <= report.peak_bytes for r in report.rows)
    assert [r.live_bytes for r in peak_rows] == ([report.peak_bytes] if report.peak_op else [])
    assert_runs_bit_exactly(schedule, schedule.graph, inputs)
    assert_runs_bit_exactly(schedule, graph, inputs)  # the reordered graph computes what the original did
    baseline = schedule_graph(graph, MemoryOptions(reorder=False, features=NO_SHARING, planner=greedy_by_size))
    assert schedule.peak_bytes <= baseline.peak_bytes


@settings(max_examples=60)
@given(graph_and_inputs(max_nodes=14))
def test_reorder_is_a_topological_permutation_and_its_model_is_the_schedule_peak(case):
    graph, inputs = case
    reordered = verify(reorder_nodes(graph), after="reorder_nodes")
    assert sorted(map(id, reordered.nodes)) == sorted(map(id, graph.nodes))
    assert (reordered.inputs, reordered.outputs, reordered.types) == (graph.inputs, graph.outputs, graph.types)
    for g in (graph, reordered):
        assert PeakModel(g, MemoryOptions().features).peak(list(range(len(g.nodes)))) == \
            alias_buffers(linearize(g)).peak_bytes
    assert alias_buffers(linearize(reordered)).peak_bytes <= alias_buffers(linearize(graph)).peak_bytes
    for want, got in zip(run_graph(graph, inputs), run_graph(reordered, inputs)):
        assert got.tobytes() == want.tobytes()


def topological_orders(graph: Graph):
    producers = {o: i for i, n in enumerate(graph.nodes) for o in n.outputs}
    preds = [{producers[v] for v in n.inputs if v in producers} for n in graph.nodes]

    def extend(order, done):
        if len(order) == len(preds):
            yield list(order)
        for v in range(len(preds)):
            if v not in done and preds[v] <= done:
                yield from extend(order + [v], done | {v})
    yield from extend([], frozenset())


@settings(max_examples=40)
@given(graph_and_inputs(max_nodes=7, max_inputs=2, max_outputs=3))
def test_reorder_search_finds_the_best_order_of_small_graphs(case):
    graph, _ = case
    model = PeakModel(graph, MemoryOptions().features)
    _, found = best_order(model, len(graph.nodes), max_states=10**6)
    assert found == min(model.peak(order) for order in topological_orders(graph))


def branches(interleaved: bool = True) -> Graph:
    """Two towers from one input into a concat, each a big intermediate then a small result; built in the
    interleaved order a tracer might give."""
    b = GraphBuilder("towers")
    x = b.input("x", TensorType((1, 4, 8, 8)))
    w_up = b.constant("w_up", np.full((32, 4, 1, 1), 0.125, np.float32))
    w_down = b.constant("w_down", np.full((2, 32, 1, 1), 0.125, np.float32))
    ups = [b.op(Op.CONV2D, [x, w_up], hint=f"up{i}") for i in range(2)] if interleaved else []
    downs = []
    for i in range(2):
        up = ups[i] if interleaved else b.op(Op.CONV2D, [x, w_up], hint=f"up{i}")
        downs.append(b.op(Op.CONV2D, [up, w_down], hint=f"down{i}"))
    b.output(b.op(Op.CONCAT, downs, {"axis": 1}, hint="cat"))
    return b.build()


def test_reorder_runs_one_tower_at_a_time():
    graph = branches()
    reordered = reorder_nodes(graph)
    assert [n.name for n in reordered.nodes] == ["up0", "down0", "up1", "down1", "cat"]
    before, after = (alias_buffers(linearize(g)).peak_bytes for g in (graph, reordered))
    x, up, down = 4 * 64 * 4, 32 * 64 * 4, 2 * 64 * 4
    assert (before, after) == (x + 2 * up, x + up + down)
    assert reorder_nodes(branches(interleaved=False)).nodes == branches(interleaved=False).nodes


def views_and_in_place() -> Graph:
    b = GraphBuilder("alias")
    x = b.input("x", TensorType((1, 4, 6, 6)))
    w = b.constant("w", np.random.default_rng(0).uniform(-1, 1, (4, 1, 3, 3)).astype(np.float32))
    dw = b.op(Op.CONV2D, [x, w], {"padding": (1, 1, 1, 1), "groups": 4, "activation": ("CLAMP", 0.0, 6.0)},
              hint="dw")
    act = b.op(Op.SIGMOID, [dw], hint="act")
    res = b.op(Op.ADD, [act, x], hint="res")
    flat = b.op(Op.RESHAPE, [res], {"shape": (4, 36)}, hint="flat")
    row = b.op(Op.SLICE, [flat], {"axis": 0, "start": 2, "end": 3}, hint="row")
    b.output(b.op(Op.NEG, [row], hint="out"))
    b.output(res)
    return b.build()


def test_views_alias_and_dying_inputs_are_overwritten():
    graph = views_and_in_place()
    schedule = alias_buffers(linearize(graph))
    roots = {n: (b.alias, b.alias_offset) for n, b in schedule.buffers.items() if b.kind is not BufferKind.CONSTANT}
    # dw cannot overwrite x (the residual reads it later); act overwrites dw; res overwrites act; flat and row are
    # views of res (row at 2 rows of 36 floats in); out cannot overwrite row, which is not its storage's start.
    assert roots == {"x": (None, 0), "dw": (None, 0), "act": ("dw", 0), "res": ("dw", 0), "flat": ("dw", 0),
                     "row": ("dw", 288), "out": (None, 0)}
    assert [k.view for k in schedule.kernels] == [False, False, False, True, True, False]
    planned = schedule_graph(graph)
    assert_plan_is_safe(planned)
    x = np.random.default_rng(1).uniform(-4, 4, (1, 4, 6, 6)).astype(np.float32)
    assert_runs_bit_exactly(planned, graph, [x])


def test_depthwise_runs_in_place_with_a_one_plane_scratch():
    b = GraphBuilder("dw")
    x = b.input("x", TensorType((2, 3, 5, 5)))
    e = b.op(Op.EXP, [x], hint="e")
    w = b.constant("w", np.random.default_rng(0).uniform(-1, 1, (3, 1, 3, 3)).astype(np.float32))
    b.output(b.op(Op.CONV2D, [e, w], {"padding": (1, 1, 1, 1), "groups": 3}, hint="y"))
    graph = b.build()
    schedule = schedule_graph(graph, MemoryOptions(features=C_MEMORY))
    (kernel,) = [k for k in schedule.kernels if k.scratch]
    scratch = schedule.buffers[kernel.scratch[0]]
    assert schedule.buffers["y"].alias == schedule.root("e").name and scratch.type.shape == (25,)
    plane, planes = 25 * 4, 2 * 3 * 25 * 4  # the scratch goes above e's 600 bytes, aligned to 608
    assert (schedule.peak_bytes, schedule.arena_bytes) == (planes + plane, 608 + plane)
    assert_plan_is_safe(schedule)
    assert_runs_bit_exactly(schedule, graph, [np.random.default_rng(2).standard_normal((2, 3, 5, 5),
                                                                                       np.float32)])


def test_a_scratch_placed_over_live_bytes_changes_the_result():
    """The interpreter clobbers scratch before the kernel runs: a plan that overlaps it with the input shows."""
    b = GraphBuilder("dw")
    x = b.input("x", TensorType((1, 2, 4, 4)))
    w = b.constant("w", np.ones((2, 1, 3, 3), np.float32))
    b.output(b.op(Op.CONV2D, [b.op(Op.NEG, [x]), w], {"padding": (1, 1, 1, 1), "groups": 2}))
    graph = b.build()
    schedule = schedule_graph(graph, MemoryOptions(features=C_MEMORY))
    (name,) = [s for k in schedule.kernels for s in k.scratch]
    bad = schedule.replace(buffers={**schedule.buffers, name: schedule.buffers[name].__class__(
        **{**schedule.buffers[name].__dict__, "offset": schedule.buffers["neg"].offset})})
    data = [np.ones((1, 2, 4, 4), np.float32)]
    with pytest.raises(AssertionError):
        assert_runs_bit_exactly(bad, graph, data)
    assert_runs_bit_exactly(schedule, graph, data)


def test_aliases_off_gives_a_plain_schedule():
    schedule = schedule_graph(views_and_in_place(), MemoryOptions(features=NO_SHARING))
    assert all(b.alias is None for b in schedule.buffers.values()) and not any(k.view for k in schedule.kernels)


def test_report_names_the_peak_exactly():
    graph = branches()
    schedule = schedule_graph(graph, MemoryOptions(reorder=False, features=NO_SHARING))
    report = Report.from_schedule(schedule, "host")
    x, up = 4 * 64 * 4, 32 * 64 * 4
    assert (report.peak_bytes, report.peak_op, report.peak_text) == (x + 2 * up, "up1", "node up1 (CONV2D)")
    assert report.arena_bytes == x + 2 * up
    assert ("peak_op", "node up1 (CONV2D)") in report.summary()
    assert Report.from_dict(report.to_dict()) == report
