"""The integer programs of the int8 resampling ops (see edgelower.interp.integer): TFLite's bilinear resize and
PyTorch's adaptive average pooling with TFLite's average rounding. Both are sums of a few int8 values with
compile-time weights per output row and column, so each is two int32 matrix products with constant matrices (exact:
the weights are small integers), then one rounding division."""

from __future__ import annotations

import numpy as np

from edgelower.interp.resampling import adaptive_matrix
from edgelower.quant.algebra import INT8, INT32, IntegerAlgebra
from edgelower.quant.records import PoolQ, record_of
from edgelower.quant.resampling import ResizeBilinearQ


def _separable_sum(A: IntegerAlgebra, x, rows: np.ndarray, cols: np.ndarray):
    """sum over (a, b) of rows[i, a] * x[..., a, b] * cols[j, b], exact in int32: [N, C, H, W] -> [N, C, OH, OW]."""
    wide = A.matmul(A.cast(x, INT32), A.const(cols.T, INT32), INT32)
    return A.matmul(A.const(rows, INT32), wide, INT32)


def _round_div(A: IntegerAlgebra, total, divisor):
    """(total +- divisor / 2) / divisor with C's truncating division: round half away from zero."""
    half = A.const(np.asarray(divisor) // 2, INT32)
    return A.trunc_div(A.where(A.gt(total, 0), A.add(total, half), A.sub(total, half)), A.const(divisor, INT32))


def resize_bilinear(A: IntegerAlgebra, ins, attrs):
    """reference_ops::ResizeBilinearInteger: the Q20 sum of the 2 x 2 neighbourhood, rounded half away from zero
    (its weights per row and per column add to 1024, so the result stays in int8)."""
    q = record_of(attrs, ResizeBilinearQ)
    x = ins[0]
    (h, w), (oh, ow) = A.shape(x)[2:], attrs["size"]
    total = _separable_sum(A, x, q.matrix(oh, True, h), q.matrix(ow, False, w))
    return [A.cast(_round_div(A, total, 1 << 20), INT8)]


def adaptive_avg_pool2d(A: IntegerAlgebra, ins, attrs):
    """PyTorch's adaptive windows averaged as TFLite's int8 AveragePool averages: the raw sum of each window's
    int8 values divided by its size, rounding half away from zero, clamped to the PoolQ range."""
    q = record_of(attrs, PoolQ)
    x = ins[0]
    (h, w), (oh, ow) = A.shape(x)[2:], attrs["size"]
    rows, cols = adaptive_matrix(h, oh), adaptive_matrix(w, ow)
    count = np.outer(rows.sum(axis=1), cols.sum(axis=1))
    total = _separable_sum(A, x, rows, cols)
    return [A.cast(A.clamp(_round_div(A, total, count), q.act_min, q.act_max), INT8)]
