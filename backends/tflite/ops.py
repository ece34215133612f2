"""Per-op translation of integer IR nodes into TFLite operators, for `edgelower.backends.tflite.export`.

Each handler checks that TFLite Micro will compute exactly what the node's `q` record says (the record is
re-derived from the file's float32 scales with the constructor that mirrors TFLite's Prepare), then emits the
operator. CONV2D / LINEAR / MATMUL and the REQUANTIZE of their int32 accumulator become one CONV_2D /
DEPTHWISE_CONV_2D / FULLY_CONNECTED / BATCH_MATMUL; a REQUANTIZE's activation range becomes the fused activation
when TFLite has one with that exact range, and MAXIMUM / MINIMUM against constants otherwise (clamping after a
clamp to int8's range is the same clamp).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from edgelower.ir.graph import DType, Graph, Node, Op, QParams
from edgelower.ir.traits import is_integer, traits
from edgelower.quant.records import SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT, AddQ, ClampQ, ConvQ, HardSwishQ, \
    LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, TanhQ, activation_range, f32
from edgelower.backends.tflite.exporter import NHWC, Exporter, TFLiteExportError, home_of, identity, per_tensor, permuted, \
    same_qparams

INT8_MIN, INT8_MAX = DType.INT8.min, DType.INT8.max
FUSED = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def absorbed_requantizes(graph: Graph) -> set[str]:
    """The REQUANTIZE nodes that become part of their CONV2D / LINEAR / MATMUL operator."""
    users = graph.users()
    absorbed = set()
    for node in graph.nodes:
        q = node.attrs.get("q")
        if traits(node.op).accumulates and q is not None and getattr(q, "requant", None) is None:
            consumers = users.get(node.output, [])
            if len(consumers) == 1 and consumers[0].op is Op.REQUANTIZE and node.output not in graph.outputs:
                absorbed.add(consumers[0].name)
    return absorbed


def _requantization(ex: Exporter, node: Node) -> tuple[RequantQ, str]:
    """The requantization of a CONV2D / LINEAR / MATMUL and the int8 value it writes: the fused record
    (`ConvQ.requant`, passes/fuse.py) or the REQUANTIZE that is the accumulator's only use."""
    q = _record(node, ConvQ)
    if q.requant is not None:
        return q.requant, node.output
    consumers = ex.graph.users().get(node.output, [])
    if len(consumers) != 1 or consumers[0].op is not Op.REQUANTIZE or node.output in ex.graph.outputs:
        raise TFLiteExportError("an int32 accumulator must have exactly one use, a REQUANTIZE: TFLite's "
                                f"{node.op.name} writes int8")
    return _record(consumers[0], RequantQ), consumers[0].output


def _check_conv(node: Node, expected: ConvQ) -> None:
    _check(replace(_record(node, ConvQ), requant=None), expected)


def _record(node: Node, kind: type):
    q = node.attrs.get("q")
    if not isinstance(q, kind):
        raise TFLiteExportError(f"needs a {kind.__name__} record, has {q!r}")
    return q


def _check(record, expected) -> None:
    if record != expected:
        raise TFLiteExportError(f"q record {record} differs from what TFLite Micro derives from the scales in the "
                                f"file: {expected}")


def _clamped(ex: Exporter, source: int, out: str, perm, lo: int, hi: int) -> None:
    """MAXIMUM / MINIMUM with one-element constants of the output's qparams, into the output value's tensor."""
    qp = ex.graph.types[out].qparams
    if lo > INT8_MIN:
        target = ex.define(out, perm) if hi == INT8_MAX else ex.tensor(f"{out}_lo", ex.tensors[source].shape,
                                                                          np.int8, qp, perm=perm)
        ex.op("MAXIMUM", [source, ex.int8_constant(f"{out}_min", lo, qp)], [target])
        source = target
    if hi < INT8_MAX:
        ex.op("MINIMUM", [source, ex.int8_constant(f"{out}_max", hi, qp)], [ex.define(out, perm)])


def _activated_op(ex: Exporter, builtin: str, inputs, out: str, perm, act_min: int, act_max: int,
                  options: str | None, **fields) -> None:
    """Emit `builtin` writing `out`, with [act_min, act_max] as its fused activation when TFLite has that one."""
    scale, zp = per_tensor(ex, out)
    fused = next((a for a in FUSED if activation_range(a, scale, zp) == (act_min, act_max)), None)
    if options is not None and fused is not None:
        fields["fusedActivationFunction"] = getattr(ex.schema.ActivationFunctionType, fused)
        ex.op(builtin, inputs, [ex.define(out, perm)], options, **fields)
        return
    if (act_min, act_max) == (INT8_MIN, INT8_MAX):
        ex.op(builtin, inputs, [ex.define(out, perm)], options, **fields)
        return
    raw = ex.tensor(f"{out}_raw", permuted(ex.graph.types[out].shape, perm), np.int8, ex.graph.types[out].qparams,
                    perm=perm)
    ex.op(builtin, inputs, [raw], options, **fields)
    _clamped(ex, raw, out, perm, act_min, act_max)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int, int]:
    """TFLite's SAME: output size, and padding before / after (ComputePaddingHeightWidth)."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2


def _padding_mode(x_hw, kernel, stride, dilation, out_hw, padding) -> str | None:
    """SAME or VALID when TFLite's padding puts every window where ours is; None when neither does."""
    modes = {"SAME", "VALID"}
    for d in range(2):
        size, k, s, dl, out, lo = x_hw[d], kernel[d], stride[d], dilation[d], out_hw[d], padding[d]
        valid_out = (size - (k - 1) * dl - 1) // s + 1
        same_out, same_lo, _ = _same_padding(size, k, s, dl)
        fits = {m for m, ok in (("VALID", lo == 0 and out == valid_out), ("SAME", lo == same_lo and out == same_out))
                if ok}
        modes &= fits
    return "VALID" if "VALID" in modes else "SAME" if modes else None


def _spatial(ex: Exporter, node: Node, out: str):
    x_hw = ex.graph.types[node.inputs[0]].shape[2:]
    out_hw = ex.graph.types[out].shape[2:]
    pt, pl, pb, pr = node.attrs["padding"]
    kernel = node.attrs["kernel"] if "kernel" in node.attrs else ex.graph.types[node.inputs[1]].shape[2:]
    dilation = node.attrs.get("dilation", (1, 1))
    return x_hw, kernel, node.attrs["stride"], dilation, out_hw, (pt, pl, pb, pr)


def _padded_input(ex: Exporter, x: str, pads, value: int | None) -> int:
    """x (NHWC) through an explicit PAD (value None: the zero point) or PADV2 (value), for a VALID window op."""
    pt, pl, pb, pr = pads
    source = ex.value(x, NHWC)
    shape = list(ex.tensors[source].shape)
    shape[1] += pt + pb
    shape[2] += pl + pr
    qp = ex.graph.types[x].qparams
    target = ex.tensor(f"{x}_padded", shape, np.int8, qp, perm=NHWC)
    paddings = ex.tensor(f"{x}_paddings", [4, 2], np.int32, data=np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]],
                                                                           np.int32))
    if value is None:
        ex.op("PAD", [source, paddings], [target], "PadOptions")
    else:
        ex.op("PADV2", [source, paddings, ex.int8_constant(f"{x}_pad_value", value, qp)], [target], "PadV2Options")
    return target


def _conv2d(ex: Exporter, node: Node) -> None:
    """ConvPerChannel (CONV_2D), DepthwiseConvPerChannel (groups == input channels)."""
    graph, (rq, out) = ex.graph, _requantization(ex, node)
    x, w = node.inputs[:2]
    in_scale, in_zp = per_tensor(ex, x)
    out_scale, out_zp = per_tensor(ex, out)
    w_scales = _weight_scales(ex, w)
    _check_conv(node, ConvQ.from_zero_points(in_zp))
    _check(rq, RequantQ.per_channel(in_scale, w_scales, out_scale, out_zp, rq.act_min, rq.act_max, axis=1))
    weights = graph.constants[w]
    o, cg, kh, kw = weights.shape
    c = graph.types[x].shape[1]
    x_hw, kernel, (sh, sw), (dh, dw), out_hw, pads = _spatial(ex, node, out)
    mode = _padding_mode(x_hw, kernel, (sh, sw), (dh, dw), out_hw, pads)
    source = ex.value(x, NHWC) if mode else _padded_input(ex, x, pads, None)
    depthwise = node.attrs["groups"] == c and cg == 1 and node.attrs["groups"] > 1
    if depthwise:
        filt, axis = weights.reshape(o, kh, kw).transpose(1, 2, 0)[None], 3
    else:
        filt, axis = weights.transpose(0, 2, 3, 1), 0
    w_index = ex.tensor(w, filt.shape, np.int8, QParams(tuple(w_scales), (0,) * len(w_scales), axis), filt)
    b_index = _bias(ex, node, o, [f32(f32(in_scale) * f32(s)) for s in w_scales])
    fields = dict(padding=getattr(ex.schema.Padding, mode or "VALID"), strideH=sh, strideW=sw, dilationHFactor=dh,
                  dilationWFactor=dw)
    if depthwise:
        _activated_op(ex, "DEPTHWISE_CONV_2D", [source, w_index, b_index], out, NHWC, rq.act_min, rq.act_max,
                      "DepthwiseConv2DOptions", depthMultiplier=o // c, **fields)
    else:
        _activated_op(ex, "CONV_2D", [source, w_index, b_index], out, NHWC, rq.act_min, rq.act_max,
                      "Conv2DOptions", **fields)


def _weight_scales(ex: Exporter, w: str) -> tuple[float, ...]:
    qp = ex.graph.types[w].qparams
    if w not in ex.graph.constants or qp is None or any(z != 0 for z in qp.zero_point):
        raise TFLiteExportError(f"weights %{w} must be a constant with symmetric (zero point 0) qparams, has {qp}")
    return tuple(qp.scale)


def _bias(ex: Exporter, node: Node, channels: int, scales) -> int:
    data = ex.graph.constants[node.inputs[2]] if len(node.inputs) == 3 else np.zeros(channels, np.int32)
    name = node.inputs[2] if len(node.inputs) == 3 else f"{node.name}_bias"
    return ex.tensor(name, [channels], np.int32, QParams(tuple(scales), (0,) * len(scales), 0),
                     data.astype(np.int32))


def _linear(ex: Exporter, node: Node) -> None:
    """reference_integer_ops::FullyConnected, per channel or per tensor; keep_num_dims for ranks above 2."""
    graph, (rq, out) = ex.graph, _requantization(ex, node)
    x, w = node.inputs[:2]
    in_scale, in_zp = per_tensor(ex, x)
    out_scale, out_zp = per_tensor(ex, out)
    w_scales = _weight_scales(ex, w)
    rank = len(graph.types[x].shape)
    _check_conv(node, ConvQ.from_zero_points(in_zp))
    _check(rq, RequantQ.fully_connected(in_scale, w_scales, out_scale, out_zp, rq.act_min, rq.act_max,
                                         axis=rank - 1))
    home = home_of(ex, x)
    perm = home if home[-1] == rank - 1 else identity(rank)
    weights = graph.constants[w]
    per_channel = len(w_scales) > 1
    w_index = ex.tensor(w, weights.shape, np.int8, QParams(w_scales, (0,) * len(w_scales), 0 if per_channel else None),
                        weights)
    bias_scales = [f32(f32(in_scale) * f32(s)) for s in w_scales]
    b_index = _bias(ex, node, weights.shape[0], bias_scales)
    _activated_op(ex, "FULLY_CONNECTED", [ex.value(x, perm), w_index, b_index], out, perm, rq.act_min, rq.act_max,
                  "FullyConnectedOptions", keepNumDims=rank > 2)


def _matmul(ex: Exporter, node: Node) -> None:
    """reference_ops::BatchMatMul<int8_t, int32_t>: both operands int8 activations, per-tensor."""
    rq, out = _requantization(ex, node)
    (s1, zp1), (s2, zp2) = per_tensor(ex, node.inputs[0]), per_tensor(ex, node.inputs[1])
    out_scale, out_zp = per_tensor(ex, out)
    _check_conv(node, ConvQ.from_zero_points(zp1, zp2))
    _check(rq, RequantQ.per_tensor(s1, s2, out_scale, out_zp, rq.act_min, rq.act_max))
    rank = len(ex.graph.types[out].shape)
    inputs = [ex.value(n, identity(len(ex.graph.types[n].shape))) for n in node.inputs]
    _activated_op(ex, "BATCH_MATMUL", inputs, out, identity(rank), rq.act_min, rq.act_max, None)


def _requantize(ex: Exporter, node: Node) -> None:
    """TFLite QUANTIZE int8 -> int8 (reference_ops::Requantize)."""
    x = node.inputs[0]
    q = _record(node, RequantQ)
    (in_scale, in_zp), (out_scale, out_zp) = per_tensor(ex, x), per_tensor(ex, node.output)
    if ex.graph.types[x].dtype.value != "int8":
        raise TFLiteExportError(f"the int32 accumulator %{x} must come from CONV2D, LINEAR or MATMUL")
    _check(q, RequantQ.from_scales(in_scale, in_zp, out_scale, out_zp, q.act_min, q.act_max))
    perm = home_of(ex, x)
    _activated_op(ex, "QUANTIZE", [ex.value(x, perm)], node.output, perm, q.act_min, q.act_max, None)


def _operands(ex: Exporter, node: Node) -> tuple[list[int], tuple[int, ...]]:
    """Element-wise inputs in one common permutation; constants of lower rank gain leading unit dims."""
    rank = len(ex.graph.types[node.output].shape)
    variables = [n for n in node.inputs if n not in ex.graph.constants]
    if any(len(ex.graph.types[n].shape) != rank for n in variables):
        perm = identity(rank)
    else:
        perm = ex.home[variables[0]] if variables else identity(rank)
    indices = []
    for name in node.inputs:
        t = ex.graph.types[name]
        if name in ex.graph.constants and len(t.shape) != rank:
            data = ex.graph.constants[name].reshape((1,) * (rank - len(t.shape)) + t.shape)
            indices.append(ex.tensor(f"{name}_{node.name}", permuted(data.shape, perm), data.dtype, t.qparams,
                                     np.transpose(data, perm), perm))
        else:
            indices.append(ex.value(name, perm if len(t.shape) == rank else identity(len(t.shape))))
    return indices, perm


def _add_sub(builtin: str, options: str, constructor: Callable) -> Callable:
    def handler(ex: Exporter, node: Node) -> None:
        q = _record(node, AddQ)
        (s1, zp1), (s2, zp2), (so, zpo) = (per_tensor(ex, n) for n in (*node.inputs, node.output))
        _check(q, constructor(s1, zp1, s2, zp2, so, zpo, q.act_min, q.act_max))
        inputs, perm = _operands(ex, node)
        _activated_op(ex, builtin, inputs, node.output, perm, q.act_min, q.act_max, options)
    return handler


def _mul(ex: Exporter, node: Node) -> None:
    q = _record(node, MulQ)
    (s1, zp1), (s2, zp2), (so, zpo) = (per_tensor(ex, n) for n in (*node.inputs, node.output))
    _check(q, MulQ.from_scales(s1, zp1, s2, zp2, so, zpo, q.act_min, q.act_max))
    inputs, perm = _operands(ex, node)
    _activated_op(ex, "MUL", inputs, node.output, perm, q.act_min, q.act_max, "MulOptions")


def _min_max(builtin: str) -> Callable:
    def handler(ex: Exporter, node: Node) -> None:
        if is_integer(node):
            raise TFLiteExportError("int8 MAXIMUM / MINIMUM compare raw values and carry no q")
        same_qparams(ex, [*node.inputs, node.output])
        inputs, perm = _operands(ex, node)
        ex.op(builtin, inputs, [ex.define(node.output, perm)])
    return handler


def _pool(builtin: str) -> Callable:
    """reference_integer_ops::AveragePool / MaxPool. Average pooling never counts padding, so its windows must
    be TFLite's SAME or VALID ones; max pooling falls back to an explicit PADV2 with int8's minimum."""
    def handler(ex: Exporter, node: Node) -> None:
        q = node.attrs.get("q")
        if builtin == "AVERAGE_POOL_2D" or q is not None:
            q = _record(node, PoolQ)
        act_min, act_max = (q.act_min, q.act_max) if q is not None else (INT8_MIN, INT8_MAX)
        x, out = node.inputs[0], node.output
        same_qparams(ex, [x, out])
        if tuple(node.attrs.get("dilation", (1, 1))) != (1, 1):
            raise TFLiteExportError("TFLite pools have no dilation")
        x_hw, kernel, stride, dilation, out_hw, pads = _spatial(ex, node, out)
        mode = _padding_mode(x_hw, kernel, stride, dilation, out_hw, pads)
        if mode is None and builtin == "AVERAGE_POOL_2D":
            raise TFLiteExportError(f"padding {pads} with output {out_hw} is neither TFLite's SAME nor VALID, and "
                                    "an average pool cannot take an explicit PAD")
        if mode is None:
            (pt, pl, _, _), (oh, ow), (kh, kw), (sh, sw) = pads, out_hw, kernel, stride
            bottom, right = (oh - 1) * sh + kh - x_hw[0] - pt, (ow - 1) * sw + kw - x_hw[1] - pl
            source = _padded_input(ex, x, (pt, pl, max(bottom, 0), max(right, 0)), INT8_MIN)
        else:
            source = ex.value(x, NHWC)
        _activated_op(ex, builtin, [source], out, NHWC, act_min, act_max, "Pool2DOptions",
                      padding=getattr(ex.schema.Padding, mode or "VALID"), strideH=stride[0], strideW=stride[1],
                      filterHeight=kernel[0], filterWidth=kernel[1])
    return handler


def _mean(ex: Exporter, node: Node) -> None:
    """TFLM MEAN (reference_ops::QuantizedMeanOrSum) with one scale in and out."""
    x, out = node.inputs[0], node.output
    (in_scale, in_zp), (out_scale, out_zp) = per_tensor(ex, x), per_tensor(ex, out)
    _check(_record(node, MeanQ), MeanQ.from_scales(in_scale, in_zp, out_scale, out_zp))
    axes, keepdim = set(node.attrs["axes"]), node.attrs["keepdim"]
    home = ex.home[x]
    file_axes = [k for k, p in enumerate(home) if p in axes]
    if keepdim:
        out_perm = home
    else:
        out_perm = tuple(p - sum(a < p for a in axes) for p in home if p not in axes)
    ex.op("MEAN", [ex.value(x, home), ex.int32_constant(f"{node.name}_axes", file_axes)],
          [ex.define(out, out_perm)], "ReducerOptions", keepDims=bool(keepdim))


def _clamp(ex: Exporter, node: Node) -> None:
    """RELU / RELU6 when the range is theirs (TFLM ReluQuantized with the identity multiplier, Relu6Quantized),
    MAXIMUM / MINIMUM otherwise."""
    q = _record(node, ClampQ)
    x, out = node.inputs[0], node.output
    same_qparams(ex, [x, out])
    scale, zp = per_tensor(ex, out)
    home = home_of(ex, x)
    source = ex.value(x, home)
    if (q.act_min, q.act_max) == (INT8_MIN, INT8_MAX):
        ex.alias(out, x, home)
    elif (q.act_min, q.act_max) == activation_range("RELU", scale, zp):
        ex.op("RELU", [source], [ex.define(out, home)])
    elif (q.act_min, q.act_max) == activation_range("RELU6", scale, zp):
        ex.op("RELU6", [source], [ex.define(out, home)])
    else:
        _clamped(ex, source, out, home, q.act_min, q.act_max)


def _unary(builtin: str, kind: type, constructor: Callable, fixed_output: tuple[float, int] | None,
           options: str | None = None, **fields) -> Callable:
    def handler(ex: Exporter, node: Node) -> None:
        x, out = node.inputs[0], node.output
        (in_scale, in_zp), (out_scale, out_zp) = per_tensor(ex, x), per_tensor(ex, out)
        if fixed_output is not None and (f32(out_scale), out_zp) != (f32(fixed_output[0]), fixed_output[1]):
            raise TFLiteExportError(f"TFLite's int8 {builtin} outputs scale {fixed_output[0]}, zero point "
                                    f"{fixed_output[1]}; %{out} has {out_scale}, {out_zp}")
        _check(_record(node, kind), constructor(in_scale, in_zp, out_scale, out_zp))
        perm = home_of(ex, x)
        ex.op(builtin, [ex.value(x, perm)], [ex.define(out, perm)], options, **fields)
    return handler


def _softmax(ex: Exporter, node: Node) -> None:
    """reference_ops::Softmax on the last file dim: the value is stored with the softmax axis last."""
    x, out, axis = node.inputs[0], node.output, node.attrs["axis"]
    (in_scale, _), out_q = per_tensor(ex, x), per_tensor(ex, out)
    if (f32(out_q[0]), out_q[1]) != (f32(SOFTMAX_OUTPUT[0]), SOFTMAX_OUTPUT[1]):
        raise TFLiteExportError(f"TFLite's int8 SOFTMAX outputs scale 1/256, zero point {SOFTMAX_OUTPUT[1]}; "
                                f"%{out} has {out_q}")
    _check(_record(node, SoftmaxQ), SoftmaxQ.from_scale(in_scale))
    home = home_of(ex, x)
    perm = home if home[-1] == axis else tuple([p for p in home if p != axis] + [axis])
    ex.op("SOFTMAX", [ex.value(x, perm)], [ex.define(out, perm)], "SoftmaxOptions", beta=1.0)


# The compute ops; data movement is in data_movement.py, both joined in handlers.py.
COMPUTE: dict[Op, Callable[[Exporter, Node], None]] = {
    Op.CONV2D: _conv2d,
    Op.LINEAR: _linear,
    Op.MATMUL: _matmul,
    Op.REQUANTIZE: _requantize,
    Op.ADD: _add_sub("ADD", "AddOptions", AddQ.from_scales),
    Op.SUB: _add_sub("SUB", "SubOptions", AddQ.from_sub_scales),
    Op.MUL: _mul,
    Op.MAXIMUM: _min_max("MAXIMUM"),
    Op.MINIMUM: _min_max("MINIMUM"),
    Op.AVG_POOL2D: _pool("AVERAGE_POOL_2D"),
    Op.MAX_POOL2D: _pool("MAX_POOL_2D"),
    Op.MEAN: _mean,
    Op.RELU: _clamp,
    Op.CLAMP: _clamp,
    Op.SIGMOID: _unary("LOGISTIC", LogisticQ, lambda s, z, so, zo: LogisticQ.from_scale(s, z), SIGMOID_OUTPUT),
    Op.TANH: _unary("TANH", TanhQ, lambda s, z, so, zo: TanhQ.from_scale(s, z), TANH_OUTPUT),
    Op.HARDSWISH: _unary("HARD_SWISH", HardSwishQ, HardSwishQ.from_scales, None),
    Op.SOFTMAX: _softmax,
}
