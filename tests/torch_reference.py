"""PyTorch implementations of the float IR ops, and a graph runner on them: the independent oracle the reference
interpreter (`edgelower.interp`) is held to on random graphs.

    TORCH_OPS[op](inputs: list[torch.Tensor], attrs) -> list[torch.Tensor]   attrs complete (ops.complete_attrs)
    run_torch(graph, inputs) -> list[np.ndarray]                              node by node, float32 throughout

Every entry is a torch.nn.functional call (or torch op) with the IR's attribute conventions (`edgelower.ir.ops`)
translated to torch's: CONV2D / pool padding (top, left, bottom, right), PAD's ((before, after), ...) per dim,
CLAMP's None bounds, a fused `activation` on CONV2D / LINEAR / ADD (that activation's entry applied after).

Torch has no asymmetric pool padding. A pool gets torch's own padding min(lo, hi) on each axis and the rest as
explicit padding (-inf for max, 0 for avg) on the side that has more, which keeps torch's window positions and
count_include_pad divisor. Without count_include_pad the divisor counts input positions only, so the explicit
zeros must not count: the sum and the in-bounds count are then two torch pools (divisor 1) of the data and of a
ones mask. With ceil_mode and more padding after than before, torch's rule "the last window starts inside the
input or the left padding" sees the explicit padding as input and may add one window of padding only; the IR's
type (`graph.types`) has no such window, and the extra one is cut off.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from edgelower.ir.graph import Graph, Op
from edgelower.ir.ops import complete_attrs, parse_activation

TorchImpl = Callable[[list[torch.Tensor], Mapping[str, Any]], list[torch.Tensor]]


def _one(fn: Callable[..., torch.Tensor]) -> TorchImpl:
    """An op with no attributes: fn(*inputs)."""
    return lambda ins, attrs: [fn(*ins)]


def _activated(impl: TorchImpl) -> TorchImpl:
    """CONV2D, LINEAR, ADD: the fused `activation`'s own torch entry applied to the op's result."""
    def fused(ins, attrs):
        outs = impl(ins, attrs)
        activation = parse_activation(attrs.get("activation"))
        if activation is None:
            return outs
        op, act_attrs = activation
        return TORCH_OPS[op](outs, complete_attrs(op, act_attrs))
    return fused


def _conv2d(ins, attrs):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) == 3 else None
    pt, pl, pb, pr = attrs["padding"]
    if (pt, pl) == (pb, pr):
        padding = (pt, pl)
    else:
        x, padding = F.pad(x, (pl, pr, pt, pb)), (0, 0)  # F.pad lists the last dim first
    return [F.conv2d(x, w, bias, attrs["stride"], padding, attrs["dilation"], attrs["groups"])]


def _clamp(ins, attrs):
    lo, hi = attrs["min"], attrs["max"]
    return [ins[0].clone() if lo is None and hi is None else torch.clamp(ins[0], lo, hi)]


def _pool_padding(attrs) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """torch's symmetric padding (rows, cols) and the explicit rest as F.pad's (left, right, top, bottom)."""
    pt, pl, pb, pr = attrs["padding"]
    ph, pw = min(pt, pb), min(pl, pr)
    return (ph, pw), (pl - pw, pr - pw, pt - ph, pb - ph)


def _max_pool2d(ins, attrs):
    padding, extra = _pool_padding(attrs)
    x = F.pad(ins[0], extra, value=-np.inf) if any(extra) else ins[0]
    return [F.max_pool2d(x, attrs["kernel"], attrs["stride"], padding, attrs["dilation"], attrs["ceil_mode"])]


def _avg_pool2d(ins, attrs):
    padding, extra = _pool_padding(attrs)
    kernel, stride, ceil = attrs["kernel"], attrs["stride"], attrs["ceil_mode"]
    x = F.pad(ins[0], extra) if any(extra) else ins[0]
    if attrs["divisor"] is None and not attrs["count_include_pad"] and any(extra):
        # Divide by the number of input positions in the window: the explicit zeros are not input.
        total = F.avg_pool2d(x, kernel, stride, padding, ceil, True, 1)
        mask = F.pad(torch.ones_like(ins[0][:1, :1]), extra)
        count = F.avg_pool2d(mask, kernel, stride, padding, ceil, True, 1)
        return [total / count]
    return [F.avg_pool2d(x, kernel, stride, padding, ceil, attrs["count_include_pad"], attrs["divisor"])]


def _reduction(fn: Callable[..., torch.Tensor]) -> TorchImpl:
    return lambda ins, attrs: [fn(ins[0], dim=tuple(attrs["axes"]), keepdim=attrs["keepdim"])]


def _slice(ins, attrs):
    index = (slice(None),) * attrs["axis"] + (slice(attrs["start"], attrs["end"], attrs["step"]),)
    return [ins[0][index]]


def _pad(ins, attrs):
    pads = [p for before_after in reversed(attrs["pads"]) for p in before_after]  # torch lists the last dim first
    return [F.pad(ins[0], pads, value=attrs["value"])]


def _layer_norm(ins, attrs):
    x = ins[0]
    shape = x.shape[x.ndim - attrs["normalized_ndim"]:]
    weight, bias = (list(ins[1:]) + [None, None])[:2]
    return [F.layer_norm(x, shape, weight, bias, eps=attrs["eps"])]


def _batch_norm(ins, attrs):
    x, mean, var, weight, bias = ins
    return [F.batch_norm(x, mean, var, weight, bias, training=False, eps=attrs["eps"])]


def _gather(ins, attrs):
    """numpy's take(table, indices, axis): the indices' shape replaces the axis."""
    table, idx = ins
    axis = attrs["axis"] % table.ndim
    picked = table.index_select(axis, idx.reshape(-1).long())
    return [picked.reshape(table.shape[:axis] + idx.shape + table.shape[axis + 1:])]


def _resize_bilinear(ins, attrs):
    if attrs.get("scale") is not None:
        raise ValueError("RESIZE_BILINEAR with an explicit scale has no torch reference here")
    return [F.interpolate(ins[0], size=tuple(attrs["size"]), mode="bilinear", align_corners=attrs["align_corners"])]


TORCH_OPS: dict[Op, TorchImpl] = {
    Op.CONV2D: _activated(_conv2d),
    Op.LINEAR: _activated(lambda ins, attrs: [F.linear(*ins)]),  # y = x @ W.T + b
    Op.MATMUL: _one(torch.matmul),  # broadcasts the batch dims
    Op.ADD: _activated(_one(torch.add)),
    Op.SUB: _one(torch.sub),
    Op.MUL: _one(torch.mul),
    Op.DIV: _one(torch.div),
    Op.MAXIMUM: _one(torch.maximum),
    Op.MINIMUM: _one(torch.minimum),
    Op.RELU: _one(torch.relu),
    Op.CLAMP: _clamp,
    Op.HARDSWISH: _one(F.hardswish),
    Op.HARDSIGMOID: _one(F.hardsigmoid),
    Op.SIGMOID: _one(torch.sigmoid),
    Op.TANH: _one(torch.tanh),
    Op.GELU: lambda ins, attrs: [F.gelu(ins[0], approximate=attrs["approximate"])],
    Op.SILU: _one(F.silu),
    Op.EXP: _one(torch.exp),
    Op.LOG: _one(torch.log),
    Op.SQRT: _one(torch.sqrt),
    Op.RSQRT: _one(torch.rsqrt),
    Op.NEG: _one(torch.neg),
    Op.ABS: _one(torch.abs),
    Op.ERF: _one(torch.erf),
    Op.MAX_POOL2D: _max_pool2d,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.MEAN: _reduction(torch.mean),
    Op.SUM: _reduction(torch.sum),
    Op.REDUCE_MAX: _reduction(torch.amax),
    Op.RESHAPE: lambda ins, attrs: [ins[0].reshape(attrs["shape"])],
    Op.PERMUTE: lambda ins, attrs: [ins[0].permute(attrs["perm"])],
    Op.CONCAT: lambda ins, attrs: [torch.cat(ins, dim=attrs["axis"])],
    Op.SLICE: _slice,
    Op.EXPAND: lambda ins, attrs: [ins[0].expand(attrs["shape"])],
    Op.PAD: _pad,
    Op.UPSAMPLE_NEAREST: lambda ins, attrs: [F.interpolate(ins[0], size=tuple(attrs["size"]), mode="nearest")],
    Op.GATHER: _gather,
    Op.POW: _one(torch.pow),
    Op.FLOOR: _one(torch.floor),
    Op.CEIL: _one(torch.ceil),
    Op.TRUNC: _one(torch.trunc),
    Op.ROUND: _one(torch.round),   # half to even
    Op.WHERE: _one(torch.where),   # (condition, x, y)
    Op.COMPARE: lambda ins, attrs: [getattr(torch, attrs["predicate"])(*ins)],   # torch.lt, le, gt, ge, eq, ne
    Op.REDUCE_MIN: _reduction(torch.amin),
    Op.ADAPTIVE_AVG_POOL2D: lambda ins, attrs: [F.adaptive_avg_pool2d(ins[0], tuple(attrs["size"]))],
    Op.ADAPTIVE_MAX_POOL2D: lambda ins, attrs: [F.adaptive_max_pool2d(ins[0], tuple(attrs["size"]))],
    Op.RESIZE_BILINEAR: _resize_bilinear,
    Op.SOFTMAX: lambda ins, attrs: [F.softmax(ins[0], dim=attrs["axis"])],
    Op.LOG_SOFTMAX: lambda ins, attrs: [F.log_softmax(ins[0], dim=attrs["axis"])],
    Op.LAYER_NORM: _layer_norm,
    Op.BATCH_NORM: _batch_norm,
}


def _fit(out: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """A pool output cut to the IR's shape when torch has one more row or column of windows: see the module
    docstring (ceil_mode with more padding after). Any other difference is left for the caller to see."""
    extra = [o - s for o, s in zip(out.shape, shape)]
    if out.ndim == len(shape) == 4 and extra[:2] == [0, 0] and all(e in (0, 1) for e in extra[2:]):
        return out[:, :, :shape[2], :shape[3]]
    return out


def nearest_index_agrees(in_size: int, out_size: int) -> bool:
    """Whether torch's "nearest" picks floor(i * in / out), the IR's exact integer rule, for every i. Torch
    computes floor(i * float32(in / out)), which falls one short at some large non-integer ratios (26 -> 22, 2 ->
    82): a documented difference (test_interpreter.py), not a bug of either side."""
    src = torch.arange(in_size, dtype=torch.float32).reshape(1, 1, 1, in_size)
    picked = F.interpolate(src, size=(1, out_size), mode="nearest").reshape(-1).numpy()
    return bool(np.array_equal(picked, np.minimum(np.arange(out_size) * in_size // out_size, in_size - 1)))


def run_torch(graph: Graph, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a float graph node by node with TORCH_OPS (torch's float32 kernels); constants from graph.constants."""
    with torch.no_grad():
        values: dict[str, torch.Tensor] = {name: torch.from_numpy(np.array(a)) for name, a in graph.constants.items()}
        values.update({name: torch.from_numpy(np.array(a)) for name, a in zip(graph.inputs, inputs)})
        for node in graph.nodes:
            if node.op not in TORCH_OPS:
                raise ValueError(f"node {node.name}: no torch reference for {node.op.name}")
            if node.attrs.get("q") is not None:
                raise ValueError(f"node {node.name}: quantized nodes have no torch reference here")
            outs = TORCH_OPS[node.op]([values[i] for i in node.inputs], complete_attrs(node.op, node.attrs))
            if node.op in (Op.MAX_POOL2D, Op.AVG_POOL2D):
                outs = [_fit(o, graph.types[name].shape) for o, name in zip(outs, node.outputs)]
            values.update(zip(node.outputs, outs))
        return [values[name].numpy().copy() for name in graph.outputs]
