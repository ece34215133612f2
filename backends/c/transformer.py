"""Emit functions for the integer transformer nonlinearities (`edgelower.quant.transformer`, runtime/src/
transformer_s8.c), registered in `c_kernels_s8.INT8_KERNELS`. SOFTMAX has two integer forms, TFLite's (SoftmaxQ)
and ISoftmaxQ: `softmax_or` picks by the node's record.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Callable

from edgelower.quant.transformer import IGeluQ, ILayerNormQ, ISoftmaxQ
from edgelower.ir.graph import DType

from edgelower.backends.c.context import KernelContext

Emit = Callable[[KernelContext], None]


def _record(k: KernelContext, kind: type):
    q = k.attrs["q"]
    if not isinstance(q, kind):
        raise k.fail(f"q must be a {kind.__name__}, got {type(q).__name__}")
    if any(k.types[v].dtype is not DType.INT8 for v in (k.node.inputs[0], k.node.output)):
        raise k.fail("the integer form reads and writes int8")
    return q


def emit_isoftmax(k: KernelContext) -> None:
    q = _record(k, ISoftmaxQ)
    shape, axis = k.type(0).shape, k.attrs["axis"]
    p = k.params("el_softmax_params", {"outer": math.prod(shape[:axis]), "axis": shape[axis],
                                       "inner": math.prod(shape[axis + 1:])})
    k.call("el_isoftmax_s8", p, k.params("el_isoftmax_q", asdict(q)), k.ptr(0), k.out_ptr)


def softmax_or(other: Emit) -> Emit:
    """INT8_KERNELS[SOFTMAX]: ISoftmaxQ nodes render here, every other record through `other`."""
    def emit(k: KernelContext) -> None:
        (emit_isoftmax if isinstance(k.attrs["q"], ISoftmaxQ) else other)(k)
    return emit


def emit_igelu(k: KernelContext) -> None:
    q = _record(k, IGeluQ)
    p = k.params("el_unary_params", {"count": k.out.numel})
    k.call("el_igelu_s8", p, k.params("el_igelu_q", asdict(q)), k.ptr(0), k.out_ptr)


def emit_ilayer_norm(k: KernelContext) -> None:
    q = _record(k, ILayerNormQ)
    shape = k.type(0).shape
    cols = math.prod(shape[len(shape) - k.attrs["normalized_ndim"]:])
    if len(k.node.inputs) != 3 or any(k.type(i).dtype is not DType.INT32 for i in (1, 2)):
        raise k.fail("an integer LAYER_NORM reads (x, weight int32, bias int32)")
    p = k.params("el_layer_norm_params", {"rows": k.type(0).numel // cols, "cols": cols})
    k.call("el_ilayer_norm_s8", p, k.params("el_ilayer_norm_q", asdict(q)), k.ptr(0), k.ptr(1), k.ptr(2),
           k.out_ptr)
