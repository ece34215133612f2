"""Converters for comparisons, selections and index lookups: eq/ne/lt/le/gt/ge, where, argmax/argmin, max/min
with their indices, amin, gather, index_select, flip. Merged into `edgelower.frontend.aten_ops.ATEN_TO_IR`."""

from __future__ import annotations

import numpy as np

from edgelower.frontend.lowering import Lowering, Unlowerable
from edgelower.ir.graph import DType, Op


def _operand_dtype(cx: Lowering, a, b) -> DType:
    """The dtype two comparison operands meet in: a tensor operand's (the float one's, when they differ)."""
    dtypes = [cx.type(v).dtype for v in (a, b) if isinstance(v, str)]
    return DType.FLOAT32 if DType.FLOAT32 in dtypes or not dtypes else dtypes[0]


def _compare(predicate: str):
    """eq/ne/lt/le/gt/ge, Tensor and Scalar forms -> COMPARE (a bool result)."""
    def convert(cx: Lowering, a, b):
        dtype = _operand_dtype(cx, a, b)
        return cx.op(Op.COMPARE, [cx.tensor(a, dtype), cx.tensor(b, dtype)], predicate=predicate)
    return convert


def _where(cx: Lowering, cond, a, b):
    """where.self: a where cond, else b, broadcasting all three."""
    if cx.type(cond).dtype is not DType.BOOL:
        raise Unlowerable(f"a {cx.type(cond).dtype.value} condition")
    return cx.op(Op.WHERE, [cond, cx.tensor(a), cx.tensor(b)])


def _arg_extreme(op: Op):
    """argmax/argmin: dim None searches the flattened tensor (keepdim then keeps every dim, as ones)."""
    def convert(cx: Lowering, x, dim=None, keepdim=False):
        shape = cx.shape(x)
        if dim is None:
            flat = cx.op(op, [cx.reshape(x, (max(cx.type(x).numel, 1),) if shape else ())], axis=0)
            return cx.reshape(flat, (1,) * len(shape)) if keepdim else flat
        return cx.op(op, [x], axis=cx.axis(dim, len(shape)), keepdim=bool(keepdim and shape))
    return convert


def _extreme_dim(values: Op, indices: Op):
    """max.dim / min.dim -> (values, indices)."""
    def convert(cx: Lowering, x, dim, keepdim=False):
        axis = cx.axis(dim, cx.rank(x))
        if cx.rank(x) == 0:
            return x, cx.const(np.zeros((), np.int64))
        return (cx.op(values, [x], axes=(axis,), keepdim=bool(keepdim)),
                cx.op(indices, [x], axis=axis, keepdim=bool(keepdim)))
    return convert


def _extreme_all(op: Op):
    """max.default / min.default: over every element."""
    def convert(cx: Lowering, x):
        return x if cx.rank(x) == 0 else cx.op(op, [x], axes=tuple(range(cx.rank(x))), keepdim=False)
    return convert


def _gather(cx: Lowering, x, dim, index, sparse_grad=False):
    """gather along `dim` with constant indices: out[..., i, ...] = x[..., index[..., i, ...], ...]. Each output's
    flat position in x is known at compile time, so it is one GATHER from the flattened x."""
    index_data = cx.data(index)
    if index_data is None:
        raise Unlowerable("indices computed at run time")
    if cx.rank(x) == 0:
        return cx.reshape(x, index_data.shape)
    axis = cx.axis(dim, cx.rank(x))
    coords = list(np.indices(index_data.shape))
    coords[axis] = index_data
    flat = np.ravel_multi_index(tuple(coords), cx.shape(x)) if index_data.size else np.zeros(index_data.shape)
    table = cx.reshape(x, (cx.type(x).numel,))
    return cx.op(Op.GATHER, [table, cx.const(np.asarray(flat, np.int64).reshape(index_data.shape))], axis=0)


def _index_select(cx: Lowering, x, dim, index):
    """index_select -> GATHER along `dim` (a 0-d index selects one)."""
    if cx.rank(x) == 0:
        return x
    if cx.rank(index) == 0:
        index = cx.reshape(index, (1,))
    return cx.op(Op.GATHER, [x, index], axis=cx.axis(dim, cx.rank(x)))


def _flip(cx: Lowering, x, dims):
    """flip -> one GATHER of the reversed positions per flipped dim longer than one."""
    for axis in sorted({cx.axis(d, cx.rank(x)) for d in dims}):
        size = cx.shape(x)[axis]
        if size > 1:
            x = cx.op(Op.GATHER, [x, cx.const(np.arange(size - 1, -1, -1, dtype=np.int64), hint="reversed")],
                      axis=axis)
    return x


SELECT_OPS = {
    **{f"aten.{name}.{form}": _compare(name) for name in ("eq", "ne", "lt", "le", "gt", "ge")
       for form in ("Tensor", "Scalar")},
    "aten.where.self": _where,
    "aten.argmax.default": _arg_extreme(Op.ARGMAX),
    "aten.argmin.default": _arg_extreme(Op.ARGMIN),
    "aten.max.dim": _extreme_dim(Op.REDUCE_MAX, Op.ARGMAX),
    "aten.min.dim": _extreme_dim(Op.REDUCE_MIN, Op.ARGMIN),
    "aten.max.default": _extreme_all(Op.REDUCE_MAX),
    "aten.min.default": _extreme_all(Op.REDUCE_MIN),
    "aten.gather.default": _gather,
    "aten.index_select.default": _index_select,
    "aten.flip.default": _flip,
}
