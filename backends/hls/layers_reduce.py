"""Layer builders for pools, reductions and normalizations: MAX_POOL2D, AVG_POOL2D, MEAN, REDUCE_MAX, SOFTMAX
(TFLite's and I-BERT's) and LAYER_NORM."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from edgelower.ir.graph import Op
from edgelower.quant.records import MeanQ, PoolQ, SoftmaxQ
from edgelower.quant.transformer import ILayerNormQ, ISoftmaxQ

from edgelower.backends.hls import configs as cfg
from edgelower.backends.hls.plan import (
    INT32, Call, Context, LayerPlan, Refused, Rom, Work, line_buffer, require_constants, require_int8_unary,
    strides_of,
)


def pool2d(k: Context) -> LayerPlan:
    a = k.attrs
    is_max = k.node.op is Op.MAX_POOL2D
    q = k.node.attrs.get("q")
    if q is None and is_max:
        q = PoolQ()
    if not isinstance(q, PoolQ):
        raise Refused(f"expects a PoolQ record, has {type(q).__name__}")
    require_int8_unary(k)
    if not is_max and (any(a["padding"]) and a["count_include_pad"] or a["divisor"] is not None):
        raise Refused("int8 AVG_POOL2D divides by the in-bounds tap count: padding needs count_include_pad=False "
                      "and no divisor")
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    (kh, kw), (sh, sw), (pt, pl, _, _) = a["kernel"], a["stride"], a["padding"]
    dh, dw = a["dilation"] if is_max else (1, 1)
    config = cfg.Pool2dConfig(planes=n * c, channels=c, in_h=h, in_w=w, out_h=oh, out_w=ow, kernel_h=kh, kernel_w=kw,
                              stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_top=pt, pad_left=pl,
                              is_max=is_max, act_min=q.act_min, act_max=q.act_max,
                              **line_buffer(h, oh, kh, sh, dh, pt))
    args = (k.node.inputs[0], k.node.output)
    return LayerPlan(k.node, (Call("el::pool2d", config, args),), Call("el::pool2d_stream", config, args),
                     Work(n * c * oh * ow, divides=0 if is_max else 1, depth=4 if is_max else 20))


def _reduction_tables(k: Context) -> tuple[int, int, Rom, Rom]:
    """(outputs, count, base, offset): output o reduces x[base[o] + offset[r]] for r < count, over any axes."""
    shape, axes = k.type(0).shape, set(k.attrs["axes"])
    strides = strides_of(shape)
    kept = [d for d in range(len(shape)) if d not in axes]
    gone = [d for d in range(len(shape)) if d in axes]

    def offsets(dims) -> np.ndarray:
        grid = np.zeros([shape[d] for d in dims] or [1], np.int64)
        for i, d in enumerate(dims):
            view = [1] * len(dims)
            view[i] = shape[d]
            grid = grid + (np.arange(shape[d]) * strides[d]).reshape(view)
        return grid.reshape(-1)

    base, offset = offsets(kept), offsets(gone)
    return (base.size, offset.size, k.rom("base", "int", base, "where each output's elements start"),
            k.rom("offset", "int", offset, "offsets of the reduced elements"))


def mean(k: Context) -> LayerPlan:
    q = k.record(MeanQ)
    require_int8_unary(k)
    outputs, count, base, offset = _reduction_tables(k)
    if not 0 < count < MeanQ.MAX_COUNT:
        raise Refused(f"MEAN over {count} elements: TFLM's int32 sum holds fewer than {MeanQ.MAX_COUNT}")
    # TFLM folds 1/n into the multiplier at run time; n is static here, so the compiler folds it.
    shift_k = min(count.bit_length() - 1, 32, 31 + q.shift)
    config = cfg.ReduceConfig(outer=outputs, reduced=count, inner=1, recentre=count * q.input_offset,
                              multiplier=(q.multiplier << shift_k) // count, shift=q.shift - shift_k,
                              output_offset=q.output_offset)
    shape = k.type(0).shape
    stream = None
    if len(shape) == 4 and set(k.attrs["axes"]) == {2, 3}:
        stream = Call("el::mean_stream", replace(config, outer=shape[0], reduced=shape[2] * shape[3],
                                                 inner=shape[1]), (k.node.inputs[0], k.node.output))
    return LayerPlan(k.node, (Call("el::mean", config, (k.node.inputs[0], base, offset, k.node.output)),), stream,
                     Work(outputs, wide=1, depth=8))


def reduce_max(k: Context) -> LayerPlan:
    require_int8_unary(k)
    outputs, count, base, offset = _reduction_tables(k)
    config = cfg.ReduceConfig(outer=outputs, reduced=count, inner=1)
    return LayerPlan(k.node, (Call("el::reduce_max", config, (k.node.inputs[0], base, offset, k.node.output)),),
                     None, Work(outputs, depth=2))


def softmax(k: Context) -> LayerPlan:
    q = k.record(SoftmaxQ, ISoftmaxQ)
    require_int8_unary(k)
    shape, axis = k.type(0).shape, k.attrs["axis"]
    view = dict(outer=math.prod(shape[:axis]), axis=shape[axis], inner=math.prod(shape[axis + 1:]))
    if isinstance(q, ISoftmaxQ):
        config: Any = cfg.ISoftmaxConfig(**view, exp_multiplier=q.exp_multiplier, diff_limit=q.diff_limit,
                                         poly_a=q.poly_a, poly_b=q.poly_b)
        kernel, work = "el::isoftmax", Work(view["outer"] * view["inner"], wide=2 * shape[axis], divides=1, depth=40)
    else:
        config = cfg.SoftmaxConfig(**view, input_multiplier=q.input_multiplier, input_left_shift=q.input_left_shift,
                                   diff_min=q.diff_min)
        kernel, work = "el::softmax", Work(view["outer"] * view["inner"], wide=24 * shape[axis], depth=60)
    return LayerPlan(k.node, (Call(kernel, config, (k.node.inputs[0], k.node.output)),), None, work)


def layer_norm(k: Context) -> LayerPlan:
    q = k.record(ILayerNormQ)
    require_int8_unary(k)
    require_constants(k, 1, 2)
    if len(k.node.inputs) != 3 or any(k.type(i).dtype is not INT32 for i in (1, 2)):
        raise Refused("an integer LAYER_NORM reads (x, weight int32, bias int32)")
    shape = k.type(0).shape
    cols = math.prod(shape[len(shape) - k.attrs["normalized_ndim"]:])
    config = cfg.LayerNormConfig(rows=k.type(0).numel // cols, cols=cols, variance_shift=q.variance_shift,
                                 epsilon=q.epsilon, norm_shift=q.norm_shift, weight_shift=q.weight_shift,
                                 output_offset=q.output_offset)
    args = (k.node.inputs[0], k.node.inputs[1], k.node.inputs[2], k.node.output)
    return LayerPlan(k.node, (Call("el::layer_norm", config, args),), None,
                     Work(config.rows, wide=3 * cols, divides=2, depth=80))
