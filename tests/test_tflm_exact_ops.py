"""The int8 ops added for issue 18 against the real TensorFlow Lite Micro, byte for byte (as tests/test_tflm_exact.py
does for the others): RESIZE_BILINEAR, SUM, REDUCE_MAX / REDUCE_MIN, ARG_MAX / ARG_MIN, GATHER, and the LOOKUP
tables that are TFLite Micro's ABS and RSQRT. Each test builds a one-op integer graph with the record lower_integer
computes, runs it with `run_graph`, exports it with `export_tflite`, runs the file in tflite_micro's interpreter and
asserts the output bytes are identical."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgelower.ir.graph import DType, Op
from edgelower.quant.records import MeanQ, f32
from edgelower.quant.resampling import ResizeBilinearQ
from edgelower.quant.tables import TableQ
from tflm_strategies import DATA_MODES, FULL_SHAPES, IntGraph, int8_data, qparams, scales, zero_points

pytest.importorskip("tflite_micro", reason="the TFLite Micro oracle needs the `tflite-micro` package")
pytest.importorskip("flatbuffers", reason="export_tflite needs the `flatbuffers` package")

from test_tflm_exact import assert_tflm_exact  # noqa: E402  (after the skip, as that module's own imports)

EXAMPLES = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2 ** 32 - 1)
modes = st.sampled_from(DATA_MODES)
rank4 = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@EXAMPLES
@given(rank4, st.integers(1, 12), st.integers(1, 12), st.booleans(), scales(), zero_points(), seeds, modes)
def test_resize_bilinear(shape, oh, ow, align_corners, scale, zp, seed, mode):
    g = IntGraph("resize")
    x = g.input(shape, scale, zp)
    q = ResizeBilinearQ.from_geometry(shape[2:], (oh, ow), align_corners)
    y = g.op(Op.RESIZE_BILINEAR, [x], {"size": (oh, ow), "align_corners": align_corners, "q": q}, qparams(scale, zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(np.random.default_rng(seed), shape, mode)])


@st.composite
def reduction_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    return shape, axes, draw(st.booleans())


@EXAMPLES
@given(reduction_cases(), scales(), zero_points(), st.sampled_from([1.0, 4.0, 16.0, 2.5]), zero_points(), seeds, modes)
def test_sum(case, scale, in_zp, ratio, out_zp, seed, mode):
    shape, axes, keepdim = case
    g = IntGraph("sum")
    x = g.input(shape, scale, in_zp)
    out_scale = f32(scale * ratio)
    q = MeanQ.from_scales(scale, in_zp, out_scale, out_zp)
    y = g.op(Op.SUM, [x], {"axes": axes, "keepdim": keepdim, "q": q}, qparams(out_scale, out_zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(np.random.default_rng(seed), shape, mode)])


@EXAMPLES
@given(st.sampled_from([Op.REDUCE_MAX, Op.REDUCE_MIN]), reduction_cases(), scales(), zero_points(), seeds, modes)
def test_reduce_max_min(op, case, scale, zp, seed, mode):
    shape, axes, keepdim = case
    g = IntGraph(op.name.lower())
    x = g.input(shape, scale, zp)
    y = g.op(op, [x], {"axes": axes, "keepdim": keepdim}, qparams(scale, zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(np.random.default_rng(seed), shape, mode)])


@EXAMPLES
@given(st.sampled_from([Op.ARGMAX, Op.ARGMIN]), reduction_cases(), scales(), zero_points(), seeds, modes)
def test_arg_max_min(op, case, scale, zp, seed, mode):
    shape, axes, keepdim = case
    g = IntGraph(op.name.lower())
    x = g.input(shape, scale, zp)
    y = g.op(op, [x], {"axis": axes[0], "keepdim": keepdim, "out_dtype": "int32"})
    data = int8_data(np.random.default_rng(seed), shape, mode) // 32  # ties: the first index wins in both
    assert_tflm_exact(g.output(y).build(), [data])


@EXAMPLES
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data(), scales(), zero_points(), seeds, modes)
def test_gather(shape, data, scale, zp, seed, mode):
    axis = data.draw(st.integers(0, len(shape) - 1))
    idx_shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    rng = np.random.default_rng(seed)
    g = IntGraph("gather")
    x = g.input(shape, scale, zp)
    idx = g.constant(rng.integers(0, shape[axis], idx_shape).astype(np.int64), hint="idx")
    y = g.op(Op.GATHER, [x, idx], {"axis": axis}, qparams(scale, zp))
    assert_tflm_exact(g.output(y).build(), [int8_data(rng, shape, mode)])


@EXAMPLES
@given(st.sampled_from(["abs", "rsqrt"]), st.sampled_from(FULL_SHAPES), scales(-10, 1), zero_points(),
       st.floats(0.05, 4.0), zero_points(), seeds, st.sampled_from(("all", "random", "min", "max")))
def test_abs_rsqrt_tables(function, shape, scale, zp, ratio, out_zp, seed, mode):
    out_scale = f32(scale * ratio) if function == "abs" else f32(ratio / 16)
    q = getattr(TableQ, function)(scale, zp, out_scale, out_zp)
    g = IntGraph(function)
    x = g.input(shape, scale, zp)
    y = g.op(Op.LOOKUP, [x], {"q": q}, qparams(out_scale, out_zp))
    data = int8_data(np.random.default_rng(seed), shape, mode)
    if function == "rsqrt":  # TFLM refuses inputs below the zero point (a negative real)
        data = np.maximum(data, np.int8(zp))
    assert_tflm_exact(g.output(y).build(), [data])


def test_an_argmax_of_int64_indices_is_refused_by_name():
    from edgelower.backends.tflite.export import TFLiteExportError, export_tflite

    g = IntGraph("argmax64")
    x = g.input((2, 3), 0.1, 0)
    graph = g.output(g.op(Op.ARGMAX, [x], {"axis": 1})).build()
    assert graph.types[graph.outputs[0]].dtype is DType.INT64
    with pytest.raises(TFLiteExportError, match="out_dtype='int32'"):
        export_tflite(graph)
