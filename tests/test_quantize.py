"""quantize (post-training calibration), its observers, and the int8 front door: driver, CompiledModel, PT2E.

The parameters follow TFLite's int8 spec: activations asymmetric per tensor with 0 exactly representable, weights
symmetric per output channel in [-127, 127], biases int32 at input_scale x weight_scale, fixed outputs for
softmax / logistic / tanh, one set of parameters across data movement.
"""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from edgelower.errors import CalibrationError
from edgelower.ir.graph import GraphBuilder, Op, QParams, TensorType
from edgelower.quant.observers import (MSEObserver, MinMaxObserver, PercentileObserver, affine_qparams, fake_quantize,
                                 symmetric_channel_qparams)
from edgelower.passes import run_pipeline
from edgelower.passes.integer.quantize import (FIXED_OUTPUT, FUSABLE_ACTIVATIONS, FUSES_INTO_REQUANTIZE, SHARES_INPUT,
                                       QuantizeOptions, is_parameter, quantize)

from int8_util import FLOAT_PREFIX, calibration_for
from strategies import graphs

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@given(finite, finite)
def test_affine_parameters_put_zero_on_the_grid_and_cover_the_range(a, b):
    lo, hi = min(a, b), max(a, b)
    q = affine_qparams(lo, hi)
    scale, zp = q.scale[0], q.zero_point[0]
    assert -128 <= zp <= 127 and scale > 0 and np.float32(scale) == scale
    if min(lo, 0) == max(hi, 0):
        return
    # A range under 255 x float32's smallest normal number gets a subnormal scale, whose few significant bits
    # cannot hold the range to one step (hypothesis found [0, 2.9e-42] and [0, 1.4e-45]); the checks above hold.
    if scale < np.finfo(np.float32).tiny:
        return
    assert scale == float(np.float32((max(hi, 0.0) - min(lo, 0.0)) / 255))
    # zero is a code point; the represented range misses [lo, hi] by less than one step (TFLite's nudging)
    assert fake_quantize(np.zeros(1), q)[0] == 0.0
    represented = ((-128 - zp) * scale, (127 - zp) * scale)
    assert represented[0] <= min(lo, 0) + scale and represented[1] >= max(hi, 0) - scale


@given(st.integers(0, 2 ** 16))
def test_weights_are_symmetric_per_output_channel(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(4, 3, 2, 2)) * rng.uniform(0.01, 10, size=(4, 1, 1, 1))
    w[rng.integers(0, 4)] = 0.0  # an all-zero channel still gets a positive scale
    q = symmetric_channel_qparams(w)
    assert q.axis == 0 and q.zero_point == (0,) * 4 and all(s > 0 for s in q.scale)
    codes = w / np.asarray(q.scale).reshape(4, 1, 1, 1)
    assert np.abs(codes).max() <= 127 * (1 + 1e-6)
    for c in range(4):
        assert np.abs(codes[c]).max() == pytest.approx(127, rel=1e-6) or not w[c].any()


def test_observers_minmax_percentile_and_mse():
    rng = np.random.default_rng(0)
    data = rng.normal(size=10000)
    data[0] = 60.0  # one outlier
    observers = [MinMaxObserver(2), PercentileObserver(2, 99.9), MSEObserver(2)]
    for obs in observers:
        obs.observe(data[:5000])
        obs.observe(data[5000:])
    (lo, hi), (plo, phi), (mlo, mhi) = (o.range() for o in observers)
    assert (lo, hi) == (data.min(), 60.0)
    assert phi < 5 and plo > -5  # the outlier is clipped, the bulk is kept
    err = {name: np.mean((fake_quantize(data, affine_qparams(*r)) - data) ** 2)
           for name, r in (("minmax", (lo, hi)), ("mse", (mlo, mhi)))}
    assert mhi < hi and err["mse"] < err["minmax"]


def lenet_like():
    b = GraphBuilder("net")
    x = b.input("x", TensorType((1, 1, 6, 6)))
    rng = np.random.default_rng(1)
    conv = b.op(Op.CONV2D, [x, b.constant("w", rng.normal(size=(4, 1, 3, 3)).astype(np.float32)),
                            b.constant("b", rng.normal(size=4).astype(np.float32))], hint="conv")
    relu = b.op(Op.RELU, [conv], hint="relu")
    pool = b.op(Op.MAX_POOL2D, [relu], {"kernel": (2, 2), "stride": (2, 2)}, hint="pool")
    flat = b.op(Op.RESHAPE, [pool], {"shape": (1, 16)}, hint="flat")
    fc = b.op(Op.LINEAR, [flat, b.constant("fc_w", rng.normal(size=(3, 16)).astype(np.float32))], hint="fc")
    b.output(b.op(Op.SOFTMAX, [fc], {"axis": 1}, hint="prob"))
    return b.build()


def test_quantize_assigns_tflite_parameters():
    graph = lenet_like()
    q = quantize(graph, QuantizeOptions(calibration_for(graph, 8, 0)))
    t = q.types
    assert t["conv"].qparams is None  # folded into the requantization of conv + relu
    assert t["relu"].qparams.zero_point == (-128,)  # a ReLU result: 0 is the lowest code
    assert t["pool"].qparams == t["relu"].qparams == t["flat"].qparams
    assert t["prob"].qparams == QParams((1 / 256,), (-128,))
    assert t["w"].qparams.axis == 0 and len(t["w"].qparams.scale) == 4 and t["w"].qparams.zero_point == (0,) * 4
    x_scale = t["x"].qparams.scale[0]
    assert t["b"].qparams.scale == tuple(float(np.float32(x_scale * s)) for s in t["w"].qparams.scale)
    assert q.nodes == graph.nodes and {k: v.shape for k, v in q.constants.items()} == \
        {k: v.shape for k, v in graph.constants.items()}


@given(graphs(max_nodes=8), st.integers(0, 2 ** 16))
def test_quantize_postcondition_on_random_graphs(graph, seed):
    folded = run_pipeline(graph, FLOAT_PREFIX)
    q = quantize(folded, QuantizeOptions(calibration_for(folded, 2, seed)))
    producers, users = q.producers(), q.users()
    for name, t in q.types.items():
        if not t.dtype.is_float:
            assert t == folded.types[name]
            continue
        p = producers.get(name)
        fused = p is not None and p.op in FUSES_INTO_REQUANTIZE and name not in q.outputs and \
            [u.op for u in users[name]] in ([op] for op in FUSABLE_ACTIVATIONS) and p.attrs.get("activation") is None
        # LayerNorm's weight and bias, and POW's exponent (folded into a table), stay float parameters.
        norm_parameter = is_parameter(q, name) and all(
            u.op is Op.LAYER_NORM or (u.op is Op.POW and u.inputs[1] == name) for u in users[name])
        assert (t.qparams is None) == (fused or norm_parameter), name
        if p is not None and p.op in FIXED_OUTPUT:
            assert t.qparams == FIXED_OUTPUT[p.op]
        elif p is not None and p.op in SHARES_INPUT and q.types[p.inputs[0]].qparams is not None:
            assert t.qparams == q.types[p.inputs[0]].qparams
        if t.qparams is not None and len(t.qparams.scale) == 1:
            assert -128 <= t.qparams.zero_point[0] <= 127 and t.qparams.scale[0] > 0


@pytest.mark.parametrize("observer", ["minmax", "percentile", "mse"])
def test_every_observer_calibrates_the_same_graph(observer):
    graph = lenet_like()
    q = quantize(graph, QuantizeOptions(calibration_for(graph, 4, 2), observer=observer))
    assert all(q.types[n].qparams is not None for n in ("x", "relu", "fc", "prob"))


def test_options_and_calibration_errors_name_the_mismatch():
    graph = lenet_like()
    good = calibration_for(graph, 2, 0)
    with pytest.raises(ValueError, match="observer='median'; choose one of minmax, percentile, mse"):
        QuantizeOptions(good, observer="median")
    with pytest.raises(CalibrationError, match=r"calibration sample 1, input 0 \(%x\): expected "
                                               r"float32\[1, 1, 6, 6\], got float32\[1, 1, 6, 5\]"):
        quantize(graph, QuantizeOptions([good[0], (np.zeros((1, 1, 6, 5), np.float32),)]))
    with pytest.raises(CalibrationError, match=r"sample 0, input 0 \(%x\): expected float32\[1, 1, 6, 6\], "
                                               r"got float64\[1, 1, 6, 6\]"):
        quantize(graph, QuantizeOptions([np.zeros((1, 1, 6, 6))]))
    with pytest.raises(CalibrationError, match=r"sample 0 has 2 input\(s\); the model takes 1 \(x\)"):
        quantize(graph, QuantizeOptions([(good[0][0], good[0][0])]))
    with pytest.raises(CalibrationError, match="needs calibration data.*PT2E"):
        quantize(graph, QuantizeOptions())


def test_options_hold_read_only_copies():
    x = np.zeros((1, 1, 6, 6), np.float32)
    options = QuantizeOptions([x])
    x[...] = 1
    assert not options.calibration[0][0].any() and not options.calibration[0][0].flags.writeable
    assert math.isclose(affine_qparams(-1, 1).scale[0], 2 / 255, rel_tol=1e-6)
