"""The float32 kernels (and the dtype-generic data movement): `KERNELS` maps ops to one small emit function per op
family.

An emit function reads its node's operand types and attributes and asks its `KernelContext` (backends/c/context.py)
for `static const` params structs (geometry, in the layout of `runtime/include/edgelower.h`) and for calls.
"""

from __future__ import annotations

import math
from typing import Callable

from edgelower.interp.resampling import bilinear_step
from edgelower.ir.graph import DType, Op
from edgelower.ir.ops import parse_activation

from edgelower.backends.c.context import KernelContext, broadcast, broadcast_strides, coalesce, contiguous_strides, \
    copy, fits, reduce_params
from edgelower.backends.c.syntax import float_literal

# --- compute --------------------------------------------------------------------------------------------------

ACTIVATIONS = {Op.RELU: "EL_ACT_RELU", Op.CLAMP: "EL_ACT_CLAMP", Op.HARDSWISH: "EL_ACT_HARDSWISH"}


def activation(k: KernelContext) -> str:
    """A pointer to the node's fused activation (an el_activation_f32), or NULL when it has none."""
    fused = parse_activation(k.attrs.get("activation"))
    if fused is None:
        return "NULL"
    op, a = fused
    lo, hi = a.get("min"), a.get("max")
    return k.params("el_activation_f32", {"kind": ACTIVATIONS[op],
                                          "min": "-INFINITY" if lo is None else float_literal(lo),
                                          "max": "INFINITY" if hi is None else float_literal(hi)})


def emit_conv2d(k: KernelContext) -> None:
    a = k.attrs
    (n, c, h, w), (o, _, kh, kw), (_, _, oh, ow) = k.type(0).shape, k.type(1).shape, k.out.shape
    p = k.params("el_conv2d_params", {
        "batch": n, "in_channels": c, "in_h": h, "in_w": w, "out_channels": o, "out_h": oh, "out_w": ow,
        "kernel_h": kh, "kernel_w": kw, "stride_h": a["stride"][0], "stride_w": a["stride"][1],
        "dilation_h": a["dilation"][0], "dilation_w": a["dilation"][1],
        "pad_top": a["padding"][0], "pad_left": a["padding"][1], "groups": a["groups"]})
    if k.scratch:  # planned in place (passes/memory/alias_buffers.py): the output pointer is the input's
        k.call("el_depthwise_conv2d_inplace_f32", p, activation(k), k.out_ptr, k.ptr(1), k.ptr(2), k.scratch[0])
    else:
        k.call("el_conv2d_f32", p, activation(k), k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_linear(k: KernelContext) -> None:
    out_features, in_features = k.type(1).shape
    p = k.params("el_linear_params", {"rows": k.type(0).numel // in_features, "in_features": in_features,
                                      "out_features": out_features})
    k.call("el_linear_f32", p, activation(k), k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_matmul(k: KernelContext) -> None:
    a, b, y = k.type(0).shape, k.type(1).shape, k.out.shape
    m, kk, n = a[-2], a[-1], b[-1]
    batch = y[:-2]
    sa = [s * m * kk for s in broadcast_strides(a[:-2], batch)]
    sb = [s * kk * n for s in broadcast_strides(b[:-2], batch)]
    p = k.params("el_matmul_params", {"m": m, "k": kk, "n": n, "batch": broadcast(k, batch, sa, sb)})
    k.call("el_matmul_f32", p, k.ptr(0), k.ptr(1), k.out_ptr)


# --- elementwise ----------------------------------------------------------------------------------------------

BINARY = {Op.ADD: "el_add_f32", Op.SUB: "el_sub_f32", Op.MUL: "el_mul_f32", Op.DIV: "el_div_f32",
          Op.MAXIMUM: "el_maximum_f32", Op.MINIMUM: "el_minimum_f32", Op.POW: "el_pow_f32"}

UNARY = {Op.RELU: "el_relu_f32", Op.HARDSWISH: "el_hardswish_f32", Op.HARDSIGMOID: "el_hardsigmoid_f32",
         Op.SIGMOID: "el_sigmoid_f32", Op.TANH: "el_tanh_f32", Op.SILU: "el_silu_f32", Op.EXP: "el_exp_f32",
         Op.LOG: "el_log_f32", Op.SQRT: "el_sqrt_f32", Op.RSQRT: "el_rsqrt_f32", Op.NEG: "el_neg_f32",
         Op.ABS: "el_abs_f32", Op.ERF: "el_erf_f32", Op.FLOOR: "el_floor_f32", Op.CEIL: "el_ceil_f32",
         Op.ROUND: "el_round_f32", Op.TRUNC: "el_trunc_f32"}

PREDICATES = {"lt": "EL_LT", "le": "EL_LE", "gt": "EL_GT", "ge": "EL_GE", "eq": "EL_EQ", "ne": "EL_NE"}


def emit_binary(k: KernelContext) -> None:
    act = (activation(k),) if k.node.op is Op.ADD else ()
    k.call(BINARY[k.node.op], binary_params(k), *act, k.ptr(0), k.ptr(1), k.out_ptr)


def binary_params(k: KernelContext) -> str:
    y = k.out.shape
    return k.params("el_broadcast_params", broadcast(k, y, broadcast_strides(k.type(0).shape, y),
                                                     broadcast_strides(k.type(1).shape, y)))


def emit_compare(k: KernelContext) -> None:
    """COMPARE of float32 (or int8, one quantization) operands into bool bytes."""
    fn = "el_compare_s8" if k.type(0).dtype is DType.INT8 else "el_compare_f32"
    k.call(fn, binary_params(k), PREDICATES[k.attrs["predicate"]], k.ptr(0), k.ptr(1), k.out_ptr)


def emit_where(k: KernelContext) -> None:
    """WHERE of any dtype: the condition and both values broadcast to the output."""
    y = k.out.shape
    if k.type(0).dtype is not DType.BOOL:
        raise k.fail(f"the condition is {k.type(0).dtype.value}, not bool")
    shape, (sc, sa, sb) = coalesce(y, *(broadcast_strides(k.type(i).shape, y) for i in range(3)))
    fits(k, shape)
    p = k.params("el_where_params", {"elem_size": k.out.dtype.itemsize, "ndim": len(shape), "shape": shape,
                                     "stride_cond": sc, "stride_a": sa, "stride_b": sb})
    k.call("el_where", p, k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_arg_extreme(k: KernelContext) -> None:
    """ARGMAX / ARGMIN of float32 or int8 along `axis`, int64 or int32 indices."""
    shape, axis = k.type(0).shape or (1,), k.attrs["axis"]
    p = k.params("el_arg_params", {"outer": math.prod(shape[:axis]), "axis": shape[axis],
                                   "inner": math.prod(shape[axis + 1:]), "index_size": k.out.dtype.itemsize})
    suffix = "s8" if k.type(0).dtype is DType.INT8 else "f32"
    k.call(f"el_{k.node.op.name.lower()}_{suffix}", p, k.ptr(0), k.out_ptr)


def resample_params(k: KernelContext) -> str:
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    return k.params("el_resample_params", {"planes": n * c, "in_h": h, "in_w": w, "out_h": oh, "out_w": ow})


def emit_resample(k: KernelContext) -> None:
    """ADAPTIVE_AVG_POOL2D, ADAPTIVE_MAX_POOL2D and RESIZE_BILINEAR on float32."""
    if k.node.op is Op.RESIZE_BILINEAR:
        (h, w), (oh, ow), a = k.type(0).shape[2:], k.out.shape[2:], k.attrs
        scale = a["scale"] or (None, None)
        steps = [float_literal(bilinear_step(n, m, a["align_corners"], s)) for n, m, s in zip((h, w), (oh, ow), scale)]
        k.call("el_resize_bilinear_f32", resample_params(k), str(int(a["align_corners"])), *steps, k.ptr(0),
               k.out_ptr)
    else:
        k.call(f"el_{k.node.op.name.lower()}_f32", resample_params(k), k.ptr(0), k.out_ptr)


def _unary_params(k: KernelContext) -> str:
    return k.params("el_unary_params", {"count": k.out.numel})


def emit_unary(k: KernelContext) -> None:
    k.call(UNARY[k.node.op], _unary_params(k), k.ptr(0), k.out_ptr)


def emit_clamp(k: KernelContext) -> None:
    a = k.attrs
    lo = "-INFINITY" if a["min"] is None else float_literal(a["min"])
    hi = "INFINITY" if a["max"] is None else float_literal(a["max"])
    k.call("el_clamp_f32", _unary_params(k), lo, hi, k.ptr(0), k.out_ptr)


def emit_quantize(k: KernelContext) -> None:
    """QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32): the edges of an integer region."""
    a = k.attrs
    fn = "el_quantize_f32_s8" if k.node.op is Op.QUANTIZE else "el_dequantize_s8_f32"
    k.call(fn, _unary_params(k), float_literal(a["scale"]), str(int(a["zero_point"])), k.ptr(0), k.out_ptr)


def emit_gelu(k: KernelContext) -> None:
    approximate = k.attrs["approximate"]
    if approximate not in ("none", "tanh"):
        raise k.fail(f"GELU approximate={approximate!r} is neither 'none' nor 'tanh'")
    k.call("el_gelu_tanh_f32" if approximate == "tanh" else "el_gelu_f32", _unary_params(k), k.ptr(0), k.out_ptr)


# --- pooling and reductions -----------------------------------------------------------------------------------

def emit_pool2d(k: KernelContext) -> None:
    a = k.attrs
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    is_max = k.node.op is Op.MAX_POOL2D
    divisor = a.get("divisor")
    if divisor is not None and (int(divisor) != divisor or divisor == 0):
        raise k.fail(f"AVG_POOL2D divisor {divisor!r} is not a non-zero integer")
    dh, dw = a["dilation"] if is_max else (1, 1)
    p = k.params("el_pool2d_params", {
        "planes": n * c, "in_h": h, "in_w": w, "out_h": oh, "out_w": ow,
        "kernel_h": a["kernel"][0], "kernel_w": a["kernel"][1], "stride_h": a["stride"][0],
        "stride_w": a["stride"][1], "dilation_h": dh, "dilation_w": dw,
        "pad_top": a["padding"][0], "pad_left": a["padding"][1], "pad_bottom": a["padding"][2],
        "pad_right": a["padding"][3], "count_include_pad": int(bool(a.get("count_include_pad", False))),
        "divisor": int(divisor or 0)})
    k.call("el_max_pool2d_f32" if is_max else "el_avg_pool2d_f32", p, k.ptr(0), k.out_ptr)


REDUCE = {Op.SUM: "el_sum_f32", Op.MEAN: "el_mean_f32", Op.REDUCE_MAX: "el_reduce_max_f32",
          Op.REDUCE_MIN: "el_reduce_min_f32"}


def emit_reduce(k: KernelContext) -> None:
    k.call(REDUCE[k.node.op], reduce_params(k), k.ptr(0), k.out_ptr)


# --- normalization --------------------------------------------------------------------------------------------

def emit_softmax(k: KernelContext) -> None:
    shape, axis = k.type(0).shape, k.attrs["axis"]
    p = k.params("el_softmax_params", {"outer": math.prod(shape[:axis]), "axis": shape[axis],
                                       "inner": math.prod(shape[axis + 1:])})
    fn = "el_softmax_f32" if k.node.op is Op.SOFTMAX else "el_log_softmax_f32"
    k.call(fn, p, k.ptr(0), k.out_ptr)


def emit_layer_norm(k: KernelContext) -> None:
    a, shape = k.attrs, k.type(0).shape
    cols = math.prod(shape[len(shape) - a["normalized_ndim"]:])
    p = k.params("el_layer_norm_params", {"rows": k.type(0).numel // cols, "cols": cols})
    k.call("el_layer_norm_f32", p, float_literal(a["eps"]), k.ptr(0), k.ptr(1), k.ptr(2), k.out_ptr)


def emit_batch_norm(k: KernelContext) -> None:
    shape = k.type(0).shape
    p = k.params("el_batch_norm_params", {"batch": shape[0], "channels": shape[1],
                                          "inner": math.prod(shape[2:])})
    k.call("el_batch_norm_f32", p, float_literal(k.attrs["eps"]), *(k.ptr(i) for i in range(5)), k.out_ptr)


# --- data movement (any dtype) --------------------------------------------------------------------------------

def emit_reshape(k: KernelContext) -> None:
    es, n = k.out.dtype.itemsize, k.out.numel
    k.call("el_copy", copy(k, es, [n], [1], [1]), k.ptr(0), k.out_ptr)


def emit_permute(k: KernelContext) -> None:
    xs = contiguous_strides(k.type(0).shape)
    y = k.out.shape
    p = copy(k, k.out.dtype.itemsize, y, [xs[d] for d in k.attrs["perm"]], contiguous_strides(y))
    k.call("el_copy", p, k.ptr(0), k.out_ptr)


def emit_slice(k: KernelContext) -> None:
    a = k.attrs
    xs = contiguous_strides(k.type(0).shape)
    offset = a["start"] * xs[a["axis"]]
    xs[a["axis"]] *= a["step"]
    y = k.out.shape
    k.call("el_copy", copy(k, k.out.dtype.itemsize, y, xs, contiguous_strides(y), x_offset=offset),
           k.ptr(0), k.out_ptr)


def emit_expand(k: KernelContext) -> None:
    y = k.out.shape
    p = copy(k, k.out.dtype.itemsize, y, broadcast_strides(k.type(0).shape, y), contiguous_strides(y))
    k.call("el_copy", p, k.ptr(0), k.out_ptr)


def emit_concat(k: KernelContext) -> None:
    """One copy per input, each into its window of the output along `axis`."""
    axis, ys = k.attrs["axis"], contiguous_strides(k.out.shape)
    start = 0
    for i in range(len(k.node.inputs)):
        shape = k.type(i).shape
        p = copy(k, k.out.dtype.itemsize, shape, contiguous_strides(shape), ys, y_offset=start * ys[axis])
        k.call("el_copy", p, k.ptr(i), k.out_ptr)
        start += shape[axis]


def emit_pad(k: KernelContext) -> None:
    """Fill the output with the pad value (skipped when nothing is padded), then copy the input inside it."""
    a, x, y = k.attrs, k.type(0).shape, k.out
    ys = contiguous_strides(y.shape)
    if y.shape != x:
        fill = k.params("el_fill_params", {"elem_size": y.dtype.itemsize, "count": y.numel})
        k.call("el_fill", fill, k.scalar(y.dtype, a["value"]), k.out_ptr)
    offset = sum(lo * s for (lo, _), s in zip(a["pads"], ys))
    k.call("el_copy", copy(k, y.dtype.itemsize, x, contiguous_strides(x), ys, y_offset=offset), k.ptr(0),
           k.out_ptr)


def emit_upsample(k: KernelContext) -> None:
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    p = k.params("el_upsample_params", {"elem_size": k.out.dtype.itemsize, "planes": n * c, "in_h": h,
                                        "in_w": w, "out_h": oh, "out_w": ow})
    k.call("el_upsample_nearest", p, k.ptr(0), k.out_ptr)


def emit_gather(k: KernelContext) -> None:
    table, idx, axis = k.type(0).shape, k.type(1), k.attrs["axis"]
    fn = {DType.INT64: "el_gather_i64", DType.INT32: "el_gather_i32"}.get(idx.dtype)
    if fn is None:
        raise k.fail(f"gather indices must be int32 or int64, got {idx.dtype.value}")
    p = k.params("el_gather_params", {"elem_size": k.out.dtype.itemsize, "outer": math.prod(table[:axis]),
                                      "rows": table[axis], "row_elems": math.prod(table[axis + 1:]),
                                      "count": idx.numel})
    k.call(fn, p, k.ptr(0), k.ptr(1), k.out_ptr, checked=True)


Emit = Callable[[KernelContext], None]

KERNELS: dict[Op, Emit] = {
    Op.CONV2D: emit_conv2d,
    Op.LINEAR: emit_linear,
    Op.MATMUL: emit_matmul,
    **{op: emit_binary for op in BINARY},
    **{op: emit_unary for op in UNARY},
    Op.CLAMP: emit_clamp,
    Op.GELU: emit_gelu,
    Op.QUANTIZE: emit_quantize,
    Op.DEQUANTIZE: emit_quantize,
    Op.MAX_POOL2D: emit_pool2d,
    Op.AVG_POOL2D: emit_pool2d,
    **{op: emit_reduce for op in REDUCE},
    Op.SOFTMAX: emit_softmax,
    Op.LOG_SOFTMAX: emit_softmax,
    Op.LAYER_NORM: emit_layer_norm,
    Op.BATCH_NORM: emit_batch_norm,
    Op.RESHAPE: emit_reshape,
    Op.PERMUTE: emit_permute,
    Op.SLICE: emit_slice,
    Op.EXPAND: emit_expand,
    Op.CONCAT: emit_concat,
    Op.PAD: emit_pad,
    Op.UPSAMPLE_NEAREST: emit_upsample,
    Op.GATHER: emit_gather,
    Op.COMPARE: emit_compare,
    Op.WHERE: emit_where,
    Op.ARGMAX: emit_arg_extreme,
    Op.ARGMIN: emit_arg_extreme,
    Op.ADAPTIVE_AVG_POOL2D: emit_resample,
    Op.ADAPTIVE_MAX_POOL2D: emit_resample,
    Op.RESIZE_BILINEAR: emit_resample,
}


# Kernels that move bytes and work for every dtype; QUANTIZE and DEQUANTIZE convert between float32 and int8; every
# other kernel here exists for float32 only (the int8 ones are c_kernels_s8's).
ANY_DTYPE = {Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND, Op.CONCAT, Op.PAD, Op.UPSAMPLE_NEAREST, Op.GATHER,
             Op.QUANTIZE, Op.DEQUANTIZE, Op.WHERE}

# Ops whose result has a dtype of its own (indices, bools): their float32 kernel is chosen by their operands.
OWN_RESULT_DTYPE = {Op.ARGMAX, Op.ARGMIN, Op.COMPARE}
