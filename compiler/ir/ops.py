"""Signatures of every IR op: input arity, attributes with defaults, and output type inference.

Conventions shared by the interpreter, every pass and every backend:
- images are NCHW, convolution weights OIHW (groups split I), linear weights [out, in] (y = x @ W.T + b);
- `padding` of CONV2D / pools is (top, left, bottom, right); PAD's `pads` is ((before, after), ...) for every dim;
- axes are non-negative after capture; reductions take a tuple `axes` and `keepdim`;
- binary elementwise ops broadcast like numpy; DIV is float only (TRUNC_DIV divides integers);
- on integer dtypes ADD, SUB, MUL, NEG, ABS and SHIFT_LEFT wrap modulo 2**bits, as C's unsigned arithmetic does;
  CONV2D, LINEAR and MATMUL accumulate exactly and wrap once to `out_dtype` (default: the input's dtype), so
  int8 x int8 with out_dtype "int32" is TFLite's int32 accumulator. The primitive integer ops' definitions and
  value preconditions (shift amounts in [0, bits), divisors not 0) are in `edgelower.interp.primitives`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from edgelower.ir.graph import DType, Op, TensorType
from edgelower.ir.integer_signatures import PRIMITIVE_INTEGER_OPS, PRIMITIVE_SIGNATURES, accumulator_dtype
from edgelower.ir.signature import REQUIRED, Infer, IRError, OpSignature, broadcast_shapes, dtype_attr
from edgelower.ir.signature import binary as _binary
from edgelower.ir.traits import ops_where, traits

__all__ = ["OPS", "IRError", "OpSignature", "REQUIRED", "Infer", "broadcast_shapes", "PRIMITIVE_INTEGER_OPS"]

def _same(ins, attrs):
    return [ins[0]]


def _float_same(ins, attrs):
    return [TensorType(ins[0].shape, DType.FLOAT32)]


def _add(ins, attrs):
    _check_activation(ins, attrs)
    return _binary(ins, attrs)


# Activations an op with the `takes_activation` trait may apply to its own result (attribute `activation`, set by
# passes/fuse.py): the name of an op with the `fusable_activation` trait, then its attribute values in signature
# order: ("RELU",), ("CLAMP", 0.0, 6.0), ("HARDSWISH",). The fused result is that op applied to the unfused
# result, value for value.


def activation_spec(op: Op, attrs: Mapping[str, Any]) -> tuple:
    """The `activation` attribute that stands for `op` with `attrs`."""
    return (op.name, *(attrs[k] for k in OPS[op].attrs))


def parse_activation(spec: Any) -> tuple[Op, dict[str, Any]] | None:
    """The (op, attributes) an `activation` attribute stands for; None for none."""
    if spec is None:
        return None
    op = Op.__members__.get(spec[0]) if isinstance(spec, tuple) and spec else None
    if op is None or not traits(op).fusable_activation or len(spec) != 1 + len(OPS[op].attrs):
        names = sorted(a.name for a in ops_where(fusable_activation=True))
        raise IRError(f"activation {spec!r} is not one of {names} with its attributes")
    return op, dict(zip(OPS[op].attrs, spec[1:]))


def _check_activation(ins, attrs) -> None:
    fused = parse_activation(attrs.get("activation"))
    if fused is not None and not traits(fused[0]).plain_integer and not ins[0].dtype.is_float \
            and ins[0].qparams is None:
        raise IRError(f"activation {fused[0].name} is defined on float32 (or quantized) tensors")


def pool_out(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_lo:  # PyTorch: the last window must start inside the input
        out -= 1
    return out


def pool_geometry(x_shape: Sequence[int], attrs: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """A pool's output size, and the bottom/right extent a ceil_mode window may reach past the declared padding."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    h, w = x_shape[2:]
    oh = pool_out(h, kh, sh, pt, pb, dh, attrs["ceil_mode"])
    ow = pool_out(w, kw, sw, pl, pr, dw, attrs["ceil_mode"])
    bottom = max(pb, (oh - 1) * sh + (kh - 1) * dh + 1 - h - pt)
    return oh, ow, bottom, max(pr, (ow - 1) * sw + (kw - 1) * dw + 1 - w - pl)


def _conv2d(ins, attrs):
    x, w = ins[0], ins[1]
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise IRError(f"conv2d wants 4-d input and weight, got {x.shape} and {w.shape}")
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    groups = attrs["groups"]
    if c != ci * groups or o % groups:
        raise IRError(f"conv2d channels: input {c}, weight {w.shape}, groups {groups}")
    if len(ins) == 3 and ins[2].shape != (o,):
        raise IRError(f"conv2d bias shape {ins[2].shape} != ({o},)")
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = attrs["stride"], attrs["dilation"], attrs["padding"]
    oh, ow = pool_out(h, kh, sh, pt, pb, dh), pool_out(wd, kw, sw, pl, pr, dw)
    if oh <= 0 or ow <= 0:
        raise IRError(f"conv2d output would be empty ({oh}x{ow})")
    _check_activation(ins, attrs)
    return [TensorType((n, o, oh, ow), accumulator_dtype(ins, attrs))]


def _linear(ins, attrs):
    x, w = ins[0], ins[1]
    if len(w.shape) != 2 or x.shape[-1] != w.shape[1]:
        raise IRError(f"linear: input {x.shape} against weight {w.shape}")
    if len(ins) == 3 and ins[2].shape != (w.shape[0],):
        raise IRError(f"linear bias shape {ins[2].shape} != ({w.shape[0]},)")
    _check_activation(ins, attrs)
    return [TensorType(x.shape[:-1] + (w.shape[0],), accumulator_dtype(ins, attrs))]


def _matmul(ins, attrs):
    a, b = ins
    if len(a.shape) < 2 or len(b.shape) < 2 or a.shape[-1] != b.shape[-2]:
        raise IRError(f"matmul: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [TensorType(batch + (a.shape[-2], b.shape[-1]), accumulator_dtype(ins, attrs))]




def _pool2d(ins, attrs):
    x = ins[0]
    if len(x.shape) != 4:
        raise IRError(f"pool2d wants a 4-d input, got {x.shape}")
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs["kernel"], attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    oh = pool_out(h, kh, sh, pt, pb, dh, attrs["ceil_mode"])
    ow = pool_out(w, kw, sw, pl, pr, dw, attrs["ceil_mode"])
    if oh <= 0 or ow <= 0:
        raise IRError(f"pool2d output would be empty ({oh}x{ow})")
    divisor = attrs.get("divisor")
    if divisor is not None and (not isinstance(divisor, int) or isinstance(divisor, bool) or divisor == 0):
        raise IRError(f"avg_pool2d divisor {divisor!r} is not a non-zero integer")
    return [TensorType((n, c, oh, ow), x.dtype)]


def _reduce(ins, attrs):
    shape, axes = ins[0].shape, attrs["axes"]
    if any(not 0 <= a < len(shape) for a in axes) or len(set(axes)) != len(axes):
        raise IRError(f"reduction axes {axes} invalid for shape {shape}")
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if attrs["keepdim"] else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    return [TensorType(out, ins[0].dtype)]


def _select_extreme(ins, attrs):
    """REDUCE_MAX / REDUCE_MIN: a selection has no value to give for an empty group (torch raises too)."""
    if any(ins[0].shape[a] == 0 for a in attrs["axes"] if 0 <= a < len(ins[0].shape)) and \
            math.prod(d for i, d in enumerate(ins[0].shape) if i not in attrs["axes"]) > 0:
        raise IRError(f"a maximum or minimum over an empty axis of {ins[0].shape}")
    return _reduce(ins, attrs)


def _arg_extreme(ins, attrs):
    """ARGMAX / ARGMIN along `axis`: the index of the first extreme element, int64 (torch) or int32 (TFLite)."""
    shape, axis = ins[0].shape, attrs["axis"]
    if not 0 <= axis < max(len(shape), 1) or (shape and shape[axis] == 0):
        raise IRError(f"argmax/argmin axis {axis} invalid (or empty) for shape {shape}")
    out = dtype_attr(attrs["out_dtype"])
    if out not in (DType.INT64, DType.INT32):
        raise IRError(f"argmax/argmin out_dtype must be int64 or int32, got {out.value}")
    if not shape:
        return [TensorType((), out)]
    kept = tuple(1 if i == axis else d for i, d in enumerate(shape)) if attrs["keepdim"] else \
        shape[:axis] + shape[axis + 1:]
    return [TensorType(kept, out)]


def _adaptive_pool2d(ins, attrs):
    if len(ins[0].shape) != 4:
        raise IRError(f"adaptive pooling wants a 4-d input, got {ins[0].shape}")
    (n, c, h, w), (oh, ow) = ins[0].shape, attrs["size"]
    if oh <= 0 or ow <= 0 or h <= 0 or w <= 0:
        raise IRError(f"adaptive pooling {h}x{w} -> {oh}x{ow}: every window needs an input")
    return [TensorType((n, c, oh, ow), ins[0].dtype)]


def _resize(ins, attrs):
    if len(ins[0].shape) != 4 or any(d <= 0 for d in attrs["size"]) or min(ins[0].shape[2:]) <= 0:
        raise IRError(f"resize wants a 4-d input and a positive size, got {ins[0].shape} -> {attrs['size']}")
    n, c, _, _ = ins[0].shape
    return [TensorType((n, c, *attrs["size"]), ins[0].dtype)]


def _reshape(ins, attrs):
    shape = tuple(attrs["shape"])
    if math.prod(shape) != ins[0].numel or any(d < 0 for d in shape):
        raise IRError(f"reshape {ins[0].shape} -> {shape} changes the element count")
    return [TensorType(shape, ins[0].dtype)]


def _permute(ins, attrs):
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(len(ins[0].shape))):
        raise IRError(f"permute {perm} is not a permutation of {len(ins[0].shape)} axes")
    return [TensorType(tuple(ins[0].shape[p] for p in perm), ins[0].dtype)]


def _concat(ins, attrs):
    axis, first = attrs["axis"], ins[0]
    for t in ins[1:]:
        if len(t.shape) != len(first.shape) or t.dtype != first.dtype or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise IRError(f"concat along {axis}: {[x.shape for x in ins]}")
    if not 0 <= axis < len(first.shape):
        raise IRError(f"concat axis {axis} out of range for {first.shape}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in ins)
    return [TensorType(tuple(shape), first.dtype)]


def slice_len(size: int, start: int, end: int, step: int) -> int:
    return len(range(*slice(start, end, step).indices(size)))


def _slice(ins, attrs):
    shape, axis = list(ins[0].shape), attrs["axis"]
    if not 0 <= axis < len(shape) or attrs["step"] < 1 or not 0 <= attrs["start"] <= attrs["end"] <= shape[axis]:
        raise IRError(f"slice axis={axis} [{attrs['start']}:{attrs['end']}:{attrs['step']}] invalid for {tuple(shape)}")
    shape[axis] = slice_len(shape[axis], attrs["start"], attrs["end"], attrs["step"])
    if shape[axis] == 0:
        raise IRError("slice is empty")
    return [TensorType(tuple(shape), ins[0].dtype)]


def _expand(ins, attrs):
    shape = tuple(attrs["shape"])
    if broadcast_shapes(ins[0].shape, shape) != shape:
        raise IRError(f"expand {ins[0].shape} -> {shape} is not a broadcast")
    return [TensorType(shape, ins[0].dtype)]


def _pad(ins, attrs):
    pads = attrs["pads"]
    if len(pads) != len(ins[0].shape) or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise IRError(f"pad {pads} for shape {ins[0].shape}: one non-negative (before, after) per dim")
    return [TensorType(tuple(d + lo + hi for d, (lo, hi) in zip(ins[0].shape, pads)), ins[0].dtype)]


def _upsample(ins, attrs):
    n, c, _, _ = ins[0].shape
    oh, ow = attrs["size"]
    return [TensorType((n, c, oh, ow), ins[0].dtype)]


def _gather(ins, attrs):
    table, idx = ins
    axis = attrs["axis"]
    if idx.dtype not in (DType.INT64, DType.INT32) or not 0 <= axis < len(table.shape):
        raise IRError(f"gather along axis {axis} wants a table of higher rank and integer indices, got {table} and "
                      f"{idx}")
    return [TensorType(table.shape[:axis] + idx.shape + table.shape[axis + 1:], table.dtype)]


def _lookup(ins, attrs):
    if ins[0].dtype is not DType.INT8 or attrs.get("q") is None:
        raise IRError(f"lookup maps int8 through the table of its `q` record, got {ins[0]}")
    return [ins[0]]


def _axis_same(ins, attrs):
    if not 0 <= attrs["axis"] < len(ins[0].shape):
        raise IRError(f"axis {attrs['axis']} out of range for {ins[0].shape}")
    return [ins[0]]


def _layer_norm(ins, attrs):
    k = attrs["normalized_ndim"]
    if not 1 <= k <= len(ins[0].shape):
        raise IRError(f"layer_norm normalized_ndim {k} invalid for shape {ins[0].shape}")
    for t in ins[1:]:
        if t.shape != ins[0].shape[-k:]:
            raise IRError(f"layer_norm affine shape {t.shape} != {ins[0].shape[-k:]}")
    return [ins[0]]


def _batch_norm(ins, attrs):
    c = ins[0].shape[1]
    for t in ins[1:]:
        if t.shape != (c,):
            raise IRError(f"batch_norm parameter shape {t.shape} != ({c},)")
    return [ins[0]]


def _requantize(ins, attrs):
    if attrs.get("q") is None or ins[0].dtype not in (DType.INT32, DType.INT8):
        raise IRError(f"requantize takes an int32 or int8 tensor and a `q` record, got {ins[0]}")
    return [TensorType(ins[0].shape, DType.INT8)]


def _quantize(ins, attrs):
    if not ins[0].dtype.is_float:
        raise IRError(f"quantize takes float32, got {ins[0]}")
    return [TensorType(ins[0].shape, DType.INT8)]


def _dequantize(ins, attrs):
    if ins[0].dtype is not DType.INT8:
        raise IRError(f"dequantize takes int8, got {ins[0]}")
    return [TensorType(ins[0].shape, DType.FLOAT32)]




_pool_attrs = {"kernel": REQUIRED, "stride": REQUIRED, "padding": (0, 0, 0, 0), "ceil_mode": False}
_unary = OpSignature(1, 1, {}, _same)
_binary_sig = OpSignature(2, 2, {}, _binary)
_reduce_sig = OpSignature(1, 1, {"axes": REQUIRED, "keepdim": False}, _reduce)

OPS: dict[Op, OpSignature] = {
    Op.CONV2D: OpSignature(2, 3, {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1,
                                  "activation": None, "out_dtype": None}, _conv2d),
    Op.LINEAR: OpSignature(2, 3, {"activation": None, "out_dtype": None}, _linear),
    Op.MATMUL: OpSignature(2, 2, {"out_dtype": None}, _matmul),
    Op.ADD: OpSignature(2, 2, {"activation": None}, _add),
    Op.SUB: _binary_sig, Op.MUL: _binary_sig, Op.DIV: _binary_sig,
    Op.MAXIMUM: _binary_sig, Op.MINIMUM: _binary_sig,
    Op.POW: _binary_sig,  # x ** y, float
    Op.RELU: _unary,
    Op.CLAMP: OpSignature(1, 1, {"min": REQUIRED, "max": REQUIRED}, _same),  # None = unbounded on that side
    Op.HARDSWISH: _unary, Op.HARDSIGMOID: _unary, Op.SIGMOID: _unary, Op.TANH: _unary,
    Op.GELU: OpSignature(1, 1, {"approximate": "none"}, _same),  # "none" (erf) or "tanh"
    Op.SILU: _unary, Op.EXP: _unary, Op.LOG: _unary, Op.SQRT: _unary, Op.RSQRT: _unary, Op.NEG: _unary,
    Op.ABS: _unary, Op.ERF: _unary, Op.FLOOR: _unary, Op.CEIL: _unary, Op.TRUNC: _unary,
    Op.ROUND: _unary,  # half to even, as torch.round
    # y = table[x + 128] of its TableQ record: int8 only (edgelower.quant.tables)
    Op.LOOKUP: OpSignature(1, 1, {}, _lookup),
    Op.MAX_POOL2D: OpSignature(1, 1, {**_pool_attrs, "dilation": (1, 1)}, _pool2d),
    # count_include_pad: divide by the whole window; else by the in-bounds part. divisor: overrides both.
    Op.AVG_POOL2D: OpSignature(1, 1, {**_pool_attrs, "count_include_pad": True, "divisor": None}, _pool2d),
    # windows of PyTorch's adaptive pooling: out[i] reads [floor(i * in / out), ceil((i + 1) * in / out))
    Op.ADAPTIVE_MAX_POOL2D: OpSignature(1, 1, {"size": REQUIRED}, _adaptive_pool2d),
    Op.ADAPTIVE_AVG_POOL2D: OpSignature(1, 1, {"size": REQUIRED}, _adaptive_pool2d),
    Op.MEAN: _reduce_sig, Op.SUM: _reduce_sig,
    Op.REDUCE_MAX: OpSignature(1, 1, {"axes": REQUIRED, "keepdim": False}, _select_extreme),
    Op.REDUCE_MIN: OpSignature(1, 1, {"axes": REQUIRED, "keepdim": False}, _select_extreme),
    # the index of the first maximum (minimum) along `axis`; NaN counts as the maximum (and the minimum), as torch
    Op.ARGMAX: OpSignature(1, 1, {"axis": REQUIRED, "keepdim": False, "out_dtype": "int64"}, _arg_extreme),
    Op.ARGMIN: OpSignature(1, 1, {"axis": REQUIRED, "keepdim": False, "out_dtype": "int64"}, _arg_extreme),
    Op.RESHAPE: OpSignature(1, 1, {"shape": REQUIRED}, _reshape),
    Op.PERMUTE: OpSignature(1, 1, {"perm": REQUIRED}, _permute),
    Op.CONCAT: OpSignature(1, 64, {"axis": REQUIRED}, _concat),
    Op.SLICE: OpSignature(1, 1, {"axis": REQUIRED, "start": REQUIRED, "end": REQUIRED, "step": 1}, _slice),
    Op.EXPAND: OpSignature(1, 1, {"shape": REQUIRED}, _expand),
    Op.PAD: OpSignature(1, 1, {"pads": REQUIRED, "value": 0.0}, _pad),
    # out[i] = in[floor(i * in_size / out_size)], as torch's "nearest" (not "nearest-exact")
    Op.UPSAMPLE_NEAREST: OpSignature(1, 1, {"size": REQUIRED}, _upsample),
    # torch's "bilinear": align_corners, or half-pixel centres with source coordinates clamped at 0; `scale` (h, w):
    # the source step per output step, when it is not in / out (torch's 1 / scale_factor), ignored with align_corners
    Op.RESIZE_BILINEAR: OpSignature(1, 1, {"size": REQUIRED, "align_corners": False, "scale": None}, _resize),
    # (table, indices) -> numpy's take(table, indices, axis): indices replace the axis (TFLite's GATHER)
    Op.GATHER: OpSignature(2, 2, {"axis": 0}, _gather),
    Op.SOFTMAX: OpSignature(1, 1, {"axis": REQUIRED}, _axis_same),
    Op.LOG_SOFTMAX: OpSignature(1, 1, {"axis": REQUIRED}, _axis_same),
    # normalizes over the trailing `normalized_ndim` dims; optional inputs weight, bias of that shape
    Op.LAYER_NORM: OpSignature(1, 3, {"normalized_ndim": REQUIRED, "eps": 1e-5}, _layer_norm),
    # inputs (x, mean, var, weight, bias), channel axis 1, inference form
    Op.BATCH_NORM: OpSignature(5, 5, {"eps": 1e-5}, _batch_norm),
    # int32 accumulator (or int8) -> int8; all arithmetic in the required `q` record (docs/quantization.md)
    Op.REQUANTIZE: OpSignature(1, 1, {}, _requantize),
    # q = clamp(round(x / scale) + zero_point) to int8, rounding half away from zero (TFLite AffineQuantize)
    Op.QUANTIZE: OpSignature(1, 1, {"scale": REQUIRED, "zero_point": REQUIRED}, _quantize),
    # x = (q - zero_point) * scale in float32
    Op.DEQUANTIZE: OpSignature(1, 1, {"scale": REQUIRED, "zero_point": REQUIRED}, _dequantize),
    **PRIMITIVE_SIGNATURES,
}

assert set(OPS) == set(Op), f"ops without a signature: {set(Op) - set(OPS)}"

# Every op may carry `q`: the record of integer parameters that defines its arithmetic on quantized tensors
# (docs/quantization.md). None on float nodes.
COMMON_ATTRS = {"q": None}

def complete_attrs(op: Op, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, reject unknown or missing attributes."""
    sig = OPS[op]
    unknown = set(attrs) - set(sig.attrs) - set(COMMON_ATTRS)
    if unknown:
        raise IRError(f"{op.name}: unknown attributes {sorted(unknown)}")
    full = {}
    for key, default in sig.attrs.items():
        if key in attrs:
            full[key] = attrs[key]
        elif default is REQUIRED:
            raise IRError(f"{op.name}: missing attribute '{key}'")
        else:
            full[key] = default
    full.update({key: attrs.get(key, default) for key, default in COMMON_ATTRS.items()})
    return full


def infer_types(op: Op, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
    """Output types of `op` on `inputs`; raises IRError on an ill-typed node. Completes `attrs` in place."""
    sig = OPS[op]
    if not sig.min_inputs <= len(inputs) <= sig.max_inputs:
        raise IRError(f"{op.name} takes {sig.min_inputs}..{sig.max_inputs} inputs, got {len(inputs)}")
    if isinstance(attrs, dict):
        attrs.update(complete_attrs(op, attrs))
    else:
        attrs = complete_attrs(op, attrs)
    integer = attrs.get("q") is not None
    if not traits(op).plain_integer and not integer and any(not t.dtype.is_float and t.qparams is None for t in inputs[:1]):
        raise IRError(f"{op.name} is defined on float32 (or quantized) tensors, got {inputs[0].dtype.value}")
    types = sig.infer(inputs, attrs)
    # An accumulating op's integer form is int32 (requantized by a following REQUANTIZE), unless its record
    # carries the requantization itself (the fused form, int8 out).
    if integer and traits(op).accumulates and getattr(attrs["q"], "requant", None) is None:
        types = [TensorType(t.shape, DType.INT32) for t in types]
    return types
