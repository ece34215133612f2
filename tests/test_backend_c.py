"""The C backend and runtime against the reference interpreter: generated code is really built and really run.

Float results must agree within rtol 1e-5 and an absolute slack of 1e-5 * max(1, max|ref|): the runtime
accumulates in float32 in a fixed order, the interpreter rounds a float64 result once. Random multi-op graphs
compound that over up to a dozen ops and get 1e-4. Data movement is bit-exact.

Builds are cached by content in a per-session directory; each new model costs one `cc` run (~0.3 s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgelower.backends import BACKENDS
from edgelower.backends.c import kernels as c_kernels
from edgelower.backends.c.kernels_s8 import INT8_KERNELS
from edgelower.backends.c.render import render_c
from edgelower.errors import BuildError, ExecutionError
from edgelower.interp import run_graph
from edgelower.interp.primitives import PRIMITIVE_IMPLS
from edgelower.ir.graph import DType, Graph, GraphBuilder, Node, Op, QParams, TensorType
from edgelower.ir.ops import infer_types
from edgelower.passes.memory.plan_memory import plan_memory
from edgelower.quant.records import RequantQ
from edgelower.runtime import INCLUDE_DIR, SRC_DIR, loader
from edgelower.backends.artifact import IOSpec, write_files
from edgelower.runtime.loader import HostModel, build_executable, build_shared_library, run_executable
from edgelower.ir.schedule import Schedule, linearize

from families import Family
from strategies import FLOAT_OPS, graph_and_inputs, graphs, inputs_for

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


def plan(graph: Graph) -> Schedule:
    return plan_memory(linearize(graph))


def run_c(graph: Graph, inputs, sanitize: bool = False, prefix: str = "model",
          weights_form: str = "incbin") -> list[np.ndarray]:
    schedule = plan(graph)
    files = render_c(schedule, prefix, weights_form)
    spec = IOSpec.from_graph(schedule.graph, prefix)
    if sanitize:
        return run_executable(build_executable(files), spec, inputs)
    return HostModel(build_shared_library(files), spec).run(inputs)


def assert_matches(graph: Graph, inputs, got, rtol: float = 1e-5) -> None:
    ref = run_graph(graph, inputs)
    assert len(got) == len(ref)
    for name, g, r in zip(graph.outputs, got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype, name
        if r.dtype.kind != "f":
            np.testing.assert_array_equal(g, r, err_msg=f"output %{name}")
            continue
        scale = max(1.0, float(np.max(np.abs(r), initial=0.0, where=np.isfinite(r))))
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=f"output %{name}")


from families import FAMILIES, Family, family  # noqa: E402  (one fixed graph per kernel family)


def test_families_cover_every_op():
    """Every op but the primitive integer ones, which the C backend leaves to the fused int8 kernels (it renders
    the record form) and refuses by name; COMPARE and WHERE are also torch's float comparisons and selections, which
    it renders."""
    rendered = set(Op) - (set(PRIMITIVE_IMPLS) - {Op.COMPARE, Op.WHERE})
    assert {node.op for name in FAMILIES for node in family(name)[0].nodes} == rendered
    assert set(c_kernels.KERNELS) | set(INT8_KERNELS) == rendered
    b = GraphBuilder("primitive")
    x = b.input("x", TensorType((4,), DType.INT32))
    b.output(b.op(Op.SHIFT_LEFT, [x, x], hint="shifted"))
    with pytest.raises(BuildError, match=r"node shifted \(SHIFT_LEFT\)"):
        render_c(plan(b.build()))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_matches_interpreter_via_ctypes_and_under_sanitizers(name):
    graph, inputs = family(name)
    assert_matches(graph, inputs, run_c(graph, inputs))
    assert_matches(graph, inputs, run_c(graph, inputs, sanitize=True))


def test_non_finite_values_follow_the_interpreter():
    """inf and NaN in, as torch defines them: NaN wins max/min/pooling, overflow saturates, inf * 0 is NaN."""
    special = np.float32([-np.inf, -100, -20, -1e-30, -0.0, 0, 1e-30, 3, 20, 100, np.inf, np.nan])
    f = Family("special")
    x = f.b.input("x", TensorType(special.shape))
    for op in (Op.RELU, Op.HARDSWISH, Op.HARDSIGMOID, Op.SIGMOID, Op.TANH, Op.SILU, Op.EXP, Op.LOG, Op.SQRT,
               Op.RSQRT, Op.NEG, Op.ABS, Op.ERF):
        f.out(op, [x])
    for approximate in ("none", "tanh"):
        f.out(Op.GELU, [x], {"approximate": approximate})
    f.out(Op.CLAMP, [x], {"min": -1.0, "max": 1.0})
    f.out(Op.MAXIMUM, [x, f.b.op(Op.NEG, [x])])
    f.out(Op.MINIMUM, [f.b.op(Op.NEG, [x]), x])
    f.out(Op.REDUCE_MAX, [f.b.op(Op.RESHAPE, [x], {"shape": (3, 4)})], {"axes": (1,)})
    image = f.b.op(Op.RESHAPE, [x], {"shape": (1, 1, 3, 4)})
    f.out(Op.MAX_POOL2D, [image], {"kernel": (2, 2), "stride": (1, 1), "padding": (1, 1, 1, 1)})
    graph = f.b.build()
    assert_matches(graph, [special], run_c(graph, [special]))


def test_quantize_rounds_half_away_from_zero_exactly():
    """QUANTIZE rounds the float32 quotient as roundf does, in the interpreter and in C: the float32 just below 0.5
    goes to 0 (floorf(x + 0.5f) would round it to 1), halves go away from zero."""
    values = np.float32([np.nextafter(np.float32(0.5), np.float32(0)), 0.5, 1.5, 2.5, -0.5, -2.5, -1.4999999])
    values[-1] = -values[0]
    f = Family("rounding")
    f.out(Op.QUANTIZE, [f.b.input("x", TensorType(values.shape))], {"scale": 1.0, "zero_point": 0})
    graph = f.b.build()
    expected = np.int8([0, 1, 2, 3, -1, -3, 0])
    np.testing.assert_array_equal(run_graph(graph, [values])[0], expected)
    np.testing.assert_array_equal(run_c(graph, [values])[0], expected)


# Beyond the required -Wall -Wextra -Werror -pedantic: no hidden double math (slow on single-precision FPUs), no
# implicit narrowing, no casts that need more alignment than a target guarantees.
STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wdouble-promotion", "-Wconversion", "-Wshadow",
          "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wcast-align=strict", "-Wundef", "-Wvla", "-fsyntax-only")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the strict flag set is gcc's: apt-get install gcc")
def test_runtime_and_generated_code_pass_strict_warnings(tmp_path):
    files = [*SRC_DIR.glob("*.c")]
    for name in sorted(FAMILIES):
        for form in ("incbin", "c"):
            folder = tmp_path / f"{name}-{form}"
            folder.mkdir()
            write_files(folder, render_c(plan(family(name)[0]), weights_form=form))
            files += [folder / file for file in sorted(os.listdir(folder)) if file.endswith(".c")]
    for file in files:
        proc = subprocess.run(["gcc", *STRICT, f"-I{INCLUDE_DIR}", f"-I{file.parent}", str(file)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{file}:\n{proc.stderr}"


# --- random graphs -----------------------------------------------------------------------------------------------

def merge(parts: list[Graph]) -> Graph:
    """Independent graphs side by side in one graph (names prefixed g<i>_), so one build tests them all."""
    inputs, outputs, nodes, types, constants = [], [], [], {}, {}
    for i, g in enumerate(parts):
        def rename(n: str, i=i) -> str:
            return f"g{i}_{n}"
        inputs += map(rename, g.inputs)
        outputs += map(rename, g.outputs)
        nodes += [replace(n, inputs=tuple(map(rename, n.inputs)), outputs=tuple(map(rename, n.outputs)),
                          name=rename(n.name)) for n in g.nodes]
        types.update({rename(k): t for k, t in g.types.items()})
        constants.update({rename(k): v for k, v in g.constants.items()})
    return Graph(tuple(inputs), tuple(outputs), tuple(nodes), types, constants, "merged")


@settings(max_examples=6)
@given(st.data())
def test_every_op_with_random_attributes(data):
    graph = merge([data.draw(graphs(ops={op}, max_nodes=2, max_inputs=1, max_outputs=2), label=op.name)
                   for op in sorted(FLOAT_OPS, key=lambda o: o.value)])
    inputs = data.draw(inputs_for(graph))
    assert_matches(graph, inputs, run_c(graph, inputs))


@settings(max_examples=15)
@given(graph_and_inputs(max_nodes=12, max_inputs=2, max_outputs=3))
def test_random_graphs_with_reused_arena_bytes(case):
    graph, inputs = case
    assert_matches(graph, inputs, run_c(graph, inputs), rtol=1e-4)


# --- the generated text --------------------------------------------------------------------------------------------

def small_graph(source: str = "") -> Graph:
    f = Family("small")
    x = f.input((1, 2, 5, 5))
    y = f.b.op(Op.CONV2D, [x, f.const((3, 2, 3, 3)), f.const((3,))], {"padding": (1, 1, 1, 1)}, source=source)
    f.out(Op.SOFTMAX, [f.b.op(Op.RESHAPE, [y], {"shape": (1, 75)})], {"axis": 1})
    f.b.output(y)
    return f.b.build()


def test_rendering_is_deterministic_across_runs_and_hash_seeds():
    first = render_c(plan(small_graph()))
    assert render_c(plan(small_graph())) == first
    code = ("import json, sys; sys.path.insert(0, 'tests'); import test_backend_c as t; "
            "print(json.dumps({k: v.hex() if isinstance(v, bytes) else v "
            "for k, v in t.render_c(t.plan(t.small_graph())).items()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)), env={**os.environ, "PYTHONHASHSEED": "7"})
    assert json.loads(out.stdout) == {k: v.hex() if isinstance(v, bytes) else v for k, v in first.items()}


def test_every_call_is_commented_with_its_node_and_source_line():
    graph = small_graph(source="net.py:12: y = self.conv(x) */ /* ??/")
    text = render_c(plan(graph))["model.c"]
    for node in graph.nodes:
        assert f"/* {node.op.name.lower()}: %{node.name} ({node.op.name})" in text
    assert "at net.py:12: y = self.conv(x) * / / * ? ?/ */" in text
    assert BACKENDS["c"].name == "c" and BACKENDS["c"].consumes == "schedule"


def test_identifiers_from_weird_names_are_sanitized_and_still_build():
    x_t, w = TensorType((2, 3)), np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    names = {"x": "a-b", "w": "0.weight", "y": "int", "z": "main"}
    y_t, = infer_types(Op.LINEAR, [x_t, TensorType((4, 3))], {})
    nodes = (Node(Op.LINEAR, (names["x"], names["w"]), (names["y"],), name="layer/0*/"),
             Node(Op.RELU, (names["y"],), (names["z"],)))
    graph = Graph((names["x"],), (names["z"], names["y"]), nodes,
                  {names["x"]: x_t, names["w"]: TensorType((4, 3)), names["y"]: y_t, names["z"]: y_t},
                  {names["w"]: w}, "weird graph")
    files = render_c(plan(graph), prefix="my-net")
    assert set(files) == {"my_net.h", "my_net.c", "main.c", "my_net_weights.S", "my_net_weights.bin"}
    code = re.sub(r"/\*.*?\*/", "", files["my_net.c"], flags=re.S)
    for raw in ("a-b", "0.weight", "layer/0"):
        assert raw not in code
    assert re.search(r"#define k_0_weight \(\(const float \*\)", code) and "t_int" in code and "t_main" in code
    assert ".size k_0_weight, 48" in files["my_net_weights.S"]
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    assert_matches(graph, [x], run_c(graph, [x], prefix="my-net"))


def test_outputs_may_be_inputs_or_constants():
    b = GraphBuilder("passthrough")
    x = b.input("x", TensorType((2, 3)))
    k = b.constant("k", np.float32([1.5, -2.0]))
    b.output(x)
    b.output(k)
    b.output(b.op(Op.NEG, [x]))
    graph, inputs = b.build(), [np.arange(6, dtype=np.float32).reshape(2, 3)]
    for sanitize in (False, True):
        assert_matches(graph, inputs, run_c(graph, inputs, sanitize=sanitize))


@pytest.mark.parametrize("weights_form", ["incbin", "c"])
def test_float_constants_are_bit_exact_in_flash(weights_form):
    bits = np.random.default_rng(3).integers(0, 2**32, 600, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = np.concatenate([values[np.isfinite(values)], np.float32([-0.0, 1e-45, -3.4028235e38, 1.1754942e-38])])
    b = GraphBuilder("constants")
    x = b.input("x", TensorType((1,)))
    k = b.constant("k", values)
    b.output(b.op(Op.RESHAPE, [k], {"shape": values.shape}))
    b.output(b.op(Op.RELU, [x]))
    for sanitize in (False, True):
        (out, _) = run_c(b.build(), [np.ones(1, np.float32)], sanitize=sanitize, weights_form=weights_form)
        assert out.view(np.uint32).tolist() == values.view(np.uint32).tolist()


def test_arena_symbol_is_exactly_arena_bytes():
    if shutil.which("nm") is None:
        pytest.skip("needs nm: apt-get install binutils")
    b = GraphBuilder("odd")
    x = b.input("x", TensorType((3, 5)))
    b.output(b.op(Op.SUM, [b.op(Op.EXP, [x])], {"axes": (1,)}))
    schedule = plan(b.build())
    assert schedule.arena_bytes % 16, "want an arena size the alignment would round up"
    lib = build_shared_library(render_c(schedule))
    table = subprocess.run(["nm", "-S", str(lib)], capture_output=True, text=True, check=True).stdout
    (size,) = [int(line.split()[1], 16) for line in table.splitlines() if line.endswith(" model_arena")]
    assert size == schedule.arena_bytes


def test_header_publishes_sizes_and_quantization():
    b = GraphBuilder("q")
    x = b.input("x", TensorType((2, 4), DType.INT8, QParams((0.05,), (-3,))))
    b.output(b.op(Op.RESHAPE, [x], {"shape": (8,)}))
    header = render_c(plan(b.build()), prefix="q")["q.h"]
    for line in ("#define Q_ARENA_BYTES ", "#define Q_NUM_INPUTS 1", "#define Q_INPUT_0_BYTES 8",
                 "#define Q_OUTPUT_0_BYTES 8", "#define Q_INPUT_0_SCALE 0.05f", "#define Q_INPUT_0_ZERO_POINT -3",
                 "int q_invoke(void);", "void *q_input(int i);", "void *q_output(int i);"):
        assert line in header


# --- errors --------------------------------------------------------------------------------------------------------

def test_float_only_kernel_on_int8_is_a_clear_error():
    b = GraphBuilder("int8")
    x = b.input("x", TensorType((4,), DType.INT8))
    b.output(b.op(Op.RELU, [x], hint="act"))
    with pytest.raises(BuildError, match=r"node act \(RELU\).*only float32 kernels.*int8"):
        render_c(plan(b.build()))


def test_op_without_kernel_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(c_kernels.KERNELS, Op.SOFTMAX)
    with pytest.raises(BuildError, match=r"\(SOFTMAX\): no C kernel for this op"):
        render_c(plan(small_graph()))


def test_iteration_space_beyond_the_runtime_is_a_clear_error():
    b = GraphBuilder("deep")
    x = b.input("x", TensorType((2,) * 7))
    b.output(b.op(Op.PERMUTE, [x], {"perm": (6, 5, 4, 3, 2, 1, 0)}, hint="flip"))
    with pytest.raises(BuildError, match=r"node flip \(PERMUTE\): needs a 7-d iteration space"):
        render_c(plan(b.build()))


def test_unplanned_schedule_is_rejected():
    with pytest.raises(BuildError, match="plan_memory"):
        render_c(linearize(small_graph()))


def test_bad_gather_index_fails_the_run_without_touching_memory():
    b = GraphBuilder("gather")
    table, idx = b.input("t", TensorType((3, 2))), b.input("i", TensorType((2,), DType.INT64))
    b.output(b.op(Op.GATHER, [table, idx]))
    inputs = [np.zeros((3, 2), np.float32), np.array([1, 3], np.int64)]
    with pytest.raises(ExecutionError, match="invoke returned 1"):
        run_c(b.build(), inputs)
    with pytest.raises(ExecutionError, match="status 3"):
        run_c(b.build(), inputs, sanitize=True)


def test_compiler_errors_carry_the_compiler_output():
    with pytest.raises(BuildError, match=r"C build failed(.|\n)*error"):
        build_shared_library({"model.c": "int broken = ;\n"})


def test_builds_are_cached_by_content(monkeypatch):
    files = render_c(plan(small_graph()))
    path = build_shared_library(files)

    def no_compile(*args, **kwargs):
        raise AssertionError("a cached build compiled again")

    monkeypatch.setattr(loader, "_compile", no_compile)
    assert build_shared_library(dict(files)) == path
    with pytest.raises(AssertionError, match="compiled again"):
        build_shared_library({**files, "model.c": files["model.c"] + "\n"})
