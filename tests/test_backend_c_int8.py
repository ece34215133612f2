"""The int8 C kernels against the integer interpreter: generated code really built and run, compared byte for byte.

Every test builds integer graphs directly (q records from `edgelower.quant.records`, or raw at the edges of their ranges:
tests/strategies_s8.py), renders them with the C backend, builds and runs them through ctypes (or as sanitizer
executables) and asserts the output bytes equal `run_graph`'s. One graph holds several ops, so one build tests them
all; each build costs one `cc` run of the generated file (the runtime's objects are built once per module).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelower.backends.c import kernels_s8 as c_kernels_s8
from edgelower.backends.c.render import render_c
from edgelower.errors import BuildError
from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.passes.fuse import fuse
from edgelower.passes.memory.schedule_graph import schedule_graph
from edgelower.quant.records import ConvQ, RequantQ
from edgelower.runtime import INCLUDE_DIR, RUNTIME_DIR, SRC_DIR
from edgelower.backends.artifact import IOSpec, write_files
from edgelower.runtime.loader import HostModel, build_executable, build_shared_library, run_executable
from edgelower.ir.verifier import verify
from c_plan import C_PLAN

from strategies_s8 import EDGE_GRAPHS, FAMILIES, INT32_MAX, Int8Graph, count, int8_graphs
from test_backend_c import STRICT

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")

# Each example is one build of a graph of some 40 nodes: a few dozen cover every kernel many times over.
EXAMPLES = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


def render(graph: Graph) -> tuple[dict[str, str], IOSpec]:
    """Scheduled as the driver does (passes/memory/schedule_graph.py): views and in-place kernels share arena bytes."""
    schedule = schedule_graph(graph, C_PLAN)
    return render_c(schedule), IOSpec.from_graph(schedule.graph)


def run_c(graph: Graph, inputs, sanitize: bool = False) -> list[np.ndarray]:
    files, spec = render(graph)
    if sanitize:
        return run_executable(build_executable(files), spec, inputs)
    return HostModel(build_shared_library(files), spec).run(inputs)


def assert_bytes_equal(graph: Graph, got, expected) -> None:
    assert len(got) == len(expected)
    for name, g, e in zip(graph.outputs, got, expected):
        assert (g.dtype, g.shape) == (e.dtype, e.shape), name
        diff = np.flatnonzero(g.reshape(-1) != e.reshape(-1))
        assert diff.size == 0, (f"output %{name}: {diff.size} of {e.size} values differ, first at {diff[0]}: "
                                f"C {g.reshape(-1)[diff[0]]}, interpreter {e.reshape(-1)[diff[0]]}")


def assert_matches_interpreter(graph: Graph, inputs, **kw) -> None:
    assert_bytes_equal(graph, run_c(graph, inputs, **kw), run_graph(graph, inputs))


def calls(graph: Graph) -> list[str]:
    """The runtime functions the generated model calls, in order."""
    return re.findall(r"^    (el_\w+)\(", render(graph)[0]["model.c"], re.M)


# --- every kernel family on random shapes and records --------------------------------------------------------------

@EXAMPLES
@given(int8_graphs())
def test_every_int8_kernel_equals_the_interpreter_byte_for_byte(case):
    graph, inputs = case
    assert_matches_interpreter(graph, inputs)


@EXAMPLES
@given(int8_graphs(("conv", "dense")))
def test_fused_requantization_equals_conv_then_requantize(case):
    """fuse moves each REQUANTIZE into its accumulator's record; the fused kernels give the unfused bytes, and the
    int32 accumulators that only fed a REQUANTIZE are no longer tensors at all."""
    graph, inputs = case
    fused = fuse(graph)
    verify(fused)
    fusable = [n for n in graph.nodes if n.op is Op.REQUANTIZE and n.inputs[0] not in graph.outputs]
    assert count(fused, Op.REQUANTIZE) == count(graph, Op.REQUANTIZE) - len(fusable)
    int32_values = {n.output for n in fused.nodes if fused.types[n.output].dtype is DType.INT32}
    assert int32_values <= set(fused.outputs)
    assert_bytes_equal(fused, run_c(fused, inputs), run_graph(graph, inputs))


@EXAMPLES
@given(int8_graphs(("conv",)))
def test_pointwise_and_depthwise_kernels_equal_the_generic_one(case):
    graph, inputs = case
    depthwise = any(n.attrs["groups"] == graph.types[n.inputs[0]].shape[1] > 1 for n in graph.nodes
                    if n.op is Op.CONV2D)
    for g in (graph, fuse(graph)):
        rendered = calls(g)
        assert any(fn.startswith("el_conv2d_1x1_s8") for fn in rendered)
        assert any(fn.startswith("el_depthwise_conv2d") for fn in rendered) == depthwise
        specialized = run_c(g, inputs)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(c_kernels_s8, "SPECIALIZE", False)
            generic_calls = calls(g)
            generic = run_c(g, inputs)
        # an in-place depthwise layer keeps its own kernel (it runs the depthwise one plane by plane)
        assert not any(fn.startswith(("el_conv2d_1x1", "el_depthwise_conv2d_s8")) for fn in generic_calls)
        assert_bytes_equal(g, specialized, generic)
        assert_bytes_equal(g, specialized, run_graph(graph, inputs))


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=1, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_family_under_address_and_undefined_behaviour_sanitizers(family, data):
    graph, inputs = data.draw(int8_graphs((family,)))
    assert_matches_interpreter(graph, inputs, sanitize=True)
    if family in ("conv", "dense"):
        fused = fuse(graph)
        assert_bytes_equal(fused, run_c(fused, inputs, sanitize=True), run_graph(graph, inputs))


# --- the edges of the fixed-point arithmetic -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EDGE_GRAPHS))
def test_edges_of_the_fixed_point_arithmetic(name):
    """strategies_s8.EDGE_GRAPHS: requantization at every pairing of limit multipliers and shifts, int32
    accumulators that wrap past INT32_MIN / INT32_MAX (the kernels wrap exactly as the interpreter's int64 sum
    wrapped once, the fused form included), ADD / SUB / MUL with limit multipliers and shifts."""
    graph, inputs = EDGE_GRAPHS[name]()
    assert_matches_interpreter(graph, inputs)
    if name == "wrapping_accumulators":
        assert_bytes_equal(graph, run_c(fuse(graph), inputs), run_graph(graph, inputs))


# --- the generated text ---------------------------------------------------------------------------------------------

def conv_graph() -> tuple[Graph, list[np.ndarray]]:
    g = Int8Graph(GraphBuilder("conv"), np.random.default_rng(5))
    x = g.input((1, 3, 6, 6), zero_point=-4)
    bias = g.b.constant("b", np.array([-(2 ** 31), -1, 7, INT32_MAX], np.int32))
    acc = g.op(Op.CONV2D, [x, g.weights((4, 3, 3, 3)), bias], {"padding": (1, 1, 1, 1), "q": ConvQ(4)})
    rq = RequantQ((INT32_MAX, 1 << 30, 1, 0), (-31, 30, 0, 5), -128, 0, -128, 100, axis=1)
    y = g.b.op(Op.REQUANTIZE, [acc], {"q": rq})
    g.b.types[y] = TensorType(g.b.types[y].shape, DType.INT8, QParams((0.25,), (-128,)))
    g.b.output(y)
    return g.b.build(), g.inputs


def test_integer_constants_are_exact_bytes_and_records_static_structs():
    graph, _ = conv_graph()
    files = render(fuse(graph))[0]
    text = files["model.c"]
    # Constants are bytes in the weights blob, at the offset their pointer macro names: exact, INT32_MIN included.
    offset = int(re.search(r"#define k_b \(\(const int32_t \*\)\(const void \*\)\(MODEL_WEIGHTS \+ (\d+)\)\)",
                           text)[1])
    blob = np.frombuffer(files["model_weights.bin"], np.uint8)
    assert blob[offset:offset + 16].view("<i4").tolist() == [-(2 ** 31), -1, 7, 2 ** 31 - 1]
    assert re.search(r"static const int32_t mult_\w+\[4\] = \{2147483647, 1073741824, 1, 0\};", text)
    assert re.search(r"static const int32_t shift_\w+\[4\] = \{-31, 30, 0, 5\};", text)
    # Any line breaks: where the writer wraps depends on the lengths of the (model-derived) identifiers.
    assert re.search(r"static const el_requant \w+ = \{\s*\.per_channel = 1,\s*\.multiplier = mult_\w+,\s*"
                     r"\.shift = shift_\w+,\s*\.input_offset = 0,\s*\.output_offset = -128,\s*\.act_min = -128,\s*"
                     r"\.act_max = 100\s*\};", text)
    assert "static const el_dot_q" in text and "el_conv2d_s8(" in text and "el_conv2d_s8_s32" not in text
    assert not re.search(r"\bfloat\b|\d\.\d", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def test_rendering_is_deterministic():
    graph, _ = conv_graph()
    assert render(graph)[0] == render(conv_graph()[0])[0]


def test_header_publishes_int8_interface_quantization():
    graph, _ = conv_graph()
    header = render(graph)[0]["model.h"]
    for line in ("#define MODEL_INPUT_0_SCALE 0.05f", "#define MODEL_INPUT_0_ZERO_POINT -4",
                 "#define MODEL_OUTPUT_0_SCALE 0.25f", "#define MODEL_OUTPUT_0_ZERO_POINT -128"):
        assert line in header


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the strict flag set is gcc's: apt-get install gcc")
def test_generated_int8_code_passes_strict_warnings(tmp_path):
    graph, _ = conv_graph()
    write_files(tmp_path, render(fuse(graph))[0])
    for file in ("model.c", "main.c"):
        proc = subprocess.run(["gcc", *STRICT, f"-I{INCLUDE_DIR}", f"-I{tmp_path}", str(tmp_path / file)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{file}:\n{proc.stderr}"


def test_int8_nodes_the_runtime_cannot_run_are_clear_errors():
    b = GraphBuilder("bad")
    x = b.input("x", TensorType((2, 3), DType.INT8, QParams((0.1,), (0,))))
    b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ((1, 2), (0, 0), 0)}, hint="two_pairs"))
    with pytest.raises(BuildError, match=r"node two_pairs \(REQUANTIZE\): 2 requantization pairs and no axis"):
        render(b.build())
    b = GraphBuilder("bad")
    x = b.input("x", TensorType((2, 3), DType.INT8, QParams((0.1,), (0,))))
    b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ((1,), (40,), 0)}, hint="far"))
    with pytest.raises(BuildError, match=r"shifts \(40,\) must .* lie in \[-31, 31\]"):
        render(b.build())


# --- fixedpoint.h against gemmlowp itself ---------------------------------------------------------------------------

GEMMLOWP = Path("/usr/include/gemmlowp/fixedpoint/fixedpoint.h")


@pytest.mark.skipif(not GEMMLOWP.exists() or shutil.which("g++") is None,
                    reason="needs gemmlowp's headers and g++: apt-get install libgemmlowp-dev g++")
def test_fixedpoint_helpers_equal_gemmlowp(tmp_path):
    """runtime/src/fixedpoint.h's primitives and exp / 1/(1+x) / logistic / tanh, value for value against
    gemmlowp's fixedpoint.h (tests/fixedpoint_vs_gemmlowp.cc) on edge values and a fixed random sample."""
    exe = tmp_path / "fixedpoint_vs_gemmlowp"
    subprocess.run(["g++", "-std=c++14", "-O2", "-fwrapv", "-Wall", "-Wextra", "-Werror", f"-I{SRC_DIR}",
                    f"-I{INCLUDE_DIR}", str(Path(__file__).with_name("fixedpoint_vs_gemmlowp.cc")), "-o", str(exe)],
                   check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    checked = int(re.search(r"checked (\d+), mismatches 0", proc.stdout).group(1))
    assert checked > 500_000


def test_int8_kernel_files_contain_no_float():
    """The int8 sources and their headers never name a floating type or a float literal (the integer-only proof,
    tests/test_integer_only.py, checks the compiled objects)."""
    for path in [*SRC_DIR.glob("*_s8*.c"), *SRC_DIR.glob("s8*.h"), SRC_DIR / "fixedpoint.h"]:
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        assert not re.search(r"\b(float|double)\b|\d\.\d|\d[eE][+-]?\d", code), path.relative_to(RUNTIME_DIR)
