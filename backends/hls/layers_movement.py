"""Layer builders for data movement: RESHAPE, PERMUTE, SLICE, EXPAND, PAD, UPSAMPLE_NEAREST, CONCAT and GATHER
with constant indices, each one or more copy_box calls with per-dim source-offset tables."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from edgelower.ir.graph import DType, Op

from edgelower.backends.hls import configs as cfg
from edgelower.backends.hls.plan import (
    ELEMENT, INT8, MAX_DIMS, Call, Context, LayerPlan, Refused, Rom, Work, element, strides_of,
)


def _box(k: Context, source: str, box, tables, out_strides, out_base: int = 0, fill: int = 0) -> Call:
    """One copy_box call: along dim d, index j reads source offset tables[d][j] (-1: fill)."""
    if len(box) > MAX_DIMS:
        raise Refused(f"a {len(box)}-d tensor; the copy kernel walks {MAX_DIMS} dims")
    starts = np.cumsum([0] + [len(t) for t in tables])[:-1]
    index = len(k.node.inputs) and k.node.inputs.index(source)
    config = cfg.CopyConfig(count=math.prod(box), ndim=len(box), out_base=out_base, fill=fill)
    args = (source, k.rom(f"shape{index}", "int", list(box) or [1], "box dims"),
            k.rom(f"src{index}", "int", [v for t in tables for v in t] or [0], "source offsets per dim"),
            k.rom(f"src_start{index}", "int", list(starts) or [0], "where each dim's offsets start"),
            k.rom(f"out_stride{index}", "int", list(out_strides) or [0], "output strides"), k.node.output)
    in_type = "el::rom8" if source in k.constants and k.types[source].dtype is INT8 else \
        "el::rom32" if source in k.constants else element(k.types[source])
    return Call("el::copy_box", config, args, (in_type, element(k.out)))


def movement(k: Context) -> LayerPlan:
    op, a = k.node.op, k.attrs
    x, y = k.type(0).shape, k.out.shape
    sx, sy = strides_of(x), strides_of(y)
    stream = None
    if op is Op.RESHAPE:
        from edgelower.backends.hls.stream import forwards

        calls = (_box(k, k.node.inputs[0], [k.out.numel], [list(range(k.out.numel))], [1]),)
        if forwards(x, y) and not k.is_constant(0):
            stream = Call("el::reshape_stream", cfg.UnaryConfig(count=k.out.numel), (k.node.inputs[0], k.node.output),
                          (element(k.out),))
    elif op is Op.PERMUTE:
        calls = (_box(k, k.node.inputs[0], y, [[j * sx[p] for j in range(y[d])] for d, p in enumerate(a["perm"])],
                      sy),)
    elif op is Op.SLICE:
        ax = a["axis"]
        tables = [[(a["start"] + j * a["step"] if d == ax else j) * sx[d] for j in range(y[d])] for d in range(len(y))]
        calls = (_box(k, k.node.inputs[0], y, tables, sy),)
    elif op is Op.EXPAND:
        lead = len(y) - len(x)
        tables = [[0] * y[d] if d < lead or x[d - lead] == 1 else [j * sx[d - lead] for j in range(y[d])]
                  for d in range(len(y))]
        calls = (_box(k, k.node.inputs[0], y, tables, sy),)
    elif op is Op.PAD:
        tables = [[(j - before) * sx[d] if 0 <= j - before < x[d] else -1 for j in range(y[d])]
                  for d, (before, _) in enumerate(a["pads"])]
        fill = int(a["value"])
        if fill != a["value"] or not DType.INT8.min <= fill <= DType.INT8.max:
            raise Refused(f"pads with {a['value']}, not an int8 value")
        calls = (_box(k, k.node.inputs[0], y, tables, sy, fill=fill),)
    elif op is Op.UPSAMPLE_NEAREST:
        tables = [[j * sx[d] for j in range(y[d])] for d in range(2)] + \
                 [[min(j * x[d] // y[d], x[d] - 1) * sx[d] for j in range(y[d])] for d in (2, 3)]
        calls = (_box(k, k.node.inputs[0], y, tables, sy),)
    elif op is Op.CONCAT:
        ax, offset, calls = a["axis"], 0, ()
        for i, name in enumerate(k.node.inputs):
            shape = k.types[name].shape
            s = strides_of(shape)
            box = _box(k, name, shape, [[j * s[d] for j in range(shape[d])] for d in range(len(shape))], sy,
                       out_base=offset * sy[ax])
            calls += (replace(box, args=(name, *(replace(r, hint=f"{r.hint}_{i}") if isinstance(r, Rom) else r
                                                 for r in box.args[1:]))),)
            offset += shape[ax]
    elif op is Op.GATHER:
        calls = (_gather(k),)
    else:
        raise Refused("no HLS kernel for this op")
    for v in (*k.node.inputs, k.node.output):
        if op is Op.GATHER and v == k.node.inputs[1]:
            continue
        if k.types[v].dtype not in ELEMENT:
            raise Refused(f"%{v} is {k.types[v].dtype.value}; the HLS kernels move int8 and int32")
    return LayerPlan(k.node, calls, stream, Work(k.out.numel, depth=2))


def _gather(k: Context) -> Call:
    """table[indices] with constant indices: rows picked at compile time (an index from a tensor is refused)."""
    if not k.is_constant(1):
        raise Refused("gathers with indices from a tensor; the HLS kernels take constant indices only")
    if k.is_constant(0):
        raise Refused("a constant table: fold it before compiling")
    data = k.constants[k.node.inputs[1]]
    index = np.zeros(k.type(1).numel, np.int64) if data is None else np.asarray(data).reshape(-1).astype(np.int64)
    rows = k.type(0).shape[0]
    if index.size and (index.min() < 0 or index.max() >= rows):
        raise Refused(f"index out of range [0, {rows}): {int(index.min())} .. {int(index.max())}")
    row = math.prod(k.type(0).shape[1:])
    return _box(k, k.node.inputs[0], [index.size, row], [[int(i) * row for i in index], list(range(row))], [row, 1])
