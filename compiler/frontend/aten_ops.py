"""The one table from ATen overloads to IR: `ATEN_TO_IR[qualified overload name] = converter`.

It covers core ATen as `torch.export(...).run_decompositions(capture.decomposition_table())` and aot_autograd with
the same table produce it, plus the few non-core overloads those graphs keep on purpose or commonly contain.
Converters follow the calling convention in `edgelower.frontend.lowering`. This module holds the elementwise, reduction,
data-movement and bookkeeping converters; `edgelower.frontend.aten_nn` holds the layer-shaped ones (convolution, matmul,
pooling, normalization, attention), `aten_layers` the layers expressed through other IR ops (transposed convolution,
group and instance norm, resampling), `aten_select` comparisons, selections and index lookups, and
`edgelower.frontend.aten_quant` the quantize/dequantize ops of PT2E-quantized models; all are merged in at the
bottom. Any overload missing here is unsupported, unless all its inputs are known at
capture time, when capture evaluates it once with torch (see `edgelower.frontend.capture`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from edgelower.frontend.aten_layers import LAYER_OPS
from edgelower.frontend.aten_nn import NN_OPS
from edgelower.frontend.aten_select import SELECT_OPS
from edgelower.frontend.aten_quant import QUANT_OPS
from edgelower.ir.graph import DType, Op
from edgelower.frontend.lowering import Lowering, Unlowerable

Converter = Callable[..., object]


def _binary(op: Op) -> Converter:
    """add/sub/mul/div/maximum/minimum, Tensor and Scalar forms: scalars become constants in the result dtype;
    `alpha` (add, sub) scales the second operand as torch does."""
    def convert(cx: Lowering, a, b, alpha=1):
        a, b = cx.tensor(a), cx.tensor(b)
        if alpha != 1:
            b = cx.op(Op.MUL, [b, cx.scalar(alpha)])
        return cx.op(op, [a, b])
    return convert


def _rsub(cx: Lowering, a, b, alpha=1):
    """rsub(a, b) = b - alpha * a."""
    return _binary(Op.SUB)(cx, b, a, alpha)


def _div_mode(cx: Lowering, a, b, rounding_mode=None):
    """div with rounding_mode "trunc" is trunc(a / b), as torch computes it for floats; "floor" (which torch
    computes through fmod, not floor(a / b)) is not expressed."""
    if rounding_mode == "trunc" and cx.out_dtype is DType.FLOAT32:
        return cx.op(Op.TRUNC, [_binary(Op.DIV)(cx, a, b)])
    if rounding_mode is not None:
        raise Unlowerable(f"rounding_mode={rounding_mode!r}")
    return _binary(Op.DIV)(cx, a, b)


def _unary(op: Op) -> Converter:
    return lambda cx, x: cx.op(op, [x])


def _gelu(cx: Lowering, x, approximate="none"):
    return cx.op(Op.GELU, [x], approximate=approximate)


def _clamp(cx: Lowering, x, min=None, max=None):
    """clamp/clamp_min/clamp_max/hardtanh/relu6 with scalar bounds -> CLAMP; None leaves that side open."""
    cast = float if cx.type(x).dtype.is_float else int
    return cx.op(Op.CLAMP, [x], min=None if min is None else cast(min), max=None if max is None else cast(max))


def _clamp_tensor(cx: Lowering, x, min=None, max=None):
    """clamp.Tensor: tensor bounds broadcast, so MAXIMUM then MINIMUM."""
    if min is not None:
        x = cx.op(Op.MAXIMUM, [x, cx.tensor(min)])
    if max is not None:
        x = cx.op(Op.MINIMUM, [x, cx.tensor(max)])
    return x


def _pow(cx: Lowering, x, exponent):
    """pow(x, c): the exponents with an exactly rounded form as that op (x * x, sqrt, rsqrt, 1 / x), any other as
    POW (a table on int8)."""
    if isinstance(exponent, str):
        return cx.op(Op.POW, [cx.tensor(x), cx.tensor(exponent)])
    if exponent == 1:
        return x
    if exponent == 2:
        return cx.op(Op.MUL, [x, x])
    if exponent == 0.5:
        return cx.op(Op.SQRT, [x])
    if exponent == -0.5:
        return cx.op(Op.RSQRT, [x])
    if exponent == -1:
        return cx.op(Op.DIV, [cx.scalar(1.0), x])
    return cx.op(Op.POW, [x, cx.scalar(exponent)])


def _round(cx: Lowering, x, decimals=0):
    """round(x, decimals) as torch's float32 kernel computes it: rint(x * 10^d) / 10^d, or for d < 0
    rint(x / 10^-d) * 10^-d, each step one float32 operation (the power itself is exact in float32 for |d| <= 10)."""
    if not decimals:
        return cx.op(Op.ROUND, [x])
    if abs(decimals) > 10 or cx.out_dtype is not DType.FLOAT32:
        raise Unlowerable(f"decimals={decimals} on {cx.out_dtype.value if cx.out_dtype else 'this dtype'} "
                          "(float32 and |decimals| <= 10 are supported)")
    power = cx.scalar(float(10 ** abs(decimals)))
    if decimals > 0:
        return cx.op(Op.DIV, [cx.op(Op.ROUND, [cx.op(Op.MUL, [x, power])]), power])
    return cx.op(Op.MUL, [cx.op(Op.ROUND, [cx.op(Op.DIV, [x, power])]), power])


def _leaky_relu(cx: Lowering, x, negative_slope=0.01):
    """x if x > 0 else x * slope, exactly as torch selects (NaN and -0.0 take the second branch)."""
    positive = cx.op(Op.COMPARE, [x, cx.scalar(0.0)], predicate="gt")
    return cx.op(Op.WHERE, [positive, x, cx.op(Op.MUL, [x, cx.scalar(negative_slope)])])


def _reduce(op: Op) -> Converter:
    """mean.dim / sum.dim_IntList / amax (and their all-axes forms): `dim` None or [] reduces every axis."""
    def convert(cx: Lowering, x, dim=None, keepdim=False, dtype=None):
        if cx.out_dtype not in (None, cx.type(x).dtype):
            raise Unlowerable(f"a reduction from {cx.type(x).dtype.value} to {cx.out_dtype.value}")
        axes = cx.axes(dim, cx.rank(x))
        if cx.rank(x) == 0:  # torch reduces a 0-d tensor over dim 0 or -1 to itself
            return x
        return cx.op(op, [x], axes=axes, keepdim=bool(keepdim))
    return convert


def _reduce_all(op: Op) -> Converter:
    return lambda cx, x, dtype=None: _reduce(op)(cx, x, None, False, dtype)


def _identity(cx: Lowering, x, *args, **kwargs):
    """clone, alias, contiguous, detach, lift_fresh_copy: values, not storage, are what the IR describes."""
    return x


def _to_copy(cx: Lowering, x, dtype=None, **kwargs):
    return x if dtype is None else cx.tensor(x, cx.out_dtype)


def _dropout(cx: Lowering, x, p, train):
    if train and p > 0:
        raise Unlowerable("dropout in training mode (call model.eval())")
    return x


def _view(cx: Lowering, x, shape):
    return cx.reshape(x, cx.infer_shape(x, shape))


def _flatten(cx: Lowering, x, start_dim=0, end_dim=-1):
    shape, rank = cx.shape(x), cx.rank(x)
    if rank == 0:
        return cx.reshape(x, (1,))
    lo, hi = cx.axis(start_dim, rank), cx.axis(end_dim, rank)
    return cx.reshape(x, shape[:lo] + (int(np.prod(shape[lo:hi + 1])),) + shape[hi + 1:])


def _squeeze(cx: Lowering, x, dims=None):
    """squeeze.default/dim/dims: drop the listed size-1 dims (all size-1 dims for squeeze.default, none for an
    empty list)."""
    shape = cx.shape(x)
    if dims is not None and not isinstance(dims, int) and len(dims) == 0:
        return x
    axes = cx.axes(dims, len(shape))
    return cx.reshape(x, [d for i, d in enumerate(shape) if not (i in axes and d == 1)])


def _unsqueeze(cx: Lowering, x, dim):
    shape = list(cx.shape(x))
    shape.insert(cx.axis(dim, len(shape) + 1), 1)
    return cx.reshape(x, shape)


def _permute(cx: Lowering, x, dims):
    perm = tuple(cx.axis(d, cx.rank(x)) for d in dims)
    return x if perm == tuple(range(len(perm))) else cx.op(Op.PERMUTE, [x], perm=perm)


def _transpose(cx: Lowering, x, dim0, dim1):
    perm = list(range(cx.rank(x)))
    a, b = cx.axis(dim0, len(perm)), cx.axis(dim1, len(perm))
    perm[a], perm[b] = perm[b], perm[a]
    return _permute(cx, x, perm)


def _t(cx: Lowering, x):
    return x if cx.rank(x) < 2 else _transpose(cx, x, 0, 1)


def _expand(cx: Lowering, x, size, implicit=False):
    """expand: -1 keeps the input's size; leading new dims broadcast as in numpy."""
    shape, lead = cx.shape(x), len(size) - cx.rank(x)
    target = tuple(shape[i - lead] if s == -1 else int(s) for i, s in enumerate(size))
    return x if target == shape else cx.op(Op.EXPAND, [x], shape=target)


def _cat(cx: Lowering, tensors: Sequence[str], dim=0):
    # torch.cat skips legacy empty 1-d tensors (shape [0]) beside tensors of another rank; other empty operands
    # take part (canonicalize drops them once the result's shape is set).
    tensors = [cx.tensor(t) for t in tensors]
    if any(cx.rank(t) != 1 for t in tensors):
        tensors = [t for t in tensors if cx.shape(t) != (0,)]
    if len(tensors) == 1:
        return tensors[0]
    return cx.op(Op.CONCAT, tensors, axis=cx.axis(dim, cx.rank(tensors[0])))


def _slice(cx: Lowering, x, dim=0, start=None, end=None, step=1):
    """slice.Tensor: torch clamps start/end into range like Python slicing; a full slice is no node."""
    axis = cx.axis(dim, cx.rank(x))
    size = cx.shape(x)[axis]
    lo, hi, step = slice(start, end, step).indices(size)
    hi = max(lo, hi)
    if (lo, hi, step) == (0, size, 1):
        return x
    if hi == lo:  # no element: an empty constant of the result's shape
        shape = list(cx.shape(x))
        shape[axis] = 0
        return cx.const(np.zeros(shape, cx.type(x).dtype.numpy), hint="empty")
    return cx.op(Op.SLICE, [x], axis=axis, start=lo, end=hi, step=step)


def _select(cx: Lowering, x, dim, index):
    """select.int -> SLICE of one index, then RESHAPE without that dim."""
    axis = cx.axis(dim, cx.rank(x))
    index = cx.axis(index, cx.shape(x)[axis])
    part = _slice(cx, x, axis, index, index + 1)
    return cx.reshape(part, cx.shape(x)[:axis] + cx.shape(x)[axis + 1:])


def _split_with_sizes(cx: Lowering, x, split_sizes, dim=0):
    axis, start, parts = cx.axis(dim, cx.rank(x)), 0, []
    for size in split_sizes:
        parts.append(_slice(cx, x, axis, start, start + size))
        start += size
    return tuple(parts)


def _split(cx: Lowering, x, split_size, dim=0):
    """split.Tensor: chunks of `split_size`, the last one shorter."""
    total = cx.shape(x)[cx.axis(dim, cx.rank(x))]
    sizes = [min(split_size, total - s) for s in range(0, total, split_size)]
    return _split_with_sizes(cx, x, sizes, dim)


def _unbind(cx: Lowering, x, dim=0):
    axis = cx.axis(dim, cx.rank(x))
    return tuple(_select(cx, x, axis, i) for i in range(cx.shape(x)[axis]))


def _index(cx: Lowering, x, indices):
    """index.Tensor: run-time indices on one dim -> GATHER along it (an embedding lookup: table[idx]). With constant
    indices: the resize that aot_autograd writes for F.interpolate(mode="nearest") -> UPSAMPLE_NEAREST; one 1-d
    index list on one dim -> a SLICE per run of consecutive indices, joined by CONCAT."""
    runtime = [(axis, i) for axis, i in enumerate(indices) if i is not None and cx.data(i) is None]
    if len(runtime) == 1 and sum(i is not None for i in indices) == 1 \
            and cx.type(runtime[0][1]).dtype in (DType.INT64, DType.INT32):
        return cx.op(Op.GATHER, [x, runtime[0][1]], axis=runtime[0][0])
    given = {axis: cx.data(i) for axis, i in enumerate(indices) if i is not None}
    if any(data is None or data.dtype.kind not in "iu" for data in given.values()):
        raise Unlowerable("indices computed at run time, or boolean masks")
    size = _nearest_resize(cx.shape(x), given)
    if size is not None:
        return cx.op(Op.UPSAMPLE_NEAREST, [x], size=size)
    if len(given) != 1 or next(iter(given.values())).ndim != 1:
        raise Unlowerable("advanced indexing other than one list of constant indices")
    (axis, index), = given.items()
    index = index % cx.shape(x)[axis]
    runs = np.split(index, np.flatnonzero(np.diff(index) != 1) + 1)
    parts = [_slice(cx, x, axis, int(run[0]), int(run[-1]) + 1) for run in runs]
    return parts[0] if len(parts) == 1 else cx.op(Op.CONCAT, parts, axis=axis)


def _nearest_resize(shape: tuple[int, ...], given: dict[int, np.ndarray]) -> tuple[int, int] | None:
    """(out_h, out_w) when `given` indexes H (as a column) and W of an NCHW tensor exactly where UPSAMPLE_NEAREST
    reads, floor(i * size / out); None otherwise."""
    if len(shape) != 4 or set(given) != {2, 3} or given[2].ndim != 2 or given[2].shape[1] != 1 or given[3].ndim != 1:
        return None
    rows, cols = given[2][:, 0], given[3]
    for source, size in ((rows, shape[2]), (cols, shape[3])):
        if not np.array_equal(source, np.minimum(np.arange(len(source)) * size // len(source), size - 1)):
            return None
    return len(rows), len(cols)


def _constant_pad_nd(cx: Lowering, x, pad, value=0):
    """constant_pad_nd's `pad` lists (before, after) pairs from the last dim backwards; PAD wants every dim. A
    negative amount crops: a SLICE first."""
    rank = cx.rank(x)
    for i in range(len(pad) // 2):
        axis, lo, hi = rank - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])
        if lo < 0 or hi < 0:
            size = cx.shape(x)[axis]
            x = _slice(cx, x, axis, max(-lo, 0), max(size - max(-hi, 0), max(-lo, 0)))
    pad = [max(int(p), 0) for p in pad]
    pads = [(0, 0)] * rank
    for i in range(len(pad) // 2):
        pads[rank - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if not any(lo or hi for lo, hi in pads):
        return x
    return cx.op(Op.PAD, [x], pads=tuple(pads), value=float(value) if cx.type(x).dtype.is_float else int(value))


def _static_only(cx: Lowering, *args, **kwargs):
    """full, arange, scalar_tensor, ...: capture evaluates these once with torch when every argument is static
    (the usual case); reaching the converter means an argument depends on run-time values."""
    raise Unlowerable("its arguments are not static")


def _full_like(fill: float | None) -> Converter:
    """full_like/zeros_like/ones_like read only the (static) shape of their input."""
    def convert(cx: Lowering, x, fill_value=None, dtype=None, **kwargs):
        value = fill if fill is not None else fill_value
        out = cx.out_dtype or cx.type(x).dtype
        return cx.const(np.full(cx.shape(x), value, dtype=out.numpy))
    return convert


def _getitem(cx: Lowering, outputs, index):
    if outputs[index] is None:
        raise Unlowerable(f"its output {index} is not computed, only output 0")
    return outputs[index]


def _sym_size(cx: Lowering, x, dim):
    return cx.shape(x)[cx.axis(dim, cx.rank(x))]


def _no_value(cx: Lowering, *args, **kwargs):
    """Runtime assertions and range hints: shapes are static after capture, so they have nothing to check."""
    return None


def _elementwise_table() -> dict[str, Converter]:
    binary = {"add": Op.ADD, "sub": Op.SUB, "mul": Op.MUL, "div": Op.DIV}
    table = {f"aten.{name}.{form}": _binary(op) for name, op in binary.items() for form in ("Tensor", "Scalar")}
    unary = {"relu": Op.RELU, "sigmoid": Op.SIGMOID, "tanh": Op.TANH, "silu": Op.SILU, "hardswish": Op.HARDSWISH,
             "hardsigmoid": Op.HARDSIGMOID, "exp": Op.EXP, "log": Op.LOG, "sqrt": Op.SQRT, "rsqrt": Op.RSQRT,
             "neg": Op.NEG, "abs": Op.ABS, "erf": Op.ERF, "floor": Op.FLOOR, "ceil": Op.CEIL, "trunc": Op.TRUNC}
    table.update({f"aten.{name}.default": _unary(op) for name, op in unary.items()})
    return table


ATEN_TO_IR: dict[str, Converter] = {
    **_elementwise_table(),
    "aten.div.Tensor_mode": _div_mode,
    "aten.rsub.Scalar": _rsub,
    "aten.rsub.Tensor": _rsub,
    "aten.maximum.default": _binary(Op.MAXIMUM),
    "aten.minimum.default": _binary(Op.MINIMUM),
    "aten.pow.Tensor_Scalar": _pow,
    "aten.pow.Tensor_Tensor": _pow,
    "aten.pow.Scalar": lambda cx, base, exponent: cx.op(Op.POW, [cx.tensor(base), cx.tensor(exponent)]),
    "aten.reciprocal.default": lambda cx, x: _pow(cx, x, -1),
    "aten.round.default": _round,
    "aten.round.decimals": _round,
    "aten.leaky_relu.default": _leaky_relu,
    "aten.gelu.default": _gelu,
    "aten.clamp.default": _clamp,
    "aten.clamp.Tensor": _clamp_tensor,
    "aten.clamp_min.default": lambda cx, x, min: _clamp(cx, x, min, None),
    "aten.clamp_max.default": lambda cx, x, max: _clamp(cx, x, None, max),
    "aten.hardtanh.default": lambda cx, x, min_val=-1.0, max_val=1.0: _clamp(cx, x, min_val, max_val),
    "aten.relu6.default": lambda cx, x: _clamp(cx, x, 0, 6),
    "aten.mean.dim": _reduce(Op.MEAN),
    "aten.mean.default": _reduce_all(Op.MEAN),
    "aten.sum.dim_IntList": _reduce(Op.SUM),
    "aten.sum.default": _reduce_all(Op.SUM),
    "aten.amax.default": _reduce(Op.REDUCE_MAX),
    "aten.amin.default": _reduce(Op.REDUCE_MIN),
    "aten.view.default": _view,
    "aten._unsafe_view.default": _view,
    "aten.reshape.default": _view,
    "aten.flatten.using_ints": _flatten,
    "aten.squeeze.default": _squeeze,
    "aten.squeeze.dim": _squeeze,
    "aten.squeeze.dims": _squeeze,
    "aten.unsqueeze.default": _unsqueeze,
    "aten.permute.default": _permute,
    "aten.transpose.int": _transpose,
    "aten.t.default": _t,
    "aten.expand.default": _expand,
    "aten.cat.default": _cat,
    "aten.slice.Tensor": _slice,
    "aten.select.int": _select,
    "aten.index.Tensor": _index,
    "aten.split.Tensor": _split,
    "aten.split_with_sizes.default": _split_with_sizes,
    "aten.unbind.int": _unbind,
    "aten.constant_pad_nd.default": _constant_pad_nd,
    "aten.clone.default": _identity,
    "aten.alias.default": _identity,
    "aten.contiguous.default": _identity,
    "aten.detach.default": _identity,
    "aten.lift_fresh_copy.default": _identity,
    "aten._to_copy.default": _to_copy,
    "aten.dropout.default": _dropout,
    "aten.full.default": _static_only,
    "aten.zeros.default": _static_only,
    "aten.ones.default": _static_only,
    "aten.arange.default": _static_only,
    "aten.arange.start": _static_only,
    "aten.arange.start_step": _static_only,
    "aten.scalar_tensor.default": _static_only,
    "aten.full_like.default": _full_like(None),
    "aten.zeros_like.default": _full_like(0),
    "aten.ones_like.default": _full_like(1),
    "operator.getitem": _getitem,
    "aten.sym_size.int": _sym_size,
    "aten._assert_scalar.default": _no_value,
    "aten._assert_tensor_metadata.default": _no_value,
    "aten.sym_constrain_range_for_size.default": _no_value,
    **NN_OPS,
    **LAYER_OPS,
    **SELECT_OPS,
    **QUANT_OPS,
}
