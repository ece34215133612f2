"""Which HLS kernel renders each node of the int8 graph, with what config record and ROM tables: `plan_layer`, one
builder per op family in LAYERS, and `unsupported`, which answers per node before anything is written.

A LayerPlan holds the node's io_parallel calls (arrays; also the body of an io_stream layer that buffers its whole
input), its io_stream call when the kernel streams natively (None: the layer buffers), and the Work the estimate
counts. Arguments are graph values (arrays or streams, by name) or Roms, tables the compiler computes: per-channel
multipliers and shifts, lookup tables, index tables. Nothing here is a float: every number comes from a `q` record
or from the types' shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from edgelower.interp import run_graph
from edgelower.ir.graph import DType, Graph, GraphBuilder, Node, Op, TensorType
from edgelower.ir.ops import complete_attrs
from edgelower.ir.traits import is_integer
from edgelower.quant.records import AddQ, ClampQ, ConvQ, HardSwishQ, LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, \
    SoftmaxQ, TanhQ
from edgelower.quant.transformer import IGeluQ, ILayerNormQ, ISoftmaxQ

from edgelower.backends.hls import configs as cfg

MAX_DIMS = 6
INT8, INT32 = DType.INT8, DType.INT32


@dataclass(frozen=True)
class Rom:
    """A compile-time table a kernel reads: `ctype` is el::rom8, el::rom32 or int."""

    hint: str
    ctype: str
    values: tuple[int, ...]
    what: str

    @property
    def bits(self) -> int:
        return len(self.values) * (8 if self.ctype == "el::rom8" else 32)


@dataclass(frozen=True)
class Call:
    """`kernel<config, types...>(args...)`; an argument is a value name (str) or a Rom."""

    kernel: str
    config: Any
    args: tuple[Any, ...]
    types: tuple[str, ...] = ()       # template arguments after the config (element types)


@dataclass(frozen=True)
class Work:
    """What the estimate counts: the pipelined loop runs `positions` iterations at II = reuse factor, each doing
    `macs` 10x10-bit products, `wide` 32x32-bit products and `divides` integer divisions, spread over
    ceil(x / reuse) units. `reuse_max` is the largest useful reuse factor (the most work of one position)."""

    positions: int
    macs: int = 0
    wide: int = 0
    divides: int = 0
    depth: int = 2

    @property
    def reuse_max(self) -> int:
        return max(1, self.macs, self.wide, self.divides)


@dataclass(frozen=True)
class LayerPlan:
    node: Node
    calls: tuple[Call, ...]
    stream: Call | None
    work: Work

    def with_reuse(self, reuse: int) -> "LayerPlan":
        def set_reuse(call: Call) -> Call:
            return replace(call, config=replace(call.config, reuse_factor=reuse))
        return replace(self, calls=tuple(map(set_reuse, self.calls)),
                       stream=None if self.stream is None else set_reuse(self.stream))


class Refused(Exception):
    """This node has no HLS kernel; the message says why (raised inside builders, answered by `unsupported`)."""


@dataclass(frozen=True)
class Context:
    node: Node
    types: Mapping[str, TensorType]
    constants: Mapping[str, Any]      # constant name -> data (None where the data is not at hand)

    @property
    def attrs(self) -> dict[str, Any]:
        return complete_attrs(self.node.op, self.node.attrs)

    def type(self, i: int) -> TensorType:
        return self.types[self.node.inputs[i]]

    @property
    def out(self) -> TensorType:
        return self.types[self.node.output]

    def is_constant(self, i: int) -> bool:
        return self.node.inputs[i] in self.constants

    def rom(self, hint: str, ctype: str, values, what: str) -> Rom:
        return Rom(f"{hint}_{self.node.name}", ctype, tuple(int(v) for v in np.asarray(values).reshape(-1)), what)

    def record(self, *kinds: type):
        q = self.node.attrs.get("q")
        if not isinstance(q, kinds):
            raise Refused(f"expects a {' or '.join(k.__name__ for k in kinds)} record, has {type(q).__name__}")
        return q


ELEMENT = {INT8: "el::i8", INT32: "el::i32"}


def element(t: TensorType) -> str:
    if t.dtype not in ELEMENT:
        raise Refused(f"{t.dtype.value} tensors have no HLS element type (int8 and int32 only)")
    return ELEMENT[t.dtype]


def _requant_fields(k: Context, rq: RequantQ | None, channels: int) -> tuple[dict, Rom, Rom]:
    if rq is None:
        return {}, k.rom("mult", "el::rom32", [0], "unused: int32 output"), k.rom("shift", "int", [0], "unused")
    if len(rq.multiplier) > 1 and len(rq.multiplier) != channels:
        raise Refused(f"{len(rq.multiplier)} requantization pairs for {channels} output channels")
    if not all(-31 <= s <= 31 for s in rq.shift):
        raise Refused(f"requantization shifts {rq.shift} outside [-31, 31]")
    fields = dict(per_channel=len(rq.multiplier) > 1, rq_input_offset=rq.input_offset,
                  output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max)
    return (fields, k.rom("mult", "el::rom32", rq.multiplier, "requantization multipliers (Q31)"),
            k.rom("shift", "int", rq.shift, "requantization shifts"))


def _accumulating(k: Context, channel_axis: int) -> tuple[ConvQ, dict, Rom, Rom]:
    q = k.record(ConvQ)
    rq = q.requant
    if rq is None and k.out.dtype is not INT32:
        raise Refused(f"an unfused accumulator is int32, the output is {k.out.dtype.value}")
    if rq is not None:
        if k.out.dtype is not INT8:
            raise Refused("a fused requantization writes int8")
        if len(rq.multiplier) > 1 and rq.axis != channel_axis:
            raise Refused(f"per-channel requantization along axis {rq.axis}, the kernel's channels are axis "
                          f"{channel_axis}")
    fields, mult, shift = _requant_fields(k, rq, k.out.shape[channel_axis])
    return q, fields, mult, shift


def _constants(k: Context, *positions: int) -> None:
    for i in positions:
        if i < len(k.node.inputs) and not k.is_constant(i):
            raise Refused(f"input {i} (%{k.node.inputs[i]}) must be a constant (weights are ROM arrays)")


def _bias(k: Context, index: int, count: int) -> Any:
    return k.node.inputs[index] if index < len(k.node.inputs) else k.rom("bias", "el::rom32", [0] * count,
                                                                           "no bias: zeros")


def _line_buffer(in_h: int, out_h: int, kernel_h: int, stride_h: int, dilation_h: int, pad_top: int) -> dict:
    span = (kernel_h - 1) * dilation_h + 1
    triggers = [min(max(oy * stride_h - pad_top + span - 1, 0), in_h - 1) for oy in range(out_h)]
    return dict(span_h=min(span, in_h), rows_per_trigger=max(triggers.count(t) for t in set(triggers)))


# --- compute ---------------------------------------------------------------------------------------------------

def conv2d(k: Context) -> LayerPlan:
    a = k.attrs
    _constants(k, 1, 2)
    (n, c, h, w), (o, cg, kh, kw), (_, _, oh, ow) = k.type(0).shape, k.type(1).shape, k.out.shape
    q, fields, mult, shift = _accumulating(k, 1)
    (sh, sw), (dh, dw), (pt, pl, _, _) = a["stride"], a["dilation"], a["padding"]
    config = cfg.Conv2dConfig(**fields, batch=n, in_channels=c, in_h=h, in_w=w, out_channels=o, out_h=oh, out_w=ow,
                              kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                              pad_top=pt, pad_left=pl, groups=a["groups"], input_offset=q.input_offset,
                              weight_offset=q.weight_offset, **_line_buffer(h, oh, kh, sh, dh, pt))
    args = (k.node.inputs[1], _bias(k, 2, o), mult, shift)
    types = (element(k.out),)
    return LayerPlan(k.node, (Call("el::conv2d", config, (k.node.inputs[0], *args, k.node.output), types),),
                     Call("el::conv2d_stream", config, (k.node.inputs[0], *args, k.node.output), types),
                     Work(n * oh * ow, macs=o * cg * kh * kw, wide=o if fields else 0, depth=8))


def linear(k: Context) -> LayerPlan:
    _constants(k, 1, 2)
    out_features, in_features = k.type(1).shape
    q, fields, mult, shift = _accumulating(k, len(k.out.shape) - 1)
    rows = k.type(0).numel // in_features
    config = cfg.LinearConfig(**fields, rows=rows, in_features=in_features, out_features=out_features,
                              input_offset=q.input_offset, weight_offset=q.weight_offset)
    args = (k.node.inputs[0], k.node.inputs[1], _bias(k, 2, out_features), mult, shift, k.node.output)
    flat = len(k.type(0).shape) != 4 and len(k.out.shape) != 4 and not k.is_constant(0)
    types = (element(k.out),)
    return LayerPlan(k.node, (Call("el::linear", config, args, types),),
                     Call("el::linear_stream", config, args, types) if flat else None,
                     Work(rows, macs=out_features * in_features, wide=out_features if fields else 0, depth=8))


def _batch_offsets(a_shape, b_shape, out_shape) -> tuple[list[int], list[int]]:
    """Where each (broadcast) batch entry of a and b starts, in output batch order."""
    batch = out_shape[:-2]
    count = math.prod(batch)
    a_index = np.broadcast_to(np.arange(math.prod(a_shape[:-2])).reshape(a_shape[:-2] or (1,)) if a_shape[:-2]
                              else np.zeros(()), batch).reshape(count)
    b_index = np.broadcast_to(np.arange(math.prod(b_shape[:-2])).reshape(b_shape[:-2] or (1,)) if b_shape[:-2]
                              else np.zeros(()), batch).reshape(count)
    return ([int(i) * a_shape[-2] * a_shape[-1] for i in a_index], [int(i) * b_shape[-2] * b_shape[-1] for i in b_index])


def matmul(k: Context) -> LayerPlan:
    a, b, y = k.type(0).shape, k.type(1).shape, k.out.shape
    q, fields, mult, shift = _accumulating(k, len(y) - 1)
    sa, sb = _batch_offsets(a, b, y)
    config = cfg.MatmulConfig(**fields, batch=len(sa), m=a[-2], k=a[-1], n=b[-1], input_offset=q.input_offset,
                              weight_offset=q.weight_offset)
    args = (k.node.inputs[0], k.node.inputs[1], k.rom("a_offset", "int", sa, "batch starts of a"),
            k.rom("b_offset", "int", sb, "batch starts of b"), mult, shift, k.node.output)
    types = (_array_type(k, 0), _array_type(k, 1), element(k.out))
    return LayerPlan(k.node, (Call("el::matmul", config, args, types),), None,
                     Work(len(sa) * a[-2], macs=b[-1] * a[-1], wide=b[-1] if fields else 0, depth=8))


def _array_type(k: Context, i: int) -> str:
    """The element type of input i as a kernel sees it: a ROM type for a constant."""
    if k.is_constant(i):
        return "el::rom8" if k.type(i).dtype is INT8 else "el::rom32"
    return element(k.type(i))


# --- elementwise -----------------------------------------------------------------------------------------------

def requantize(k: Context) -> LayerPlan:
    q = k.record(RequantQ)
    shape = k.out.shape
    per_channel = len(q.multiplier) > 1
    if per_channel and q.axis is None:
        raise Refused(f"{len(q.multiplier)} requantization pairs and no axis")
    channels = shape[q.axis] if per_channel else 1
    fields, mult, shift = _requant_fields(k, q, channels)
    inner = math.prod(shape[q.axis + 1:]) if per_channel else 1
    base = dict(count=k.out.numel, channels=channels, per_channel=per_channel, input_offset=q.input_offset,
                output_offset=q.output_offset, act_min=q.act_min, act_max=q.act_max)
    types = (_array_type(k, 0),)
    args = (k.node.inputs[0], mult, shift, k.node.output)
    stream = None
    if not k.is_constant(0):
        # channels-last streams carry the channel axis innermost; C-order streams keep `inner`
        nhwc = len(shape) == 4
        if not per_channel or not nhwc or q.axis == 1:
            stream_inner = 1 if (per_channel and nhwc) else inner
            stream = Call("el::requantize_stream", cfg.RequantizeConfig(inner=stream_inner, **base),
                          args, (element(k.type(0)),))
    return LayerPlan(k.node, (Call("el::requantize", cfg.RequantizeConfig(inner=inner, **base), args, types),),
                     stream, Work(k.out.numel, wide=1, depth=6))


def _coalesce(shape, *strides):
    """Drop size-1 dims and merge neighbours every operand walks contiguously (as the C backend does)."""
    from edgelower.backends.c.context import coalesce

    return coalesce(shape, *strides)


def binary(k: Context) -> LayerPlan:
    from edgelower.backends.c.context import broadcast_strides

    op = k.node.op
    if op in (Op.MAXIMUM, Op.MINIMUM):
        if is_integer(k.node):
            raise Refused("an int8 MAXIMUM / MINIMUM compares values of one quantization; it carries no record")
        fields = {}
    elif op is Op.MUL:
        q = k.record(MulQ)
        fields = dict(input1_offset=q.input1_offset, input2_offset=q.input2_offset,
                      output_multiplier=q.output_multiplier, output_shift=q.output_shift,
                      output_offset=q.output_offset, act_min=q.act_min, act_max=q.act_max)
    else:
        q = k.record(AddQ)
        fields = {f: getattr(q, f) for f in ("input1_offset", "input2_offset", "left_shift", "input1_multiplier",
                                             "input1_shift", "input2_multiplier", "input2_shift",
                                             "output_multiplier", "output_shift", "output_offset", "act_min",
                                             "act_max")}
    for v in (*k.node.inputs, k.node.output):
        if k.types[v].dtype is not INT8:
            raise Refused(f"%{v} is {k.types[v].dtype.value}; the binary kernels take int8")
    y = k.out.shape
    shape, (sa, sb) = _coalesce(y, broadcast_strides(k.type(0).shape, y), broadcast_strides(k.type(1).shape, y))
    if len(shape) > MAX_DIMS:
        raise Refused(f"a {len(shape)}-d broadcast; the kernel walks {MAX_DIMS}")
    pad = MAX_DIMS - len(shape)
    config = cfg.BinaryConfig(op=cfg.BINARY_OPS.index(op.name), count=k.out.numel, ndim=len(shape), **fields)
    args = (k.node.inputs[0], k.node.inputs[1], k.rom("shape", "int", list(shape) + [1] * pad, "output dims"),
            k.rom("stride_a", "int", list(sa) + [0] * pad, "strides of a"),
            k.rom("stride_b", "int", list(sb) + [0] * pad, "strides of b"), k.node.output)
    same = k.type(0).shape == k.type(1).shape == y and not k.is_constant(0) and not k.is_constant(1)
    stream = Call("el::binary_stream", config, (k.node.inputs[0], k.node.inputs[1], k.node.output)) if same else None
    wide = {Op.ADD: 3, Op.SUB: 3, Op.MUL: 2}.get(op, 0)
    return LayerPlan(k.node, (Call("el::binary", config, args, (_array_type(k, 0), _array_type(k, 1))),), stream,
                     Work(k.out.numel, wide=wide, depth=8 if wide else 1))


def _unary_int8(k: Context) -> None:
    if k.type(0).dtype is not INT8 or k.out.dtype is not INT8:
        raise Refused("the int8 kernel reads and writes int8")
    if k.is_constant(0):
        raise Refused("a constant input: fold it before compiling")


def clamp(k: Context) -> LayerPlan:
    q = k.record(ClampQ)
    _unary_int8(k)
    config = cfg.UnaryConfig(count=k.out.numel, act_min=q.act_min, act_max=q.act_max)
    args = (k.node.inputs[0], k.node.output)
    return LayerPlan(k.node, (Call("el::clamp", config, args),), Call("el::clamp_stream", config, args),
                     Work(k.out.numel, depth=1))


def lookup(k: Context) -> LayerPlan:
    """Any int8 -> int8 pointwise op with a record (SIGMOID, TANH, HARDSWISH, GELU): a 256-entry table, each entry
    the reference interpreter's result for that input value."""
    k.record({Op.SIGMOID: LogisticQ, Op.TANH: TanhQ, Op.HARDSWISH: HardSwishQ, Op.GELU: IGeluQ}[k.node.op])
    _unary_int8(k)
    b = GraphBuilder("table")
    x = b.input("x", TensorType((256,), INT8, k.type(0).qparams))
    b.output(b.op(k.node.op, [x], dict(k.node.attrs)))
    graph = b.build()
    values = run_graph(graph, [np.arange(-128, 128, dtype=np.int8)])[0]
    table = k.rom("table", "el::rom8", values, f"{k.node.op.name.lower()} of x = -128 .. 127, by the interpreter")
    config = cfg.UnaryConfig(count=k.out.numel)
    return LayerPlan(k.node, (Call("el::table", config, (k.node.inputs[0], table, k.node.output)),),
                     Call("el::table_stream", config, (k.node.inputs[0], table, k.node.output)),
                     Work(k.out.numel, depth=2))


# --- pooling and reductions ------------------------------------------------------------------------------------

def pool2d(k: Context) -> LayerPlan:
    a = k.attrs
    is_max = k.node.op is Op.MAX_POOL2D
    q = k.node.attrs.get("q")
    if q is None and is_max:
        q = PoolQ()
    if not isinstance(q, PoolQ):
        raise Refused(f"expects a PoolQ record, has {type(q).__name__}")
    _unary_int8(k)
    if not is_max and (any(a["padding"]) and a["count_include_pad"] or a["divisor"] is not None):
        raise Refused("int8 AVG_POOL2D divides by the in-bounds tap count: padding needs count_include_pad=False "
                      "and no divisor")
    (n, c, h, w), (_, _, oh, ow) = k.type(0).shape, k.out.shape
    (kh, kw), (sh, sw), (pt, pl, _, _) = a["kernel"], a["stride"], a["padding"]
    dh, dw = a["dilation"] if is_max else (1, 1)
    config = cfg.Pool2dConfig(planes=n * c, channels=c, in_h=h, in_w=w, out_h=oh, out_w=ow, kernel_h=kh, kernel_w=kw,
                              stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_top=pt, pad_left=pl,
                              is_max=is_max, act_min=q.act_min, act_max=q.act_max,
                              **_line_buffer(h, oh, kh, sh, dh, pt))
    args = (k.node.inputs[0], k.node.output)
    return LayerPlan(k.node, (Call("el::pool2d", config, args),), Call("el::pool2d_stream", config, args),
                     Work(n * c * oh * ow, divides=0 if is_max else 1, depth=4 if is_max else 20))


def _reduction_tables(k: Context) -> tuple[int, int, Rom, Rom]:
    """(outputs, count, base, offset): output o reduces x[base[o] + offset[r]] for r < count, over any axes."""
    shape, axes = k.type(0).shape, set(k.attrs["axes"])
    strides = _strides(shape)
    kept = [d for d in range(len(shape)) if d not in axes]
    gone = [d for d in range(len(shape)) if d in axes]

    def offsets(dims) -> np.ndarray:
        grid = np.zeros([shape[d] for d in dims] or [1], np.int64)
        for i, d in enumerate(dims):
            view = [1] * len(dims)
            view[i] = shape[d]
            grid = grid + (np.arange(shape[d]) * strides[d]).reshape(view)
        return grid.reshape(-1)

    base, offset = offsets(kept), offsets(gone)
    return (base.size, offset.size, k.rom("base", "int", base, "where each output's elements start"),
            k.rom("offset", "int", offset, "offsets of the reduced elements"))


def mean(k: Context) -> LayerPlan:
    q = k.record(MeanQ)
    _unary_int8(k)
    outputs, count, base, offset = _reduction_tables(k)
    if not 0 < count < MeanQ.MAX_COUNT:
        raise Refused(f"MEAN over {count} elements: TFLM's int32 sum holds fewer than {MeanQ.MAX_COUNT}")
    # TFLM folds 1/n into the multiplier at run time; n is static here, so the compiler folds it.
    shift_k = min(count.bit_length() - 1, 32, 31 + q.shift)
    config = cfg.ReduceConfig(outer=outputs, reduced=count, inner=1, recentre=count * q.input_offset,
                              multiplier=(q.multiplier << shift_k) // count, shift=q.shift - shift_k,
                              output_offset=q.output_offset)
    shape = k.type(0).shape
    stream = None
    if len(shape) == 4 and set(k.attrs["axes"]) == {2, 3}:
        stream = Call("el::mean_stream", replace(config, outer=shape[0], reduced=shape[2] * shape[3],
                                                 inner=shape[1]), (k.node.inputs[0], k.node.output))
    return LayerPlan(k.node, (Call("el::mean", config, (k.node.inputs[0], base, offset, k.node.output)),), stream,
                     Work(outputs, wide=1, depth=8))


def reduce_max(k: Context) -> LayerPlan:
    _unary_int8(k)
    outputs, count, base, offset = _reduction_tables(k)
    config = cfg.ReduceConfig(outer=outputs, reduced=count, inner=1)
    return LayerPlan(k.node, (Call("el::reduce_max", config, (k.node.inputs[0], base, offset, k.node.output)),),
                     None, Work(outputs, depth=2))


# --- normalization ---------------------------------------------------------------------------------------------

def softmax(k: Context) -> LayerPlan:
    q = k.record(SoftmaxQ, ISoftmaxQ)
    _unary_int8(k)
    shape, axis = k.type(0).shape, k.attrs["axis"]
    view = dict(outer=math.prod(shape[:axis]), axis=shape[axis], inner=math.prod(shape[axis + 1:]))
    if isinstance(q, ISoftmaxQ):
        config: Any = cfg.ISoftmaxConfig(**view, exp_multiplier=q.exp_multiplier, diff_limit=q.diff_limit,
                                         poly_a=q.poly_a, poly_b=q.poly_b)
        kernel, work = "el::isoftmax", Work(view["outer"] * view["inner"], wide=2 * shape[axis], divides=1, depth=40)
    else:
        config = cfg.SoftmaxConfig(**view, input_multiplier=q.input_multiplier, input_left_shift=q.input_left_shift,
                                   diff_min=q.diff_min)
        kernel, work = "el::softmax", Work(view["outer"] * view["inner"], wide=24 * shape[axis], depth=60)
    return LayerPlan(k.node, (Call(kernel, config, (k.node.inputs[0], k.node.output)),), None, work)


def layer_norm(k: Context) -> LayerPlan:
    q = k.record(ILayerNormQ)
    _unary_int8(k)
    _constants(k, 1, 2)
    if len(k.node.inputs) != 3 or any(k.type(i).dtype is not INT32 for i in (1, 2)):
        raise Refused("an integer LAYER_NORM reads (x, weight int32, bias int32)")
    shape = k.type(0).shape
    cols = math.prod(shape[len(shape) - k.attrs["normalized_ndim"]:])
    config = cfg.LayerNormConfig(rows=k.type(0).numel // cols, cols=cols, variance_shift=q.variance_shift,
                                 epsilon=q.epsilon, norm_shift=q.norm_shift, weight_shift=q.weight_shift,
                                 output_offset=q.output_offset)
    args = (k.node.inputs[0], k.node.inputs[1], k.node.inputs[2], k.node.output)
    return LayerPlan(k.node, (Call("el::layer_norm", config, args),), None,
                     Work(config.rows, wide=3 * cols, divides=2, depth=80))


# --- data movement ---------------------------------------------------------------------------------------------

def _strides(shape) -> list[int]:
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    return out[::-1]


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
    sx, sy = _strides(x), _strides(y)
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
        if fill != a["value"] or not -128 <= fill <= 127:
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
            s = _strides(shape)
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


Builder = Callable[[Context], LayerPlan]

LAYERS: dict[Op, Builder] = {
    Op.CONV2D: conv2d,
    Op.LINEAR: linear,
    Op.MATMUL: matmul,
    Op.REQUANTIZE: requantize,
    **{op: binary for op in (Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM)},
    Op.RELU: clamp,
    Op.CLAMP: clamp,
    **{op: lookup for op in (Op.SIGMOID, Op.TANH, Op.HARDSWISH, Op.GELU)},
    Op.MAX_POOL2D: pool2d,
    Op.AVG_POOL2D: pool2d,
    Op.MEAN: mean,
    Op.REDUCE_MAX: reduce_max,
    Op.SOFTMAX: softmax,
    Op.LAYER_NORM: layer_norm,
    **{op: movement for op in (Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND, Op.PAD, Op.UPSAMPLE_NEAREST,
                               Op.CONCAT, Op.GATHER)},
}

FLOAT_REFUSAL = "a float32 op: the HLS backend renders int8 graphs only; compile with quantize=\"int8\""


def plan_layer(node: Node, types: Mapping[str, TensorType], constants) -> LayerPlan:
    """The node's LayerPlan at reuse factor 1; Refused says why there is none."""
    if any(types[v].dtype is DType.FLOAT32 for v in (*node.inputs, *node.outputs)) or \
            node.op in (Op.QUANTIZE, Op.DEQUANTIZE):
        raise Refused(FLOAT_REFUSAL)
    if node.op not in LAYERS:
        raise Refused("no HLS kernel for this op (backends/hls/layers.py LAYERS)")
    if len(node.outputs) != 1:
        raise Refused("a node with several outputs")
    return LAYERS[node.op](Context(node, types, constants))


def unsupported(node: Node, types: Mapping[str, TensorType]) -> str | None:
    """None when an HLS kernel renders `node`, else why not. Constants are not known per node here: weights are
    checked again, by name, when the graph is planned."""
    try:
        plan_layer(node, types, _assumed_constants(node))
    except Refused as e:
        return str(e)
    return None


def _assumed_constants(node: Node) -> dict[str, None]:
    """Inputs that are weights by the op's traits, and GATHER's indices: the per-node check cannot see the
    graph's constants, so it assumes these are (planning the graph checks them again, by name)."""
    from edgelower.ir.traits import traits

    positions = (1,) if node.op is Op.GATHER else traits(node.op).parameters
    return {node.inputs[i]: None for i in positions if i < len(node.inputs)}


def plan_graph(graph: Graph) -> list[LayerPlan]:
    from edgelower.errors import BackendUnsupportedError, Unsupported

    plans, problems = [], []
    for node in graph.nodes:
        try:
            plans.append(plan_layer(node, graph.types, graph.constants))
        except Refused as e:
            problems.append(Unsupported(f"{node.op.name}: {e}", node.name, node.source))
    if problems:
        raise BackendUnsupportedError("hls", "", problems)
    return plans
