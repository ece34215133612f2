"""Data-movement nodes as TFLite operators, for `edgelower.backends.tflite.export`: RESHAPE, PERMUTE (free: the value
is relabelled, or a TRANSPOSE where a consumer needs it), CONCAT (CONCATENATION), SLICE (STRIDED_SLICE), PAD
(PAD / PADV2), UPSAMPLE_NEAREST (RESIZE_NEAREST_NEIGHBOR), RESIZE_BILINEAR (with its record, TFLite's integer
resize), GATHER.

On int8 these copy bytes, so every input and output must share one scale and zero point; none carries `q`.
Axes and paddings are translated through the permutation each value is stored with.
"""

from __future__ import annotations

import numpy as np

from edgelower.ir.traits import is_integer
from edgelower.quant.resampling import ResizeBilinearQ
from edgelower.ir.graph import Node, Op
from edgelower.backends.tflite.exporter import NHWC, Exporter, TFLiteExportError, home_of, identity, inverse, permuted, \
    per_tensor, same_qparams


def _plain(node: Node) -> None:
    if is_integer(node):
        raise TFLiteExportError("an int8 data-movement node copies bytes and carries no q")


def _reshape(ex: Exporter, node: Node) -> None:
    """RESHAPE reads and writes the natural (row-major IR) order."""
    _plain(node)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    shape = [int(d) for d in node.attrs["shape"]]
    source = ex.value(x, identity(len(ex.graph.types[x].shape)))
    ex.op("RESHAPE", [source, ex.int32_constant(f"{node.name}_shape", shape)], [ex.define(out, identity(len(shape)))],
          "ReshapeOptions", newShape=shape)


def _permute(ex: Exporter, node: Node) -> None:
    """No operator: out[j] = in[perm[j]], so the input's tensor already holds the output with permutation
    inverse(perm) composed with the input's."""
    _plain(node)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    home = home_of(ex, x)
    ex.value(x, home)
    inv = inverse(node.attrs["perm"])
    ex.alias(out, x, tuple(inv[p] for p in home))


def _concat(ex: Exporter, node: Node) -> None:
    _plain(node)
    same_qparams(ex, [*node.inputs, node.output])
    variables = [n for n in node.inputs if n not in ex.graph.constants]
    perm = home_of(ex, variables[0]) if variables else identity(len(ex.graph.types[node.output].shape))
    inputs = [ex.value(n, perm) for n in node.inputs]
    ex.op("CONCATENATION", inputs, [ex.define(node.output, perm)], "ConcatenationOptions",
          axis=inverse(perm)[node.attrs["axis"]])


def _slice(ex: Exporter, node: Node) -> None:
    _plain(node)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    perm = home_of(ex, x)
    shape = permuted(ex.graph.types[x].shape, perm)
    begin, end, strides = [0] * len(perm), list(shape), [1] * len(perm)
    k = inverse(perm)[node.attrs["axis"]]
    begin[k], end[k], strides[k] = node.attrs["start"], node.attrs["end"], node.attrs["step"]
    inputs = [ex.value(x, perm)] + [ex.int32_constant(f"{node.name}_{what}", v)
                                    for what, v in (("begin", begin), ("end", end), ("strides", strides))]
    ex.op("STRIDED_SLICE", inputs, [ex.define(out, perm)], "StridedSliceOptions")


def _pad(ex: Exporter, node: Node) -> None:
    """PAD fills with the output zero point (TFLM's int8 PAD without constant_values); PADV2 with any other
    value. The fill is the IR's `value` cast to int8, as the interpreter casts it."""
    _plain(node)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    perm = home_of(ex, x)
    pads = np.array([node.attrs["pads"][p] for p in perm], np.int32)
    paddings = ex.tensor(f"{node.name}_paddings", list(pads.shape), np.int32, data=pads)
    value = int(np.asarray(node.attrs["value"]).astype(np.int8))
    source, target = ex.value(x, perm), ex.define(out, perm)
    if value == per_tensor(ex, out)[1]:
        ex.op("PAD", [source, paddings], [target], "PadOptions")
    else:
        qp = ex.graph.types[out].qparams
        ex.op("PADV2", [source, paddings, ex.int8_constant(f"{node.name}_value", value, qp)], [target],
              "PadV2Options")


def _tflite_nearest(in_size: int, out_size: int) -> np.ndarray:
    """TFLite's GetNearestNeighbor without align_corners or half-pixel centres: min(floor(i * scale), in - 1)
    with scale = in / out and the product in float32."""
    scale = np.float32(in_size) / np.float32(out_size)
    index = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(index, in_size - 1)


def _upsample_nearest(ex: Exporter, node: Node) -> None:
    _plain(node)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    (h, w), (oh, ow) = ex.graph.types[x].shape[2:], node.attrs["size"]
    for size, out_size in ((h, oh), (w, ow)):
        ours = np.minimum(np.arange(out_size) * size // out_size, size - 1)
        if not np.array_equal(ours, _tflite_nearest(size, out_size)):
            raise TFLiteExportError(f"TFLite's float32 nearest-neighbour index differs from floor(i * {size} / "
                                    f"{out_size}) for this size")
    ex.op("RESIZE_NEAREST_NEIGHBOR", [ex.value(x, NHWC), ex.int32_constant(f"{node.name}_size", [oh, ow])],
          [ex.define(out, NHWC)], "ResizeNearestNeighborOptions", alignCorners=False, halfPixelCenters=False)


def _resize_bilinear(ex: Exporter, node: Node) -> None:
    """RESIZE_BILINEAR (TFLite's ResizeBilinearInteger): torch's align_corners, or its half-pixel centres."""
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    align = bool(node.attrs["align_corners"])
    if node.attrs.get("scale") is not None and not align:
        raise TFLiteExportError("TFLite's resize steps by in / out, not by a scale factor")
    expected = ResizeBilinearQ.from_geometry(ex.graph.types[x].shape[2:], node.attrs["size"], align)
    if node.attrs.get("q") != expected:
        raise TFLiteExportError(f"q record {node.attrs.get('q')} differs from TFLite's {expected}")
    ex.op("RESIZE_BILINEAR", [ex.value(x, NHWC), ex.int32_constant(f"{node.name}_size", list(node.attrs["size"]))],
          [ex.define(out, NHWC)], "ResizeBilinearOptions", alignCorners=align, halfPixelCenters=not align)


def _gather(ex: Exporter, node: Node) -> None:
    """GATHER along the stored axis; TFLite Micro's positions are int32 (constant indices are converted)."""
    _plain(node)
    table, idx, out = node.inputs[0], node.inputs[1], node.output
    same_qparams(ex, [table, out])
    idx_type = ex.graph.types[idx]
    if idx in ex.graph.constants:
        data = ex.graph.constants[idx]
        if data.size and (data.min() < 0 or data.max() > np.iinfo(np.int32).max):
            raise TFLiteExportError("gather indices outside int32")
        positions = ex.tensor(f"{node.name}_positions", list(data.shape), np.int32, data=data.astype(np.int32))
    elif idx_type.dtype.value == "int32":
        positions = ex.value(idx, tuple(range(len(idx_type.shape))))
    else:
        raise TFLiteExportError(f"TFLite Micro's GATHER takes int32 positions; %{idx} is {idx_type.dtype.value}")
    axis, rank = node.attrs["axis"], len(ex.graph.types[table].shape)
    perm = tuple(range(rank))
    out_rank = len(ex.graph.types[out].shape)
    ex.op("GATHER", [ex.value(table, perm), positions], [ex.define(out, tuple(range(out_rank)))], "GatherOptions",
          axis=axis, batchDims=0)


DATA_MOVEMENT = {
    Op.RESHAPE: _reshape,
    Op.PERMUTE: _permute,
    Op.CONCAT: _concat,
    Op.SLICE: _slice,
    Op.PAD: _pad,
    Op.UPSAMPLE_NEAREST: _upsample_nearest,
    Op.RESIZE_BILINEAR: _resize_bilinear,
    Op.GATHER: _gather,
}
