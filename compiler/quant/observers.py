"""Observers: what post-training calibration learns about one float tensor, and the int8 range it chooses.

An observer sees every value a tensor takes on the calibration inputs (`observe`, once per sample) and then names
a real range [lo, hi] to quantize (`range`). `affine_qparams` turns that range into TFLite's int8 asymmetric
per-tensor parameters. Three observers, selected by name in `QuantizeOptions.observer`:

- "minmax": the exact extremes seen. Nothing is ever clipped; one outlier costs resolution everywhere.
- "percentile": the `percentile`-th and (100 - `percentile`)-th percentiles of the values seen: outliers clip.
- "mse": of the ranges [a lo, a hi] for a in (0, 1], the one whose quantize-dequantize round trip has the least
  mean squared error on the values seen (the clipping / rounding trade-off, searched on a grid).

The last two keep a deterministic strided subsample of at most SAMPLE_CAP values per tensor (spread over the
calibration samples), so memory stays bounded whatever the calibration set's size.
"""

from __future__ import annotations

import math

import numpy as np

from edgelower.ir.graph import DType, QParams
from edgelower.quant.arith import round_half_away

QMIN, QMAX = DType.INT8.min, DType.INT8.max
SAMPLE_CAP = 1 << 18
MSE_GRID = 64  # candidate clipping factors a = k / MSE_GRID, k = 1 .. MSE_GRID
OBSERVERS = ("minmax", "percentile", "mse")


def float32_scale(scale: float) -> float:
    """Scales are stored as float32 (the C API, the .tflite file): round once here, so every consumer agrees."""
    return float(np.float32(scale))


def affine_qparams(lo: float, hi: float) -> QParams:
    """TFLite's int8 asymmetric parameters for the real range [lo, hi].

    The range is first widened to include 0 (real zero must be exactly representable: zero padding, ReLU), then
    scale = (hi - lo) / (QMAX - QMIN) and zero_point = round(QMIN - lo / scale), rounded half away from zero and
    clamped to [QMIN, QMAX] (TFLite's nudging: the represented range shifts by less than one step to put 0 on the grid).
    An all-zero tensor gets scale 1 and zero point 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"cannot quantize the range [{lo}, {hi}]: calibration saw a non-finite value")
    if hi - lo <= 0.0:
        return QParams((1.0,), (0,))
    # A range under 255 x 1.4e-45 rounds to a float32 scale of 0: the smallest positive one represents it.
    scale = float32_scale((hi - lo) / (QMAX - QMIN)) or float(np.finfo(np.float32).smallest_subnormal)
    zero_point = QMIN - lo / scale
    zero_point = int(round_half_away(zero_point))
    return QParams((scale,), (min(max(zero_point, QMIN), QMAX),))


def symmetric_channel_qparams(weight: np.ndarray, axis: int = 0) -> QParams:
    """Weights: symmetric per output channel, values in [-QMAX, QMAX], zero point 0 (TFLite's spec):
    scale[c] = max|W[c]| / QMAX. An all-zero channel gets scale 1 / QMAX (any positive scale represents it)."""
    w = np.moveaxis(np.asarray(weight, np.float64), axis, 0).reshape(weight.shape[axis], -1)
    peak = np.abs(w).max(axis=1) if w.size else np.zeros(w.shape[0])
    scales = tuple(float32_scale(p / QMAX) if p > 0 else float32_scale(1 / QMAX) for p in peak)
    return QParams.narrow(scales, (0,) * len(scales), axis)


def fake_quantize(x: np.ndarray, qparams: QParams) -> np.ndarray:
    """x quantized to int8 with per-tensor `qparams` and back, in float64 (rounding half away from zero)."""
    scale, zp = qparams.scale[0], qparams.zero_point[0]
    scaled = np.asarray(x, np.float64) / scale
    q = np.clip(round_half_away(scaled) + zp, QMIN, QMAX)
    return (q - zp) * scale


class MinMaxObserver:
    """The extremes seen. `samples` (the calibration set's size, which sampling observers spread their budget
    over) does not matter to it."""

    def __init__(self, samples: int = 1):
        self.lo, self.hi = math.inf, -math.inf

    def observe(self, x: np.ndarray) -> None:
        if x.size:
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise ValueError("the observer saw no values")
        return self.lo, self.hi


class _SampleObserver(MinMaxObserver):
    """Min/max, plus a strided subsample of the values: at most SAMPLE_CAP over `samples` observations."""

    def __init__(self, samples: int = 1):
        super().__init__()
        self.per_observation = max(1, SAMPLE_CAP // max(1, samples))
        self.kept: list[np.ndarray] = []

    def observe(self, x: np.ndarray) -> None:
        super().observe(x)
        flat = np.asarray(x, np.float64).reshape(-1)
        self.kept.append(flat[::max(1, -(-flat.size // self.per_observation))])

    def values(self) -> np.ndarray:
        return np.concatenate(self.kept) if self.kept else np.zeros(0)


class PercentileObserver(_SampleObserver):
    def __init__(self, samples: int = 1, percentile: float = 99.99):
        super().__init__(samples)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def range(self) -> tuple[float, float]:
        super().range()
        lo, hi = np.percentile(self.values(), [100.0 - self.percentile, self.percentile])
        return float(lo), float(hi)


class MSEObserver(_SampleObserver):
    def range(self) -> tuple[float, float]:
        lo, hi = super().range()
        values = self.values()
        best, best_err = (lo, hi), math.inf
        for k in range(MSE_GRID, 0, -1):
            a = k / MSE_GRID
            err = float(np.mean((fake_quantize(values, affine_qparams(a * lo, a * hi)) - values) ** 2))
            if err < best_err:  # strict: ties keep the wider range
                best, best_err = (a * lo, a * hi), err
        return best


def make_observer(kind: str, samples: int, percentile: float = 99.99):
    """A fresh observer of `kind` (one of OBSERVERS) for a calibration set of `samples` inputs."""
    if kind == "minmax":
        return MinMaxObserver(samples)
    if kind == "percentile":
        return PercentileObserver(samples, percentile)
    if kind == "mse":
        return MSEObserver(samples)
    raise ValueError(f"unknown observer {kind!r}; choose one of {', '.join(OBSERVERS)}")
