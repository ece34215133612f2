"""Compile speed without a clock: the weights blob (layout, both link forms, saved projects), the compile cache
(hits skip render and build; every input of the key invalidates it; safe across processes) and the stage table.
Times are measured by bench/bench_compile.py, never asserted here; the rewrite driver's bound is in test_passes."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgelower import compile_cache
from edgelower.backends import BACKENDS
from edgelower.backends.c import render as c_render, weights
from edgelower.backends.protocol import EmitRequest
from edgelower.driver import compile_graph
from edgelower.ir.graph import DType, GraphBuilder, Op, TensorType
from edgelower.runtime import loader
from edgelower.stages import STAGES
from edgelower.targets import get_target

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """A cache of this module's own: hits and misses here are this module's."""


def dense(seed: int = 0, width: int = 5):
    """x -> linear -> relu -> linear (float32, int8 and bool-free): small, with constants of several sizes."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("dense")
    x = b.input("x", TensorType((2, 7)))
    h = b.op(Op.RELU, [b.op(Op.LINEAR, [x, b.constant("w1", rng.standard_normal((width, 7)).astype(np.float32)),
                                        b.constant("b1", rng.standard_normal(width).astype(np.float32))])])
    b.output(b.op(Op.LINEAR, [h, b.constant("w2", rng.standard_normal((3, width)).astype(np.float32))]))
    return b.build()


X = np.linspace(-1, 1, 14, dtype=np.float32).reshape(2, 7)


# --- the blob ------------------------------------------------------------------------------------------------------

DTYPES = [DType.FLOAT32, DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.BOOL]


@settings(max_examples=30)
@given(st.lists(st.tuples(st.sampled_from(DTYPES), st.integers(0, 9)), min_size=1, max_size=8), st.integers(0, 99))
def test_blob_places_every_constant_aligned_apart_and_exact(specs, seed):
    rng = np.random.default_rng(seed)
    constants = {f"k{i}": (rng.integers(0, 2, n).astype(bool) if d is DType.BOOL
                           else rng.integers(-100, 100, n).astype(d.numpy))
                 for i, (d, n) in enumerate(specs)}
    types = {name: TensorType(a.shape, DType.of(a.dtype)) for name, a in constants.items()}
    blob = weights.layout("m_weights", list(constants), {n: f"k_{n}" for n in constants}, types)
    data = weights.blob_bytes(blob, constants, types)
    assert len(data) == blob.size and blob.align % 4 == 0
    end = 0
    for slot in blob.slots:
        assert slot.offset % slot.align == 0 and slot.align >= types[slot.value].dtype.itemsize and slot.offset >= end
        end = slot.offset + slot.nbytes
        got = np.frombuffer(data[slot.offset:end], types[slot.value].dtype.numpy)
        np.testing.assert_array_equal(got, constants[slot.value])
    assert end == blob.size or (end == 0 and blob.size == 1)  # all empty: one byte, C has no empty struct
    # The C form spells exactly these bytes, in rows of weights.ROW and a tail.
    text = blob.files("c", data)["m_weights.c"]
    spelled = bytes.fromhex("".join(re.findall(r"\\x([0-9a-f]{2})", text)))
    assert spelled == data and all(len(line) < 4 * weights.ROW + 16 for line in text.splitlines())


def test_both_weight_forms_build_to_the_same_outputs():
    graph = dense()
    runs = {}
    for form in weights.FORMS:
        cm = compile_graph(graph, "host", weights=form)
        assert any(name.endswith({"incbin": ".S", "c": "_weights.c"}[form]) for name in cm.files)
        runs[form] = cm.run_numpy([X])
    np.testing.assert_array_equal(runs["incbin"][0], runs["c"][0])
    with pytest.raises(ValueError, match="weights='hex'; valid: None"):
        compile_graph(graph, "host", weights="hex")


def test_a_saved_project_with_c_weights_builds_with_its_makefile(tmp_path):
    cm = compile_graph(dense(), "host", weights="c")
    project = cm.save(tmp_path / "project")
    assert not list(project.glob("*.S")) and "model_weights.c" in (project / "Makefile").read_text()
    subprocess.run(["make", "-s", "-C", str(project)], check=True, capture_output=True, text=True)
    X.tofile(project / "in0.bin")
    subprocess.run([str(project / "model_run"), "in0.bin", "out0.bin"], cwd=project, check=True)
    np.testing.assert_array_equal(np.fromfile(project / "out0.bin", np.float32).reshape(2, 3), cm.run_numpy([X])[0])


# --- the compile cache ---------------------------------------------------------------------------------------------

def test_recompiling_an_unchanged_model_skips_render_and_build(monkeypatch):
    graph = dense(seed=1)
    first = compile_graph(graph, "host")
    assert not first.report.cached

    def refuse(*args, **kwargs):
        raise AssertionError("rendered or compiled again")

    monkeypatch.setattr(c_render, "render_c", refuse)
    monkeypatch.setattr(loader, "_compile", refuse)
    again = compile_graph(dense(seed=1), "host")
    assert again.report.cached and again.files == first.files
    np.testing.assert_array_equal(again.run_numpy([X])[0], first.run_numpy([X])[0])
    with pytest.raises(AssertionError, match="again"):  # one changed weight is a new model
        compile_graph(dense(seed=2), "host")


def key(graph, target="host", prefix="model", options=None):
    from edgelower.passes.plan_schedule import PlanOptions, plan_schedule

    backend = BACKENDS["c"]
    schedule = plan_schedule(graph, PlanOptions(backend.memory, None, None)).schedule
    return compile_cache.request_key(backend, EmitRequest(schedule.graph, schedule, get_target(target), prefix,
                                                          options))


def test_the_cache_key_covers_graph_options_target_and_edgelower(monkeypatch):
    from edgelower.backends.c.settings import COptions

    base = key(dense())
    changed = [key(dense(seed=3)), key(dense(width=6)), key(dense(), target="cortex-m4"), key(dense(), prefix="net"),
               key(dense(), options=COptions(weights="c"))]
    assert base == key(dense()) and len({base, *changed}) == 1 + len(changed)
    monkeypatch.setattr(compile_cache, "edgelower_digest", lambda: "another edgelower")
    assert key(dense()) != base


def test_the_cache_key_is_the_same_in_every_process():
    code = ("import sys; sys.path.insert(0, 'tests'); import test_compile_speed as t; "
            "print(t.key(t.dense(), target='cortex-m4'))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=os.path.dirname(os.path.dirname(__file__)),
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert keys == {key(dense(), target="cortex-m4")}


def test_a_lost_race_to_store_an_entry_is_harmless(tmp_path):
    cm = compile_graph(dense(seed=4), "host")
    folder = tmp_path / "emitted-x"
    for _ in range(2):  # the second store finds the folder there, as a concurrent process would
        compile_cache._store(folder, cm.artifact)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"] == sorted(cm.files) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- stages --------------------------------------------------------------------------------------------------------

def test_the_report_times_every_stage_and_round_trips(tmp_path):
    from edgelower.compiled import load

    cm = compile_graph(dense(seed=5), "host")
    assert [s for s, _ in cm.report.stage_seconds] == [s for s in STAGES if s != "capture"]
    assert all(seconds >= 0 for _, seconds in cm.report.stage_seconds)
    assert cm.report.compile_seconds >= sum(seconds for _, seconds in cm.report.stage_seconds) * 0.99
    text = str(cm.report)
    assert re.search(r"^render +\d+\.\d\d$", text, re.M) and re.search(r"^total +\d+\.\d\d$", text, re.M)
    assert load(cm.save(tmp_path / "p")).report == cm.report


def test_torch_compile_reuses_compilations_across_resets_and_shapes(monkeypatch):
    """torch.compile recompiles per input shape (dynamic=False) and after a reset: an unchanged graph renders and
    builds nothing again, and a new shape compiles only its own model files (the runtime's objects are cached)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU()).eval()
    x2, x3 = torch.randn(2, 7), torch.randn(3, 7)
    torch._dynamo.reset()
    first = torch.compile(model, backend="edgelower", dynamic=False)(x2)
    compiles = []
    real = loader._compile
    monkeypatch.setattr(loader, "_compile", lambda cmd, out, cwd: (compiles.append(out.name), real(cmd, out, cwd)))
    torch._dynamo.reset()
    again = torch.compile(model, backend="edgelower", dynamic=False)
    torch.testing.assert_close(again(x2), first, rtol=0, atol=0)
    assert compiles == []
    with torch.no_grad():
        torch.testing.assert_close(again(x3), model(x3), rtol=1e-5, atol=1e-6)
    assert compiles == ["libmodel.so"]  # the model for the new shape; no runtime object


def test_a_model_of_many_kernels_is_split_into_functions_and_still_exact():
    """Over STEPS_PER_FUNCTION kernels, invoke() calls parts of that many (gcc's build time is superlinear in one
    function's size); the split changes no result."""
    from edgelower.backends.c.render import STEPS_PER_FUNCTION
    from edgelower.interp import run_graph

    b = GraphBuilder("long")
    x = b.input("x", TensorType((3, 4)))
    for i in range(2 * STEPS_PER_FUNCTION + 10):
        x = b.op([Op.NEG, Op.RELU, Op.EXP, Op.TANH][i % 4], [x])
    b.output(x)
    graph = b.build()
    cm = compile_graph(graph, "host")
    assert "static int model_part_2(void)" in cm.files["model.c"] and len(cm.schedule.kernels) > 2 * STEPS_PER_FUNCTION
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(cm.run_numpy([x])[0], run_graph(graph, [x])[0], rtol=1e-5, atol=1e-6)
