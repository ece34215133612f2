"""Reductions and normalizations: `linalg.generic` reductions (the reduced dims dropped, then restored as unit dims
by a free `tensor.expand_shape` where the op keeps them or a pointwise step broadcasts against them) and pointwise
steps between them.

SUM on integers adds modulo 2^bits, which is the interpreter's exact sum wrapped once; REDUCE_MAX starts from the
dtype's minimum (or -inf) and propagates NaN like numpy. MEAN, SOFTMAX, LOG_SOFTMAX, LAYER_NORM and BATCH_NORM are
float32 only here (their integer forms arrive decomposed into primitive ops) and follow the interpreter's formulas
step for step in f32: max-subtracted exponentials, the biased variance.
"""

from __future__ import annotations

from math import prod

import numpy as np

from edgelower.ir.graph import DType, Node, Op

F32 = DType.FLOAT32


def _kept(shape, axes) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _sum(E, dtype: DType):
    return E.arith.addf if dtype.is_float else E.arith.addi


def _max(E, dtype: DType):
    return E.arith.maximumf if dtype.is_float else E.arith.maxsi


def _reduced(E, value, shape, axes, dtype, kind: str):
    """`value` reduced over `axes` with unit dims kept: kind "sum" or "max"."""
    init = 0 if kind == "sum" else (-np.inf if dtype.is_float else dtype.min)
    combine = _sum(E, dtype) if kind == "sum" else _max(E, dtype)
    r = E.reduce(value, shape, tuple(axes), dtype, init, lambda v, acc: combine(v, acc))
    return E.reshape(r, _kept(shape, axes))


def _reduction(kind: str, mean: bool = False):
    def rule(E, node: Node):
        x = node.inputs[0]
        shape, axes, dtype = E.shape(x), tuple(node.attrs["axes"]), E.dtype(x)
        kept = _kept(shape, axes)
        r = _reduced(E, E.value(x), shape, axes, dtype, kind)
        if mean:
            count = E.scalar(prod(shape[a] for a in axes), F32)
            r = E.pointwise([(r, kept)], kept, dtype, lambda v: E.arith.divf(v, count))
        return E.reshape(r, E.types[node.output].shape)
    return rule


def _softmax(log: bool):
    def rule(E, node: Node):
        x = node.inputs[0]
        shape, axis = E.shape(x), node.attrs["axis"]
        a, m = E.arith, E.math
        xv = E.value(x)
        kept = _kept(shape, (axis,))
        peak = _reduced(E, xv, shape, (axis,), F32, "max")
        shifted = E.pointwise([(xv, shape), (peak, kept)], shape, F32, lambda v, p: a.subf(v, p))
        exps = E.pointwise([(shifted, shape)], shape, F32, lambda v: m.exp(v))
        total = _reduced(E, exps, shape, (axis,), F32, "sum")
        if log:
            return E.pointwise([(shifted, shape), (total, kept)], shape, F32, lambda v, t: a.subf(v, m.log(t)))
        return E.pointwise([(exps, shape), (total, kept)], shape, F32, lambda v, t: a.divf(v, t))
    return rule


def _normalized(E, centred, variance, shape, var_shape, eps: float):
    """centred / sqrt(variance + eps)."""
    a = E.arith
    return E.pointwise([(centred, shape), (variance, var_shape)], shape, F32,
                       lambda c, v: a.divf(c, E.math.sqrt(a.addf(v, E.scalar(eps, F32)))))


def _affine(E, y, shape, weight, bias, param_shape):
    """y * weight + bias, each optional, broadcast from `param_shape`."""
    if weight is not None:
        y = E.pointwise([(y, shape), (weight, param_shape)], shape, F32, lambda v, g: E.arith.mulf(v, g))
    if bias is not None:
        y = E.pointwise([(y, shape), (bias, param_shape)], shape, F32, lambda v, b: E.arith.addf(v, b))
    return y


def layer_norm(E, node: Node):
    x = node.inputs[0]
    shape = E.shape(x)
    axes = tuple(range(len(shape) - node.attrs["normalized_ndim"], len(shape)))
    kept, n = _kept(shape, axes), E.scalar(prod(shape[i] for i in axes), F32)
    a = E.arith
    mean = E.pointwise([(_reduced(E, E.value(x), shape, axes, F32, "sum"), kept)], kept, F32, lambda s: a.divf(s, n))
    centred = E.pointwise([(E.value(x), shape), (mean, kept)], shape, F32, lambda v, mu: a.subf(v, mu))
    squares = E.pointwise([(centred, shape)], shape, F32, lambda c: a.mulf(c, c))
    variance = E.pointwise([(_reduced(E, squares, shape, axes, F32, "sum"), kept)], kept, F32, lambda s: a.divf(s, n))
    y = _normalized(E, centred, variance, shape, kept, node.attrs["eps"])
    params = [E.value(v) for v in node.inputs[1:]] + [None] * (3 - len(node.inputs))
    return _affine(E, y, shape, params[0], params[1], shape[len(shape) - len(axes):])


def batch_norm(E, node: Node):
    """Inference BatchNorm along axis 1: the (C,) parameters reshaped to (C, 1, ...) broadcast over the rest."""
    x, mean, var, weight, bias = node.inputs
    shape = E.shape(x)
    param_shape = (shape[1],) + (1,) * (len(shape) - 2)
    p = {name: E.reshape(E.value(name), param_shape) for name in (mean, var, weight, bias)}
    centred = E.pointwise([(E.value(x), shape), (p[mean], param_shape)], shape, F32,
                          lambda v, mu: E.arith.subf(v, mu))
    y = _normalized(E, centred, p[var], shape, param_shape, node.attrs["eps"])
    return _affine(E, y, shape, p[weight], p[bias], param_shape)


RULES = {Op.MEAN: _reduction("sum", mean=True), Op.SUM: _reduction("sum"), Op.REDUCE_MAX: _reduction("max"),
         Op.SOFTMAX: _softmax(log=False), Op.LOG_SOFTMAX: _softmax(log=True), Op.LAYER_NORM: layer_norm,
         Op.BATCH_NORM: batch_norm}
