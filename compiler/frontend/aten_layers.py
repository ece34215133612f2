"""Converters that express layers through the IR's existing ops, exactly, at capture: transposed convolution (a
convolution over the zero-stuffed input), group and instance normalization (LAYER_NORM over a reshaped view plus the
affine), the statistics outputs of native_layer_norm, and resampling (bilinear, adaptive pooling, pools of unbatched
images). Merged into `edgelower.frontend.aten_ops.ATEN_TO_IR`; `aten_nn._convolution` calls `transposed`."""

from __future__ import annotations

import math

import numpy as np

from edgelower.frontend.lowering import Lowering, Unlowerable
from edgelower.ir.graph import Op


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    value = tuple(int(v) for v in value)
    return (value[0], value[0]) if len(value) == 1 else value


# --- transposed convolution ---------------------------------------------------------------------------------------

def _stuffed(cx: Lowering, x: str, stride: tuple[int, int]) -> str:
    """x [N, C, H, W] with stride - 1 zeros between neighbours: [N, C, (H - 1) * sh + 1, (W - 1) * sw + 1]."""
    (sh, sw), (n, c, h, w) = stride, cx.shape(x)
    if (sh, sw) == (1, 1):
        return x
    wide = cx.op(Op.PAD, [cx.reshape(x, (n, c, h, 1, w, 1))],
                 pads=((0, 0), (0, 0), (0, 0), (0, sh - 1), (0, 0), (0, sw - 1)), value=0.0)
    grid = cx.reshape(wide, (n, c, h * sh, w * sw))
    grid = cx.op(Op.SLICE, [grid], axis=2, start=0, end=(h - 1) * sh + 1) if sh > 1 else grid
    return cx.op(Op.SLICE, [grid], axis=3, start=0, end=(w - 1) * sw + 1) if sw > 1 else grid


def _direct_weight(cx: Lowering, weight: str, groups: int) -> str:
    """The transposed convolution's weight [Cin, Cout/g, kh, kw] as the direct one's [Cout, Cin/g, kh, kw], flipped
    in both spatial dims: a constant computed now, or data movement at run time."""
    cin, cog, kh, kw = cx.shape(weight)
    data = cx.data(weight)
    if data is not None:
        w = data.reshape(groups, cin // groups, cog, kh, kw).transpose(0, 2, 1, 3, 4)
        return cx.const(np.ascontiguousarray(w.reshape(groups * cog, cin // groups, kh, kw)[:, :, ::-1, ::-1]),
                        hint=weight)
    w = cx.op(Op.PERMUTE, [cx.reshape(weight, (groups, cin // groups, cog, kh, kw))], perm=(0, 2, 1, 3, 4))
    w = cx.reshape(w, (groups * cog, cin // groups, kh, kw))
    for axis, size in ((2, kh), (3, kw)):
        if size > 1:
            w = cx.op(Op.GATHER, [w, cx.const(np.arange(size - 1, -1, -1, dtype=np.int64), hint="reversed")],
                      axis=axis)
    return w


def transposed(cx: Lowering, x, weight, bias, stride, padding, dilation, output_padding, groups) -> str:
    """conv_transpose2d = CONV2D (stride 1, the same dilation) of the zero-stuffed input with the flipped,
    transposed weight, padded by dilation * (k - 1) - padding (plus output_padding at the bottom and right); a
    negative padding crops the stuffed input instead. The sums are the transposed convolution's, term for term
    (the stuffed zeros add exact zeros; on int8 they are the zero point, as CONV2D's own padding is)."""
    z = _stuffed(cx, x, _pair(stride))
    w = _direct_weight(cx, weight, int(groups))
    kh, kw = cx.shape(weight)[2:]
    pads = []
    for axis, k, p, d, extra in ((2, kh, *_pair(padding)[:1], _pair(dilation)[0], _pair(output_padding)[0]),
                                 (3, kw, *_pair(padding)[1:], _pair(dilation)[1], _pair(output_padding)[1])):
        lo, hi = d * (k - 1) - p, d * (k - 1) - p + extra
        size = cx.shape(z)[axis]
        if lo < 0 or hi < 0:
            start, end = max(-lo, 0), size - max(-hi, 0)
            if end <= start:
                raise Unlowerable("padding larger than the transposed convolution's output")
            z = cx.op(Op.SLICE, [z], axis=axis, start=start, end=end)
        pads.append((max(lo, 0), max(hi, 0)))
    (top, bottom), (left, right) = pads
    inputs = [z, w] if bias is None else [z, w, bias]
    return cx.op(Op.CONV2D, inputs, stride=(1, 1), padding=(top, left, bottom, right), dilation=_pair(dilation),
                 groups=int(groups))


# --- normalization ------------------------------------------------------------------------------------------------

def _statistics(cx: Lowering, rows: str, eps: float) -> tuple[str, str]:
    """(mean, 1 / sqrt(biased variance + eps)) of each row of a [..., M] value, keepdim."""
    axis = cx.rank(rows) - 1
    mean = cx.op(Op.MEAN, [rows], axes=(axis,), keepdim=True)
    centred = cx.op(Op.SUB, [rows, mean])
    var = cx.op(Op.MEAN, [cx.op(Op.MUL, [centred, centred])], axes=(axis,), keepdim=True)
    return mean, cx.op(Op.RSQRT, [cx.op(Op.ADD, [var, cx.scalar(float(eps))])])


def _normalized_rows(cx: Lowering, rows: str, eps: float) -> str:
    return cx.op(Op.LAYER_NORM, [rows], normalized_ndim=1, eps=float(eps))


def _per_channel(cx: Lowering, y: str, weight, bias) -> str:
    """y * weight + bias with weight and bias of the channel axis (1), either possibly None."""
    view = (cx.shape(y)[1],) + (1,) * (cx.rank(y) - 2)
    if weight is not None:
        y = cx.op(Op.MUL, [y, cx.reshape(weight, view)])
    if bias is not None:
        y = cx.op(Op.ADD, [y, cx.reshape(bias, view)])
    return y


def _native_group_norm(cx: Lowering, x, weight, bias, n, c, hxw, group, eps):
    """-> (out, mean [N, G], rstd [N, G]): each group of C / G channels normalized as one LAYER_NORM row."""
    rows = cx.reshape(x, (int(n), int(group), cx.type(x).numel // max(int(n) * int(group), 1)))
    out = _per_channel(cx, cx.reshape(_normalized_rows(cx, rows, eps), cx.shape(x)), weight, bias)
    mean, rstd = _statistics(cx, rows, eps)
    return out, cx.reshape(mean, (int(n), int(group))), cx.reshape(rstd, (int(n), int(group)))


def _batch_norm_input_stats(cx: Lowering, x, weight, bias, training, momentum, eps):
    """_native_batch_norm_legit.no_stats (instance_norm, batch norm without running statistics) -> (out, mean [C],
    rstd [C]): each channel normalized over every other axis, as one LAYER_NORM row."""
    rank, c = cx.rank(x), cx.shape(x)[1]
    perm = (1, 0) + tuple(range(2, rank))
    first = cx.op(Op.PERMUTE, [x], perm=perm) if cx.shape(x)[0] > 1 else x
    rows = cx.reshape(first, (c, cx.type(x).numel // max(c, 1)))
    normalized = cx.reshape(_normalized_rows(cx, rows, eps), cx.shape(first))
    back = cx.op(Op.PERMUTE, [normalized], perm=perm) if cx.shape(x)[0] > 1 else normalized
    mean, rstd = _statistics(cx, rows, eps)
    return _per_channel(cx, back, weight, bias), cx.reshape(mean, (c,)), cx.reshape(rstd, (c,))


def native_layer_norm_stats(cx: Lowering, x, normalized_shape, eps) -> tuple[str, str]:
    """native_layer_norm's mean and rstd: x.shape[:-k] + (1,) * k."""
    k = len(normalized_shape)
    lead = cx.shape(x)[:cx.rank(x) - k]
    mean, rstd = _statistics(cx, cx.reshape(x, lead + (math.prod(normalized_shape),)), eps)
    return cx.reshape(mean, lead + (1,) * k), cx.reshape(rstd, lead + (1,) * k)


# --- resampling ---------------------------------------------------------------------------------------------------

def batched(convert):
    """A 2-d pooling or resampling converter that also takes a [C, H, W] image, as torch does."""
    def wrapper(cx: Lowering, x, *args, **kwargs):
        if cx.rank(x) == 3:
            result = convert(cx, cx.reshape(x, (1,) + cx.shape(x)), *args, **kwargs)
            if isinstance(result, tuple):
                return tuple(r if r is None else cx.reshape(r, cx.shape(r)[1:]) for r in result)
            return cx.reshape(result, cx.shape(result)[1:])
        if cx.rank(x) != 4:
            raise Unlowerable(f"a {cx.rank(x)}-d input (2-d pooling takes 3-d or 4-d)")
        return convert(cx, x, *args, **kwargs)
    return wrapper


def _adaptive_size(cx: Lowering, x, output_size) -> tuple[int, int]:
    (h, w), size = cx.shape(x)[2:], _pair(output_size) if output_size is not None else (None, None)
    return tuple(int(s) if s is not None else d for s, d in zip(size, (h, w)))


@batched
def _adaptive_avg_pool2d(cx: Lowering, x, output_size):
    """Global pooling -> MEAN over H, W; output sizes that divide the input -> one AVG_POOL2D (TFLite's
    AVERAGE_POOL_2D); any other -> ADAPTIVE_AVG_POOL2D (PyTorch's uneven windows)."""
    (h, w), (oh, ow) = cx.shape(x)[2:], _adaptive_size(cx, x, output_size)
    if (oh, ow) == (h, w):
        return x
    if (oh, ow) == (1, 1):
        return cx.op(Op.MEAN, [x], axes=(2, 3), keepdim=True)
    if h % oh == 0 and w % ow == 0:
        return cx.op(Op.AVG_POOL2D, [x], kernel=(h // oh, w // ow), stride=(h // oh, w // ow))
    return cx.op(Op.ADAPTIVE_AVG_POOL2D, [x], size=(oh, ow))


@batched
def _adaptive_max_pool2d(cx: Lowering, x, output_size):
    """adaptive_max_pool2d -> (values, indices); only the values are computed."""
    (h, w), (oh, ow) = cx.shape(x)[2:], _adaptive_size(cx, x, output_size)
    if h % oh == 0 and w % ow == 0:
        return cx.op(Op.MAX_POOL2D, [x], kernel=(h // oh, w // ow), stride=(h // oh, w // ow)), None
    return cx.op(Op.ADAPTIVE_MAX_POOL2D, [x], size=(oh, ow)), None


def _bilinear_scales(cx: Lowering, x, size, align_corners: bool, scales) -> tuple[float, float] | None:
    """RESIZE_BILINEAR's `scale`: None when torch's source step is in / out (no scale factor, or one torch
    recomputed from the size); else (1 / scale_h, 1 / scale_w) as torch's float computes it."""
    if align_corners or scales is None or all(s is None for s in scales):
        return None
    steps = []
    for s, n, m in zip(scales, cx.shape(x)[2:], size):
        steps.append(float(np.float32(n) / np.float32(m)) if s is None or s <= 0 else float(np.float32(1.0 / s)))
    ratio = tuple(float(np.float32(n) / np.float32(m)) for n, m in zip(cx.shape(x)[2:], size))
    return None if tuple(steps) == ratio else tuple(steps)


@batched
def _upsample_bilinear2d(cx: Lowering, x, output_size, align_corners, scales_h=None, scales_w=None):
    size = tuple(int(s) for s in output_size)
    scale = _bilinear_scales(cx, x, size, bool(align_corners), (scales_h, scales_w))
    return cx.op(Op.RESIZE_BILINEAR, [x], size=size, align_corners=bool(align_corners), scale=scale)


@batched
def _upsample_bilinear2d_vec(cx: Lowering, x, output_size, align_corners, scale_factors):
    if output_size is None:
        h, w = cx.shape(x)[2:]
        output_size = (math.floor(h * scale_factors[0]), math.floor(w * scale_factors[1]))
    scales = scale_factors if scale_factors is not None else (None, None)
    return _upsample_bilinear2d(cx, x, output_size, align_corners, *scales)

LAYER_OPS = {
    "aten.native_group_norm.default": _native_group_norm,
    "aten._native_batch_norm_legit.no_stats": _batch_norm_input_stats,
    "aten._adaptive_avg_pool2d.default": _adaptive_avg_pool2d,
    "aten.adaptive_avg_pool2d.default": _adaptive_avg_pool2d,
    "aten.adaptive_max_pool2d.default": _adaptive_max_pool2d,
    "aten.upsample_bilinear2d.default": _upsample_bilinear2d,
    "aten.upsample_bilinear2d.vec": _upsample_bilinear2d_vec,
}
