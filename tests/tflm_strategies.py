"""Hypothesis strategies and a graph builder for the TFLite Micro bit-exactness tests (test_tflm_exact.py):
quantization parameters with their edge cases, activation ranges, int8 data, and one-op integer graphs with
qparams on every tensor (docs/quantization.md).

    scales(lo, hi)           -> a float32-representable scale 2**e * m, often next to a power of two
    zero_points()            -> int8 zero point, edges (-128, -127, 0, 127) drawn often
    act_ranges(scale, zp)    -> (act_min, act_max): a TFLite fused activation's range or a random clamp
    int8_data / weights / bias, DATA_MODES
    IntGraph                 -> GraphBuilder that sets qparams on inputs, constants and op outputs
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st

from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.quant.records import activation_range

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1

# Mantissas that put products and ratios of scales next to a power of two, where QuantizeMultiplier's rounding
# reaches 2**31 and renormalizes (multiplier 2**30, shift + 1).
EDGE_MANTISSAS = (1.0, 1 + 2 ** -23, 1 - 2 ** -24, 0.75, 1 - 2 ** -23)


def _f32(x: float) -> float:
    return float(np.float32(x))


def scales(lo: int = -14, hi: int = 1) -> st.SearchStrategy:
    """Scales 2**e * m with e in [lo, hi], as float32 values (what a .tflite stores)."""
    plain = st.builds(lambda m, e: _f32(m * 2.0 ** e), st.floats(0.5, 1.0, exclude_max=True), st.integers(lo, hi))
    edge = st.builds(lambda m, e: _f32(m * 2.0 ** e), st.sampled_from(EDGE_MANTISSAS), st.integers(lo, hi))
    return st.one_of(plain, edge)


def zero_points() -> st.SearchStrategy:
    return st.one_of(st.integers(INT8_MIN, INT8_MAX), st.sampled_from([INT8_MIN, INT8_MIN + 1, 0, INT8_MAX]))


@st.composite
def act_ranges(draw, scale: float, zero_point: int) -> tuple[int, int]:
    """A fused activation's int8 range (CalculateActivationRangeQuantized) or an arbitrary clamp."""
    kind = draw(st.sampled_from(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1", "CLAMP"]))
    if kind != "CLAMP":
        return activation_range(kind, scale, zero_point)
    lo = draw(st.integers(INT8_MIN, INT8_MAX))
    return lo, draw(st.integers(lo, INT8_MAX))


DATA_MODES = ("random", "random", "random", "min", "max", "extremes")

# Shapes of 256 elements: with mode "all" they hold every int8 value once, so a unary op is checked exhaustively.
FULL_SHAPES = ((256,), (4, 64), (1, 4, 8, 8), (2, 2, 8, 8))


def int8_data(rng: np.random.Generator, shape: Sequence[int], mode: str = "random") -> np.ndarray:
    """int8 values: uniform, every value in turn (shuffled), all -128, all 127, or only the two extremes (largest
    accumulators)."""
    if mode == "all":
        count = int(np.prod(shape, dtype=np.int64))
        return np.resize(rng.permutation(256) - 128, count).reshape(shape).astype(np.int8)
    if mode == "min":
        return np.full(shape, INT8_MIN, np.int8)
    if mode == "max":
        return np.full(shape, INT8_MAX, np.int8)
    if mode == "extremes":
        return rng.choice(np.array([INT8_MIN, INT8_MAX], np.int8), size=shape)
    return rng.integers(INT8_MIN, INT8_MAX + 1, size=shape).astype(np.int8)


def weights(rng: np.random.Generator, shape: Sequence[int], mode: str = "random") -> np.ndarray:
    """Symmetric int8 weights in [-127, 127] (TFLite's weight spec)."""
    return np.clip(int8_data(rng, shape, mode), -127, INT8_MAX).astype(np.int8)


def bias(rng: np.random.Generator, n: int, mode: str = "random") -> np.ndarray:
    """int32 biases: moderate, or at the int32 limits so that accumulators reach INT32_MIN / INT32_MAX."""
    if mode == "limits":
        return rng.choice(np.array([INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, INT32_MAX], np.int64), n).astype(np.int32)
    return rng.integers(-(1 << 16), 1 << 16, n).astype(np.int32)


def qparams(scale: float | Sequence[float], zero_point: int | Sequence[int] = 0, axis: int | None = None) -> QParams:
    s = tuple(_f32(v) for v in np.atleast_1d(scale))
    z = tuple(int(v) for v in np.atleast_1d(zero_point))
    return QParams(s, z if len(z) == len(s) else z * len(s), axis)


class IntGraph:
    """Builds an integer graph: every int8/int32 tensor gets its qparams as it is created."""

    def __init__(self, name: str = "int8"):
        self.b = GraphBuilder(name)

    def _set(self, name: str, qp: QParams | None) -> str:
        self.b.types[name] = replace(self.b.types[name], qparams=qp)
        return name

    def input(self, shape: Sequence[int], scale: float, zero_point: int, hint: str = "x") -> str:
        return self.b.input(hint, TensorType(tuple(shape), DType.INT8, qparams(scale, zero_point)))

    def constant(self, data: np.ndarray, qp: QParams | None = None, hint: str = "c") -> str:
        return self._set(self.b.constant(hint, data), qp)

    def op(self, op: Op, inputs: Sequence[str], attrs: Mapping[str, Any], qp: QParams | None = None) -> str:
        return self._set(self.b.op(op, inputs, dict(attrs)), qp)

    def output(self, name: str) -> "IntGraph":
        self.b.output(name)
        return self

    def build(self) -> Graph:
        return self.b.build()
