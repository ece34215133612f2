"""The integer interpreter against the real TensorFlow Lite Micro, byte for byte.

For every int8 op TFLite Micro runs, hypothesis draws shapes, scales, zero points (edges included), activation
ranges and data; the test builds a one-op (or op + REQUANTIZE) integer graph, computes its q records with the
qattrs constructors (as lower_integer does), runs it with `run_graph`, exports it with `export_tflite`, runs the
file in tflite_micro's interpreter and asserts the output bytes are identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from edgelower.interp import run_graph
from edgelower.ir.graph import Op
from edgelower.ir.ops import pool_out
from edgelower.quant.records import SIGMOID_OUTPUT, SOFTMAX_OUTPUT, TANH_OUTPUT, AddQ, ClampQ, ConvQ, HardSwishQ, \
    LogisticQ, MeanQ, MulQ, PoolQ, RequantQ, SoftmaxQ, TanhQ, activation_range, f32
from edgelower.backends.tflite.export import TFLiteExportError, export_tflite
from tflm_strategies import DATA_MODES, FULL_SHAPES, IntGraph, act_ranges, bias, int8_data, qparams, scales, \
    weights, zero_points

pytest.importorskip("tflite_micro", reason="the TFLite Micro oracle needs the `tflite-micro` package")
pytest.importorskip("flatbuffers", reason="export_tflite needs the `flatbuffers` package")

from edgelower.backends.tflite.tflm import run_tflm  # noqa: E402  (after the skip: imports tflite_micro lazily anyway)

EXAMPLES = settings(max_examples=200, deadline=None)
seeds = st.integers(0, 2 ** 32 - 1)
modes = st.sampled_from(DATA_MODES)
# Unary ops: mostly every int8 input value at once (FULL_SHAPES with mode "all"), sometimes small random tensors.
unary_shapes = st.one_of(st.sampled_from(FULL_SHAPES), st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
unary_modes = st.sampled_from(("all", "all", "all", "random", "min", "max"))


def assert_tflm_exact(graph, inputs, channels_last_io: bool = False) -> int:
    """run_graph and TFLite Micro give the same bytes; returns TFLM's arena size."""
    expected = run_graph(graph, inputs)
    model = export_tflite(graph, channels_last_io=channels_last_io)
    feed = [np.transpose(x, (0, 2, 3, 1)) if channels_last_io and x.ndim == 4 else x for x in inputs]
    got, arena = run_tflm(model, feed)
    if channels_last_io:
        got = [np.transpose(y, (0, 3, 1, 2)) if y.ndim == 4 else y for y in got]
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert (g.dtype, g.shape) == (e.dtype, e.shape)
        diff = np.flatnonzero(e.reshape(-1) != g.reshape(-1))
        assert diff.size == 0, (f"{diff.size} of {e.size} values differ, first at {diff[0]}: interpreter "
                                f"{e.reshape(-1)[diff[0]]}, TFLM {g.reshape(-1)[diff[0]]}\n{graph}")
    return arena


@st.composite
def rescale_factors(draw) -> float:
    """Output scale / natural accumulator scale: mostly a useful range, sometimes multipliers above one (left
    shifts) or tiny enough that QuantizeMultiplier flushes to zero."""
    exponent = draw(st.one_of(st.integers(-3, 12), st.sampled_from([-6, 30, 31, 32, 40])))
    # An exact power of two makes the float32 ratio of scales a power of two, so outputs sit on rounding ties
    # wherever the double-precision multiplier differs from it: the sharpest test of how TFLM derives it.
    return draw(st.one_of(st.floats(0.5, 1.0), st.just(1.0))) * 2.0 ** exponent


# --- CONV2D / LINEAR / MATMUL + REQUANTIZE -------------------------------------------------------------------------

def _padding(draw, size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    kind = draw(st.sampled_from(["same", "valid", "explicit"]))
    effective = (kernel - 1) * dilation + 1
    if kind == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + effective - size, 0)
        return total // 2, total - total // 2
    if kind == "valid":
        return 0, 0
    return draw(st.integers(0, kernel - 1)), draw(st.integers(0, kernel - 1))


@st.composite
def conv_cases(draw):
    n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["dense", "dense", "depthwise", "grouped"]))
    groups = {"dense": 1, "depthwise": c, "grouped": draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0]))}[kind]
    o = groups * draw(st.integers(1, 3)) if kind != "dense" else draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))), (draw(st.integers(1, 2)),
                                                                           draw(st.integers(1, 2)))
    (pt, pb), (pl, pr) = _padding(draw, h, kh, stride[0], dilation[0]), _padding(draw, w, kw, stride[1], dilation[1])
    if pool_out(h, kh, stride[0], pt, pb, dilation[0]) < 1 or pool_out(w, kw, stride[1], pl, pr, dilation[1]) < 1:
        pt = pb = pl = pr = 0
        kh, kw, dilation = min(kh, h), min(kw, w), (1, 1)
    return dict(shape=(n, c, h, w), out_channels=o, groups=groups, kernel=(kh, kw), stride=stride,
                dilation=dilation, padding=(pt, pl, pb, pr), per_channel=draw(st.booleans()),
                in_scale=draw(scales(-10, 0)), in_zp=draw(zero_points()), factor=draw(rescale_factors()),
                out_zp=draw(zero_points()), seed=draw(seeds), mode=draw(modes),
                bias=draw(st.sampled_from(["random", "random", "limits", "none"])))


def _weight_scales(rng, count: int, per_channel: bool) -> list[float]:
    if not per_channel:
        return [f32(rng.uniform(2 ** -10, 2 ** -4))]
    return [f32(v) for v in rng.uniform(2 ** -10, 2 ** -4, count)]


def _accumulating(g: IntGraph, op: Op, x: str, w: np.ndarray, w_scales, in_scale: float, in_zp: int, attrs,
                  case, rng, out_axis: int) -> tuple[str, RequantQ]:
    o = w.shape[0]
    wn = g.constant(w, qparams(w_scales, 0, 0 if len(w_scales) > 1 else None), "w")
    inputs = [x, wn]
    if case["bias"] != "none":
        bias_scales = [f32(f32(in_scale) * f32(s)) for s in w_scales] * (o if len(w_scales) == 1 else 1)
        inputs.append(g.constant(bias(rng, o, case["bias"]), qparams(bias_scales, 0, 0), "b"))
    acc = g.op(op, inputs, {**attrs, "q": ConvQ.from_zero_points(in_zp)})
    out_scale = f32(in_scale * float(np.mean(w_scales)) * case["factor"])
    act = case["act"]
    if op is Op.LINEAR:
        rq = RequantQ.fully_connected(in_scale, w_scales, out_scale, case["out_zp"], *act, axis=out_axis)
    else:
        rq = RequantQ.per_channel(in_scale, w_scales, out_scale, case["out_zp"], *act, axis=out_axis)
    return g.op(Op.REQUANTIZE, [acc], {"q": rq}, qparams(out_scale, case["out_zp"])), rq


@EXAMPLES
@given(conv_cases(), st.data())
def test_conv2d_requantize(case, data):
    rng = np.random.default_rng(case["seed"])
    n, c, h, w = case["shape"]
    o, groups = case["out_channels"], case["groups"]
    in_scale, in_zp = case["in_scale"], case["in_zp"]
    g = IntGraph("conv")
    x = g.input(case["shape"], in_scale, in_zp)
    w_scales = _weight_scales(rng, o, case["per_channel"])
    case["act"] = data.draw(act_ranges(f32(in_scale * np.mean(w_scales) * case["factor"]), case["out_zp"]))
    wdata = weights(rng, (o, c // groups, *case["kernel"]), case["mode"])
    attrs = {"stride": case["stride"], "padding": case["padding"], "dilation": case["dilation"], "groups": groups}
    y, _ = _accumulating(g, Op.CONV2D, x, wdata, w_scales, in_scale, in_zp, attrs, case, rng, out_axis=1)
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, case["shape"], case["mode"])])


@EXAMPLES
@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 16), st.integers(1, 8), st.booleans(),
       scales(-10, 0), zero_points(), rescale_factors(), zero_points(), seeds, modes,
       st.sampled_from(["random", "limits", "none"]), st.data())
def test_linear_requantize(batch, features, out_features, per_channel, in_scale, in_zp, factor, out_zp, seed, mode,
                           bias_mode, data):
    rng = np.random.default_rng(seed)
    shape = (*batch, features) if batch else (1, features)
    g = IntGraph("linear")
    x = g.input(shape, in_scale, in_zp)
    w_scales = _weight_scales(rng, out_features, per_channel)
    act = data.draw(act_ranges(f32(in_scale * np.mean(w_scales) * factor), out_zp))
    case = dict(factor=factor, out_zp=out_zp, act=act, bias=bias_mode)
    y, _ = _accumulating(g, Op.LINEAR, x, weights(rng, (out_features, features), mode), w_scales, in_scale, in_zp,
                         {}, case, rng, out_axis=len(shape) - 1)
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


@EXAMPLES
@given(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 5), st.integers(1, 6), st.integers(1, 5),
       scales(-8, 0), zero_points(), scales(-8, 0), zero_points(), rescale_factors(), zero_points(), seeds, modes,
       st.data())
def test_matmul_requantize(batch, m, k, n, s1, zp1, s2, zp2, factor, out_zp, seed, mode, data):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = (*batch, m, k), (*batch, k, n)
    g = IntGraph("matmul")
    a, b = g.input(a_shape, s1, zp1, "a"), g.input(b_shape, s2, zp2, "b")
    acc = g.op(Op.MATMUL, [a, b], {"q": ConvQ.from_zero_points(zp1, zp2)})
    out_scale = f32(s1 * s2 * factor)
    act = data.draw(act_ranges(out_scale, out_zp))
    rq = RequantQ.per_tensor(s1, s2, out_scale, out_zp, *act)
    y = g.op(Op.REQUANTIZE, [acc], {"q": rq}, qparams(out_scale, out_zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, a_shape, mode), int8_data(rng, b_shape, mode)])


@EXAMPLES
@given(unary_shapes, scales(-12, 2), zero_points(), scales(-12, 2),
       zero_points(), seeds, unary_modes, st.data())
def test_requantize_int8(shape, in_scale, in_zp, out_scale, out_zp, seed, mode, data):
    rng = np.random.default_rng(seed)
    if data.draw(st.booleans()):
        out_scale = f32(in_scale * data.draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 8.0, 3.0, 1.5])))
    g = IntGraph("requantize")
    x = g.input(shape, in_scale, in_zp)
    act = data.draw(act_ranges(out_scale, out_zp))
    y = g.op(Op.REQUANTIZE, [x], {"q": RequantQ.from_scales(in_scale, in_zp, out_scale, out_zp, *act)},
             qparams(out_scale, out_zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


# --- ADD / SUB / MUL / MAXIMUM / MINIMUM ---------------------------------------------------------------------------

GRID = ((256, 1), (1, 256))


def binary_data(rng, shapes, mode) -> list[np.ndarray]:
    """The two operands; on GRID every pair of int8 values meets once."""
    if shapes == GRID:
        return [int8_data(rng, GRID[0], "all"), int8_data(rng, GRID[1], "all")]
    return [int8_data(rng, s, mode) for s in shapes]


@st.composite
def broadcast_shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes of rank <= 4 that broadcast (numpy rules), sometimes of different ranks; a third of the time
    GRID, all 65536 pairs of int8 values."""
    if draw(st.integers(0, 2)) == 0:
        return GRID
    out = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    def operand():
        dims = [d if draw(st.booleans()) else 1 for d in out]
        return tuple(dims[draw(st.integers(0, len(dims) - 1)):]) if draw(st.booleans()) else tuple(dims)
    return operand(), operand()


def _binary_graph(op, record, shapes, s1, zp1, s2, zp2, so, zpo):
    g = IntGraph(op.name.lower())
    a, b = g.input(shapes[0], s1, zp1, "a"), g.input(shapes[1], s2, zp2, "b")
    return g, g.op(op, [a, b], {"q": record}, qparams(so, zpo))


@EXAMPLES
@given(st.sampled_from([Op.ADD, Op.SUB]), broadcast_shapes(), scales(-10, 1), zero_points(), scales(-10, 1),
       zero_points(), scales(-10, 2), zero_points(), seeds, modes, st.data())
def test_add_sub(op, shapes, s1, zp1, s2, zp2, so, zpo, seed, mode, data):
    rng = np.random.default_rng(seed)
    if data.draw(st.booleans()):  # a power-of-two output ratio: ties wherever double and float32 disagree
        so = f32(2 * max(s1, s2) * 2.0 ** data.draw(st.integers(-6, 3)))
    ctor = AddQ.from_scales if op is Op.ADD else AddQ.from_sub_scales
    try:
        q = ctor(s1, zp1, s2, zp2, so, zpo, *data.draw(act_ranges(so, zpo)))
    except ValueError:  # output scale below max input scale / 2**19: TFLite has no int8 form either
        reject()
    g, y = _binary_graph(op, q, shapes, s1, zp1, s2, zp2, so, zpo)
    assert_tflm_exact(g.output(y).build(), binary_data(rng, shapes, mode))


@EXAMPLES
@given(broadcast_shapes(), scales(-8, 1), zero_points(), scales(-8, 1), zero_points(), scales(-12, 2),
       zero_points(), seeds, modes, st.data())
def test_mul(shapes, s1, zp1, s2, zp2, so, zpo, seed, mode, data):
    rng = np.random.default_rng(seed)
    if data.draw(st.booleans()):
        so = f32(f32(s1 * s2) * 2.0 ** data.draw(st.integers(-2, 12)))
    q = MulQ.from_scales(s1, zp1, s2, zp2, so, zpo, *data.draw(act_ranges(so, zpo)))
    g, y = _binary_graph(Op.MUL, q, shapes, s1, zp1, s2, zp2, so, zpo)
    assert_tflm_exact(g.output(y).build(), binary_data(rng, shapes, mode))


@EXAMPLES
@given(st.sampled_from([Op.MAXIMUM, Op.MINIMUM]), broadcast_shapes(), scales(), zero_points(), seeds, modes,
       st.booleans())
def test_maximum_minimum(op, shapes, scale, zp, seed, mode, constant):
    rng = np.random.default_rng(seed)
    g = IntGraph(op.name.lower())
    a = g.input(shapes[0], scale, zp, "a")
    b = g.constant(int8_data(rng, shapes[1]), qparams(scale, zp)) if constant else g.input(shapes[1], scale, zp, "b")
    y = g.op(op, [a, b], {}, qparams(scale, zp))
    inputs = binary_data(rng, shapes, mode)[:1 if constant else 2]
    assert_tflm_exact(g.output(y).build(), inputs)


# --- pooling, MEAN, clamps -----------------------------------------------------------------------------------------

@st.composite
def pool_cases(draw, explicit: bool):
    n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = []
    mode = draw(st.sampled_from(["same", "valid", "explicit"] if explicit else ["same", "valid"]))
    for size, k, s in ((h, kh, sh), (w, kw, sw)):
        kind = draw(st.sampled_from(["same", "valid", "explicit"])) if mode == "explicit" else mode
        if kind == "same":
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        elif kind == "valid":
            pads.append((0, 0))
        else:
            pads.append((draw(st.integers(0, k // 2)), draw(st.integers(0, k // 2))))
    (pt, pb), (pl, pr) = pads
    return (n, c, h, w), {"kernel": (kh, kw), "stride": (sh, sw), "padding": (pt, pl, pb, pr)}


@EXAMPLES
@given(pool_cases(explicit=False), scales(), zero_points(), seeds, modes, st.data())
def test_avg_pool2d(case, scale, zp, seed, mode, data):
    shape, attrs = case
    rng = np.random.default_rng(seed)
    g = IntGraph("avg_pool")
    x = g.input(shape, scale, zp)
    q = PoolQ(*data.draw(act_ranges(scale, zp)))
    y = g.op(Op.AVG_POOL2D, [x], {**attrs, "count_include_pad": False, "q": q}, qparams(scale, zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


@EXAMPLES
@given(pool_cases(explicit=True), scales(), zero_points(), seeds, modes, st.booleans(), st.data())
def test_max_pool2d(case, scale, zp, seed, mode, clamped, data):
    shape, attrs = case
    rng = np.random.default_rng(seed)
    g = IntGraph("max_pool")
    x = g.input(shape, scale, zp)
    q = PoolQ(*data.draw(act_ranges(scale, zp))) if clamped else None
    y = g.op(Op.MAX_POOL2D, [x], {**attrs, "q": q}, qparams(scale, zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


@EXAMPLES
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.data(), st.booleans(), scales(), zero_points(),
       st.one_of(st.sampled_from([1.0, 0.5, 2.0, 1.5]), st.floats(0.125, 8.0)), zero_points(), seeds, modes)
def test_mean(shape, data, keepdim, scale, in_zp, ratio, out_zp, seed, mode):
    rank = len(shape)
    hw = (2, 3) if rank == 4 else None
    axes = hw if hw and data.draw(st.booleans()) else tuple(sorted(data.draw(
        st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank))))
    rng = np.random.default_rng(seed)
    g = IntGraph("mean")
    x = g.input(shape, scale, in_zp)
    out_scale = f32(scale * ratio)
    q = MeanQ.from_scales(scale, in_zp, out_scale, out_zp)
    y = g.op(Op.MEAN, [x], {"axes": axes, "keepdim": keepdim, "q": q}, qparams(out_scale, out_zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


@EXAMPLES
@given(st.sampled_from(["RELU", "RELU6", "CLAMP", "NOOP"]), unary_shapes,
       scales(-10, 1), zero_points(), seeds, unary_modes, st.data())
def test_relu_clamp(kind, shape, scale, zp, seed, mode, data):
    rng = np.random.default_rng(seed)
    g = IntGraph("clamp")
    x = g.input(shape, scale, zp)
    if kind == "CLAMP":
        lo = data.draw(st.one_of(st.none(), st.floats(-4, 4)))
        hi = data.draw(st.one_of(st.none(), st.floats(lo if lo is not None else -4, 4)))
        op, attrs, q = Op.CLAMP, {"min": lo, "max": hi}, ClampQ.from_bounds(lo, hi, scale, zp)
    elif kind == "NOOP":
        op, attrs, q = Op.CLAMP, {"min": None, "max": None}, ClampQ()
    else:
        op, attrs, q = Op.RELU, {}, ClampQ(*activation_range(kind, scale, zp))
    y = g.op(op, [x], {**attrs, "q": q}, qparams(scale, zp))
    z = g.op(Op.RESHAPE, [y], {"shape": (int(np.prod(shape)),)}, qparams(scale, zp))
    assert_tflm_exact(g.output(z).build(), [int8_data(rng, shape, mode)])


# --- nonlinearities ------------------------------------------------------------------------------------------------

def _unary_graph(op, shape, in_scale, in_zp, q, out_scale, out_zp, attrs=None):
    g = IntGraph(op.name.lower())
    x = g.input(shape, in_scale, in_zp)
    return g.output(g.op(op, [x], {**(attrs or {}), "q": q}, qparams(out_scale, out_zp))).build()


@EXAMPLES
@given(st.sampled_from([Op.SIGMOID, Op.TANH]), unary_shapes,
       scales(-12, 3), zero_points(), seeds, unary_modes)
def test_sigmoid_tanh(op, shape, scale, zp, seed, mode):
    rng = np.random.default_rng(seed)
    record, fixed = (LogisticQ, SIGMOID_OUTPUT) if op is Op.SIGMOID else (TanhQ, TANH_OUTPUT)
    graph = _unary_graph(op, shape, scale, zp, record.from_scale(scale, zp), *fixed)
    assert_tflm_exact(graph, [int8_data(rng, shape, mode)])


@EXAMPLES
@given(unary_shapes, scales(-10, 1), zero_points(), st.integers(-7, 10),
       st.floats(0.5, 1.0), zero_points(), seeds, unary_modes)
def test_hardswish(shape, scale, zp, exponent, mantissa, out_zp, seed, mode):
    rng = np.random.default_rng(seed)
    out_scale = f32(scale * mantissa * 2.0 ** exponent)
    try:
        q = HardSwishQ.from_scales(scale, zp, out_scale, out_zp)
    except ValueError:  # output scale below input scale / 128: TFLite requires a non-positive exponent
        reject()
    assert_tflm_exact(_unary_graph(Op.HARDSWISH, shape, scale, zp, q, out_scale, out_zp),
                      [int8_data(rng, shape, mode)])


@EXAMPLES
@given(st.sampled_from(["image", "rows"]), st.integers(1, 2), st.integers(1, 12), st.integers(1, 3),
       st.one_of(scales(-10, 1), st.sampled_from([32.0, 64.0, 2.0 ** -26 * 1.5])), zero_points(), seeds, modes)
def test_softmax(layout, n, depth, side, scale, zp, seed, mode):
    rng = np.random.default_rng(seed)
    shape, axis = ((n, depth, side, side), 1) if layout == "image" else ((n, depth), 1)
    graph = _unary_graph(Op.SOFTMAX, shape, scale, zp, SoftmaxQ.from_scale(scale), *SOFTMAX_OUTPUT, {"axis": axis})
    assert_tflm_exact(graph, [int8_data(rng, shape, mode)])


# --- data movement (no q: the float implementations run on int8) ----------------------------------------------------

@st.composite
def image_inputs(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    rank = draw(st.sampled_from([4, 4, 2, 3]))
    if rank != 4:
        shape = shape[:rank]
    return shape, draw(scales()), draw(zero_points()), draw(seeds)


def _through_conv(g: IntGraph, x: str, shape, scale, zp) -> str:
    """A 1x1 identity-weight CONV2D in front of a data-movement op, so that the op reads an NHWC tensor in the file
    and the export has to translate its axes; other ranks pass through unchanged."""
    if len(shape) != 4:
        return x
    c = shape[1]
    w = g.constant(np.eye(c, dtype=np.int8).reshape(c, c, 1, 1) * np.int8(127), qparams([1.0 / 127] * c, 0, 0), "w")
    acc = g.op(Op.CONV2D, [x, w], {"q": ConvQ.from_zero_points(zp)})
    rq = RequantQ.per_channel(scale, [1.0 / 127] * c, scale, zp, axis=1)
    return g.op(Op.REQUANTIZE, [acc], {"q": rq}, qparams(scale, zp))


@EXAMPLES
@given(image_inputs(), st.sampled_from(["reshape", "permute", "concat", "slice", "pad", "pad_value"]), st.data())
def test_data_movement(case, kind, data):
    shape, scale, zp, seed = case
    rng = np.random.default_rng(seed)
    g = IntGraph(kind)
    x = g.input(shape, scale, zp)
    h = _through_conv(g, x, shape, scale, zp)
    qp, rank = qparams(scale, zp), len(shape)
    if kind == "reshape":
        y = g.op(Op.RESHAPE, [h], {"shape": data.draw(st.sampled_from([(int(np.prod(shape)),), shape[::-1]]))}, qp)
    elif kind == "permute":
        y = g.op(Op.PERMUTE, [h], {"perm": tuple(data.draw(st.permutations(range(rank))))}, qp)
    elif kind == "concat":
        axis = data.draw(st.integers(0, rank - 1))
        other = list(shape)
        other[axis] = data.draw(st.integers(1, 3))
        c = g.constant(int8_data(rng, other), qp)
        y = g.op(Op.CONCAT, data.draw(st.permutations([h, c, h])), {"axis": axis}, qp)
    elif kind == "slice":
        axis = data.draw(st.integers(0, rank - 1))
        start = data.draw(st.integers(0, shape[axis] - 1))
        end = data.draw(st.integers(start + 1, shape[axis]))
        y = g.op(Op.SLICE, [h], {"axis": axis, "start": start, "end": end, "step": data.draw(st.integers(1, 3))}, qp)
    else:
        pads = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
        value = zp if kind == "pad" else data.draw(st.integers(-128, 127))
        y = g.op(Op.PAD, [h], {"pads": pads, "value": value}, qp)
    y = _through_conv(g, y, g.b.types[y].shape, scale, zp) if data.draw(st.booleans()) else y
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape)])


@EXAMPLES
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3),
       st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), scales(), zero_points(), seeds)
def test_upsample_nearest(n, c, h, w, fh, fw, eh, ew, scale, zp, seed):
    rng = np.random.default_rng(seed)
    g = IntGraph("upsample")
    x = g.input((n, c, h, w), scale, zp)
    y = g.op(Op.UPSAMPLE_NEAREST, [x], {"size": (h * fh + eh, w * fw + ew)}, qparams(scale, zp))
    graph = g.output(y).build()
    tflite_index = [np.floor(np.arange(o, dtype=np.float32) * (np.float32(i) / np.float32(o))).astype(int)
                    for i, o in ((h, h * fh + eh), (w, w * fw + ew))]
    ours = [np.arange(o) * i // o for i, o in ((h, h * fh + eh), (w, w * fw + ew))]
    if all(np.array_equal(a, b) for a, b in zip(tflite_index, ours)):
        assert_tflm_exact(graph, [int8_data(rng, (n, c, h, w))])
    else:
        with pytest.raises(TFLiteExportError, match="nearest-neighbour index"):
            export_tflite(graph)


# --- the export as a whole -----------------------------------------------------------------------------------------

def _small_cnn(channels_last: bool = False):
    """conv -> relu6 (fused) -> depthwise conv -> avg pool -> mean -> linear -> softmax."""
    rng = np.random.default_rng(7)
    g = IntGraph("cnn")
    x = g.input((1, 3, 8, 8), 0.02, -3)
    case = dict(bias="random", factor=300.0, out_zp=-128, act=activation_range("RELU6", f32(0.02 * 0.01 * 300), -128))
    h, _ = _accumulating(g, Op.CONV2D, x, weights(rng, (8, 3, 3, 3)), [0.01] * 8, 0.02, -3,
                         {"padding": (1, 1, 1, 1), "stride": (2, 2)}, case, rng, out_axis=1)
    s1 = g.b.types[h].qparams.scale[0]
    case = dict(bias="random", factor=10.0, out_zp=5, act=(-128, 127))
    h, _ = _accumulating(g, Op.CONV2D, h, weights(rng, (8, 1, 3, 3)), list(rng.uniform(0.005, 0.02, 8)), s1, -128,
                         {"padding": (1, 1, 1, 1), "groups": 8}, case, rng, out_axis=1)
    s2 = g.b.types[h].qparams.scale[0]
    h = g.op(Op.AVG_POOL2D, [h], {"kernel": (2, 2), "stride": (2, 2), "q": PoolQ()}, qparams(s2, 5))
    h = g.op(Op.MEAN, [h], {"axes": (2, 3), "keepdim": False, "q": MeanQ.from_scales(s2, 5, s2, 5)}, qparams(s2, 5))
    case = dict(bias="random", factor=20.0, out_zp=0, act=(-128, 127))
    h, _ = _accumulating(g, Op.LINEAR, h, weights(rng, (10, 8)), [0.01], s2, 5, {}, case, rng, out_axis=1)
    s3 = g.b.types[h].qparams.scale[0]
    y = g.op(Op.SOFTMAX, [h], {"axis": 1, "q": SoftmaxQ.from_scale(s3)}, qparams(*SOFTMAX_OUTPUT))
    return g.output(y).output(h).build(), [int8_data(rng, (1, 3, 8, 8))]


@pytest.mark.parametrize("channels_last_io", [False, True])
def test_small_cnn_and_arena(channels_last_io):
    graph, inputs = _small_cnn()
    arena = assert_tflm_exact(graph, inputs, channels_last_io=channels_last_io)
    assert arena > 0 and isinstance(arena, int)


def test_fused_graph_exports_the_same_model():
    """After passes/fuse.py (requantization inside CONV2D / LINEAR: ConvQ.requant) the export is the same file."""
    from edgelower.passes.fuse import fuse

    graph, inputs = _small_cnn()
    fused = fuse(graph)
    assert not any(n.op is Op.REQUANTIZE for n in fused.nodes)
    assert_tflm_exact(fused, inputs)
    assert export_tflite(fused) == export_tflite(graph)


def test_model_file_layout(tmp_path):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    graph, _ = _small_cnn()
    path = tmp_path / "cnn.tflite"
    data = export_tflite(graph, path)
    assert path.read_bytes() == data and data[4:8] == b"TFL3"
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    ops = [model.operatorCodes[o.opcodeIndex].builtinCode for o in model.subgraphs[0].operators]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    # PyTorch's padding 1 at stride 2 puts windows where TFLite's SAME does not: an explicit PAD, then VALID.
    assert [names[o] for o in ops] == ["TRANSPOSE", "PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                       "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    conv = model.subgraphs[0].operators[2]
    assert conv.builtinOptions.fusedActivationFunction == schema.ActivationFunctionType.RELU6
    weights_tensor = model.subgraphs[0].tensors[conv.inputs[1]]
    assert list(weights_tensor.shape) == [8, 3, 3, 3] and weights_tensor.type == schema.TensorType.INT8
    assert export_tflite(graph) == data  # deterministic


def test_unsupported_ops_are_named():
    g = IntGraph("gelu")
    x = g.input((4,), 0.1, 0)
    y = g.op(Op.GELU, [x], {"q": ClampQ()}, qparams(0.1, 0))
    with pytest.raises(TFLiteExportError, match="no int8 kernel for: GELU"):
        export_tflite(g.output(y).build())


def test_record_that_tflm_would_compute_differently_is_rejected():
    g = IntGraph("requantize")
    x = g.input((4,), 0.1, 0)
    q = RequantQ.from_scales(0.1, 0, 0.3, 0)
    y = g.op(Op.REQUANTIZE, [x], {"q": RequantQ((q.multiplier[0] + 1,), q.shift, 0)}, qparams(0.3, 0))
    with pytest.raises(TFLiteExportError, match="differs from what TFLite Micro derives"):
        export_tflite(g.output(y).build())


def test_float_graph_is_rejected():
    from edgelower.ir.graph import DType, GraphBuilder, TensorType

    b = GraphBuilder("f")
    x = b.input("x", TensorType((2, 3), DType.FLOAT32))
    b.output(b.op(Op.RELU, [x]))
    with pytest.raises(TFLiteExportError):
        export_tflite(b.build())


def test_compiled_model_export_is_bit_exact(tmp_path):
    """A PyTorch model through quantize="int8" (calibration, lower_integer, fuse), then CompiledModel.export_tflite:
    TFLite Micro computes the compiled integer graph's bytes."""
    torch = pytest.importorskip("torch")
    import edgelower

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.depthwise = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            h = torch.nn.functional.hardswish(self.depthwise(h)) + torch.nn.functional.max_pool2d(h, 2)
            return torch.softmax(self.fc(h.mean((2, 3))), -1)

    torch.manual_seed(0)
    calibration = [(torch.randn(1, 3, 8, 8),) for _ in range(8)]
    model = edgelower.compile(Net().eval(), calibration[0], quantize="int8", calibration=calibration)
    path = model.export_tflite(tmp_path / "net.tflite")
    rng = np.random.default_rng(0)
    inputs = [int8_data(rng, model.graph.types[name].shape) for name in model.graph.inputs]
    expected = run_graph(model.graph, inputs)
    got, arena = run_tflm(path.read_bytes(), inputs)
    assert [e.tobytes() for e in expected] == [g.tobytes() for g in got] and arena > 0
