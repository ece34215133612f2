"""The edges a new user hits (issue 8): each test is one input that used to give a wrong answer, an unclear error
or a surprise, and now gives the right answer or one clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import edgelower
from edgelower.errors import CalibrationError
from edgelower.interp import IMPLS, run_graph
from edgelower.ir.graph import DType, GraphBuilder, Op, TensorType
from edgelower.backends.artifact import IOSpec
from edgelower.runtime.loader import HostModel, build_shared_library
from edgelower.ir.schedule import linearize
from edgelower.passes.memory.plan_memory import plan_memory
from edgelower.backends.c.render import render_c

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")


@pytest.fixture(scope="module")
def mlp():
    model, (x,) = edgelower.zoo.get("mlp")
    return model, x, edgelower.compile(model, (x,))


# --- 1. extra call arguments ----------------------------------------------------------------------------------------


def test_extra_call_arguments_raise_naming_the_inputs(mlp):
    model, x, cm = mlp
    with pytest.raises(TypeError, match=r"takes 1 input\(s\) \(input: float32\[1, 64\]\), got 2"):
        cm(x, torch.zeros(5))
    with pytest.raises(TypeError, match="got 0"):
        cm()
    with pytest.raises(ValueError, match=r"takes 1 input\(s\) \(input: float32"):
        cm.run_numpy([x.numpy(), x.numpy()])
    torch.testing.assert_close(cm(x), model(x), rtol=1e-5, atol=1e-5)


# --- 2. QUANTIZE of infinities, NaN and huge values -----------------------------------------------------------------

SCALES_AND_ZERO_POINTS = ((0.0219, -17), (1.0, 127), (1.0, -128), (3e-39, 0), (2.5e38, 5), (0.5, -1))


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return IMPLS[Op.QUANTIZE]([np.asarray(x, np.float32)], {"scale": scale, "zero_point": zero_point})[0]


def test_quantize_saturates_to_the_end_of_its_sign_and_nan_is_the_zero_point():
    x = np.array([-1e30, -np.inf, 1e30, np.inf, np.nan, -0.0, 0.0], np.float32)
    assert quantize(x, 0.0219, -17).tolist() == [-128, -128, 127, 127, -17, -17, -17]
    assert quantize(x, 1.0, 127).tolist() == [-128, -128, 127, 127, 127, 127, 127]


@pytest.fixture(scope="module")
def quantize_kernel():
    """One C build holding a QUANTIZE per (scale, zero point) over the same input, and the graph it renders."""
    b = GraphBuilder("quantize_edges")
    x = b.input("x", TensorType((64,), DType.FLOAT32))
    for scale, zero_point in SCALES_AND_ZERO_POINTS:
        b.output(b.op(Op.QUANTIZE, [x], {"scale": scale, "zero_point": zero_point}))
    graph = b.build()
    schedule = plan_memory(linearize(graph))
    return graph, HostModel(build_shared_library(render_c(schedule)), IOSpec.from_graph(schedule.graph))


_TIES = [np.float32(k + 0.5) * s for k in (-3, -1, 0, 1, 2, 127) for s in (1, -1)]
EDGE_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.17e-38, -1.17e-38, 3.4028235e38,
                     -3.4028235e38, 1e30, -1e30, 127.5, -128.5, 511.5, -512.5, *_TIES]),
    st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(-300.0, 300.0, width=32).map(lambda v: float(np.floor(v)) + 0.5))


@needs_cc
@settings(max_examples=60, deadline=None)
@given(st.lists(EDGE_FLOATS, min_size=64, max_size=64))
def test_quantize_c_kernel_equals_the_interpreter_on_float32_edges(quantize_kernel, values):
    graph, compiled = quantize_kernel
    x = np.array(values, np.float32)
    for got, expected in zip(compiled.run([x]), run_graph(graph, [x])):
        np.testing.assert_array_equal(got, expected)


# --- 10. the caller's model keeps its mode ---------------------------------------------------------------------------


def test_compile_restores_the_callers_training_mode():
    model, (x,) = edgelower.zoo.get("mlp")
    model.train()
    model[0].eval() if isinstance(model, torch.nn.Sequential) else None
    before = {name: m.training for name, m in model.named_modules()}
    edgelower.compile(model, (x,))
    assert {name: m.training for name, m in model.named_modules()} == before


# --- 3. a batched calibration tensor ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 5)).eval()
    return model, torch.randn(1, 3, 8, 8)


@pytest.mark.parametrize("stack_shape", [(6, 1, 3, 8, 8), (6, 3, 8, 8)])
def test_a_calibration_tensor_holds_the_samples_along_its_first_dimension(cnn, stack_shape):
    model, x = cnn
    torch.manual_seed(1)
    stack = torch.randn(stack_shape)
    listed = [(s.reshape(1, 3, 8, 8),) for s in stack]
    batched = edgelower.compile(model, (x,), quantize="int8", calibration=stack)
    reference = edgelower.compile(model, (x,), quantize="int8", calibration=listed)
    assert batched.inputs == reference.inputs and batched.outputs == reference.outputs
    np.testing.assert_array_equal(batched(x), reference(x))


def test_a_calibration_tensor_of_the_wrong_shape_says_how_to_stack_it(cnn):
    model, x = cnn
    with pytest.raises(CalibrationError, match=r"along its first dimension.*\[N, 1, 3, 8, 8\]"):
        edgelower.compile(model, (x,), quantize="int8", calibration=torch.randn(6, 3, 9, 8))


# --- 6. memory_budget validated up front ----------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [-5, 0, "lots", "1.5", "1T", True, 2.5])
def test_a_bad_memory_budget_fails_before_capture(budget, monkeypatch):
    import edgelower.frontend.capture

    monkeypatch.setattr(edgelower.frontend.capture, "capture_module", lambda *a: pytest.fail("captured"))
    with pytest.raises(ValueError, match="positive number of bytes"):
        edgelower.compile(torch.nn.ReLU(), (torch.randn(2),), memory_budget=budget)


def test_memory_budget_accepts_k_and_m_strings(cnn):
    from edgelower.driver import memory_budget_bytes

    assert [memory_budget_bytes(b) for b in ("256K", "1M", "1.5MiB", " 200000 ", 300, None)] == \
        [262144, 1048576, 1572864, 200000, 300, None]
    model, x = cnn
    assert edgelower.compile(model, (x,), memory_budget="64K").report.arena_bytes <= 65536


# --- 8, 9. files: export_tflite creates parents, saved projects respect the umask -----------------------------------


def test_export_tflite_creates_missing_parent_directories(cnn, tmp_path):
    pytest.importorskip("flatbuffers", reason="export_tflite needs the tflite extra: pip install flatbuffers")
    model, x = cnn
    cm = edgelower.compile(model, (x,), quantize="int8", calibration=[(torch.randn_like(x),) for _ in range(4)])
    path = cm.export_tflite(tmp_path / "does" / "not" / "exist" / "m.tflite")
    assert path.is_file() and path.read_bytes()[4:8] == b"TFL3"


def test_saved_projects_get_the_umask_permissions(mlp, tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        saved = mlp[2].save(tmp_path / "project")
    finally:
        os.umask(previous)
    assert saved.stat().st_mode & 0o777 == 0o755
    assert (saved / "manifest.json").stat().st_mode & 0o777 == 0o644


# --- 4, 5, 7, 11. the command line -----------------------------------------------------------------------------------

FACTORIES = '''
import torch

CALLS = []


def cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 5)).eval()


def nothing():
    return None


def never():
    raise AssertionError("the factory ran before the arguments were checked")
'''


@pytest.fixture
def factories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "factories.py").write_text(FACTORIES)
    return "factories.py"


def cli(capsys, *argv) -> tuple[int, str, str]:
    from edgelower import cli as edgelower_cli

    code = edgelower_cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(code: int, err: str, *phrases: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], err


def test_cli_calibration_without_quantize_is_refused(factories, capsys):
    code, _, err = cli(capsys, "compile", f"{factories}:never", "--calibration", "random:4", "-o", "out")
    assert_one_error_line(code, err, "--calibration is only used with --quantize int8")


@pytest.mark.parametrize("argv, phrase", [
    (["--input-shape", "1,3,8"], "fails on its example inputs (float32[1, 3, 8])"),
    (["--input-shape", "1,3,8,8", "--memory-budget", "lots"], "memory_budget='lots'"),
])
def test_cli_errors_are_one_line_with_exit_status_2(factories, capsys, argv, phrase):
    code, _, err = cli(capsys, "compile", f"{factories}:cnn", *argv, "-o", "out")
    assert_one_error_line(code, err, phrase)


def test_cli_factory_returning_none_is_one_line(factories, capsys):
    code, _, err = cli(capsys, "compile", f"{factories}:nothing", "--input-shape", "1,3,8,8", "-o", "out")
    assert_one_error_line(code, err, "nothing() returned None; it must return an nn.Module")


def test_cli_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(capsys, "compile", "zoo:mlp", "--input-shape", "1,x", "-o", "out")
    assert exit_.value.code == 2
    assert_one_error_line(2, capsys.readouterr().err, "is not comma-separated integers")


def test_cli_debug_flag_prints_the_traceback(factories, capsys, monkeypatch):
    monkeypatch.delenv("EDGELOWER_DEBUG", raising=False)
    code, _, err = cli(capsys, "compile", f"{factories}:nothing", "--input-shape", "1,3,8,8", "-o", "out",
                       "--debug")
    assert code == 2 and "Traceback" in err and "returned None" in err
    monkeypatch.setenv("EDGELOWER_DEBUG", "1")
    code, _, err = cli(capsys, "compile", f"{factories}:nothing", "--input-shape", "1,3,8,8", "-o", "out")
    assert code == 2 and "Traceback" in err


@pytest.mark.parametrize("argv, phrase", [
    (["--target", "cortex-m5", "-o", "fresh"], "unknown target 'cortex-m5'"),
    (["-o", "full"], "full exists and is not empty; pass --overwrite"),
    (["--quantize", "int8", "-o", "fresh"], "--quantize int8 needs calibration data"),
])
def test_cli_checks_target_and_output_before_loading_the_model(factories, capsys, tmp_path, argv, phrase):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "compile", f"{factories}:never", "--input-shape", "1,3,8,8", *argv)
    assert_one_error_line(code, err, phrase)
    assert not (tmp_path / "fresh").exists()


def test_cli_run_converts_like_the_api_and_raw_runs_int8(factories, capsys, tmp_path):
    code, _, err = cli(capsys, "compile", f"{factories}:cnn", "--input-shape", "1,3,8,8", "--quantize", "int8",
                       "--calibration", "random:8", "-o", "int8")
    assert code == 0, err
    cm = edgelower.load(tmp_path / "int8")
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = cli(capsys, "run", "int8", "--input", "x.npy", "--save-outputs", "y.npy")
    assert code == 0, err
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32 and "float32[1, 5]" in out
    np.testing.assert_array_equal(y, cm(x))
    q = quantize(x, cm.inputs[0].scale, cm.inputs[0].zero_point)
    np.save(tmp_path / "q.npy", q)
    code, out, err = cli(capsys, "run", "int8", "--raw", "--input", "q.npy", "--save-outputs", "yq.npy")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "yq.npy"), cm.run_numpy([q])[0])
    code, _, err = cli(capsys, "run", "int8", "--raw", "--input", "x.npy")
    assert_one_error_line(code, err, "input %")


# --- 12. data-dependent models: one clear error, no graph dumps ------------------------------------------------------


class Branches(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class MaskedSelect(torch.nn.Module):
    def forward(self, x):
        return x[x > 0] * 2


def test_data_dependent_branch_is_one_capture_error_without_graph_dumps(capfd):
    from edgelower.errors import CaptureError

    with pytest.raises(CaptureError, match="depend on tensor values"):
        edgelower.compile(Branches(), (torch.randn(4, 5),))
    err = capfd.readouterr().err
    assert "def forward" not in err and "Unable to find user code" not in err, err


def test_a_boolean_mask_is_reported_as_a_data_dependent_shape():
    from edgelower.errors import CaptureError

    with pytest.raises(CaptureError) as info:
        edgelower.compile(MaskedSelect(), (torch.randn(4, 5),))
    message = str(info.value)
    assert "data-dependent shape" in message and "return x[x > 0] * 2" in message
    assert "operator.ge" not in message and "operator.le" not in message


# --- 13. partial compilation under torch.compile -------------------------------------------------------------------


class Mixed(torch.nn.Module):
    """Supported layers around ops edgelower has no lowering for (cumsum, sort, an FFT)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8), torch.nn.Linear(5, 3)

    def forward(self, x):
        h = torch.cumsum(torch.relu(self.a(x)), 1)
        h = torch.sort(torch.tanh(self.b(h)), dim=-1).values
        spectrum = torch.fft.rfft(h, dim=-1).abs()
        return self.c(spectrum) * 2


@pytest.fixture
def compiled_graphs(monkeypatch):
    """The graphs torch.compile hands edgelower's driver, recorded; torch._dynamo reset around."""
    import edgelower.driver

    seen, compile_graph = [], edgelower.driver.compile_graph

    def recording(graph, *args, **kwargs):
        seen.append(graph)
        return compile_graph(graph, *args, **kwargs)

    monkeypatch.setattr(edgelower.driver, "compile_graph", recording)
    torch._dynamo.reset()
    yield seen
    torch._dynamo.reset()


def compiled_with_warnings(model, *inputs, **options):
    import warnings

    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        got = torch.compile(model, backend="edgelower", options=options)(*inputs)
    return got, [str(w.message) for w in caught if "edgelower" in str(w.message)]


@needs_cc
def test_torch_compile_compiles_the_supported_regions_and_runs_the_rest_in_eager(compiled_graphs):
    model, x = Mixed().eval(), torch.randn(3, 8)
    got, warned = compiled_with_warnings(model, x, target="host")
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    assert len(warned) == 1 and "region(s)" in warned[0], warned
    for op in ("aten.cumsum.default", "aten.sort.default", "aten._fft_r2c.default"):
        assert op in warned[0]
    assert "Nothing was written" not in warned[0]
    compiled_ops = {node.op.name for graph in compiled_graphs for node in graph.nodes}
    assert {"LINEAR", "RELU", "TANH"} <= compiled_ops


@needs_cc
@pytest.mark.filterwarnings("ignore:edgelower compiled")
def test_torch_compile_regions_never_give_a_wrong_answer_on_random_inputs(compiled_graphs):
    model = Mixed().eval()
    compiled = torch.compile(model, backend="edgelower")
    for seed in range(3):
        x = torch.randn(3, 8, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_torch_compile_for_firmware_keeps_the_whole_graph_in_eager(compiled_graphs):
    model, x = Mixed().eval(), torch.randn(3, 8)
    got, warned = compiled_with_warnings(model, x, target="cortex-m4")
    torch.testing.assert_close(got, model(x))
    assert len(warned) == 1 and "firmware target cannot call PyTorch" in warned[0], warned
    assert "aten.cumsum.default" in warned[0] and not compiled_graphs


# --- 14. transformer encoders and RNNs under torch.compile ---------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_fast_path_compiles_under_no_grad(compiled_graphs, norm_first, activation):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=norm_first,
                                             activation=activation)
    model, x = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval(), torch.randn(2, 5, 16)
    got, warned = compiled_with_warnings(model, x)
    assert not warned and len(compiled_graphs) == 1
    assert {"SOFTMAX", "LAYER_NORM", "LINEAR"} <= {node.op.name for node in compiled_graphs[0].nodes}
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)


class Recurrent(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = cell(8, 12, num_layers=2, batch_first=True), torch.nn.Linear(12, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@needs_cc
@pytest.mark.parametrize("cell", [torch.nn.GRU, torch.nn.LSTM], ids=["gru", "lstm"])
def test_rnns_compile_under_torch_compile_with_allow_rnn(compiled_graphs, cell):
    model, x = Recurrent(cell).eval(), torch.randn(2, 5, 8)
    with torch._dynamo.config.patch(allow_rnn=True):  # else dynamo breaks the graph around the RNN
        got, warned = compiled_with_warnings(model, x)
    assert not warned and len(compiled_graphs) == 1
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)


# --- 15. names from module paths, no absolute paths in generated code ------------------------------------------------


class Residual(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1),
                                        torch.nn.BatchNorm2d(channels), torch.nn.ReLU())

    def forward(self, x):
        return x + self.conv(x)


class Named(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU6(), Residual(4),
                                            Residual(4))
        self.head = torch.nn.Linear(4, 5)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def test_report_rows_values_and_weights_are_named_after_module_paths():
    model, x = Named().eval(), torch.randn(1, 3, 8, 8)
    cm = edgelower.compile(model, (x,))
    rows = [(r.op, r.name) for r in cm.report.rows]
    assert rows == [("conv2d", "features_0"), ("conv2d", "features_2_conv_0"), ("add", "features_2"),
                    ("conv2d", "features_3_conv_0"), ("add", "features_3"), ("mean", "mean"), ("linear", "head")]
    assert "features_2_conv_0_folded_weight" in cm.graph.constants and "head_weight" in cm.graph.constants
    assert not [v for v in cm.graph.types if "convolution" in v or "batch_norm" in v or "addmm" in v]
    c = cm.files["model.c"]
    assert "/* conv2d: %features_2_conv_0 (CONV2D) at tests/test_user_edges.py:" in c


def test_generated_code_has_no_absolute_paths_and_is_deterministic(tmp_path):
    import importlib.util
    import os

    (tmp_path / "outside_model.py").write_text(
        "import torch\n\n\nclass Outside(torch.nn.Module):\n    def forward(self, x):\n"
        "        return torch.relu(x) * 2\n")
    spec = importlib.util.spec_from_file_location("outside_model", tmp_path / "outside_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outside = edgelower.compile(module.Outside(), (torch.randn(2, 3),)).files
    inside = edgelower.compile(Named().eval(), (torch.randn(1, 3, 8, 8),)).files
    for files in (outside, inside):
        for name, data in files.items():  # text, or the weights' bytes
            raw = data if isinstance(data, bytes) else data.encode()
            assert str(tmp_path).encode() not in raw and os.getcwd().encode() not in raw, name
    assert "outside_model.py:6: return torch.relu(x) * 2" in outside["model.c"]
    assert edgelower.compile(Named().eval(), (torch.randn(1, 3, 8, 8),)).files == inside


def test_int8_report_rows_are_named_after_the_layer(cnn):
    model, x = cnn
    cm = edgelower.compile(model, (x,), quantize="int8", calibration=[(torch.randn_like(x),) for _ in range(4)])
    assert [(r.op, r.name) for r in cm.report.rows] == [("conv2d", "conv2d_0"), ("reshape", "flatten_2"),
                                                        ("linear", "linear_3")]


def test_torch_compile_names_values_after_module_paths(compiled_graphs):
    model, x = Named().eval(), torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, backend="edgelower")(x), model(x), rtol=1e-5, atol=1e-5)
    (graph,) = compiled_graphs
    assert {"features_0", "features_2_conv_0", "features_2", "head"} <= {n.name for n in graph.nodes}


@needs_cc
@pytest.mark.parametrize("cell", [torch.nn.GRU, torch.nn.LSTM], ids=["gru", "lstm"])
def test_rnns_compile_ahead_of_time_without_torchs_flat_weights_warning(cell):
    import warnings

    model, x = Recurrent(cell).eval(), torch.randn(2, 5, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cm = edgelower.compile(model, (x,))
    assert not [w for w in caught if "_flat_weights" in str(w.message)]
    with torch.no_grad():
        torch.testing.assert_close(cm(x), model(x), rtol=1e-5, atol=1e-5)


# --- 16. the report's byte columns say their unit -------------------------------------------------------------------


def test_report_table_columns_have_units(mlp):
    header = next(line for line in str(mlp[2].report).splitlines() if line.split()[:2] == ["#", "op"])
    assert "weights B" in header and "live B" in header
