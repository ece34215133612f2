"""Measure the integer transformer nonlinearities' error in output LSBs; print the Markdown tables of
docs/quantization.md, "Integer transformer ops".

    python bench/int_transformer_error.py

The error of one output is |integer result - exact result|, the exact result being the float64 function of the
dequantized input rounded (half away from zero) to the output grid and clamped (edgelower.quant.transformer.exact_*).
- GELU: exhaustive, every int8 input, on a grid of input scales (2**-10 .. 2**6, 8 per octave) and input zero
  points (-128 .. 127, step 17), the output quantized as calibration would (the range of the exact GELU over the
  256 inputs, widened to include 0 and to GELU_MIN_OUTPUT_SCALE), then also on 2x and 4x coarser outputs.
- Softmax: random rows (uniform int8; squeezed into a band 1 to 32 wide below the maximum; one peak over a flat
  floor) of 1 to 512 elements on a grid of input scales, for both polynomials and for TFLite's kernel (SoftmaxQ,
  where its multiplier can represent the scale).
- LayerNorm: random rows (uniform, banded, near-constant) of 8 to 768 elements on a grid of input scales and eps,
  gamma ~ N(1, 0.5), beta ~ N(0, 0.5), the output grid spanning the batch's exact output.
"""

from __future__ import annotations

import math

import numpy as np

from edgelower.interp.numpy_algebra import NUMPY
from edgelower.quant import transformer as it
from edgelower.interp.integer_nonlinear import softmax as tflite_softmax
from edgelower.quant.records import SoftmaxQ

SEED = 2024


class Tally:
    """Worst and mean |error| and the share of outputs that differ, over every output added."""

    def __init__(self):
        self.worst, self.total, self.count, self.off = 0, 0, 0, 0

    def add(self, got: np.ndarray, want: np.ndarray) -> None:
        err = np.abs(got.astype(np.int64) - want.astype(np.int64))
        self.worst = max(self.worst, int(err.max(initial=0)))
        self.total += int(err.sum())
        self.count += err.size
        self.off += int((err > 0).sum())

    def cells(self) -> str:
        return f"{self.worst} | {self.total / max(self.count, 1):.4f} | {100 * self.off / max(self.count, 1):.2f}% | " \
               f"{self.count:,}"


def band(value: float, edges: list[float]) -> str:
    """The half-open band [edge_i, edge_i+1) holding `value`, as text."""
    for lo, hi in zip(edges, edges[1:]):
        if lo <= value < hi:
            return f"[2^{math.log2(lo):g}, 2^{math.log2(hi):g})"
    return f">= 2^{math.log2(edges[-1]):g}"


def gelu_table() -> None:
    x = np.arange(-128, 128).astype(np.int8)
    edges = [2.0 ** e for e in (-7, -6, -5, -4, -2, 0, 4)]
    tallies: dict[str, Tally] = {}
    for scale in 2.0 ** np.arange(-10.0, 6.0 + 1e-9, 0.125):
        for zp in range(-128, 128, 17):
            v = (x.astype(np.float64) - zp) * scale
            g = 0.5 * v * (1.0 + it.erf(v / math.sqrt(2.0)))
            lo, hi = min(g.min(), 0.0), max(g.max(), 0.0)
            calibrated = max((hi - lo) / 255.0, it.GELU_MIN_OUTPUT_SCALE)
            out_zp = int(np.clip(round(-128 - lo / calibrated), -128, 127))
            for out_scale in (calibrated, 2 * calibrated, 4 * calibrated):
                got = it.gelu(NUMPY, x, it.IGeluQ.from_scales(scale, zp, out_scale, out_zp))
                tallies.setdefault(band(out_scale, edges), Tally()).add(
                    got, it.exact_gelu(x, scale, zp, out_scale, out_zp))
    print(f"GELU (i-GELU), bound {it.ERROR_BOUNDS['gelu']} LSB; by output scale, input scales 2^-10 .. 2^6:\n")
    print("| output scale | worst LSB | mean abs LSB | outputs off | outputs |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(tallies, key=lambda b: float(b.split("2^")[1].split(",")[0].rstrip(")"))):
        print(f"| {name} | {tallies[name].cells()} |")
    overall = Tally()
    for t in tallies.values():
        overall.worst, overall.total = max(overall.worst, t.worst), overall.total + t.total
        overall.count, overall.off = overall.count + t.count, overall.off + t.off
    print(f"| all | {overall.cells()} |\n")


def _rows(rng: np.random.Generator, count: int, cols: int) -> list[np.ndarray]:
    uniform = rng.integers(-128, 128, (count, cols))
    width = rng.integers(1, 33, (count, 1))
    top = rng.integers(-96, 128, (count, 1))
    banded = top - rng.integers(0, 1 << 16, (count, cols)) % width
    peaked = np.where(rng.random((count, cols)) < 1.0 / cols, 127, rng.integers(-128, 0, (count, 1)))
    return [np.clip(r, -128, 127).astype(np.int8) for r in (uniform, banded, peaked)]


def softmax_table(rng: np.random.Generator) -> None:
    edges = [2.0 ** e for e in (-16, -8, -4, -2, 0, 2, 4)]
    methods = ("iexp", "shiftmax", "tflite")
    tallies = {m: {} for m in methods}
    for scale in 2.0 ** np.arange(-16.0, 4.0 + 1e-9, 0.25):
        for cols in (1, 2, 8, 64, 197, 512):
            for x in _rows(rng, max(4, 2048 // cols), cols):
                want = it.exact_softmax(x, 1, scale)
                for m in methods:
                    if m == "tflite":
                        try:
                            q = SoftmaxQ.from_scale(scale)
                        except ValueError:
                            continue
                        got = tflite_softmax([x], {"q": q, "axis": 1})[0]
                    else:
                        got = it.softmax(NUMPY, x, 1, it.ISoftmaxQ.from_scale(scale, m))
                    tallies[m].setdefault(band(scale, edges), Tally()).add(got, want)
    names = {"iexp": f"I-BERT i-exp (default), bound {it.ERROR_BOUNDS['softmax/iexp']}",
             "shiftmax": f"I-ViT Shiftmax polynomial, bound {it.ERROR_BOUNDS['softmax/shiftmax']}",
             "tflite": "TFLite int8 (gemmlowp), for comparison"}
    print("Softmax, output 1/256 with zero point -128; rows of 1 to 512 elements:\n")
    print("| algorithm | input scale | worst LSB | mean abs LSB | outputs off | outputs |")
    print("|---|---|---:|---:|---:|---:|")
    for m in methods:
        for name, tally in sorted(tallies[m].items(), key=lambda kv: float(kv[0].split("2^")[1].split(",")[0])):
            print(f"| {names[m]} | {name} | {tally.cells()} |")
    print()


def layer_norm_table(rng: np.random.Generator) -> None:
    tallies: dict[tuple[int, float], Tally] = {}
    for scale in 2.0 ** np.arange(-10.0, 4.0 + 1e-9, 0.5):
        for cols in (8, 64, 192, 768):
            for eps in (1e-5, 1e-6, 1e-12):
                gamma, beta = rng.normal(1.0, 0.5, cols), rng.normal(0.0, 0.5, cols)
                zp = int(rng.integers(-128, 128))
                for x in _rows(rng, max(4, 1024 // cols), cols):
                    x = np.concatenate([x, np.clip(x[:1] // 64 + 3, -128, 127).astype(np.int8)])  # near-constant
                    v = (x.astype(np.float64) - zp) * scale
                    c = v - v.mean(axis=1, keepdims=True)
                    y = c / np.sqrt((c ** 2).mean(axis=1, keepdims=True) + eps) * gamma + beta
                    out_scale = (y.max() - min(y.min(), 0.0)) / 255.0
                    out_zp = int(np.clip(round(-128 - min(y.min(), 0.0) / out_scale), -128, 127))
                    q, w, b = it.ILayerNormQ.from_scales(cols, scale, eps, gamma, beta, out_scale, out_zp)
                    tallies.setdefault((cols, eps), Tally()).add(
                        it.layer_norm(NUMPY, x, w, b, q, 1),
                        it.exact_layer_norm(x, scale, zp, eps, gamma, beta, out_scale, out_zp))
    print(f"LayerNorm, bound {it.ERROR_BOUNDS['layer_norm']} LSB; input scales 2^-10 .. 2^4:\n")
    print("| row length | eps | worst LSB | mean abs LSB | outputs off | outputs |")
    print("|---:|---:|---:|---:|---:|---:|")
    for (cols, eps), tally in sorted(tallies.items()):
        print(f"| {cols} | {eps:g} | {tally.cells()} |")
    print()


def main() -> None:
    rng = np.random.default_rng(SEED)
    gelu_table()
    softmax_table(rng)
    layer_norm_table(rng)


if __name__ == "__main__":
    main()
