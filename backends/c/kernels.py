"""Op -> runtime kernel calls: `KERNELS` maps every Op to one small emit function per op family.

An emit function reads its node's operand types and attributes and asks its `KernelContext` for `static const`
params structs (geometry, in the layout of `runtime/include/edgelower.h`) and for calls. Strided iteration spaces
are computed here, in Python, once: broadcast dims get stride 0, size-1 dims are dropped and dims that stay
contiguous for every operand are merged, so most kernels run over one or two dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgelower.errors import BuildError
from edgelower.ir.graph import DType, Node, Op, TensorType
from edgelower.ir.ops import complete_attrs, parse_activation

from edgelower.backends.c.syntax import Identifiers, c_type, float_literal, literals, scalar_literal

MAX_DIMS = 6  # EL_MAX_DIMS


@dataclass(frozen=True)
class Params:
    ctype: str
    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Scalar:
    ctype: str
    name: str
    literal: str


@dataclass(frozen=True)
class Array:
    """A `static const` array of exact literals (per-channel integer parameters)."""

    ctype: str
    name: str
    literals: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[str, ...]
    checked: bool = False  # returns a status that invoke() must pass on


@dataclass
class KernelContext:
    """What an emit function sees: its node, operand types and C pointer expressions, and sinks."""

    node: Node
    types: Mapping[str, TensorType]
    pointers: Mapping[str, str]
    idents: Identifiers
    scratch: tuple[str, ...] = ()  # pointers to the kernel's scratch buffers: it runs in place
    defs: list[Params | Scalar | Array] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    @cached_property
    def attrs(self) -> dict[str, Any]:
        return complete_attrs(self.node.op, self.node.attrs)

    def type(self, i: int) -> TensorType:
        return self.types[self.node.inputs[i]]

    @property
    def out(self) -> TensorType:
        return self.types[self.node.output]

    def ptr(self, i: int) -> str:
        """Input i's pointer, or NULL for an optional input the node does not have."""
        return self.pointers[self.node.inputs[i]] if i < len(self.node.inputs) else "NULL"

    @property
    def out_ptr(self) -> str:
        return self.pointers[self.node.output]

    def params(self, ctype: str, fields: Mapping[str, Any]) -> str:
        name = self.idents.unique(f"p_{self.node.name}")
        self.defs.append(Params(ctype, name, fields))
        return f"&{name}"

    def scalar(self, dtype: DType, value: Any) -> str:
        name = self.idents.unique(f"s_{self.node.name}")
        self.defs.append(Scalar(c_type(dtype), name, scalar_literal(value, dtype)))
        return f"&{name}"

    def array(self, dtype: DType, hint: str, values: Any) -> str:
        """A static const array of `values` in `dtype`, defined before anything that points at it; its name."""
        name = self.idents.unique(f"{hint}_{self.node.name}")
        self.defs.append(Array(c_type(dtype), name, tuple(literals(np.asarray(values), dtype))))
        return name

    def call(self, fn: str, *args: str, checked: bool = False) -> None:
        self.calls.append(Call(fn, tuple(args), checked))

    def fail(self, why: str) -> BuildError:
        return BuildError(f"C backend: node {self.node.name} ({self.node.op.name}): {why}")


# --- iteration spaces -----------------------------------------------------------------------------------------

def contiguous_strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides that read `shape` (right-aligned, numpy broadcasting) at every index of `out_shape`."""
    own = [0] * (len(out_shape) - len(shape)) + contiguous_strides(shape)
    dims = [1] * (len(out_shape) - len(shape)) + list(shape)
    return [s if d == o else 0 for s, d, o in zip(own, dims, out_shape)]


def coalesce(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dims and merge neighbours every operand walks contiguously; at least one dim remains."""
    dims = [(d, [s[i] for s in strides]) for i, d in enumerate(shape) if d != 1]
    merged: list[tuple[int, list[int]]] = []
    for d, st in dims:
        if merged and all(prev == cur * d for prev, cur in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * d, st)
        else:
            merged.append((d, st))
    if not merged:
        merged = [(1, [0] * len(strides))]
    return [d for d, _ in merged], [[st[k] for _, st in merged] for k in range(len(strides))]


def _fits(k: KernelContext, shape: Sequence[int]) -> None:
    if len(shape) > MAX_DIMS:
        raise k.fail(f"needs a {len(shape)}-d iteration space after merging dims; the runtime has {MAX_DIMS}")


def walk(k: KernelContext, shape: Sequence[int], stride: Sequence[int]) -> dict[str, Any]:
    shape, (stride,) = coalesce(shape, stride)
    _fits(k, shape)
    return {"ndim": len(shape), "shape": shape, "stride": stride}


def broadcast(k: KernelContext, out_shape: Sequence[int], sa: Sequence[int], sb: Sequence[int]) -> dict[str, Any]:
    shape, (sa, sb) = coalesce(out_shape, sa, sb)
    _fits(k, shape)
    return {"ndim": len(shape), "shape": shape, "stride_a": sa, "stride_b": sb}


def copy(k: KernelContext, elem_size: int, shape: Sequence[int], x_stride: Sequence[int], y_stride: Sequence[int],
         x_offset: int = 0, y_offset: int = 0) -> str:
    shape, (xs, ys) = coalesce(shape, x_stride, y_stride)
    _fits(k, shape)
    return k.params("el_copy_params", {"elem_size": elem_size, "ndim": len(shape), "shape": shape,
                                       "x_offset": x_offset, "x_stride": xs, "y_offset": y_offset, "y_stride": ys})


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
          Op.MAXIMUM: "el_maximum_f32", Op.MINIMUM: "el_minimum_f32"}

UNARY = {Op.RELU: "el_relu_f32", Op.HARDSWISH: "el_hardswish_f32", Op.HARDSIGMOID: "el_hardsigmoid_f32",
         Op.SIGMOID: "el_sigmoid_f32", Op.TANH: "el_tanh_f32", Op.SILU: "el_silu_f32", Op.EXP: "el_exp_f32",
         Op.LOG: "el_log_f32", Op.SQRT: "el_sqrt_f32", Op.RSQRT: "el_rsqrt_f32", Op.NEG: "el_neg_f32",
         Op.ABS: "el_abs_f32", Op.ERF: "el_erf_f32"}


def emit_binary(k: KernelContext) -> None:
    y = k.out.shape
    p = k.params("el_broadcast_params", broadcast(k, y, broadcast_strides(k.type(0).shape, y),
                                                  broadcast_strides(k.type(1).shape, y)))
    act = (activation(k),) if k.node.op is Op.ADD else ()
    k.call(BINARY[k.node.op], p, *act, k.ptr(0), k.ptr(1), k.out_ptr)


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
    if divisor is not None and (int(divisor) != divisor or divisor <= 0):
        raise k.fail(f"AVG_POOL2D divisor {divisor!r} is not a positive integer")
    dh, dw = a["dilation"] if is_max else (1, 1)
    p = k.params("el_pool2d_params", {
        "planes": n * c, "in_h": h, "in_w": w, "out_h": oh, "out_w": ow,
        "kernel_h": a["kernel"][0], "kernel_w": a["kernel"][1], "stride_h": a["stride"][0],
        "stride_w": a["stride"][1], "dilation_h": dh, "dilation_w": dw,
        "pad_top": a["padding"][0], "pad_left": a["padding"][1], "pad_bottom": a["padding"][2],
        "pad_right": a["padding"][3], "count_include_pad": int(bool(a.get("count_include_pad", False))),
        "divisor": int(divisor or 0)})
    k.call("el_max_pool2d_f32" if is_max else "el_avg_pool2d_f32", p, k.ptr(0), k.out_ptr)


REDUCE = {Op.SUM: "el_sum_f32", Op.MEAN: "el_mean_f32", Op.REDUCE_MAX: "el_reduce_max_f32"}


def reduce_params(k: KernelContext) -> str:
    """el_reduce_params of a reduction over `axes`: a walk over the kept dims and one over the reduced dims."""
    shape, axes = k.type(0).shape, set(k.attrs["axes"])
    strides = contiguous_strides(shape)
    kept = [i for i in range(len(shape)) if i not in axes]
    gone = sorted(axes)
    return k.params("el_reduce_params", {
        "outer": walk(k, [shape[i] for i in kept], [strides[i] for i in kept]),
        "inner": walk(k, [shape[i] for i in gone], [strides[i] for i in gone])})


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
    (rows, row_elems), idx = k.type(0).shape, k.type(1)
    fn = {DType.INT64: "el_gather_i64", DType.INT32: "el_gather_i32"}.get(idx.dtype)
    if fn is None:
        raise k.fail(f"gather indices must be int32 or int64, got {idx.dtype.value}")
    p = k.params("el_gather_params", {"elem_size": k.out.dtype.itemsize, "rows": rows, "row_elems": row_elems,
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
}

# Kernels that may write their output over an input of the same type (no `restrict`; runtime/include/edgelower.h,
# "Aliasing"); CONV2D only with a scratch buffer, through its depthwise in-place kernel. The backend refuses any
# other overlap of an output with an input.
IN_PLACE = {*BINARY, *UNARY, Op.CLAMP, Op.GELU, Op.SOFTMAX, Op.LOG_SOFTMAX, Op.LAYER_NORM, Op.BATCH_NORM}
IN_PLACE_WITH_SCRATCH = {Op.CONV2D}

# Kernels that move bytes and work for every dtype; QUANTIZE and DEQUANTIZE convert between float32 and int8; every
# other kernel here exists for float32 only (the int8 ones are c_kernels_s8's).
ANY_DTYPE = {Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND, Op.CONCAT, Op.PAD, Op.UPSAMPLE_NEAREST, Op.GATHER,
             Op.QUANTIZE, Op.DEQUANTIZE}


def emit_kernel(k: KernelContext) -> None:
    """Dispatch one node through KERNELS after checking the runtime has a kernel for its dtypes; integer nodes (a
    `q` record, or int8 comparisons) go to the int8 kernels of c_kernels_s8."""
    # Imported here: c_kernels_s8 builds on this module's context and iteration-space helpers.
    from edgelower.backends.c.kernels_s8 import emit_int8_kernel, is_int8_node

    if is_int8_node(k):
        emit_int8_kernel(k)
        return
    op = k.node.op
    if op not in KERNELS:
        raise k.fail("no C kernel is registered for this op (add an emit function to c_kernels.KERNELS)")
    operands = [k.types[v] for v in k.node.inputs + k.node.outputs]
    if op not in ANY_DTYPE and any(t.dtype is not DType.FLOAT32 or t.qparams is not None for t in operands):
        kinds = sorted({f"{t.dtype.value}{' (quantized)' if t.qparams else ''}" for t in operands})
        raise k.fail(f"the C runtime has only float32 kernels for this op; operands are {', '.join(kinds)}")
    KERNELS[op](k)
