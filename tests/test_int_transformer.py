"""Integer transformer nonlinearities (edgelower.quant.transformer): the integer square root is exact, every
approximation stays within its ERROR_BOUNDS of the exact function, the C kernels give the numpy semantics' bytes
(built and run through the runtime loader, also under ASan/UBSan), and the lowerings put them, and attention's
scale fold, into lower_integer's graphs.
"""

from __future__ import annotations

import ctypes
import math
import re
import shutil
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from edgelower.quant import transformer as it
from edgelower.backends.c.render import render_c
from edgelower.errors import IntegerLoweringError
from edgelower.interp import run_graph
from edgelower.interp.numpy_algebra import NUMPY
from edgelower.quant.transformer import ERROR_BOUNDS, IGeluQ, ILayerNormQ, ISoftmaxQ, ScaleRangeError
from edgelower.ir.graph import DType, GraphBuilder, Op, QParams, TensorType
from edgelower.passes.integer import lower_integer_ops
from edgelower.passes.integer.lower_integer import lower_integer
from edgelower.passes.integer.lower_transformer import lower_scalar_scale, scalar_scale_or, scaled_requantize
from edgelower.passes.integer.quantize import QuantizeOptions, quantize
from edgelower.passes.memory.schedule_graph import schedule_graph
from edgelower.quant.records import ConvQ, RequantQ, SoftmaxQ
from edgelower.runtime import SRC_DIR
from edgelower.backends.artifact import IOSpec
from edgelower.runtime.loader import HostModel, build_executable, build_shared_library, run_executable
from c_plan import C_PLAN

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


def log_scales(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log2(lo), math.log2(hi)).map(lambda e: 2.0 ** e)


zero_points = st.integers(-128, 127)


@st.composite
def int8_rows(draw, max_rows: int = 3, max_cols: int = 48) -> np.ndarray:
    """int8 rows, uniform or squeezed into a narrow band below a top value (near-uniform softmax rows, near-constant
    LayerNorm rows)."""
    shape = (draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols)))
    x = draw(arrays(np.int8, shape)).astype(np.int64)
    spread = draw(st.sampled_from([255, 255, 32, 4, 1, 0]))
    top = draw(st.integers(-128 + spread, 127))
    return (top - (x + 128) * spread // 255).astype(np.int8)


def lsb_error(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)), initial=0))


def gelu_range_qparams(scale: float, zp: int) -> tuple[float, int]:
    """Output parameters a min/max calibration over every representable input gives (0 inside the range)."""
    v = (np.arange(-128, 128) - zp) * scale
    g = 0.5 * v * (1.0 + it.erf(v / math.sqrt(2.0)))
    lo, hi = min(g.min(), 0.0), max(g.max(), 0.0)
    out_scale = (hi - lo) / 255.0
    if out_scale == 0.0:  # every output underflows to 0: no range to calibrate
        return 0.0, 0
    return out_scale, int(np.clip(round(-128 - lo / out_scale), -128, 127))


def int_fields(record) -> bool:
    return all(type(v) is int for v in asdict(record).values())


# --- the integer square root -----------------------------------------------------------------------------------

def test_isqrt_is_floor_sqrt_exhaustively_below_2_20():
    n = np.arange(1 << 20, dtype=np.int64)
    r = it.isqrt(NUMPY, n)
    assert ((r * r <= n) & ((r + 1) * (r + 1) > n)).all()


@given(st.lists(st.integers(0, 2 ** 63 - 1), min_size=1, max_size=64))
def test_isqrt_is_floor_sqrt_on_int64(values):
    assert it.isqrt(NUMPY, np.array(values, np.int64)).tolist() == [math.isqrt(v) for v in values]


def test_isqrt_at_square_boundaries():
    roots = [1, 2, 3, 1 << 15, (1 << 30) + 7, (1 << 31) - 1, 1 << 31, 3037000499]
    values = [v for k in roots for v in (k * k - 1, k * k, k * k + 2 * k) if v < 2 ** 63]
    assert it.isqrt(NUMPY, np.array(values, np.int64)).tolist() == [math.isqrt(v) for v in values]
    assert int(it.isqrt(NUMPY, np.int64(2 ** 63 - 1))) == math.isqrt(2 ** 63 - 1)


def test_bit_length_matches_python():
    values = [0, 1, 2, 3, 255, 256, 2 ** 31, 2 ** 62 - 1, 2 ** 62, 2 ** 63 - 1]
    assert it.bit_length(NUMPY, np.array(values, np.int64)).tolist() == [v.bit_length() for v in values]


# --- records and their valid ranges ----------------------------------------------------------------------------

def test_records_hold_only_ints_and_reject_scales_outside_their_range():
    assert int_fields(ISoftmaxQ.from_scale(0.1)) and int_fields(ISoftmaxQ.from_scale(0.1, "shiftmax"))
    assert int_fields(IGeluQ.from_scales(0.05, 3, 0.03, -100))
    q, w, b = ILayerNormQ.from_scales(16, 0.05, 1e-5, np.linspace(-2, 2, 16), np.ones(16), 0.05, 4)
    assert int_fields(q) and w.dtype == np.int32 and b.dtype == np.int32
    for bad in (lambda: ISoftmaxQ.from_scale(2.0 ** -17), lambda: ISoftmaxQ.from_scale(17.0),
                lambda: IGeluQ.from_scales(0.05, 0, it.GELU_MIN_OUTPUT_SCALE / 2, 0),
                lambda: IGeluQ.from_scales(2.0 ** -11, 0, 0.01, 0), lambda: IGeluQ.from_scales(65.0, 0, 1.0, 0),
                lambda: ILayerNormQ.from_scales(it.LAYER_NORM_MAX_COLS + 1, 0.1, 1e-5, None, None, 0.1, 0),
                lambda: ILayerNormQ.from_scales(64, 0.1, 1e-5, np.full(64, 1e4), None, 0.01, 0),
                lambda: ILayerNormQ.from_scales(1024, 1e-9, 1e-3, None, None, 0.1, 0)):
        with pytest.raises(ScaleRangeError, match="valid range|overflows"):
            bad()
    with pytest.raises(ValueError, match="method"):
        ISoftmaxQ.from_scale(0.1, "taylor")


# --- error bounds against the exact functions -------------------------------------------------------------------

@given(int8_rows(max_cols=64), log_scales(*it.SOFTMAX_SCALE_RANGE), st.sampled_from(["iexp", "shiftmax"]),
       st.integers(0, 1))
def test_softmax_within_bound(x, scale, method, axis):
    got = it.softmax(NUMPY, x, axis, ISoftmaxQ.from_scale(scale, method))
    assert lsb_error(got, it.exact_softmax(x, axis, scale)) <= ERROR_BOUNDS[f"softmax/{method}"]


def test_gelu_within_bound_exhaustively_on_a_grid_of_scales():
    x = np.arange(-128, 128).astype(np.int8)
    worst, configs = 0, 0
    for scale in 2.0 ** np.arange(-10.0, 6.01, 0.5):
        for zp in (-128, -64, 0, 64, 127):
            out_scale, out_zp = gelu_range_qparams(scale, zp)
            if out_scale < it.GELU_MIN_OUTPUT_SCALE:
                continue
            got = it.gelu(NUMPY, x, IGeluQ.from_scales(scale, zp, out_scale, out_zp))
            worst = max(worst, lsb_error(got, it.exact_gelu(x, scale, zp, out_scale, out_zp)))
            configs += 1
    assert configs >= 100 and worst <= ERROR_BOUNDS["gelu"]


@given(log_scales(*it.GELU_SCALE_RANGE), zero_points, log_scales(it.GELU_MIN_OUTPUT_SCALE, 8.0), zero_points)
def test_gelu_within_its_output_scale_bound_on_all_256_inputs(scale, zp, out_scale, out_zp):
    x = np.arange(-128, 128).astype(np.int8)
    got = it.gelu(NUMPY, x, IGeluQ.from_scales(scale, zp, out_scale, out_zp))
    assert lsb_error(got, it.exact_gelu(x, scale, zp, out_scale, out_zp)) <= it.gelu_error_bound(out_scale)


def test_gelu_bound_is_its_bound_at_the_finest_output_scale():
    assert it.gelu_error_bound(it.GELU_MIN_OUTPUT_SCALE) == ERROR_BOUNDS["gelu"]
    x = np.linspace(-12, 12, 240001)
    t = x / math.sqrt(2.0)
    approx = np.sign(t) * (it.IGELU_A * (np.minimum(np.abs(t), -it.IGELU_B) + it.IGELU_B) ** 2 + 1)
    assert np.max(np.abs(x / 2 * (approx - it.erf(t)))) <= it.IGELU_MAX_ERROR


@given(int8_rows(max_cols=96), log_scales(2.0 ** -10, 16.0), zero_points, st.sampled_from([1e-12, 1e-6, 1e-5, 1e-3]),
       st.integers(0, 2 ** 32 - 1), st.floats(0.5, 8.0), zero_points)
def test_layer_norm_within_bound(x, scale, zp, eps, seed, spread, out_zp):
    cols = x.shape[1]
    rng = np.random.default_rng(seed)
    gamma, beta = rng.normal(0.0, 1.5, cols), rng.normal(0.0, 1.0, cols)
    out_scale = (spread * np.max(np.abs(gamma)) + np.max(np.abs(beta))) / 127.0
    q, w, b = ILayerNormQ.from_scales(cols, scale, eps, gamma, beta, out_scale, out_zp)
    want = it.exact_layer_norm(x, scale, zp, eps, gamma, beta, out_scale, out_zp)
    assert lsb_error(it.layer_norm(NUMPY, x, w, b, q, 1), want) <= ERROR_BOUNDS["layer_norm"]


def test_layer_norm_of_constant_rows_is_the_bias():
    x = np.full((2, 8), 37, np.int8)
    q, w, b = ILayerNormQ.from_scales(8, 0.1, 0.0, None, np.linspace(-1, 1, 8), 0.01, -3)
    expected = np.clip(np.round(np.linspace(-1, 1, 8) / 0.01) - 3, -128, 127)
    np.testing.assert_array_equal(it.layer_norm(NUMPY, x, w, b, q, 1), np.broadcast_to(expected, (2, 8)))


# --- attention: MATMUL + REQUANTIZE with the 1/sqrt(d) fold, one rounding per stage ------------------------------

@given(st.integers(1, 12), st.integers(1, 32), st.integers(0, 2 ** 32 - 1), log_scales(2.0 ** -7, 2.0 ** -3),
       st.tuples(zero_points, zero_points, zero_points))
def test_attention_stages_round_once(tokens, depth, seed, scale, zps):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.integers(-128, 128, (1, tokens, depth)).astype(np.int8) for _ in range(3))
    sq, sk, sv = scale, scale * 1.3, scale * 0.7
    zq, zk, zv = zps
    factor = 1.0 / math.sqrt(depth)
    exact_scores = ((q.astype(np.float64) - zq) * sq) @ np.swapaxes((k.astype(np.float64) - zk) * sk, 1, 2) * factor
    s_scores = max(np.abs(exact_scores).max(), 1e-3) / 127.0
    s_out = max(sv * 128, 1e-3) / 127.0

    b = GraphBuilder("attention")
    xq, xk, xv = (b.input(n, TensorType((1, tokens, depth), DType.INT8)) for n in "qkv")
    kt = b.op(Op.PERMUTE, [xk], {"perm": (0, 2, 1)})
    acc = b.op(Op.MATMUL, [xq, kt], {"q": ConvQ.from_zero_points(zq, zk)})
    scores = b.op(Op.REQUANTIZE, [acc], {"q": scaled_requantize(QParams((sq,), (zq,)), QParams((sk,), (zk,)), factor,
                                                                 QParams((s_scores,), (0,)))})
    probs = b.op(Op.SOFTMAX, [scores], {"axis": 2, "q": ISoftmaxQ.from_scale(s_scores)})
    acc2 = b.op(Op.MATMUL, [probs, xv], {"q": ConvQ.from_zero_points(-128, zv)})
    out = b.op(Op.REQUANTIZE, [acc2], {"q": RequantQ.per_tensor(1 / 256, sv, s_out, 0)})
    for name in (scores, probs, out):
        b.output(name)
    got_scores, got_probs, got_out = run_graph(b.build(), [q, k, v])

    assert lsb_error(got_scores, np.clip(np.round(exact_scores / s_scores), -128, 127)) <= 1
    assert lsb_error(got_probs, it.exact_softmax(got_scores, 2, s_scores)) <= ERROR_BOUNDS["softmax/iexp"]
    exact_out = ((got_probs.astype(np.float64) + 128) / 256) @ ((v.astype(np.float64) - zv) * sv) / s_out
    assert lsb_error(got_out, np.clip(np.round(exact_out), -128, 127)) <= 1


# --- C kernels: bit-exact with the numpy semantics --------------------------------------------------------------

ROWS, COLS = 4, 64


def wide_graph():
    """One int8 [4, 64] input read by softmaxes (both axes, both polynomials, the ends of the scale range), GELUs
    (the ends of both scale ranges, one-sided zero points) and LayerNorms (one and two normalized dims, eps 0, the
    largest gain), plus a chain the memory plan may run in place."""
    b = GraphBuilder("int_transformer")
    x = b.input("x", TensorType((ROWS, COLS), DType.INT8, QParams((0.05,), (3,))))
    for scale, method, axis in ((2.0 ** -16, "iexp", 1), (0.05, "iexp", 1), (0.3, "shiftmax", 1), (16.0, "iexp", 1),
                                (0.1, "iexp", 0), (1.0, "shiftmax", 0)):
        b.output(b.op(Op.SOFTMAX, [x], {"axis": axis, "q": ISoftmaxQ.from_scale(scale, method)}))
    for scale, zp in ((2.0 ** -10, -128), (0.05, 0), (0.5, 30), (64.0, 127), (0.02, -128)):
        out_scale, out_zp = max(gelu_range_qparams(scale, zp)[0], it.GELU_MIN_OUTPUT_SCALE), -100
        b.output(b.op(Op.GELU, [x], {"q": IGeluQ.from_scales(scale, zp, out_scale, out_zp)}))
    rng = np.random.default_rng(7)
    for ndim, scale, eps, out_scale in ((1, 0.05, 1e-5, 0.03), (2, 2.0 ** -10, 1e-3, 0.02), (1, 0.5, 0.0, 0.05),
                                        (1, 0.05, 1e-5, None)):
        shape = (ROWS, COLS)[2 - ndim:]
        gamma, beta = rng.normal(0, 1.5, shape), rng.normal(0, 0.01, shape)
        if out_scale is None:  # the largest gain the integer form takes
            out_scale = np.max(np.abs(gamma)) * math.sqrt(math.prod(shape)) / it.LAYER_NORM_MAX_GAIN * 1.001
        q, w, bias = ILayerNormQ.from_scales(math.prod(shape), scale, eps, gamma, beta, out_scale, 5)
        ln = b.op(Op.LAYER_NORM, [x, b.constant("weight", w.reshape(shape)), b.constant("bias", bias.reshape(shape))],
                  {"normalized_ndim": ndim, "eps": eps, "q": q})
        b.output(ln)
    chain = b.op(Op.GELU, [x], {"q": IGeluQ.from_scales(0.05, 3, 0.02, -120)})
    chain = b.op(Op.SOFTMAX, [chain], {"axis": 1, "q": ISoftmaxQ.from_scale(0.02)})
    q, w, bias = ILayerNormQ.from_scales(COLS, 1 / 256, 1e-5, None, None, 0.03, 0)
    b.output(b.op(Op.LAYER_NORM, [chain, b.constant("weight", w), b.constant("bias", bias)],
                  {"normalized_ndim": 1, "eps": 1e-5, "q": q}))
    return b.build()


def c_inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    every = rng.permutation(np.arange(-128, 128)).reshape(ROWS, COLS).astype(np.int8)
    fixed = [every, np.full((ROWS, COLS), -128, np.int8), np.full((ROWS, COLS), 127, np.int8),
             np.tile(np.array([-128, 127], np.int8), (ROWS, COLS // 2)),
             np.where(np.eye(ROWS, COLS) == 1, 127, -128).astype(np.int8)]
    spread = [np.clip(rng.integers(-128, 128, (ROWS, COLS)) // d + rng.integers(-128, 128), -128, 127).astype(np.int8)
              for d in (1, 1, 8, 64, 255) for _ in range(4)]
    return fixed + spread


@needs_cc
def test_c_kernels_match_the_integer_semantics_bit_for_bit():
    graph = wide_graph()
    schedule = schedule_graph(graph, C_PLAN)
    model = HostModel(build_shared_library(render_c(schedule)), IOSpec.from_graph(schedule.graph))
    for x in c_inputs():
        for got, want in zip(model([x]), run_graph(graph, [x])):
            np.testing.assert_array_equal(got, want)


@needs_cc
def test_c_kernels_are_clean_under_sanitizers():
    graph = wide_graph()
    schedule = schedule_graph(graph, C_PLAN)
    exe = build_executable(render_c(schedule), sanitize=True)
    for x in c_inputs()[:6]:
        for got, want in zip(run_executable(exe, IOSpec.from_graph(schedule.graph), [x]), run_graph(graph, [x])):
            np.testing.assert_array_equal(got, want)


@needs_cc
@given(st.lists(st.integers(0, 2 ** 64 - 1), min_size=1, max_size=64))
def test_c_isqrt_is_floor_sqrt_on_uint64(values):
    isqrt = _c_isqrt()
    assert [isqrt(v) for v in values] == [math.isqrt(v) for v in values]


@needs_cc
def test_c_isqrt_exhaustively_below_2_16_and_at_the_top():
    isqrt = _c_isqrt()
    assert all(isqrt(n) == math.isqrt(n) for n in range(1 << 16))
    top = [2 ** 64 - 1, (2 ** 32 - 1) ** 2, (2 ** 32 - 1) ** 2 - 1, 2 ** 62, 2 ** 62 - 1]
    assert [isqrt(n) for n in top] == [math.isqrt(n) for n in top]


_LIBRARY: list = []


def _c_isqrt():
    """el_isqrt_u64 from the runtime linked into a built model library."""
    if not _LIBRARY:
        schedule = schedule_graph(wide_graph(), C_PLAN)
        _LIBRARY.append(ctypes.CDLL(str(build_shared_library(render_c(schedule)))))
    fn = _LIBRARY[0].el_isqrt_u64
    fn.restype, fn.argtypes = ctypes.c_uint32, [ctypes.c_uint64]
    return fn


def test_c_kernels_have_no_float():
    code = re.sub(r"/\*.*?\*/", "", (SRC_DIR / "transformer_s8.c").read_text(), flags=re.S)
    assert not re.search(r"\b(float|double)\b", code)


# --- lowering: float graph -> quantize -> lower_integer with these rules ----------------------------------------

@pytest.fixture
def scale_lowerings(monkeypatch):
    """lower_integer's table with attention's scale fold for MUL and DIV."""
    table = lower_integer_ops.LOWERINGS
    monkeypatch.setitem(table, Op.MUL, scalar_scale_or(table[Op.MUL]))
    monkeypatch.setitem(table, Op.DIV, lower_scalar_scale)


def encoder_block(scale_op: Op, tokens: int = 8, depth: int = 16):
    """softmax(q @ k^T * 1/sqrt(d)) @ v (or / sqrt(d)), LayerNorm, GELU; a softmax over the query axis too."""
    b = GraphBuilder("block")
    q, k, v = (b.input(n, TensorType((1, 2, tokens, depth))) for n in "qkv")
    scores = b.op(Op.MATMUL, [q, b.op(Op.PERMUTE, [k], {"perm": (0, 1, 3, 2)})])
    factor = math.sqrt(depth) if scale_op is Op.DIV else 1 / math.sqrt(depth)
    scaled = b.op(scale_op, [scores, b.constant("factor", np.array(factor, np.float32))])
    attn = b.op(Op.MATMUL, [b.op(Op.SOFTMAX, [scaled], {"axis": 3}), v])
    rng = np.random.default_rng(3)
    ln = b.op(Op.LAYER_NORM, [attn, b.constant("gamma", rng.normal(1, 0.2, depth).astype(np.float32)),
                              b.constant("beta", rng.normal(0, 0.2, depth).astype(np.float32))],
              {"normalized_ndim": 1, "eps": 1e-5})
    b.output(b.op(Op.GELU, [b.op(Op.MUL, [ln, b.constant("three", np.array(3.0, np.float32))])]))
    b.output(b.op(Op.SOFTMAX, [scaled], {"axis": 2}))
    samples = [tuple(rng.normal(0, 1, (1, 2, tokens, depth)).astype(np.float32) for _ in range(3))
               for _ in range(6)]
    return b.build(), samples


@pytest.mark.parametrize("scale_op", [Op.MUL, Op.DIV])
def test_encoder_block_lowers_to_integers_with_the_scale_folded(scale_lowerings, scale_op):
    graph, samples = encoder_block(scale_op)
    lowered = lower_integer(quantize(graph, QuantizeOptions(calibration=tuple(samples))))
    ops = [n.op for n in lowered.nodes]
    assert Op.DIV not in ops and Op.MUL not in ops and Op.QUANTIZE not in ops and Op.DEQUANTIZE not in ops
    records = {(n.op, n.attrs.get("axis"), type(n.attrs["q"])) for n in lowered.nodes
               if n.op in (Op.SOFTMAX, Op.GELU, Op.LAYER_NORM)}
    assert records == {(Op.SOFTMAX, 3, SoftmaxQ), (Op.SOFTMAX, 2, ISoftmaxQ), (Op.GELU, None, IGeluQ),
                       (Op.LAYER_NORM, None, ILayerNormQ)}
    producers = lowered.producers()
    scores = next(n for n in lowered.nodes if n.op is Op.SOFTMAX and n.attrs["axis"] == 3).inputs[0]
    requant = producers[scores]
    matmul = producers[requant.inputs[0]]
    assert requant.op is Op.REQUANTIZE and matmul.op is Op.MATMUL
    a, b = (lowered.types[i].qparams for i in matmul.inputs)
    want = scaled_requantize(a, b, 1 / math.sqrt(16), lowered.types[scores].qparams)
    got = requant.attrs["q"]
    assert got.shift == want.shift and abs(got.multiplier[0] - want.multiplier[0]) <= 2 ** 31 * 1e-6
    if shutil.which("cc"):
        schedule = schedule_graph(lowered, C_PLAN)
        model = HostModel(build_shared_library(render_c(schedule)), IOSpec.from_graph(schedule.graph))
        rng = np.random.default_rng(5)
        xs = [rng.integers(-128, 128, lowered.types[i].shape).astype(np.int8) for i in lowered.inputs]
        for got, want in zip(model(xs), run_graph(lowered, xs)):
            np.testing.assert_array_equal(got, want)


def test_gelu_with_too_fine_an_output_scale_is_named_with_the_range():
    """Parameters given (PT2E) rather than calibrated: an output scale below GELU_MIN_OUTPUT_SCALE is refused."""
    b = GraphBuilder("small")
    y = b.op(Op.GELU, [b.input("x", TensorType((4, 8), qparams=QParams((0.004,), (0,))))])
    b.output(y)
    graph = b.build()
    graph = graph.replace(types={**graph.types, y: TensorType((4, 8), qparams=QParams((0.002,), (-50,)))})
    with pytest.raises(IntegerLoweringError, match="GELU.*valid range"):
        lower_integer(graph)
