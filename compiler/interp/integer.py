"""The reference semantics of quantized nodes, those whose attribute `q` holds integer parameters: one program per
op, written once against the integer algebra (edgelower.quant.algebra).

`PROGRAMS[op](A, inputs, attrs) -> outputs` is the op's arithmetic in primitive integer ops; `INTEGER_IMPLS` runs it
on numpy arrays (the interpreter's definition of the node), and `decompose_integer` runs it on a graph builder (the
node's decomposition). Every program follows TFLite's int8 reference kernel bit for bit, through
`edgelower.quant.arith`, `.fixedpoint` and `.transformer`; the nonlinearities are in
`edgelower.interp.integer_nonlinear`.

Which int8 nodes carry `q` (docs/quantization.md):
- arithmetic (CONV2D, LINEAR, MATMUL, REQUANTIZE, ADD, SUB, MUL, AVG_POOL2D, ADAPTIVE_AVG_POOL2D, MEAN, SUM, RELU,
  CLAMP, HARDSWISH, SIGMOID, TANH, SOFTMAX, GELU, LAYER_NORM, RESIZE_BILINEAR, LOOKUP) always does: its `q` record is
  the whole of its arithmetic;
- data movement (RESHAPE, PERMUTE, CONCAT, SLICE, EXPAND, PAD, UPSAMPLE_NEAREST, GATHER), MAX_POOL2D,
  ADAPTIVE_MAX_POOL2D, REDUCE_MAX / REDUCE_MIN, ARGMAX / ARGMIN, MAXIMUM, MINIMUM, COMPARE and WHERE never need
  one: on int8 they are exact copies, selections and comparisons with the same qparams in and out, and the
  plain implementations run on int8 arrays unchanged (PAD fills with its `value`, which `lower_integer` sets to
  the zero point, and MAX_POOL2D pads with int8's minimum, which never wins a window holding an input). MAX_POOL2D
  may carry a PoolQ for a fused activation clamp.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from edgelower.interp import integer_nonlinear as nonlinear
from edgelower.interp import integer_resampling as resampling
from edgelower.interp.numpy_algebra import NUMPY
from edgelower.ir.graph import Op
from edgelower.ir.ops import pool_geometry
from edgelower.quant import transformer
from edgelower.quant.algebra import INT8, INT32, IntegerAlgebra
from edgelower.quant.arith import multiply_by_quantized_multiplier, requantize
from edgelower.quant.records import AddQ, ClampQ, ConvQ, MeanQ, MulQ, PoolQ, RequantQ, record_of
from edgelower.quant.tables import TableQ

Program = Callable[[IntegerAlgebra, list, Mapping[str, Any]], list]
IntImpl = Callable[[list[np.ndarray], Mapping[str, Any]], list[np.ndarray]]


def _offset_int32(A: IntegerAlgebra, x, offset: int):
    """An int8 (or int32) value plus an offset, in int32."""
    return A.add(A.cast(x, INT32), offset)


def _accumulated(A: IntegerAlgebra, acc, q: ConvQ):
    """The int32 accumulator, or in the fused form (q.requant) exactly what REQUANTIZE makes of it."""
    r = q.requant
    if r is None:
        return acc
    return requantize(A, A.add(acc, r.input_offset), r.multiplier, r.shift, r.output_offset, r.act_min, r.act_max,
                      r.axis)


def _offset_product(A: IntegerAlgebra, taps: int, q: ConvQ):
    """taps * input_offset * weight_offset in int32 (wrapping): the constant term of the expanded dot product."""
    return A.mul(A.mul(A.const(taps, INT32), q.input_offset), q.weight_offset)


def _offset_bias(A: IntegerAlgebra, bias, w, q: ConvQ, reduced_axes: tuple[int, ...]):
    """bias + input_offset * sum(w) + taps * input_offset * weight_offset per output channel (int32): the terms of
    sum((x + input_offset) * (w + weight_offset)) + bias that do not depend on x. Constant weights make it a
    constant (`canonicalize` folds it); None when there is no bias and every term is 0."""
    terms = [] if bias is None else [bias]
    if q.input_offset:
        terms.append(A.mul(A.sum(A.cast(w, INT32), reduced_axes, keepdim=False), q.input_offset))
        if q.weight_offset:
            terms.append(_offset_product(A, math.prod(A.shape(w)[a] for a in reduced_axes), q))
    if not terms:
        return None
    total = terms[0]
    for term in terms[1:]:
        total = A.add(total, term)
    return total


def _conv2d(A: IntegerAlgebra, ins, attrs):
    """ConvPerChannel / DepthwiseConvPerChannel: acc = sum((x + input_offset) * (w + weight_offset)) + bias in
    int32, where padding taps contribute nothing (TFLite skips them). Here x is padded with its zero point,
    -input_offset, so a padding tap's x + input_offset is 0, and the sum is expanded: an int8 x int8 convolution
    into int32, the constant terms in the bias (_offset_bias), and weight_offset times each window's sum of
    x + input_offset (a convolution with ones) when the weights carry an offset."""
    q = record_of(attrs, ConvQ)
    x, w = ins[0], ins[1]
    pt, pl, pb, pr = attrs["padding"]
    zero_point = -q.input_offset
    if not A.dtype(x).min <= zero_point <= A.dtype(x).max:
        raise ValueError(f"input offset {q.input_offset} is not minus an {A.dtype(x).value} zero point")
    x = A.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), zero_point)
    geometry = {"stride": attrs["stride"], "dilation": attrs["dilation"], "groups": attrs["groups"]}
    acc = A.conv2d(x, w, _offset_bias(A, ins[2] if len(ins) == 3 else None, w, q, (1, 2, 3)), INT32, **geometry)
    if q.weight_offset:
        ones = A.const(np.ones(A.shape(w), np.int8), A.dtype(w))
        acc = A.add(acc, A.mul(A.conv2d(x, ones, None, INT32, **geometry), q.weight_offset))
    return [_accumulated(A, acc, q)]


def _linear(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::FullyConnected up to the accumulator, the offsets expanded as for CONV2D."""
    q = record_of(attrs, ConvQ)
    x, w = ins[0], ins[1]
    acc = A.linear(x, w, _offset_bias(A, ins[2] if len(ins) == 3 else None, w, q, (1,)), INT32)
    if q.weight_offset:
        acc = A.add(acc, A.mul(A.sum(A.cast(x, INT32), (len(A.shape(x)) - 1,)), q.weight_offset))
    return [_accumulated(A, acc, q)]


def _matmul(A: IntegerAlgebra, ins, attrs):
    """reference_ops::BatchMatMul<int8_t, int32_t> up to the accumulator: both operands are activations, so
    sum((a + oa)(b + ob)) = a @ b + ob * sum(a) + oa * sum(b) + k * oa * ob, the sums along the shared dim."""
    q = record_of(attrs, ConvQ)
    a, b = ins
    acc = A.matmul(a, b, INT32)
    if q.weight_offset:
        acc = A.add(acc, A.mul(A.sum(A.cast(a, INT32), (len(A.shape(a)) - 1,)), q.weight_offset))
    if q.input_offset:
        acc = A.add(acc, A.mul(A.sum(A.cast(b, INT32), (len(A.shape(b)) - 2,)), q.input_offset))
        if q.weight_offset:
            acc = A.add(acc, _offset_product(A, A.shape(a)[-1], q))
    return [_accumulated(A, acc, q)]


def _requantize(A: IntegerAlgebra, ins, attrs):
    """The requantization tail of ConvPerChannel / FullyConnected / BatchMatMul on int32, or TFLite's QUANTIZE
    (reference_ops::Requantize) on int8."""
    q = record_of(attrs, RequantQ)
    return [requantize(A, _offset_int32(A, ins[0], q.input_offset), q.multiplier, q.shift, q.output_offset,
                       q.act_min, q.act_max, q.axis if len(q.multiplier) > 1 else None)]


def _add_sub(subtract: bool) -> Program:
    """reference_integer_ops::AddElementwise / reference_ops::SubElementwise with numpy broadcasting: both inputs
    offset and shifted left by left_shift, each rescaled (MultiplyByQuantizedMultiplierSmallerThanOneExp), summed or
    subtracted in int32, rescaled to the output, offset and clamped."""
    def program(A: IntegerAlgebra, ins, attrs):
        q = record_of(attrs, AddQ)
        x1 = A.shift_left(_offset_int32(A, ins[0], q.input1_offset), q.left_shift)
        x2 = A.shift_left(_offset_int32(A, ins[1], q.input2_offset), q.left_shift)
        scaled1 = multiply_by_quantized_multiplier(A, x1, q.input1_multiplier, q.input1_shift)
        scaled2 = multiply_by_quantized_multiplier(A, x2, q.input2_multiplier, q.input2_shift)
        raw = (A.sub if subtract else A.add)(scaled1, scaled2)
        out = A.add(multiply_by_quantized_multiplier(A, raw, q.output_multiplier, q.output_shift), q.output_offset)
        return [A.cast(A.clamp(out, q.act_min, q.act_max), INT8)]
    return program


def _mul(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::MulElementwise with numpy broadcasting."""
    q = record_of(attrs, MulQ)
    product = A.mul(_offset_int32(A, ins[0], q.input1_offset), _offset_int32(A, ins[1], q.input2_offset))
    out = A.add(multiply_by_quantized_multiplier(A, product, q.output_multiplier, q.output_shift), q.output_offset)
    return [A.cast(A.clamp(out, q.act_min, q.act_max), INT8)]


def _in_bounds_taps(shape, attrs, out_hw) -> np.ndarray:
    """How many taps of each pooling window lie inside the image (compile time): [OH, OW]."""
    (kh, kw), (sh, sw), (pt, pl) = attrs["kernel"], attrs["stride"], attrs["padding"][:2]
    counts = []
    for size, k, s, lo, out in ((shape[2], kh, sh, pt, out_hw[0]), (shape[3], kw, sw, pl, out_hw[1])):
        start = np.arange(out) * s - lo
        counts.append(np.minimum(start + k, size) - np.maximum(start, 0))
    return np.outer(*counts)


def _avg_pool2d(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::AveragePool: the raw int8 values of the in-bounds taps are summed (a depthwise
    convolution with ones over the zero-padded image) and divided by their count, rounding half away from zero
    ((acc +/- count / 2) / count, C's truncating division), then clamped. Padding is never counted, so a padded
    int8 pool must say count_include_pad=False (and use no divisor override)."""
    q = record_of(attrs, PoolQ)
    if any(attrs["padding"]) and attrs["count_include_pad"] or attrs["divisor"] is not None:
        raise ValueError("int8 AVG_POOL2D divides by the in-bounds tap count: padding needs count_include_pad=False "
                         "and no divisor")
    x = ins[0]
    shape = A.shape(x)
    oh, ow, bottom, right = pool_geometry(shape, attrs)
    count = _in_bounds_taps(shape, attrs, (oh, ow))
    if (count <= 0).any():
        raise ValueError("an int8 AVG_POOL2D window holds no input element")
    ones = A.const(np.ones((shape[1], 1) + tuple(attrs["kernel"]), np.int8), A.dtype(x))
    total = A.conv2d(x, ones, None, INT32, stride=attrs["stride"], groups=shape[1],
                     padding=(attrs["padding"][0], attrs["padding"][1], bottom, right))
    if A.shape(total)[2:] != (oh, ow):
        raise ValueError(f"the window sums cover {A.shape(total)[2:]} outputs, the pool {(oh, ow)}")
    half = A.const(count // 2, INT32)
    rounded = A.trunc_div(A.where(A.gt(total, 0), A.add(total, half), A.sub(total, half)), A.const(count, INT32))
    return [A.cast(A.clamp(rounded, q.act_min, q.act_max), INT8)]


def _max_pool2d(A: IntegerAlgebra, ins, attrs):
    """reference_integer_ops::MaxPool: the maximum of the in-bounds taps, clamped to the PoolQ range."""
    q = record_of(attrs, PoolQ)
    pooled = A.max_pool2d(ins[0], {k: v for k, v in attrs.items() if k != "q"})
    return [A.clamp(pooled, q.act_min, q.act_max)]


def _mean(A: IntegerAlgebra, ins, attrs):
    """TFLM's int8 MEAN (reference_ops::QuantizedMeanOrSum): the raw sum over `axes` re-centred on the input zero
    point, times the record's multiplier with 1/n folded in as TFLM folds it at run time (MeanQ), plus the output
    zero point, clamped."""
    q = record_of(attrs, MeanQ)
    x, axes = ins[0], tuple(attrs["axes"])
    count = math.prod(A.shape(x)[a] for a in axes)
    if not 0 < count < MeanQ.MAX_COUNT:
        raise ValueError(f"int8 MEAN over {count} elements: TFLM's int32 sum holds fewer than {MeanQ.MAX_COUNT}")
    total = A.add(A.sum(A.cast(x, INT32), axes, attrs["keepdim"]), A.mul(A.const(count, INT32), q.input_offset))
    k = min(count.bit_length() - 1, 32, 31 + q.shift)
    multiplier = (q.multiplier << k) // count  # positive operands: C's truncating division
    out = A.add(multiply_by_quantized_multiplier(A, total, multiplier, q.shift - k), q.output_offset)
    return [A.cast(A.clamp(out, INT8.min, INT8.max), INT8)]


def _sum(A: IntegerAlgebra, ins, attrs):
    """TFLM's int8 SUM (reference_ops::QuantizedMeanOrSum, compute_sum): MEAN's arithmetic without the 1/n fold,
    the re-centred sum times the multiplier of in_scale / out_scale."""
    q = record_of(attrs, MeanQ)
    x, axes = ins[0], tuple(attrs["axes"])
    count = math.prod(A.shape(x)[a] for a in axes)
    if not 0 < count < MeanQ.MAX_COUNT:
        raise ValueError(f"int8 SUM over {count} elements: TFLM's int32 sum holds fewer than {MeanQ.MAX_COUNT}")
    total = A.add(A.sum(A.cast(x, INT32), axes, attrs["keepdim"]), A.mul(A.const(count, INT32), q.input_offset))
    out = A.add(multiply_by_quantized_multiplier(A, total, q.multiplier, q.shift), q.output_offset)
    return [A.cast(A.clamp(out, INT8.min, INT8.max), INT8)]


def _lookup(A: IntegerAlgebra, ins, attrs):
    """LOOKUP: the TableQ entry of each int8 value, a GATHER from the 256-entry table at x + 128."""
    q = record_of(attrs, TableQ)
    index = A.add(A.cast(ins[0], INT32), -INT8.min)
    return [A.apply(Op.GATHER, [A.const(np.array(q.table), INT8), index], {"axis": 0})]


def _clamp(A: IntegerAlgebra, ins, attrs):
    """RELU / CLAMP on int8 with the same qparams in and out: TFLM's ReluQuantized (identity multiplier),
    Relu6Quantized, or MAXIMUM / MINIMUM against a constant."""
    q = record_of(attrs, ClampQ)
    return [A.clamp(ins[0], q.act_min, q.act_max)]


def _softmax(A: IntegerAlgebra, ins, attrs):
    """TFLite's softmax (SoftmaxQ) or I-BERT's (ISoftmaxQ), by the node's record."""
    if isinstance(attrs["q"], transformer.ISoftmaxQ):
        return [transformer.softmax(A, ins[0], attrs["axis"], record_of(attrs, transformer.ISoftmaxQ))]
    return nonlinear.softmax(A, ins, attrs)


def _gelu(A: IntegerAlgebra, ins, attrs):
    return [transformer.gelu(A, ins[0], record_of(attrs, transformer.IGeluQ))]


def _layer_norm(A: IntegerAlgebra, ins, attrs):
    q = record_of(attrs, transformer.ILayerNormQ)
    if len(ins) != 3:
        raise ValueError("an integer LAYER_NORM takes (x, weight int32, bias int32)")
    return [transformer.layer_norm(A, ins[0], ins[1], ins[2], q, attrs["normalized_ndim"])]


PROGRAMS: dict[Op, Program] = {
    Op.CONV2D: _conv2d,
    Op.LINEAR: _linear,
    Op.MATMUL: _matmul,
    Op.REQUANTIZE: _requantize,
    Op.ADD: _add_sub(subtract=False),
    Op.SUB: _add_sub(subtract=True),
    Op.MUL: _mul,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.MAX_POOL2D: _max_pool2d,
    Op.MEAN: _mean,
    Op.SUM: _sum,
    Op.LOOKUP: _lookup,
    Op.RESIZE_BILINEAR: resampling.resize_bilinear,
    Op.ADAPTIVE_AVG_POOL2D: resampling.adaptive_avg_pool2d,
    Op.RELU: _clamp,
    Op.CLAMP: _clamp,
    Op.SIGMOID: nonlinear.sigmoid,
    Op.TANH: nonlinear.tanh,
    Op.HARDSWISH: nonlinear.hardswish,
    Op.SOFTMAX: _softmax,
    Op.GELU: _gelu,
    Op.LAYER_NORM: _layer_norm,
}


def _on_numpy(program: Program) -> IntImpl:
    return lambda ins, attrs: program(NUMPY, ins, attrs)


INTEGER_IMPLS: dict[Op, IntImpl] = {op: _on_numpy(program) for op, program in PROGRAMS.items()}
