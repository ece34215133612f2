"""Hypothesis strategies for the int8 C kernels (tests/test_backend_c_int8.py): `q` records and int8 graphs per
kernel family (docs/quantization.md).

    requant_records(channels, axis)   -> RequantQ, per tensor or per channel
    add_records(), mul_records(), clamp_records(), hardswish_records(), logistic_records(kind), softmax_records()
    int8_graphs(families=FAMILIES)    -> (Graph, inputs): one int8 sub-graph per family, side by side
                                         (the transformer family's I-BERT records come from their constructors)
    EDGE_GRAPHS                       -> name -> () -> (Graph, inputs): fixed graphs at the limits of the arithmetic
    FAMILIES                          -> family name -> composite strategy adding that family's nodes

Half of the records come from the `edgelower.quant.records` constructors on random scales and zero points (what
`lower_integer` emits); the other half are built raw at the edges of their integer ranges: multipliers 0, 1, 2**30
and 2**31 - 1, shifts from -31 to 30, offsets and activation bounds anywhere in int8. Accumulators reach INT32_MIN and
INT32_MAX through int32 inputs and extreme biases. Records a constructor refuses (ValueError: TFLite would too) are
drawn again as raw ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from edgelower.ir.graph import DType, Graph, GraphBuilder, Op, QParams, TensorType
from edgelower.quant.records import AddQ, ClampQ, ConvQ, HardSwishQ, LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, \
    TanhQ
from edgelower.quant.transformer import GELU_MIN_OUTPUT_SCALE, GELU_SCALE_RANGE, SOFTMAX_METHODS, SOFTMAX_SCALE_RANGE, \
    IGeluQ, ILayerNormQ, ISoftmaxQ

from strategies import attributes, image_shapes

INT8_MIN, INT8_MAX = DType.INT8.min, DType.INT8.max
INT32_MIN, INT32_MAX = DType.INT32.min, DType.INT32.max
EDGE_INT32 = (INT32_MIN, INT32_MIN + 1, -(1 << 30), -1, 0, 1, 1 << 30, INT32_MAX - 1, INT32_MAX)

zero_points = st.integers(-128, 127)
scales = st.builds(lambda m, e: m * 2.0 ** e, st.floats(0.5, 1.0), st.integers(-10, 1))
multipliers = st.one_of(st.sampled_from([0, 1, 1 << 30, INT32_MAX]), st.integers(1 << 30, INT32_MAX))
shifts = st.one_of(st.sampled_from([-31, -30, -1, 0, 1, 30]), st.integers(-31, 30))
right_shifts = st.one_of(st.sampled_from([-31, 0]), st.integers(-31, 0))


@st.composite
def act_ranges(draw) -> tuple[int, int]:
    if draw(st.booleans()):
        return -128, 127
    lo = draw(st.integers(-128, 127))
    return lo, draw(st.integers(lo, 127))


def _constructed(draw, build: Callable[[], Any], raw: st.SearchStrategy) -> Any:
    """build() on drawn scales, or a raw record when the draw says so or the constructor refuses the scales."""
    if draw(st.booleans()):
        try:
            return build()
        except ValueError:
            pass
    return draw(raw)


@st.composite
def requant_records(draw, channels: int = 1, axis: int | None = None, input_offset: bool = False) -> RequantQ:
    """Per channel (one pair per channel along `axis`) or per tensor; `input_offset` for int8 inputs."""
    n = channels if channels > 1 and axis is not None and draw(st.booleans()) else 1
    lo, hi = draw(act_ranges())
    if draw(st.booleans()):
        s_in, s_out, zp_out = draw(scales), draw(scales), draw(zero_points)
        if input_offset:
            return RequantQ.from_scales(s_in, draw(zero_points), s_out, zp_out, lo, hi)
        weight_scales = draw(st.lists(scales, min_size=n, max_size=n))
        if n > 1:
            return RequantQ.per_channel(s_in, weight_scales, s_out, zp_out, lo, hi, axis=axis)
        return RequantQ.per_tensor(s_in, weight_scales[0], s_out, zp_out, lo, hi)
    return RequantQ(tuple(draw(st.lists(multipliers, min_size=n, max_size=n))),
                    tuple(draw(st.lists(shifts, min_size=n, max_size=n))), draw(zero_points),
                    -draw(zero_points) if input_offset else 0, lo, hi, axis if n > 1 else None)


@st.composite
def add_records(draw, sub: bool = False) -> AddQ:
    lo, hi = draw(act_ranges())
    s1, s2, so = draw(scales), draw(scales), draw(scales)
    z1, z2, zo = draw(zero_points), draw(zero_points), draw(zero_points)
    build = AddQ.from_sub_scales if sub else AddQ.from_scales
    raw = st.builds(AddQ, st.just(-z1), st.just(-z2), st.just(zo), st.integers(0, 20), multipliers, right_shifts,
                    multipliers, right_shifts, multipliers, right_shifts, st.just(lo), st.just(hi))
    return _constructed(draw, lambda: build(s1, z1, s2, z2, so, zo, lo, hi), raw)


@st.composite
def mul_records(draw) -> MulQ:
    lo, hi = draw(act_ranges())
    s1, s2, so = draw(scales), draw(scales), draw(scales)
    z1, z2, zo = draw(zero_points), draw(zero_points), draw(zero_points)
    raw = st.builds(MulQ, st.just(-z1), st.just(-z2), st.just(zo), multipliers, shifts, st.just(lo), st.just(hi))
    return _constructed(draw, lambda: MulQ.from_scales(s1, z1, s2, z2, so, zo, lo, hi), raw)


@st.composite
def clamp_records(draw) -> ClampQ:
    return ClampQ(*draw(act_ranges()))


@st.composite
def hardswish_records(draw) -> HardSwishQ:
    s_in, z_in, s_out, z_out = draw(scales), draw(zero_points), draw(scales), draw(zero_points)
    int16 = st.one_of(st.sampled_from([0, 1, 1 << 14, 32767]), st.integers(0, 32767))
    raw = st.builds(HardSwishQ, st.just(-z_in), st.just(z_out), int16, st.integers(-15, 15), int16,
                    st.integers(-20, 0))
    return _constructed(draw, lambda: HardSwishQ.from_scales(s_in, z_in, s_out, z_out), raw)


@st.composite
def logistic_records(draw, kind: type = LogisticQ) -> LogisticQ | TanhQ:
    s_in, z_in = draw(scales), draw(zero_points)
    raw = st.builds(kind, st.just(-z_in), st.integers(0, 300), multipliers, st.integers(-8, 30))
    return _constructed(draw, lambda: kind.from_scale(s_in, z_in), raw)


@st.composite
def softmax_records(draw) -> SoftmaxQ:
    s_in, beta = draw(scales), draw(st.sampled_from([1.0, 0.5, 2.0]))
    raw = st.builds(SoftmaxQ, st.integers(1 << 30, INT32_MAX), st.integers(0, 26), st.integers(-300, 0))
    return _constructed(draw, lambda: SoftmaxQ.from_scale(s_in, beta), raw)


# --- int8 graphs ---------------------------------------------------------------------------------------------------

@dataclass
class Int8Graph:
    """A GraphBuilder for int8 graphs, with the input arrays it draws and a random source for constants."""

    b: GraphBuilder
    rng: np.random.Generator
    inputs: list[np.ndarray] = field(default_factory=list)

    def input(self, shape, zero_point: int = 0, dtype: DType = DType.INT8, values: np.ndarray | None = None) -> str:
        if values is None:
            info = np.iinfo(dtype.numpy)
            values = self.rng.integers(max(info.min, -128), min(info.max, 127), shape, endpoint=True)
        self.inputs.append(np.asarray(values).astype(dtype.numpy).reshape(shape))
        qparams = QParams((0.05,), (zero_point,)) if dtype is DType.INT8 else None
        return self.b.input("x", TensorType(tuple(shape), dtype, qparams))

    def weights(self, shape) -> str:
        return self.b.constant("w", self.rng.integers(-127, 127, shape, endpoint=True).astype(np.int8))

    def bias(self, n: int, extreme: bool) -> str:
        data = self.rng.choice(EDGE_INT32, n) if extreme else self.rng.integers(-(1 << 20), 1 << 20, n)
        return self.b.constant("b", np.asarray(data, np.int64).astype(np.int32))

    def op(self, op: Op, inputs, attrs) -> str:
        return self.b.op(op, inputs, attrs)

    def out(self, op: Op, inputs, attrs=None) -> str:
        name = self.b.op(op, inputs, attrs)
        self.b.output(name)
        return name


def _requantized(draw, g: Int8Graph, acc: str, channel_axis: int) -> None:
    """Output REQUANTIZE(acc); half the time the accumulator is an output too (then it cannot be fused)."""
    shape = g.b.types[acc].shape
    g.out(Op.REQUANTIZE, [acc], {"q": draw(requant_records(shape[channel_axis], channel_axis))})
    if draw(st.integers(0, 3)) == 0:
        g.b.output(acc)


def _fitting(kernel: tuple[int, int], h: int, w: int, attrs: dict) -> tuple[int, int]:
    """The kernel clipped so that its dilated extent fits the padded input (one output at least)."""
    (dh, dw), (pt, pl, pb, pr) = attrs["dilation"], attrs["padding"]
    return min(kernel[0], (h + pt + pb - 1) // dh + 1), min(kernel[1], (w + pl + pr - 1) // dw + 1)


@st.composite
def conv_family(draw, g: Int8Graph) -> None:
    """Generic, depthwise (channel multiplier 1 or 2) and pointwise convolutions of one int8 input."""
    n, c, h, w = draw(image_shapes(max_batch=2, max_channels=4, max_side=7))
    zp = draw(zero_points)
    x = g.input((n, c, h, w), zp)
    x_type = g.b.types[x]
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    generic = draw(attributes(Op.CONV2D, x_type, kernel))
    depthwise = {**draw(attributes(Op.CONV2D, x_type, kernel)), "groups": c}
    layers = [(generic, (generic["groups"] * draw(st.integers(1, 3)), c // generic["groups"])
               + _fitting(kernel, h, w, generic)),
              (depthwise, (c * draw(st.integers(1, 2)), 1) + _fitting(kernel, h, w, depthwise)),
              ({}, (draw(st.integers(1, 5)), c, 1, 1))]
    for attrs, w_shape in layers:
        q = ConvQ(-zp, draw(st.sampled_from([0, 0, 0, -3, 127])))
        inputs = [x, g.weights(w_shape)]
        if draw(st.booleans()):
            inputs.append(g.bias(w_shape[0], extreme=draw(st.integers(0, 4)) == 0))
        _requantized(draw, g, g.op(Op.CONV2D, inputs, {**attrs, "q": q}), 1)


@st.composite
def dense_family(draw, g: Int8Graph) -> None:
    """LINEAR on 2-d and 3-d inputs, batched MATMUL with broadcast batch dims."""
    features, zp = draw(st.integers(1, 9)), draw(zero_points)
    x = g.input(draw(st.sampled_from([(3,), (2, 3), (1, 2)])) + (features,), zp)
    out_features = draw(st.integers(1, 6))
    inputs = [x, g.weights((out_features, features))]
    if draw(st.booleans()):
        inputs.append(g.bias(out_features, extreme=draw(st.integers(0, 4)) == 0))
    acc = g.op(Op.LINEAR, inputs, {"q": ConvQ(-zp, draw(st.sampled_from([0, 0, 5])))})
    _requantized(draw, g, acc, len(g.b.types[acc].shape) - 1)
    m, k, nn = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    za, zb = draw(zero_points), draw(zero_points)
    batch_a, batch_b = draw(st.sampled_from([((2, 1), (3,)), ((2,), (2,)), ((), (2,)), ((1,), ())]))
    a, b = g.input(batch_a + (m, k), za), g.input(batch_b + (k, nn), zb)
    acc = g.op(Op.MATMUL, [a, b], {"q": ConvQ(-za, -zb)})
    _requantized(draw, g, acc, len(g.b.types[acc].shape) - 1)


@st.composite
def elementwise_family(draw, g: Int8Graph) -> None:
    """ADD, SUB, MUL with broadcasting, MAXIMUM, MINIMUM, int8 -> int8 REQUANTIZE, and REQUANTIZE of int32 values at
    the edges of their range."""
    za, zb = draw(zero_points), draw(zero_points)
    a = g.input((2, 3, 4), za)
    b = g.input(draw(st.sampled_from([(2, 3, 4), (3, 1), (4,), (1,)])), zb)
    g.out(Op.ADD, [a, b], {"q": draw(add_records())})
    g.out(Op.SUB, [b, a], {"q": draw(add_records(sub=True))})
    g.out(Op.MUL, [a, b], {"q": draw(mul_records())})
    g.out(Op.MAXIMUM, [a, b])
    g.out(Op.MINIMUM, [b, a])
    g.out(Op.REQUANTIZE, [a], {"q": draw(requant_records(3, 1, input_offset=True))})
    extremes = np.concatenate([EDGE_INT32, g.rng.integers(INT32_MIN, INT32_MAX, 15, endpoint=True)])
    acc = g.input((4, 6), dtype=DType.INT32, values=extremes)
    g.out(Op.REQUANTIZE, [acc], {"q": draw(requant_records(6, 1))})


@st.composite
def activation_family(draw, g: Int8Graph) -> None:
    """RELU / CLAMP (ClampQ), HARDSWISH, SIGMOID, TANH, SOFTMAX along a random axis."""
    shape = draw(st.sampled_from([(3, 17), (2, 3, 5), (40,)]))
    x = g.input(shape, draw(zero_points))
    g.out(Op.RELU, [x], {"q": draw(clamp_records())})
    g.out(Op.CLAMP, [x], {"min": None, "max": None, "q": draw(clamp_records())})
    g.out(Op.HARDSWISH, [x], {"q": draw(hardswish_records())})
    g.out(Op.SIGMOID, [x], {"q": draw(logistic_records(LogisticQ))})
    g.out(Op.TANH, [x], {"q": draw(logistic_records(TanhQ))})
    g.out(Op.SOFTMAX, [x], {"axis": draw(st.integers(0, len(shape) - 1)), "q": draw(softmax_records())})


@st.composite
def pool_family(draw, g: Int8Graph) -> None:
    """MAX_POOL2D with and without its PoolQ clamp, AVG_POOL2D over in-bounds taps, MEAN over random axes."""
    zp = draw(zero_points)
    x = g.input(draw(image_shapes(max_batch=2, max_channels=3, max_side=8)), zp)
    x_type = g.b.types[x]
    g.out(Op.MAX_POOL2D, [x], draw(attributes(Op.MAX_POOL2D, x_type)))
    g.out(Op.MAX_POOL2D, [x], {**draw(attributes(Op.MAX_POOL2D, x_type)), "q": PoolQ(*draw(act_ranges()))})
    avg = {**draw(attributes(Op.AVG_POOL2D, x_type)), "count_include_pad": False, "divisor": None}
    g.out(Op.AVG_POOL2D, [x], {**avg, "q": PoolQ(*draw(act_ranges()))})
    mean = draw(attributes(Op.MEAN, x_type))
    s_in, s_out, zp_out = draw(scales), draw(scales), draw(zero_points)
    raw = st.builds(MeanQ, st.just(-zp), st.just(zp_out), multipliers, shifts)
    g.out(Op.MEAN, [x], {**mean, "q": _constructed(draw, lambda: MeanQ.from_scales(s_in, zp, s_out, zp_out), raw)})


@st.composite
def movement_family(draw, g: Int8Graph) -> None:
    """The dtype-generic data movement kernels on int8 (PAD fills with the zero point, as lower_integer sets it)."""
    zp = draw(zero_points)
    x = g.input((2, 3, 4), zp)
    for op in (Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.EXPAND):
        g.out(op, [x], draw(attributes(op, g.b.types[x])))
    g.out(Op.CONCAT, [x, g.input((2, 1, 4), zp), x], {"axis": 1})
    g.out(Op.PAD, [x], {"pads": ((0, 1), (2, 0), (1, 1)), "value": float(zp)})
    g.out(Op.UPSAMPLE_NEAREST, [g.input((1, 2, 3, 2), zp)], {"size": (5, 3)})
    table = g.input((5, 3), zp)
    g.out(Op.GATHER, [table, g.b.constant("idx", np.array([4, 0, 4, 2], np.int32))])


def _log_scale(draw, lo: float, hi: float) -> float:
    return 2.0 ** draw(st.floats(math.log2(lo), math.log2(hi)))


@st.composite
def transformer_family(draw, g: Int8Graph) -> None:
    """The I-BERT forms: softmax (i-exp and Shiftmax) along a random axis, i-GELU, and LayerNorm with its int32
    affine inputs, their records from the constructors across each one's valid scales."""
    shape = draw(st.sampled_from([(3, 17), (2, 3, 5), (2, 40)]))
    zp = draw(zero_points)
    x = g.input(shape, zp, values=_rows(draw, g, shape))
    method = draw(st.sampled_from(sorted(SOFTMAX_METHODS)))
    softmax = ISoftmaxQ.from_scale(_log_scale(draw, *SOFTMAX_SCALE_RANGE), method)
    g.out(Op.SOFTMAX, [x], {"axis": draw(st.integers(0, len(shape) - 1)), "q": softmax})
    s_in = _log_scale(draw, *GELU_SCALE_RANGE)
    g.out(Op.GELU, [x], {"q": IGeluQ.from_scales(s_in, zp, _log_scale(draw, GELU_MIN_OUTPUT_SCALE, 8.0),
                                                  draw(zero_points))})
    cols = shape[-1]
    gamma, beta = g.rng.normal(0.0, 1.5, cols), g.rng.normal(0.0, 1.0, cols)
    out_scale = (draw(st.floats(0.5, 8.0)) * np.max(np.abs(gamma)) + np.max(np.abs(beta))) / INT8_MAX
    eps = draw(st.sampled_from([0.0, 1e-12, 1e-5, 1e-3]))
    q, w, b = ILayerNormQ.from_scales(cols, _log_scale(draw, 2.0 ** -10, 16.0), eps, gamma, beta, out_scale,
                                      draw(zero_points))
    g.out(Op.LAYER_NORM, [x, g.b.constant("ln_w", w), g.b.constant("ln_b", b)], {"normalized_ndim": 1, "q": q})


def _rows(draw, g: Int8Graph, shape) -> np.ndarray:
    """int8 values, uniform or squeezed into a narrow band below a top value (near-uniform softmax rows,
    near-constant and constant LayerNorm rows)."""
    spread = draw(st.sampled_from([255, 255, 32, 1, 0]))
    top = draw(st.integers(INT8_MIN + spread, INT8_MAX))
    return top - g.rng.integers(0, spread, shape, endpoint=True)


FAMILIES: dict[str, Callable[[Int8Graph], st.SearchStrategy]] = {
    "conv": conv_family, "dense": dense_family, "elementwise": elementwise_family,
    "activation": activation_family, "pool": pool_family, "movement": movement_family,
    "transformer": transformer_family}


@st.composite
def int8_graphs(draw, families: tuple[str, ...] = tuple(FAMILIES)) -> tuple[Graph, list[np.ndarray]]:
    """The named families side by side in one graph (one build tests them all), and its inputs."""
    g = Int8Graph(GraphBuilder("_".join(families)), np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))))
    for name in families:
        draw(FAMILIES[name](g))
    return g.b.build(), g.inputs


def count(graph: Graph, op: Op) -> int:
    return sum(node.op is op for node in graph.nodes)



# --- fixed graphs at the edges of the fixed-point arithmetic -------------------------------------------------------

MULTIPLIERS = (0, 1, 1 << 30, (1 << 30) + 12345, INT32_MAX - 1, INT32_MAX)
SHIFTS = (-31, -30, -17, -1, 0, 1, 17, 30, 31)


def requantize_limits() -> tuple[Graph, list[np.ndarray]]:
    """int32 accumulators at INT32_MIN, INT32_MAX and between, through every pairing of limit multipliers and
    shifts (the left shift of a positive shift wraps), with the output offset and activation range at their ends:
    one REQUANTIZE node per pairing, per tensor and per channel."""
    rng = np.random.default_rng(7)
    acc = np.concatenate([EDGE_INT32, rng.integers(INT32_MIN, INT32_MAX, 55, endpoint=True)])
    acc = acc.astype(np.int32).reshape(4, 16)
    b = GraphBuilder("edges")
    x = b.input("acc", TensorType(acc.shape, DType.INT32))
    for i, m in enumerate(MULTIPLIERS):
        for j, s in enumerate(SHIFTS):
            offset = (INT8_MIN, INT8_MAX, 0)[(i + j) % 3]
            lo, hi = ((INT8_MIN, INT8_MAX), (-5, 9), (INT8_MAX, INT8_MAX))[(i * j) % 3]
            b.output(b.op(Op.REQUANTIZE, [x], {"q": RequantQ((m,), (s,), offset, 0, lo, hi)}))
    per_channel = RequantQ(MULTIPLIERS[:4], (-31, 0, 30, 31), 3, -7, INT8_MIN, INT8_MAX, axis=0)
    b.output(b.op(Op.REQUANTIZE, [x], {"q": per_channel}))
    return b.build(), [acc]


def wrapping_accumulators() -> tuple[Graph, list[np.ndarray]]:
    """Saturated inputs and weights with biases at INT32_MIN / INT32_MAX and both zero points nonzero: the int32
    accumulators of CONV2D, LINEAR and MATMUL wrap."""
    g = Int8Graph(GraphBuilder("wrap"), np.random.default_rng(1))
    x = g.input((1, 4, 5, 5), INT8_MIN, values=np.full((1, 4, 5, 5), INT8_MAX))
    weights = g.b.constant("w", np.full((4, 4, 3, 3), INT8_MAX, np.int8))
    for bias in (np.full(4, INT32_MIN), np.full(4, INT32_MAX), np.array(EDGE_INT32[:4])):
        acc = g.op(Op.CONV2D, [x, weights, g.b.constant("b", bias.astype(np.int32))],
                   {"padding": (1, 1, 1, 1), "q": ConvQ(-INT8_MIN, INT8_MAX)})
        g.b.output(acc)
        g.out(Op.REQUANTIZE, [acc], {"q": RequantQ((INT32_MAX,), (30,), INT8_MAX, 0)})
    a = g.input((2, 3, 70), INT8_MIN, values=np.full((2, 3, 70), INT8_MAX))
    w = g.b.constant("fc", np.full((5, 70), INT8_MIN, np.int8))
    fc_bias = g.b.constant("fc_b", np.full(5, INT32_MAX, np.int32))
    g.b.output(g.op(Op.LINEAR, [a, w, fc_bias], {"q": ConvQ(-INT8_MIN, INT8_MAX)}))
    v = g.input((70, 4), INT8_MAX, values=np.full((70, 4), INT8_MIN))
    g.b.output(g.op(Op.MATMUL, [a, v], {"q": ConvQ(-INT8_MIN, -INT8_MAX)}))
    return g.b.build(), g.inputs


def binary_limits() -> tuple[Graph, list[np.ndarray]]:
    """ADD, SUB and MUL with limit multipliers and shifts, offsets at the ends of int8."""
    rng = np.random.default_rng(3)
    b = GraphBuilder("binary_edges")
    x = b.input("x", TensorType((8, 16), DType.INT8, QParams((0.1,), (0,))))
    y = b.input("y", TensorType((16,), DType.INT8, QParams((0.1,), (0,))))
    for m in MULTIPLIERS:
        for s in (-31, -1, 0):
            add = AddQ(-INT8_MIN, -INT8_MAX, INT8_MIN, 20, m, s, INT32_MAX - m, -31 - s, m, s)
            b.output(b.op(Op.ADD, [x, y], {"q": add}))
            b.output(b.op(Op.SUB, [y, x], {"q": add}))
        for s in (-31, 0, 30):
            b.output(b.op(Op.MUL, [x, y], {"q": MulQ(INT8_MIN, -INT8_MIN, INT8_MAX, m, s)}))
    inputs = [rng.integers(INT8_MIN, INT8_MAX, (8, 16), endpoint=True).astype(np.int8),
              np.array([INT8_MIN, INT8_MAX] * 8, np.int8)]
    return b.build(), inputs


EDGE_GRAPHS: dict[str, Callable[[], tuple[Graph, list[np.ndarray]]]] = {
    "requantize_limits": requantize_limits, "wrapping_accumulators": wrapping_accumulators,
    "binary_limits": binary_limits}
