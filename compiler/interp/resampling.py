"""Where resampling ops read: PyTorch's adaptive pooling windows and its bilinear source coordinates, shared by the
float definitions (here) and the integer programs (edgelower.interp.integer_resampling).

- Adaptive pooling (ADAPTIVE_AVG_POOL2D, ADAPTIVE_MAX_POOL2D): output i of `out` along a dim of `size` reads the
  window [floor(i * size / out), ceil((i + 1) * size / out)), as ATen's adaptive_pool start_index / end_index. The
  windows may differ in length (8 -> 5: 2, 3, 2, 3, 2) and overlap; each holds at least one element.
- Bilinear resize (RESIZE_BILINEAR), torch's upsample_bilinear2d: with align_corners, source = i * step with
  step = (size - 1) / (out - 1) (0 when out is 1); without, source = max((i + 1/2) * step - 1/2, 0) with step the
  `scale` attribute or size / out. Steps are float32, as torch computes them; sources are float64 here. It
  interpolates between floor(source) and the next element (clamped to the last), with weight source -
  floor(source) on the second.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of each output's window, exact integer arithmetic."""
    i = np.arange(out, dtype=np.int64)
    return i * size // out, -(-(i + 1) * size // out)


def adaptive_matrix(size: int, out: int) -> np.ndarray:
    """[out, size] of 0 / 1: which inputs each output's window holds."""
    start, end = adaptive_windows(size, out)
    j = np.arange(size)
    return ((j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])).astype(np.int64)


def _adaptive(x: np.ndarray, size: tuple[int, int], reduce) -> np.ndarray:
    (h, w), (oh, ow) = x.shape[2:], size
    (r0, r1), (c0, c1) = adaptive_windows(h, oh), adaptive_windows(w, ow)
    out = np.empty(x.shape[:2] + (oh, ow), np.result_type(x))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, r0[i]:r1[i], c0[j]:c1[j]], axis=(2, 3))
    return out


def adaptive_avg_pool2d(ins, attrs: Mapping[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    return [_adaptive(x.astype(np.float64), attrs["size"], np.mean).astype(x.dtype)]


def adaptive_max_pool2d(ins, attrs: Mapping[str, Any]) -> list[np.ndarray]:
    return [_adaptive(ins[0], attrs["size"], np.max)]  # NaN propagates, as in torch


def bilinear_step(size: int, out: int, align_corners: bool, scale: float | None) -> float:
    """The float32 source step per output step (torch's area_pixel_compute_scale)."""
    if align_corners:
        return float(np.float32(size - 1) / np.float32(out - 1)) if out > 1 else 0.0
    return float(np.float32(size) / np.float32(out)) if scale is None else float(np.float32(scale))


def bilinear_source(size: int, out: int, align_corners: bool,
                    scale: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index, second index, weight of the second) per output position, in float64."""
    i, step = np.arange(out, dtype=np.float64), bilinear_step(size, out, align_corners, scale)
    if align_corners:
        source = i * step
    else:
        source = np.maximum((i + 0.5) * step - 0.5, 0.0)
    first = np.minimum(np.floor(source).astype(np.int64), size - 1)
    return first, np.minimum(first + 1, size - 1), source - first


def resize_bilinear(ins, attrs: Mapping[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    (h, w), (oh, ow) = x.shape[2:], attrs["size"]
    scale = attrs["scale"] or (None, None)
    r0, r1, ry = bilinear_source(h, oh, attrs["align_corners"], scale[0])
    c0, c1, cx = bilinear_source(w, ow, attrs["align_corners"], scale[1])
    xw = x.astype(np.float64)
    rows = xw[:, :, r0, :] * (1 - ry)[:, None] + xw[:, :, r1, :] * ry[:, None]
    return [(rows[:, :, :, c0] * (1 - cx) + rows[:, :, :, c1] * cx).astype(x.dtype)]
