"""quantize="int8" end to end: the driver, CompiledModel's int8 interface, PT2E models, and the generated C held
bit for bit to the reference interpreter on integer graphs.

The C side is really built and run (host compiler).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import edgelower
from edgelower.driver import compile_graph
from edgelower.errors import CalibrationError, IntegerLoweringError
from edgelower.interp import run_graph
from edgelower.passes.integer.lower_integer import INTEGER_FORMS
from edgelower.ir.graph import Op

from int8_util import calibration_for, int8_inputs, to_real
from strategies import graphs

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")



@pytest.fixture(autouse=True, scope="module")
def build_cache(fresh_build_cache):
    """Every module builds into a cache of its own (conftest.py), so the compiler really runs."""


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        y = torch.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return torch.softmax(self.fc(y.flatten(1)), -1)


def small_cnn():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    return model, torch.randn(1, 3, 8, 8), [torch.randn(1, 3, 8, 8) for _ in range(16)]


def test_int8_model_takes_and_returns_int8_and_converts_floats():
    model, x, calibration = small_cnn()
    cm = edgelower.compile(model, x, quantize="int8", calibration=calibration)
    (spec_in,), (spec_out,) = cm.inputs, cm.outputs
    assert spec_in.dtype == np.int8 and spec_out.dtype == np.int8
    assert (spec_out.scale, spec_out.zero_point) == (1 / 256, -128)  # a softmax result
    header = cm.files["model.h"]
    assert f"#define MODEL_INPUT_0_ZERO_POINT {spec_in.zero_point}" in header and "MODEL_OUTPUT_0_SCALE" in header
    with torch.no_grad():
        want = model(x)
    got = cm(x)  # float in: quantized with the input's parameters; out: dequantized
    assert got.dtype == torch.float32 and float((got - want).abs().max()) <= 3 / 256
    raw = cm.run_numpy([int8_inputs(cm.graph, [x.numpy()])[0]])[0]
    assert raw.dtype == np.int8 and np.array_equal(to_real(raw, cm.graph.types[cm.graph.outputs[0]].qparams),
                                                   got.numpy())
    assert np.array_equal(cm(int8_inputs(cm.graph, [x.numpy()])[0]), raw)  # int8 in: raw in, raw out
    assert cm.report.weight_bytes < 1000 and "int8" in str(cm.report)


def test_saved_int8_project_keeps_its_scales(tmp_path):
    model, x, calibration = small_cnn()
    cm = edgelower.compile(model, x, quantize="int8", calibration=calibration)
    loaded = edgelower.load(cm.save(tmp_path / "proj"))
    assert loaded.inputs == cm.inputs and loaded.outputs == cm.outputs
    assert np.array_equal(loaded(x.numpy()), cm(x.numpy()))


def test_driver_errors_name_what_is_missing_or_wrong():
    model, x, calibration = small_cnn()
    with pytest.raises(CalibrationError, match="needs calibration data"):
        edgelower.compile(model, x, quantize="int8")
    with pytest.raises(CalibrationError, match=r"sample 2, input 0 \(%x\): expected float32\[1, 3, 8, 8\], "
                                               r"got float32\[1, 3, 8, 7\]"):
        edgelower.compile(model, x, quantize="int8", calibration=calibration[:2] + [torch.randn(1, 3, 8, 7)])
    with pytest.raises(CalibrationError, match="sample 0, input 0 is a str"):
        edgelower.compile(model, x, quantize="int8", calibration=[("x",)])
    with pytest.raises(ValueError, match="only used with quantize='int8'"):
        edgelower.compile(model, x, calibration=calibration)
    with pytest.raises(ValueError, match="observer='median'"):
        edgelower.compile(model, x, quantize="int8", calibration=calibration, observer="median")


def test_ops_without_an_integer_form_are_named_with_their_line():
    class WithLogSoftmax(torch.nn.Module):
        def forward(self, x):
            return torch.log_softmax(x, -1) + 1  # no int8 LOG_SOFTMAX

    x = torch.randn(2, 3)
    with pytest.raises(IntegerLoweringError, match=r"LOG_SOFTMAX has no integer-only lowering \(node log_softmax\)\n.*"
                                                   r"test_int8_compile.py:\d+: return torch.log_softmax\(x, -1\) \+ 1"):
        edgelower.compile(WithLogSoftmax(), x, quantize="int8", calibration=[torch.randn(2, 3)])


def test_int_only_false_runs_float_islands_in_c():
    class WithLogSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(4, 4), torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc2(torch.log_softmax(self.fc1(x), -1))

    torch.manual_seed(0)
    model, x = WithLogSoftmax().eval(), torch.randn(2, 4)
    calibration = [torch.randn(2, 4) for _ in range(16)]
    cm = edgelower.compile(model, x, quantize="int8", calibration=calibration, int_only=False)
    ops = [n.op for n in cm.graph.nodes]
    assert Op.LOG_SOFTMAX in ops and Op.DEQUANTIZE in ops and Op.QUANTIZE in ops
    out = cm.graph.types[cm.graph.outputs[0]].qparams
    for sample in calibration[:4]:
        inputs = int8_inputs(cm.graph, [sample.numpy()])
        got, want = cm.run_numpy(inputs)[0], run_graph(cm.graph, inputs)[0]
        # float log_softmax in C (libm) and in the interpreter (float64) may round across one int8 boundary
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        with torch.no_grad():  # on calibration inputs (nothing clips): within 3 output steps of float32
            assert float((cm(sample) - model(sample)).abs().max()) <= 3 * out.scale[0]


def test_pt2e_model_needs_no_calibration_and_matches_torch():
    pt2e = pytest.importorskip("torchao.quantization.pt2e.quantize_pt2e", reason="PT2E needs torchao")
    from torchao.testing.pt2e._xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    model, x, calibration = small_cnn()
    exported = torch.export.export(model, (x,)).module()
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = pt2e.prepare_pt2e(exported, quantizer)
    for sample in calibration:
        prepared(sample)
    converted = pt2e.convert_pt2e(prepared)
    cm = edgelower.compile(converted, x, quantize="int8", int_only=False)
    (spec_in,) = cm.inputs
    input_q = [n for n in converted.graph.nodes if "quantize_per_tensor" in str(n.target)][0]
    assert (spec_in.scale, spec_in.zero_point) == (pytest.approx(input_q.args[1]), input_q.args[2])
    with torch.no_grad():
        for sample in calibration[:4]:
            want, got = converted(sample).numpy(), cm(sample).numpy()
            # softmax runs in int8 here, in float between PT2E's quantize/dequantize there: one output step
            assert np.abs(got - want).max() <= 1.5 / 256


def test_pt2e_uint8_parameters_shift_and_calibration_fills_the_rest():
    pt2e = pytest.importorskip("torchao.quantization.pt2e.quantize_pt2e", reason="PT2E needs torchao")
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    model, x, calibration = small_cnn()
    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    prepared = pt2e.prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
    for sample in calibration:
        prepared(sample)
    converted = pt2e.convert_pt2e(prepared)
    # x86's scheme quantizes only what conv and linear read (uint8): the rest needs calibration
    with pytest.raises(IntegerLoweringError, match="its result %conv has no int8 parameters"):
        edgelower.compile(converted, x, quantize="int8")
    cm = edgelower.compile(converted, x, quantize="int8", calibration=calibration)
    input_q = [n for n in converted.graph.nodes if "quantize_per_tensor" in str(n.target)][0]
    assert input_q.args[5] == torch.uint8
    assert (cm.inputs[0].scale, cm.inputs[0].zero_point) == (pytest.approx(input_q.args[1]), input_q.args[2] - 128)
    with torch.no_grad():
        assert float((cm(x) - converted(x)).abs().max()) <= 3 / 256


@settings(max_examples=15, deadline=None)
@given(graphs(ops=set(INTEGER_FORMS) | {Op.BATCH_NORM}, max_nodes=8),
       st.integers(0, 2 ** 16))
def test_integer_graphs_run_bit_identically_in_c(graph, seed):
    calibration = calibration_for(graph, 2, seed)
    try:
        cm = compile_graph(graph, quantize="int8", calibration=calibration)
    except IntegerLoweringError:
        return  # forms without an integer lowering: test_lower_integer pins them
    for sample in calibration:
        inputs = int8_inputs(cm.graph, sample)
        for name, got, want in zip(cm.graph.outputs, cm.run_numpy(inputs), run_graph(cm.graph, inputs)):
            assert got.dtype == want.dtype and np.array_equal(got, want), f"output %{name}"
