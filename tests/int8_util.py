"""Helpers of the int8 tests: calibrate and lower a float graph, convert at its int8 interface, and build the
"float on the grid" reference a lowered graph is held to.

The reference (`grid_reference`) is the float graph with every quantized value rounded to its int8 grid
(`insert_qdq`: QUANTIZE then DEQUANTIZE) and every weight and bias replaced by its quantized value: the same
arithmetic in float64/float32 instead of TFLite's fixed point. What separates the integer graph from it is only
where the fixed point rounds differently, which each op bounds by a stated number of output steps (LSBs).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, QParams
from edgelower.passes import PIPELINES, run_pipeline
from edgelower.passes.integer.lower_integer import LowerIntegerOptions, insert_qdq, lower_integer
from edgelower.passes.integer.lower_integer_ops import quantize_array
from edgelower.passes.integer.quantize import QuantizeOptions, quantize
from edgelower.quant.arith import round_half_away

from strategies import INPUT_BOUND

FLOAT_PREFIX = PIPELINES["int8"][:3]  # canonicalize, fold_batchnorm, canonicalize


def calibration_for(graph: Graph, samples: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """Random samples like strategies.inputs_for: floats uniform in [-1, 1], integers in [-128, 127]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        sample = []
        for name in graph.inputs:
            t = graph.types[name]
            if t.dtype.is_float:
                sample.append(rng.uniform(-INPUT_BOUND, INPUT_BOUND, t.shape).astype(np.float32))
            else:
                sample.append(rng.integers(0, 2, t.shape).astype(t.dtype.numpy))
        out.append(tuple(sample))
    return out


def lower(graph: Graph, calibration, observer: str = "minmax", int_only: bool = True) -> tuple[Graph, Graph, Graph]:
    """(folded float graph, quantized float graph, integer graph)."""
    folded = run_pipeline(graph, FLOAT_PREFIX, verify=True)
    quantized = quantize(folded, QuantizeOptions(calibration, observer=observer))
    return folded, quantized, lower_integer(quantized, LowerIntegerOptions(int_only=int_only))


def to_int8(array: np.ndarray, qparams: QParams | None) -> np.ndarray:
    """An interface value as the integer graph takes it (Op.QUANTIZE's rounding); non-quantized values as they are."""
    if qparams is None:
        return array
    rounded = round_half_away(np.asarray(array, np.float32) / np.float32(qparams.scale[0]))
    return np.clip(rounded.astype(np.int64) + qparams.zero_point[0], qparams.qmin, qparams.qmax).astype(np.int8)


def to_real(array: np.ndarray, qparams: QParams | None) -> np.ndarray:
    if qparams is None:
        return np.asarray(array, np.float64)
    return (array.astype(np.float64) - qparams.zero_point[0]) * qparams.scale[0]


def int8_inputs(integer: Graph, inputs) -> list[np.ndarray]:
    return [to_int8(x, integer.types[n].qparams) for n, x in zip(integer.inputs, inputs)]


def run_dequantized(integer: Graph, inputs) -> list[np.ndarray]:
    """Float inputs in, the integer graph's outputs dequantized out."""
    outs = run_graph(integer, int8_inputs(integer, inputs))
    return [to_real(o, integer.types[n].qparams) for n, o in zip(integer.outputs, outs)]


def grid_reference(quantized: Graph) -> Graph:
    """The float graph on the int8 grid (module docstring): int8 inputs and outputs like the integer graph."""
    qdq = insert_qdq(quantized)
    constants = dict(qdq.constants)
    for name, data in qdq.constants.items():
        q = qdq.types[name].qparams
        if q is None or not qdq.types[name].dtype.is_float:
            continue
        is_bias = all(z == 0 for z in q.zero_point) and _is_bias(qdq, name)
        grid = quantize_array(data, q, DType.INT32 if is_bias else DType.INT8).astype(np.float64)
        scale, zp = np.asarray(q.scale), np.asarray(q.zero_point)
        if q.axis is not None and scale.size > 1:
            shape = [1] * data.ndim
            shape[q.axis] = scale.size
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        constants[name] = ((grid - zp) * scale).astype(np.float32)
    return replace(qdq, constants=constants)


def _is_bias(graph: Graph, name: str) -> bool:
    return any(len(n.inputs) == 3 and n.inputs[2] == name for n in graph.nodes)


def lsb_error(integer: Graph, reference: Graph, inputs) -> dict[str, int]:
    """Per output: the largest difference in int8 steps between the integer graph and the grid reference."""
    ins = int8_inputs(integer, inputs)
    got, want = run_graph(integer, ins), run_graph(reference, ins)
    return {n: int(np.abs(g.astype(np.int64) - w.astype(np.int64)).max(initial=0))
            for n, g, w in zip(integer.outputs, got, want)}


def sqnr_db(signal: np.ndarray, approx: np.ndarray) -> float:
    noise = np.mean((np.asarray(approx, np.float64) - signal) ** 2)
    power = np.mean(np.asarray(signal, np.float64) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(max(power, 1e-30) / noise)
