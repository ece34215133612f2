"""Reductions, arg-extremes and lookups as TFLite operators, for `edgelower.backends.tflite.export`: SUM (TFLM's
QuantizedMeanOrSum, sum branch), REDUCE_MAX / REDUCE_MIN (selections of one quantization), ARG_MAX / ARG_MIN (int32
indices, as TFLite Micro writes them), and the LOOKUP tables that are TFLite Micro's own ABS and RSQRT."""

from __future__ import annotations

import numpy as np

from edgelower.backends.tflite.exporter import Exporter, TFLiteExportError, home_of, per_tensor, same_qparams
from edgelower.ir.graph import DType, Node, Op
from edgelower.quant.records import MeanQ
from edgelower.quant.tables import TableQ


def _reduce_layout(ex: Exporter, node: Node, axes) -> tuple[tuple[int, ...], list[int], tuple[int, ...]]:
    """(input permutation, file axes, output permutation) of a reduction over IR `axes`."""
    x, axes = node.inputs[0], set(axes)
    home = home_of(ex, x)
    file_axes = [k for k, p in enumerate(home) if p in axes]
    keepdim = node.attrs.get("keepdim", False)
    out_perm = home if keepdim else tuple(p - sum(a < p for a in axes) for p in home if p not in axes)
    return home, file_axes, out_perm


def _reducer(builtin: str):
    """SUM (a MeanQ record, TFLM's Prepare from the file's scales) and REDUCE_MAX / REDUCE_MIN (one quantization)."""
    def handler(ex: Exporter, node: Node) -> None:
        x, out = node.inputs[0], node.output
        if builtin == "SUM":
            (in_scale, in_zp), (out_scale, out_zp) = per_tensor(ex, x), per_tensor(ex, out)
            q = node.attrs.get("q")
            if q != MeanQ.from_scales(in_scale, in_zp, out_scale, out_zp):
                raise TFLiteExportError(f"q record {q} differs from what TFLite Micro derives from the file's scales")
        else:
            same_qparams(ex, [x, out])
        home, file_axes, out_perm = _reduce_layout(ex, node, node.attrs["axes"])
        ex.op(builtin, [ex.value(x, home), ex.int32_constant(f"{node.name}_axes", file_axes)],
              [ex.define(out, out_perm)], "ReducerOptions", keepDims=bool(node.attrs["keepdim"]))
    return handler


def _arg_extreme(builtin: str):
    """ARG_MAX / ARG_MIN: TFLite Micro writes int32 indices and drops the axis (keepdim is a RESHAPE after)."""
    def handler(ex: Exporter, node: Node) -> None:
        x, out = node.inputs[0], node.output
        if ex.graph.types[out].dtype is not DType.INT32:
            raise TFLiteExportError(f"TFLite Micro's {builtin} writes int32 indices; %{out} is "
                                    f"{ex.graph.types[out].dtype.value} (out_dtype='int32' makes it int32)")
        axis = node.attrs["axis"]
        home, (file_axis,), out_perm = _reduce_layout(ex, node.with_attrs(keepdim=False), (axis,))
        dropped = [d for k, d in enumerate(ex.tensors[ex.value(x, home)].shape) if k != file_axis]
        target = ex.define(out, out_perm) if not node.attrs["keepdim"] else \
            ex.tensor(f"{out}_dropped", dropped, np.int32)
        ex.op(builtin, [ex.value(x, home), ex.int32_constant(f"{node.name}_axis", [file_axis])], [target],
              "ArgMaxOptions" if builtin == "ARG_MAX" else "ArgMinOptions", outputType=ex.schema.TensorType.INT32)
        if node.attrs["keepdim"]:
            shape = list(ex.graph.types[out].shape)
            index = ex.define(out, tuple(range(len(shape))))
            ex.op("RESHAPE", [target, ex.int32_constant(f"{out}_shape", shape)], [index], "ReshapeOptions",
                  newShape=shape)
    return handler


TFLM_TABLES = {"ABS": TableQ.abs, "RSQRT": TableQ.rsqrt}


def _lookup(ex: Exporter, node: Node) -> None:
    """A LOOKUP whose table is TFLite Micro's ABS or RSQRT from the file's scales: that op."""
    q = node.attrs.get("q")
    if not isinstance(q, TableQ) or q.function not in TFLM_TABLES:
        raise TFLiteExportError(f"TFLite Micro has no int8 kernel for {getattr(q, 'function', 'this table')}")
    x, out = node.inputs[0], node.output
    expected = TFLM_TABLES[q.function](*per_tensor(ex, x), *per_tensor(ex, out))
    if expected != q:
        raise TFLiteExportError(f"the {q.function} table differs from what TFLite Micro computes for the file's "
                                "scales (a fused clamp, or other parameters)")
    perm = home_of(ex, x)
    ex.op(q.function, [ex.value(x, perm)], [ex.define(out, perm)])


REDUCTIONS = {
    Op.SUM: _reducer("SUM"),
    Op.REDUCE_MAX: _reducer("REDUCE_MAX"),
    Op.REDUCE_MIN: _reducer("REDUCE_MIN"),
    Op.ARGMAX: _arg_extreme("ARG_MAX"),
    Op.ARGMIN: _arg_extreme("ARG_MIN"),
    Op.LOOKUP: _lookup,
}
