"""One conformance suite for every backend: the op families and the zoo, compiled through the driver for a target
of each registered backend that runs here, and held to the reference interpreter.

- float32: within 1e-4 x max|output| of the interpreter on the captured graph;
- int8: exactly the bytes of the interpreter on the record-form integer graph (what the C backend computes), from
  the same raw int8 inputs, whatever integer form the backend's pipeline lowers to.
A backend that refuses an op must do it by name, before anything is written (BackendUnsupportedError); the case
then skips with that message. A new backend joins by adding the target it runs here to CONFORMANCE_TARGETS.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import edgelower
from edgelower import zoo
from edgelower.backends import BACKENDS
from edgelower.compiled import CompiledModel, quantize_with
from edgelower.driver import compile_graph
from edgelower.errors import BackendUnsupportedError
from edgelower.frontend.capture import capture_module
from edgelower.interp import run_graph
from edgelower.ir.graph import Graph
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.integer.lower_integer import LowerIntegerOptions
from edgelower.passes.integer.quantize import QuantizeOptions
from edgelower.targets import get_target

from families import FAMILIES, INT8_FAMILIES, family, int8_family
from strategies import graph_and_inputs

# The target each backend is tested through on this machine; a "+" names a variant: the target with the compile
# options in VARIANTS. The HLS backend runs in both architectures on its largest part, where every zoo model it
# covers fits either way (on smaller parts some only fit io_stream: tests/test_backend_hls_project.py).
CONFORMANCE_TARGETS = ["host", "tvm-cpu", "iree-cpu", "alveo-u250", "alveo-u250+io_stream"]
VARIANTS = {"alveo-u250+io_stream": ("alveo-u250", {"io_type": "io_stream"})}


def resolve(target: str) -> tuple[str, dict]:
    """(target name, compile options) of a CONFORMANCE_TARGETS entry."""
    return VARIANTS.get(target, (target, {}))

TOLERANCE = 1e-4
ZOO = [n for n in zoo.names() if not zoo.MODELS[n].large]
# The zoo models a target runs here when not all of ZOO: TVM's LLVM build of a whole int8 model takes 1.5 to 3 minutes
# on two cores for the MobileNet-like ones (every model passes, measured), too long for CI; these cover dense, conv,
# depthwise, residual, embedding and attention graphs.
ZOO_SUBSETS = {"tvm-cpu": {"float": ("mlp", "lenet5", "ds-cnn", "two-tower", "embed-classifier", "resnet8", "vit-tiny"),
                           "int8": ("mlp", "ds-cnn", "embed-classifier")}}


def zoo_cases(kind: str) -> list[tuple[str, str]]:
    return [(target, name) for target in CONFORMANCE_TARGETS for name in ZOO
            if name in ZOO_SUBSETS.get(target, {}).get(kind, ZOO)]


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """This module's builds go to a cache of its own (conftest.py), so every backend really compiles."""


def compile_or_skip(graph: Graph, target: str, **kwargs) -> CompiledModel:
    target, options = resolve(target)
    try:
        return compile_graph(graph, target, **options, **kwargs)
    except BackendUnsupportedError as e:
        assert e.items and all(item.what.split(":")[0] in str(e) for item in e.items)
        pytest.skip(f"{target} refuses by name: {e.items[0].what}")


def assert_float_close(got: list[np.ndarray], ref: list[np.ndarray]) -> None:
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        if r.dtype.kind != "f":
            np.testing.assert_array_equal(g, r)
            continue
        scale = max(float(np.max(np.abs(r), initial=0.0, where=np.isfinite(r))), 1e-30)
        np.testing.assert_allclose(g, r, rtol=0, atol=TOLERANCE * scale, equal_nan=True)


def assert_bytes_equal(got: list[np.ndarray], ref: list[np.ndarray]) -> None:
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_array_equal(g, r)


def record_form(graph: Graph, calibration) -> Graph:
    """The int8 graph the C backend renders: the reference every backend's int8 bytes are held to."""
    options = (QuantizeOptions(tuple(tuple(np.asarray(x) for x in sample) for sample in calibration)),
               LowerIntegerOptions())
    return run_pipeline(graph, PIPELINES["int8"], options=options)


def raw_inputs(cm: CompiledModel, inputs) -> list[np.ndarray]:
    return [quantize_with(np.asarray(x), s) if s.scale is not None else np.asarray(x)
            for x, s in zip(inputs, cm.inputs)]


def check_int8(graph: Graph, target: str, calibration, inputs) -> None:
    cm = compile_or_skip(graph, target, quantize="int8", calibration=calibration)
    raw = raw_inputs(cm, inputs)
    assert_bytes_equal(cm.run_numpy(raw), run_graph(record_form(graph, calibration), raw))


def test_every_registered_backend_is_under_test():
    assert {get_target(resolve(t)[0]).backend for t in CONFORMANCE_TARGETS} == set(BACKENDS)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("target", CONFORMANCE_TARGETS)
def test_float_family(target, name):
    graph, inputs = family(name)
    cm = compile_or_skip(graph, target)
    assert_float_close(cm.run_numpy(inputs), run_graph(graph, inputs))


@pytest.mark.parametrize("name", sorted(INT8_FAMILIES))
@pytest.mark.parametrize("target", CONFORMANCE_TARGETS)
def test_int8_family(target, name):
    graph, inputs = int8_family(name)
    rng = np.random.default_rng(0)
    calibration = [tuple(inputs)] + [tuple(rng.uniform(-1, 1, x.shape).astype(x.dtype) for x in inputs)
                                     for _ in range(3)]
    check_int8(graph, target, calibration, inputs)


@pytest.mark.parametrize("target", CONFORMANCE_TARGETS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(case=graph_and_inputs())
def test_random_float_graphs(target, case):
    graph, inputs = case
    cm = compile_or_skip(graph, target)
    assert_float_close(cm.run_numpy(inputs), run_graph(graph, inputs))


def _zoo_case(name: str):
    model, example = zoo.get(name)
    torch.manual_seed(3)
    fresh = tuple(spec.sample() for spec in zoo.MODELS[name].inputs)
    return model, example, fresh


@pytest.mark.slow
@pytest.mark.parametrize(("target", "name"), zoo_cases("float"))
def test_zoo_float(target, name):
    model, example, fresh = _zoo_case(name)
    graph = capture_module(model, example)
    cm = compile_or_skip(graph, target)
    inputs = [x.numpy() for x in fresh]
    assert_float_close(cm.run_numpy(inputs), run_graph(graph, inputs))


@pytest.mark.slow
@pytest.mark.parametrize(("target", "name"), zoo_cases("int8"))
def test_zoo_int8(target, name):
    model, example, fresh = _zoo_case(name)
    torch.manual_seed(1)
    calibration = [tuple(spec.sample().numpy() for spec in zoo.MODELS[name].inputs) for _ in range(4)]
    check_int8(capture_module(model, example), target, calibration, [x.numpy() for x in fresh])


def test_compile_through_the_front_door_keeps_the_target():
    model, (x,) = edgelower.zoo.get("mlp")
    for target, options in map(resolve, CONFORMANCE_TARGETS):
        try:
            cm = edgelower.compile(model, (x,), target=target, **options)
        except BackendUnsupportedError:
            continue
        assert cm.target.name == target and cm.report.target == target
