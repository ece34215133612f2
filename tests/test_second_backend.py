"""A new backend is an addition: tests/numpy_backend.py is registered through the same protocol with one
BACKENDS entry and one target row — nothing else changes — and passes the conformance suite: every int8 family
byte-identical to the C backend's interpreter reference (through decompose_integer's primitive ops), the float
families it spells, random float graphs, and save / load."""

from __future__ import annotations

import numpy as np
import pytest

import edgelower
import test_conformance as conformance
from edgelower.backends import BACKENDS
from edgelower.errors import BackendUnsupportedError
from edgelower.ir.graph import Op
from edgelower.ir.traits import ops_where
from edgelower.targets import TARGETS, Target

from families import INT8_FAMILIES, family
from numpy_backend import NUMPY_BACKEND, NumpySettings

TARGET = "numpy-py"


@pytest.fixture(autouse=True, scope="module")
def registered():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(BACKENDS, "numpy", NUMPY_BACKEND)
        mp.setitem(TARGETS, TARGET, Target(TARGET, "generated Python over numpy", "numpy", NumpySettings()))
        yield


def test_it_renders_every_primitive_integer_op():
    assert ops_where(primitive=True) <= set(__import__("numpy_backend").SPELLINGS)


@pytest.mark.parametrize("name", sorted(INT8_FAMILIES))
def test_int8_family_is_byte_identical(name):
    conformance.test_int8_family(TARGET, name)


@pytest.mark.parametrize("name", ["movement"])
def test_float_family(name):
    conformance.test_float_family(TARGET, name)


def test_float_ops_it_cannot_spell_are_refused_by_name_before_anything_is_written(tmp_path):
    graph, _ = family("activation")
    with pytest.raises(BackendUnsupportedError, match=r"(?s)numpy backend .*SIGMOID: no numpy spelling"):
        edgelower.driver.compile_graph(graph, TARGET)


def test_save_and_load_through_the_protocol(tmp_path):
    model, (x,) = edgelower.zoo.get("mlp")
    calibration = [(x,)] + [(np.random.default_rng(i).standard_normal(x.shape).astype(np.float32),) for i in range(3)]
    cm = edgelower.compile(model, (x,), target=TARGET, quantize="int8", calibration=calibration)
    assert {node.op for node in cm.graph.nodes} <= ops_where(primitive=True) and Op.MUL_HIGH in \
        {node.op for node in cm.graph.nodes}
    again = edgelower.load(cm.save(tmp_path / "project"))
    np.testing.assert_array_equal(again(x).numpy(), cm(x).numpy())
    host = edgelower.compile(model, (x,), target="host", quantize="int8", calibration=calibration)
    np.testing.assert_array_equal(cm(x).numpy(), host(x).numpy())
