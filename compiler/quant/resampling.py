"""The `q` record of RESIZE_BILINEAR on int8: TFLite's integer bilinear resize (reference_ops::
ResizeBilinearInteger, which TFLite Micro runs for int8), input and output with one scale and zero point.

Coordinates are in Q10: with `scale_10` the input step per output step in Q10 (the ratio of sizes rounded to
nearest, or of sizes minus one with align_corners), output position i reads source s = i * scale_10 (align_corners)
or i * scale_10 + scale_10 / 2 - 512 (half-pixel centres, torch's align_corners=False), between the rows
max(s / 1024, 0) and min(ceil(s / 1024), size - 1) with weights 1024 - (s - 1024 * low) and s - 1024 * low, C's
truncating division throughout. The four products of a 2 x 2 neighbourhood sum in Q20 and round half away from
zero: (sum +- 2^19) / 2^20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass(frozen=True)
class ResizeBilinearQ:
    """RESIZE_BILINEAR on int8. half_pixel_centers is 1 for torch's align_corners=False, 0 for align_corners."""

    height_scale_10: int
    width_scale_10: int
    half_pixel_centers: int

    @classmethod
    def from_geometry(cls, in_hw: tuple[int, int], out_hw: tuple[int, int], align_corners: bool) -> "ResizeBilinearQ":
        """TFLite's ResizeBilinearInteger scales; ValueError where its lower row would leave the input (extreme
        upsampling ratios, beyond about 1000: TFLite reads out of bounds there)."""
        scales = []
        for size, out in zip(in_hw, out_hw):
            scale = ((1 << 10) * size + out // 2) // out
            if align_corners and out > 1:
                scale = ((1 << 10) * (size - 1) + (out - 1) // 2) // (out - 1)
            scales.append(scale)
        q = cls(scales[0], scales[1], 0 if align_corners else 1)
        for size, out, scale in zip(in_hw, out_hw, scales):
            low, _, _ = q.taps(out, scale, size)
            if low.max(initial=0) > size - 1:
                raise ValueError(f"TFLite's integer bilinear resize {size} -> {out} reads past the input")
        return q

    def taps(self, out: int, scale_10: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, high, weight of high in Q10) per output position, as ComputeInterpolationValuesInteger."""
        low, high, frac = [], [], []
        for i in range(out):
            s = i * scale_10 + (scale_10 // 2 - (1 << 9) if self.half_pixel_centers else 0)
            lo = max(_c_div(s, 1 << 10), 0)
            low.append(lo)
            high.append(min(_c_div(s + (1 << 10) - 1, 1 << 10), size - 1))
            frac.append(s - (1 << 10) * lo)
        return np.array(low), np.array(high), np.array(frac)

    def matrix(self, out: int, axis_height: bool, size: int) -> np.ndarray:
        """[out, size] int64 weights in Q10: row i holds 1024 - frac at its low input and frac at its high input
        (added when they are the same input), so a Q20 sum is two matrix products."""
        low, high, frac = self.taps(out, self.height_scale_10 if axis_height else self.width_scale_10, size)
        m = np.zeros((out, size), np.int64)
        np.add.at(m, (np.arange(out), low), (1 << 10) - frac)
        np.add.at(m, (np.arange(out), high), frac)
        return m
