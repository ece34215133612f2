"""The MLIR backend and export_mlir: the module is upstream MLIR's (built with its bindings, verified, deterministic,
weights as dense resources), IREE runs it on this CPU with the interpreter's bytes at the limits of the integer
arithmetic, compiles it for GPUs here and says what is missing to run it, and projects save and load the .vmfb.
The op families and the zoo are in the conformance suite (target iree-cpu); every zoo model's export and GPU
compile in test_backend_mlir_zoo.py."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("iree.compiler", reason="the MLIR backend needs pip install 'edgelower[mlir]'")
pytest.importorskip("iree.runtime", reason="the MLIR backend needs pip install 'edgelower[mlir]'")

import edgelower
from edgelower import zoo
from edgelower.backends import BACKENDS
from edgelower.backends.mlir import vmfb as vmfb_module
from edgelower.backends.mlir.export import export_mlir, parse_and_verify
from edgelower.backends.mlir.settings import IreeSettings
from edgelower.backends.mlir.vmfb import IreeModule, compile_vmfb
from edgelower.backends.protocol import EmitRequest
from edgelower.compiled import quantize_with
from edgelower.errors import BackendUnsupportedError, BuildError, ExecutionError, TargetError
from edgelower.interp import run_graph
from edgelower.ir.graph import DType, GraphBuilder, Op, TensorType
from edgelower.targets import get_target

from strategies_s8 import EDGE_GRAPHS, int8_graphs
from strategies_s8 import FAMILIES as INT8_GRAPH_FAMILIES
from test_primitives import BINARY, UNARY, edges, second_operands

CPU = get_target("iree-cpu")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """IREE compiles of this module go to a cache of its own (conftest.py)."""


def run_on_iree(graph, inputs, target=CPU) -> list[np.ndarray]:
    """The graph (integer records or not) through the backend's own emit, run on iree-cpu."""
    return BACKENDS["mlir"].emit(EmitRequest(graph, None, target)).run(inputs)


def assert_bytes_equal(got, expected) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)


def mlp_int8(target: str):
    model, (x,) = zoo.get("mlp")
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)]
    cm = edgelower.compile(model, (x,), target=target, quantize="int8", calibration=calibration)
    return model, x, cm


# --- the module -------------------------------------------------------------------------------------------------

def test_importing_edgelower_loads_no_iree():
    code = ("import sys, edgelower, edgelower.backends, edgelower.targets; edgelower.targets.get_target('iree-cpu'); "
            "print(sorted(m for m in sys.modules if m == 'iree' or m.startswith('iree.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_iree_is_an_error_naming_the_extra(monkeypatch):
    graph = zoo_graph("mlp")
    monkeypatch.setitem(sys.modules, "iree.compiler", None)
    with pytest.raises(TargetError, match=r"pip install 'edgelower\[mlir\]'"):
        export_mlir(graph)
    monkeypatch.setitem(sys.modules, "iree.runtime", None)
    vmfb_module._config.cache_clear()
    with pytest.raises(TargetError, match=r"pip install 'edgelower\[mlir\]'"):
        vmfb_module.require_runtime()


def zoo_graph(name: str):
    from edgelower.frontend.capture import capture_module

    model, example = zoo.get(name)
    return capture_module(model, example)


def test_export_is_verified_deterministic_text_with_weights_as_dense_resources(tmp_path):
    model, (x,) = zoo.get("lenet5")
    cm = edgelower.compile(model, (x,))  # the C target: export works from any target's graph
    first, second = cm.export_mlir(tmp_path / "a" / "lenet5.mlir"), cm.export_mlir(tmp_path / "b.mlir")
    text = first.read_text()
    assert text == second.read_text()
    assert "func.func @main(%arg0: tensor<1x1x32x32xf32>" in text and "-> tensor<1x10xf32>" in text
    assert "linalg.conv_2d_nchw_fchw" in text and "linalg.pooling_nchw" in text
    # every weight is a resource blob, named after its graph constant; no weight inline
    resources = [line for line in text.splitlines() if "arith.constant dense_resource<" in line]
    assert len(resources) == sum(1 for c in cm.graph.constants.values() if c.size > 1)
    assert "dialect_resources" in text and "dense<[" not in text
    # every node's ops carry its name as their location
    assert all(f'loc("{node.name}")' in text for node in cm.graph.nodes)
    parse_and_verify(text)


def test_export_of_a_c_compiled_int8_model_is_integer_only_and_runs_with_the_c_bytes(tmp_path):
    model, x, cm = mlp_int8("host")
    text = cm.export_mlir(tmp_path / "mlp_int8.mlir").read_text()
    body = text.split("{-#")[0]
    assert "f32" not in body and "tensor<1x64xi8>" in body and "i32" in body
    parse_and_verify(text)
    raw = [quantize_with(x.numpy(), cm.inputs[0])]
    got = IreeModule(compile_vmfb(text, CPU.settings), CPU.settings, CPU.name).run(raw)
    assert_bytes_equal(got, cm.run_numpy(raw))


def test_parse_and_verify_rejects_an_invalid_module():
    bad = ("func.func @main(%a: tensor<2xf32>) -> tensor<2xi32> {\n  return %a : tensor<2xf32>\n}\n")
    with pytest.raises(BuildError, match="verifier|does not parse"):
        parse_and_verify(bad)


def test_unsupported_element_types_are_refused_by_name():
    b = GraphBuilder("u8")
    x = b.input("x", TensorType((4,), DType.INT8))
    b.output(b.op(Op.RESHAPE, [b.op(Op.CAST, [x], {"dtype": "uint8"})], {"shape": (2, 2)}))
    with pytest.raises(BackendUnsupportedError, match="uint8"):
        export_mlir(b.build())


# --- iree-cpu: the front door, save and load, the cache ----------------------------------------------------------

def test_iree_cpu_takes_and_returns_tensors():
    model, (x,) = zoo.get("mlp")
    cm = edgelower.compile(model, (x,), target="iree-cpu")
    y = cm(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    torch.testing.assert_close(y, model(x).detach(), rtol=0, atol=1e-4 * float(y.abs().max()))
    _, x8, cm8 = mlp_int8("iree-cpu")
    host = mlp_int8("host")[2]
    np.testing.assert_array_equal(cm8(x8).numpy(), host(x8).numpy())  # dequantized: same int8 bytes


def test_save_and_load_bring_back_the_vmfb_without_compiling(tmp_path, monkeypatch):
    _, x, cm = mlp_int8("iree-cpu")
    project = cm.save(tmp_path / "mlp")
    manifest = json.loads((project / "manifest.json").read_text())
    assert manifest["backend"] == "mlir" and manifest["files"] == ["model.mlir"]
    assert manifest["iree"]["hal_backend"] == "llvm-cpu" and (project / "model.vmfb").read_bytes() == cm.artifact.vmfb
    monkeypatch.setattr("edgelower.backends.mlir.artifact.compile_vmfb", lambda *a: pytest.fail("recompiled"))
    loaded = edgelower.load(project)
    raw = [quantize_with(x.numpy(), cm.inputs[0])]
    assert_bytes_equal(loaded.run_numpy(raw), cm.run_numpy(raw))


def test_compiles_are_cached_by_content(monkeypatch):
    text = export_mlir(zoo_graph("mlp"))
    first = compile_vmfb(text, CPU.settings)
    monkeypatch.setattr("iree.compiler.compile_str", lambda *a, **k: pytest.fail("compiled again"))
    assert compile_vmfb(text, CPU.settings) == first
    assert vmfb_module.cache_key(text, CPU.settings) != vmfb_module.cache_key(
        text, IreeSettings("llvm-cpu", ("--iree-llvmcpu-target-cpu=generic",)))


# --- GPUs: compiled here, run where one exists ----------------------------------------------------------------

def _device_here(driver: str) -> bool:
    try:
        vmfb_module._config(driver)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("target", ["iree-cuda", "iree-vulkan"])
def test_gpu_targets_compile_here_and_name_what_running_needs(target):
    model, x, cm = mlp_int8(target)
    assert cm.artifact.vmfb and len(cm.artifact.vmfb) > 1000
    settings = get_target(target).settings
    if _device_here(settings.driver):
        host = mlp_int8("host")[2]
        np.testing.assert_array_equal(cm(x).numpy(), host(x).numpy())
        return
    with pytest.raises(ExecutionError, match=f"running it needs {settings.device}.*'{settings.driver}' device"):
        cm(x)


def test_cuda_sm_90_is_not_in_the_iree_wheel():
    """Why iree-cuda is sm_80: IREE 3.13's GPU target table has no sm_90 entry (iree-org/iree#22147)."""
    text = export_mlir(zoo_graph("mlp"))
    with pytest.raises(BuildError, match="missing GPU target"):
        compile_vmfb(text, IreeSettings("cuda", ("--iree-cuda-target=sm_90",), "cuda"))


# --- the integer arithmetic at its limits, on IREE -----------------------------------------------------------------

def test_primitive_ops_on_every_pair_of_edge_values():
    """Every binary and unary primitive on every pair of its edge values and CAST between every pair of types, as
    graph inputs (so IREE computes them at run time, not its constant folder): the interpreter's bytes."""
    b, inputs = GraphBuilder("edges"), []

    def arg(values, dtype):
        inputs.append(np.array(values, dtype.numpy))
        return b.input("v", TensorType((len(values),), dtype))

    for name, (op, attrs, dtypes, _, kind) in BINARY.items():
        for t in dtypes:
            pairs = [(x, y) for x in edges(t) for y in second_operands(kind, t)]
            b.output(b.op(op, [arg([p[0] for p in pairs], t), arg([p[1] for p in pairs], t)], attrs))
    for name, (op, attrs, dtypes, _) in UNARY.items():
        for t in dtypes:
            b.output(b.op(op, [arg(edges(t), t)], attrs))
    signed = (DType.INT8, DType.INT16, DType.INT32, DType.INT64)
    for src in signed:
        x = arg(edges(src), src)
        for dst in signed:
            b.output(b.op(Op.CAST, [x], {"dtype": dst.value}))
    flags = b.op(Op.COMPARE, [arg([3, -1, 0], DType.INT32), arg([0, 0, 0], DType.INT32)], {"predicate": "gt"})
    b.output(b.op(Op.CAST, [flags], {"dtype": "int32"}))
    b.output(b.op(Op.WHERE, [flags, arg([1, 2, 3], DType.INT8), arg([-7, -8, -9], DType.INT8)]))
    b.output(flags)  # a bool result
    graph = b.build()
    assert_bytes_equal(run_on_iree(graph, inputs), run_graph(graph, inputs))


@pytest.mark.parametrize("name", sorted(EDGE_GRAPHS))
def test_edge_graphs_give_the_interpreters_bytes(name):
    """Requantization at every limit multiplier and shift, accumulators that wrap, ADD/SUB/MUL at their limits."""
    graph, inputs = EDGE_GRAPHS[name]()
    assert_bytes_equal(run_on_iree(graph, inputs), run_graph(graph, inputs))


@pytest.mark.parametrize("family", sorted(INT8_GRAPH_FAMILIES))
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_int8_graphs_give_the_interpreters_bytes(family, data):
    """Random int8 graphs of each kernel family (records from the constructors and raw at their limits)."""
    graph, inputs = data.draw(int8_graphs((family,)))
    assert_bytes_equal(run_on_iree(graph, inputs), run_graph(graph, inputs))
