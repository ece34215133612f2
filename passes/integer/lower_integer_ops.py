"""The integer form of each op, as `lower_integer` applies it: `LOWERINGS[op](site) -> Rewrite`.

A lowering function sees a `Site`: the float op, its operands (the int8 values behind its DEQUANTIZEd inputs, its
constants), the int8 value it must define (`site.output`, type `site.out_type` with the output's parameters) and
an optional RELU/CLAMP to fold into its range. It returns the integer nodes (built with `site.node_to` /
`site.finish`), or raises NoIntegerForm saying why this form of the op has no integer lowering (the op then
stays float, and `lower_integer` names it with that reason). Every `q` record comes from its constructor in
`edgelower.quant.records` (or `edgelower.quant.transformer`), which computes what TFLite Micro's Prepare computes from the
same float32 scales; the integer semantics is `edgelower.interp.integer`.

Constants are quantized here, once, to the ranges their parameters name: weights per output channel to the
symmetric int8 range, biases to int32 at scale input_scale x weight_scale[c] (zero point 0), both with round half
away from zero (TFLite's converter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from edgelower.quant.transformer import IGeluQ, ILayerNormQ, ISoftmaxQ
from edgelower.ir.graph import DType, Node, Op, QParams, TensorType
from edgelower.ir.ops import parse_activation
from edgelower.passes.rewrite import Rewrite, RewriteContext
from edgelower.quant.arith import round_half_away
from edgelower.quant.resampling import ResizeBilinearQ
from edgelower.quant.records import (SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT, AddQ, ClampQ, ConvQ, HardSwishQ,
                              LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, TanhQ, f32)

FULL = (DType.INT8.min, DType.INT8.max)  # no activation clamp


def quantize_array(data: np.ndarray, qparams: QParams, dtype: DType = DType.INT8) -> np.ndarray:
    """round(data / scale) + zero_point (half away from zero, in float64), clamped to [qmin, qmax]; per tensor or
    per `qparams.axis`."""
    data = np.asarray(data, np.float64)
    scale = np.asarray(qparams.scale, np.float64)
    zp = np.asarray(qparams.zero_point, np.float64)
    if qparams.axis is not None and scale.size > 1:
        view = [1] * data.ndim
        view[qparams.axis] = scale.size
        scale, zp = scale.reshape(view), zp.reshape(view)
    else:
        scale, zp = scale.reshape(()), zp.reshape(())
    return np.clip(round_half_away(data / scale) + zp, qparams.qmin, qparams.qmax).astype(dtype.numpy)


class NoIntegerForm(Exception):
    """This form of the op has no integer lowering; the message says why (for IntegerLoweringError)."""


def record(constructor, *args, **kwargs):
    """A `q` record from its qattrs / int_transformer constructor; parameters outside its valid range (ValueError)
    mean this op has no integer form here."""
    try:
        return constructor(*args, **kwargs)
    except ValueError as e:
        raise NoIntegerForm(str(e)) from None


@dataclass(frozen=True)
class Operand:
    """One input of the float op: an int8 value (with parameters), a constant (float with parameters, or int8),
    or a non-float value such as GATHER's indices. `data` is a constant's data, else None."""

    name: str
    type: TensorType
    data: np.ndarray | None

    @property
    def qparams(self) -> QParams | None:
        return self.type.qparams

    @property
    def is_int8(self) -> bool:
        q = self.type.qparams
        return self.type.dtype is DType.INT8 and q is not None and len(q.scale) == 1


@dataclass(frozen=True, eq=False)
class Site:
    node: Node                       # the float op to lower
    output: str                      # the int8 value its integer form defines
    out_type: TensorType             # int8 with the output's parameters (the QUANTIZE's type)
    operands: tuple[Operand, ...]    # one per input of `node`
    activation: Node | None          # a RELU/CLAMP on node's unquantized result, folded into the range
    ctx: RewriteContext

    @property
    def out_q(self) -> tuple[float, int]:
        return self.out_type.qparams.scale[0], self.out_type.qparams.zero_point[0]

    def int8(self, i: int) -> Operand:
        if not self.operands[i].is_int8:
            raise NoIntegerForm(f"its input %{self.node.inputs[i]} is not a per-tensor int8 value")
        return self.operands[i]

    def constant(self, i: int) -> Operand:
        if self.operands[i].data is None or not self.operands[i].type.dtype.is_float:
            raise NoIntegerForm(f"its input %{self.node.inputs[i]} is computed at run time (it must be a constant)")
        return self.operands[i]

    def no_activation(self) -> None:
        if self.act_range() != FULL:
            raise NoIntegerForm("the integer form has no fused activation")

    def act_range(self) -> tuple[int, int]:
        """The int8 clamp of the node's own `activation` attribute and of the folded RELU/CLAMP, in the output's
        parameters (TFLite's CalculateActivationRangeQuantized)."""
        lo, hi = FULL
        specs = [parse_activation(self.node.attrs.get("activation"))]
        if self.activation is not None:
            specs.append((self.activation.op, dict(self.activation.attrs)))
        for spec in specs:
            if spec is None:
                continue
            op, attrs = spec
            if op is Op.RELU:
                bounds = ClampQ.from_bounds(0.0, None, *self.out_q)
            elif op is Op.CLAMP:
                bounds = ClampQ.from_bounds(attrs["min"], attrs["max"], *self.out_q)
            else:
                raise NoIntegerForm(f"its fused {op.name} activation has no integer form inside {self.node.op.name}")
            lo, hi = max(lo, bounds.act_min), min(hi, bounds.act_max)
        if lo > hi:
            raise NoIntegerForm("its activation range is empty on the output's int8 grid")
        return lo, hi

    def fresh(self, hint: str) -> str:
        return self.ctx.fresh(f"{self.node.name}_{hint}")

    def node_to(self, op: Op, inputs, output: str, attrs: dict | None = None) -> Node:
        # The node doing the lowered node's own op keeps its name (report rows: the conv, not its accumulator).
        name = self.node.name if op is self.node.op else output
        return Node(op, tuple(inputs), (output,), attrs or {}, name, self.node.source)

    def finish(self, nodes, constants: dict | None = None, types: dict | None = None) -> Rewrite:
        """The Rewrite at the QUANTIZE: `nodes` define `self.output` (typed `self.out_type`)."""
        return Rewrite(nodes=tuple(nodes), constants=constants or {},
                       types={**(types or {}), self.output: self.out_type})

    def requantize_node(self, src: str, src_q: QParams, dst: str, act: tuple[int, int] = FULL) -> Node:
        """REQUANTIZE int8 `src` (parameters `src_q`) -> `dst` in the output's parameters, clamped to `act`."""
        q = RequantQ.from_scales(src_q.scale[0], src_q.zero_point[0], *self.out_q, *act)
        return self.node_to(Op.REQUANTIZE, (src,), dst, {"q": q})

    def in_output_params(self, a: Operand, nodes: list, types: dict) -> str:
        """`a` itself when its parameters are the output's, else a new REQUANTIZE of it appended to `nodes`."""
        if a.qparams == self.out_type.qparams:
            return a.name
        name = self.fresh("rq")
        types[name] = TensorType(a.type.shape, DType.INT8, self.out_type.qparams)
        nodes.append(self.requantize_node(a.name, a.qparams, name))
        return name

    def then_requantize(self, op: Op, inputs, attrs: dict, keeps: QParams, act: tuple[int, int] = FULL) -> Rewrite:
        """`op` on int8 whose result has parameters `keeps`, then a REQUANTIZE to the output's parameters (and
        `act`) unless nothing would change."""
        if keeps == self.out_type.qparams and act == FULL:
            return self.finish([self.node_to(op, inputs, self.output, attrs)])
        tmp = self.fresh("int8")
        return self.finish([self.node_to(op, inputs, tmp, attrs), self.requantize_node(tmp, keeps, self.output, act)],
                           types={tmp: TensorType(self.out_type.shape, DType.INT8, keeps)})


Lowering = Callable[[Site], Rewrite]  # raises NoIntegerForm


def _plain_attrs(node: Node, **changes) -> dict:
    return {**{k: v for k, v in node.attrs.items() if k not in ("q", "activation")}, **changes}


def lower_weighted(site: Site) -> Rewrite:
    """CONV2D / LINEAR -> int32 accumulator (ConvQ) + REQUANTIZE per output channel (TFLite ConvPerChannel,
    FullyConnected). Weights int8 per channel in their parameters' range, bias int32 at input_scale x
    weight_scale[c]."""
    x, w, act = site.int8(0), site.constant(1), site.act_range()
    wq = w.qparams
    if wq is None or len(set(wq.zero_point)) != 1:
        raise NoIntegerForm(f"its weight %{w.name} needs quantization parameters with one zero point")
    x_scale, x_zp = x.qparams.scale[0], x.qparams.zero_point[0]
    w_name = site.fresh("weight_q")
    constants = {w_name: quantize_array(w.data, wq)}
    types = {w_name: TensorType(w.type.shape, DType.INT8, wq)}
    inputs = [x.name, w_name]
    if len(site.operands) == 3:
        b = site.constant(2)
        b_scales = tuple(f32(x_scale * s) for s in wq.scale)  # TFLite: input_scale * weight_scale in float32
        b_q = QParams.for_dtype(DType.INT32, b_scales, (0,) * len(b_scales), 0 if len(b_scales) > 1 else None)
        b_name = site.fresh("bias_q")
        constants[b_name] = quantize_array(b.data, b_q, DType.INT32)
        types[b_name] = TensorType(b.type.shape, DType.INT32, b_q)
        inputs.append(b_name)
    acc = site.fresh("acc")
    conv = site.node_to(site.node.op, inputs, acc,
                        _plain_attrs(site.node, q=ConvQ.from_zero_points(x_zp, wq.zero_point[0])))
    if len(wq.scale) > 1 or site.node.op is Op.CONV2D:
        axis = 1 if site.node.op is Op.CONV2D else len(site.out_type.shape) - 1
        q = RequantQ.per_channel(x_scale, wq.scale, *site.out_q, *act, axis=axis)
    else:
        q = RequantQ.per_tensor(x_scale, wq.scale[0], *site.out_q, *act)
    return site.finish([conv, site.node_to(Op.REQUANTIZE, (acc,), site.output, {"q": q})], constants, types)


def lower_matmul(site: Site) -> Rewrite:
    """MATMUL of two int8 operands -> int32 accumulator (ConvQ, weight = second operand) + REQUANTIZE per tensor
    (TFLite BatchMatMul)."""
    a, b, act = site.int8(0), site.int8(1), site.act_range()
    acc = site.fresh("acc")
    mm = site.node_to(Op.MATMUL, (a.name, b.name), acc,
                      {"q": ConvQ.from_zero_points(a.qparams.zero_point[0], b.qparams.zero_point[0])})
    q = RequantQ.per_tensor(a.qparams.scale[0], b.qparams.scale[0], *site.out_q, *act)
    return site.finish([mm, site.node_to(Op.REQUANTIZE, (acc,), site.output, {"q": q})])


def _binary_record(kind):
    def lower(site: Site) -> Rewrite:
        a, b, act = site.int8(0), site.int8(1), site.act_range()
        q = record(kind.from_scales, a.qparams.scale[0], a.qparams.zero_point[0], b.qparams.scale[0],
                   b.qparams.zero_point[0], *site.out_q, *act)
        return site.finish([site.node_to(site.node.op, (a.name, b.name), site.output, _plain_attrs(site.node, q=q))])
    return lower


def lower_data_movement(site: Site) -> Rewrite:
    """Ops that move or select int8 values (and MAX_POOL2D, REDUCE_MAX): the same op on int8, then a REQUANTIZE
    only where the output's parameters differ (they commute with any monotone per-tensor rescaling)."""
    x, act = site.int8(0), site.act_range()
    if any(o.type.dtype.is_float for o in site.operands[1:]):
        raise NoIntegerForm("an index operand is float")
    return site.then_requantize(site.node.op, [o.name for o in site.operands], _plain_attrs(site.node), x.qparams, act)


def lower_pad(site: Site) -> Rewrite:
    """PAD: the input in the output's parameters (which represent the fill value), then PAD with the fill value's
    int8 code, zero_point + round(value / scale)."""
    x = site.int8(0)
    site.no_activation()
    nodes: list[Node] = []
    types: dict = {}
    name = site.in_output_params(x, nodes, types)
    scale, zp = site.out_q
    value = int(np.clip(zp + round_half_away(site.node.attrs["value"] / scale), *FULL))
    nodes.append(site.node_to(Op.PAD, (name,), site.output, _plain_attrs(site.node, value=value)))
    return site.finish(nodes, types=types)


def lower_same_scale_nary(site: Site) -> Rewrite:
    """CONCAT, MAXIMUM, MINIMUM: every input requantized to the output's parameters, then the plain int8 op."""
    site.no_activation()
    nodes: list[Node] = []
    types: dict = {}
    names = [site.in_output_params(site.int8(i), nodes, types) for i in range(len(site.operands))]
    nodes.append(site.node_to(site.node.op, names, site.output, _plain_attrs(site.node)))
    return site.finish(nodes, types=types)


def lower_clamp(site: Site) -> Rewrite:
    """A standalone RELU/CLAMP: clamp int8 values in place (ClampQ) with equal parameters, else one REQUANTIZE
    whose range is the clamp."""
    x = site.int8(0)
    if site.activation is not None:
        raise NoIntegerForm(f"a {site.activation.op.name} follows it")
    lo, hi = (0.0, None) if site.node.op is Op.RELU else (site.node.attrs["min"], site.node.attrs["max"])
    if x.qparams == site.out_type.qparams:
        q = ClampQ.from_bounds(lo, hi, *site.out_q)
        return site.finish([site.node_to(site.node.op, (x.name,), site.output, _plain_attrs(site.node, q=q))])
    bounds = ClampQ.from_bounds(lo, hi, *site.out_q)
    return site.finish([site.requantize_node(x.name, x.qparams, site.output, (bounds.act_min, bounds.act_max))])


def lower_avg_pool2d(site: Site) -> Rewrite:
    """AVG_POOL2D where PyTorch also divides by the in-bounds taps (no padding counted, no divisor), and
    ADAPTIVE_AVG_POOL2D (whose windows hold only inputs): PoolQ."""
    x, attrs, act = site.int8(0), site.node.attrs, site.act_range()
    if site.node.op is Op.AVG_POOL2D and (attrs["divisor"] is not None or
                                          (attrs["count_include_pad"] and any(attrs["padding"]))):
        raise NoIntegerForm("TFLite's int8 average divides by the in-bounds taps: padding must not count "
                            "(count_include_pad=False) and there must be no divisor_override")
    if x.qparams == site.out_type.qparams:  # the pool's own clamp takes the activation
        pool = site.node_to(site.node.op, (x.name,), site.output, _plain_attrs(site.node, q=PoolQ(*act)))
        return site.finish([pool])
    return site.then_requantize(site.node.op, [x.name], _plain_attrs(site.node, q=PoolQ()), x.qparams, act)


def lower_mean(site: Site) -> Rewrite:
    """MEAN: TFLM's integer mean (MeanQ), the sum rescaled once by in_scale / (n * out_scale)."""
    x = site.int8(0)
    site.no_activation()
    count = math.prod(x.type.shape[a] for a in site.node.attrs["axes"])
    if not 0 < count < MeanQ.MAX_COUNT:
        raise NoIntegerForm(f"it averages {count} elements; the integer MEAN takes fewer than {MeanQ.MAX_COUNT}")
    q = record(MeanQ.from_scales, x.qparams.scale[0], x.qparams.zero_point[0], *site.out_q)
    return site.finish([site.node_to(Op.MEAN, (x.name,), site.output, _plain_attrs(site.node, q=q))])


def lower_sum(site: Site) -> Rewrite:
    """SUM: TFLM's integer SUM (QuantizedMeanOrSum with compute_sum), the re-centred sum rescaled once by
    in_scale / out_scale (MeanQ, without MEAN's 1/n)."""
    x = site.int8(0)
    site.no_activation()
    count = math.prod(x.type.shape[a] for a in site.node.attrs["axes"])
    if not 0 < count < MeanQ.MAX_COUNT:
        raise NoIntegerForm(f"it sums {count} elements; the integer form takes fewer than {MeanQ.MAX_COUNT}")
    q = record(MeanQ.from_scales, x.qparams.scale[0], x.qparams.zero_point[0], *site.out_q)
    return site.finish([site.node_to(Op.SUM, (x.name,), site.output, _plain_attrs(site.node, q=q))])


def lower_resize_bilinear(site: Site) -> Rewrite:
    """RESIZE_BILINEAR: TFLite's integer bilinear resize (ResizeBilinearQ) on the input's parameters."""
    x, act = site.int8(0), site.act_range()
    if site.node.attrs.get("scale") is not None and not site.node.attrs["align_corners"]:
        raise NoIntegerForm("TFLite's integer resize steps by in / out, not by a scale factor")
    q = record(ResizeBilinearQ.from_geometry, x.type.shape[2:], site.node.attrs["size"],
               site.node.attrs["align_corners"])
    return site.then_requantize(Op.RESIZE_BILINEAR, [x.name], _plain_attrs(site.node, q=q), x.qparams, act)


def lower_where(site: Site) -> Rewrite:
    """WHERE: both values requantized to the output's parameters, then the selection of int8 values."""
    site.no_activation()
    cond = site.operands[0]
    if cond.type.dtype is not DType.BOOL:
        raise NoIntegerForm("its condition is not a bool tensor")
    nodes: list[Node] = []
    types: dict = {}
    values = [site.in_output_params(site.int8(i), nodes, types) for i in (1, 2)]
    nodes.append(site.node_to(Op.WHERE, [cond.name, *values], site.output, {}))
    return site.finish(nodes, types=types)


def lower_hardsigmoid(site: Site) -> Rewrite:
    """HARDSIGMOID(x) = clamp(x / 6 + 1/2, 0, 1) = clamp((S / 6) (q - zp + 3 / S), 0, 1): one REQUANTIZE with
    multiplier S / (6 S_out), input offset -zp + round(3 / S) and the clamp as its range. Rounding 3 / S moves the
    result by at most S / 12 (S / (12 S_out) output steps)."""
    x = site.int8(0)
    site.no_activation()
    scale, zp = x.qparams.scale[0], x.qparams.zero_point[0]
    bounds = ClampQ.from_bounds(0.0, 1.0, *site.out_q)
    q = record(RequantQ.from_scales, scale / 6, zp, *site.out_q, bounds.act_min, bounds.act_max)
    q = replace(q, input_offset=q.input_offset + int(round_half_away(3.0 / scale)))
    return site.finish([site.node_to(Op.REQUANTIZE, (x.name,), site.output, {"q": q})])


def _fixed_output(record_of: Callable[[Operand, Site], object], output: tuple[float, int]):
    """SIGMOID, TANH, SOFTMAX: TFLite's kernels produce a fixed output format; a REQUANTIZE follows when the
    graph asked for another (a PT2E model may)."""
    fixed = QParams((output[0],), (output[1],))

    def lower(site: Site) -> Rewrite:
        x = site.int8(0)
        site.no_activation()
        q = record_of(x, site)
        return site.then_requantize(site.node.op, [x.name], _plain_attrs(site.node, q=q), fixed)
    return lower


def _softmax_q(x: Operand, site: Site):
    """TFLite's SoftmaxQ on the innermost axis (what TFLite Micro runs); I-BERT's integer softmax on any other
    axis, or when TFLite's multiplier cannot represent the input scale."""
    if site.node.attrs["axis"] == len(x.type.shape) - 1:
        try:
            return SoftmaxQ.from_scale(x.qparams.scale[0])
        except ValueError:
            pass
    return record(ISoftmaxQ.from_scale, x.qparams.scale[0])


def lower_gelu(site: Site) -> Rewrite:
    """GELU: I-BERT's i-GELU (IGeluQ), erf or tanh form alike (they differ by far less than an output step)."""
    x = site.int8(0)
    site.no_activation()
    q = record(IGeluQ.from_scales, x.qparams.scale[0], x.qparams.zero_point[0], *site.out_q)
    return site.finish([site.node_to(Op.GELU, (x.name,), site.output, _plain_attrs(site.node, q=q))])


def lower_layer_norm(site: Site) -> Rewrite:
    """LAYER_NORM: I-BERT's integer LayerNorm (ILayerNormQ) with its affine parameters folded into int32 inputs."""
    x = site.int8(0)
    site.no_activation()
    params = [site.constant(i).data for i in range(1, len(site.operands))]
    cols = math.prod(x.type.shape[len(x.type.shape) - site.node.attrs["normalized_ndim"]:])
    weight, bias = (params + [None, None])[:2]
    q, w, b = record(ILayerNormQ.from_scales, cols, x.qparams.scale[0], site.node.attrs["eps"], weight, bias,
                     *site.out_q)
    shape = x.type.shape[len(x.type.shape) - site.node.attrs["normalized_ndim"]:]
    w_name, b_name = site.fresh("weight_q"), site.fresh("bias_q")
    constants = {w_name: w.reshape(shape), b_name: b.reshape(shape)}
    node = site.node_to(Op.LAYER_NORM, (x.name, w_name, b_name), site.output, _plain_attrs(site.node, q=q))
    return site.finish([node], constants)


def lower_hardswish(site: Site) -> Rewrite:
    x = site.int8(0)
    site.no_activation()
    q = record(HardSwishQ.from_scales, x.qparams.scale[0], x.qparams.zero_point[0], *site.out_q)
    return site.finish([site.node_to(Op.HARDSWISH, (x.name,), site.output, _plain_attrs(site.node, q=q))])


LOWERINGS: dict[Op, Lowering] = {
    Op.CONV2D: lower_weighted,
    Op.LINEAR: lower_weighted,
    Op.MATMUL: lower_matmul,
    Op.ADD: _binary_record(AddQ),
    Op.SUB: _binary_record(AddQ),
    Op.MUL: _binary_record(MulQ),
    **{op: lower_data_movement for op in (Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND, Op.UPSAMPLE_NEAREST,
                                          Op.MAX_POOL2D, Op.ADAPTIVE_MAX_POOL2D, Op.REDUCE_MAX, Op.REDUCE_MIN,
                                          Op.GATHER)},
    Op.RESIZE_BILINEAR: lower_resize_bilinear,
    Op.WHERE: lower_where,
    Op.ADAPTIVE_AVG_POOL2D: lower_avg_pool2d,
    Op.PAD: lower_pad,
    Op.CONCAT: lower_same_scale_nary,
    Op.MAXIMUM: lower_same_scale_nary,
    Op.MINIMUM: lower_same_scale_nary,
    Op.RELU: lower_clamp,
    Op.CLAMP: lower_clamp,
    Op.AVG_POOL2D: lower_avg_pool2d,
    Op.MEAN: lower_mean,
    Op.SIGMOID: _fixed_output(lambda x, s: record(LogisticQ.from_scale, x.qparams.scale[0], x.qparams.zero_point[0]),
                              SIGMOID_OUTPUT),
    Op.TANH: _fixed_output(lambda x, s: record(TanhQ.from_scale, x.qparams.scale[0], x.qparams.zero_point[0]),
                           TANH_OUTPUT),
    Op.SOFTMAX: _fixed_output(_softmax_q, SOFTMAX_OUTPUT),
    Op.HARDSWISH: lower_hardswish,
    Op.SUM: lower_sum,
    Op.HARDSIGMOID: lower_hardsigmoid,
    Op.GELU: lower_gelu,
    Op.LAYER_NORM: lower_layer_norm,
}
