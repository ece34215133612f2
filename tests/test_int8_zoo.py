"""Acceptance for the int8 zoo, end to end: TensorFlow Lite Micro computes exactly edgelower's output bytes on the
exported .tflite, every Cortex-M build computes exactly the host's bytes under QEMU, and the interpreter running
the model's graph decomposed into primitive integer ops (what the TVM, MLIR and HLS backends render) computes the
C backend's bytes."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import edgelower
from edgelower import zoo
from edgelower.compiled import quantize_with
from edgelower.errors import MemoryBudgetError
from edgelower.runtime import cortex_m
from edgelower.targets import TARGETS
from edgelower.backends.tflite.export import TFLiteExportError, export_tflite
from edgelower.interp import run_graph
from edgelower.ir.verifier import verify
from edgelower.passes.integer.decompose_integer import lower_to_primitives
from edgelower.backends.tflite.tflm import run_tflm

from lanes import zoo_params

NAMES = [n for n in zoo.names() if not zoo.MODELS[n].large]
# Integer forms TFLite Micro has no kernel for: the I-BERT softmax/GELU/LayerNorm of the transformers, HARDSIGMOID
# lowered to a bare REQUANTIZE (mnasnet-w0.5's gates); and an int64 model input (embed-classifier's token ids: TFLite
# Micro's GATHER takes int32 positions).
NOT_IN_TFLM = {"vit-tiny", "transformer-block", "mnasnet-w0.5-r128", "embed-classifier"}
CORES = ("cortex-m0", "cortex-m4", "cortex-m7", "cortex-m55")
FITS_M0 = {"mlp", "two-tower"}  # the micro:bit has 16 KiB of RAM


def calibration(name: str) -> list[tuple[torch.Tensor, ...]]:
    torch.manual_seed(1)
    return [tuple(spec.sample() for spec in zoo.MODELS[name].inputs) for _ in range(8)]


def held_out(name: str) -> list[torch.Tensor]:
    torch.manual_seed(2)
    return [spec.sample() for spec in zoo.MODELS[name].inputs]


@functools.cache
def host_int8(name: str):
    """(CompiledModel on the host, its raw inputs: int8 where the model takes quantized inputs)."""
    model, example = zoo.get(name)
    cm = edgelower.compile(model, example, quantize="int8", calibration=calibration(name))
    raw = [quantize_with(x.numpy(), s) if s.scale is not None else x.numpy() for x, s in zip(held_out(name), cm.inputs)]
    return cm, raw


@pytest.mark.parametrize("name", zoo_params([n for n in NAMES if n not in NOT_IN_TFLM]))
def test_tflite_micro_gives_the_same_bytes(name):
    cm, raw = host_int8(name)
    expected = cm.run_numpy(raw)
    got, _ = run_tflm(export_tflite(cm.graph), raw)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("name", zoo_params(NAMES))
def test_decomposed_graph_gives_the_c_backends_bytes(name):
    cm, raw = host_int8(name)
    primitive = lower_to_primitives(cm.graph)
    verify(primitive, after="lower_to_primitives", primitive_only=True)
    for got, expected in zip(run_graph(primitive, raw), cm.run_numpy(raw), strict=True):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", zoo_params(sorted(NOT_IN_TFLM)))
def test_models_tflite_micro_cannot_run_are_refused_by_name(name):
    cm, _ = host_int8(name)
    with pytest.raises(TFLiteExportError):
        export_tflite(cm.graph)


@pytest.mark.skipif(bool(cortex_m.missing_packages(TARGETS["cortex-m4"])),
                    reason="needs the Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", zoo_params(NAMES, fast={"mlp", "two-tower"}))
def test_cortex_m_gives_the_host_bytes(name, core):
    host, raw = host_int8(name)
    model, example = zoo.get(name)
    try:
        cm = edgelower.compile(model, example, target=core, quantize="int8", calibration=calibration(name))
    except MemoryBudgetError:
        # Only a model too big for the core's machine may be refused, and only for its size.
        assert not (core == "cortex-m0" and name in FITS_M0) and core in ("cortex-m0", "cortex-m55")
        return
    for got, expected in zip(cm.run_numpy(raw), host.run_numpy(raw)):
        np.testing.assert_array_equal(got, expected)
