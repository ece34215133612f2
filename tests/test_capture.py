"""Capture from torch: every supported ATen family against eager PyTorch, through the reference interpreter.

torch.export costs about a second per call, so ops are grouped into a few small modules with many outputs.
"""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.aot_autograd import make_boxed_func
from torch.fx.experimental.proxy_tensor import make_fx

import edgelower.driver
from edgelower.frontend.aten_ops import ATEN_TO_IR
from edgelower.frontend.capture import KEEP_OPS, capture_graph_module, capture_module, decomposition_table, \
    supported_aten_ops
from edgelower.frontend.dynamo import edgelower_backend
from edgelower.errors import CaptureError, UnsupportedOpError
from edgelower.interp import run_graph
from edgelower.ir.graph import Op

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.export's pytree deprecation notice


def _outputs(value) -> list[torch.Tensor]:
    return [value] if isinstance(value, torch.Tensor) else list(value)


def assert_close(got: list[np.ndarray], want: list[torch.Tensor]) -> None:
    """Each output equal to eager within 1e-5 of its largest magnitude."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = w.detach().numpy()
        assert g.shape == w.shape and g.dtype == w.dtype, f"output {i}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        scale = max(float(np.abs(w).max()), 1e-3) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * scale, err_msg=f"output {i}")


def check(model: nn.Module, *inputs: torch.Tensor):
    """Capture with torch.export, run on the interpreter, compare with eager; returns the graph."""
    graph = capture_module(model, inputs)
    with torch.no_grad():
        want = _outputs(model(*inputs))
    assert_close(run_graph(graph, [x.numpy() for x in inputs]), want)
    return graph


def ops(graph) -> Counter:
    return Counter(node.op for node in graph.nodes)


torch.manual_seed(0)


def test_every_table_key_is_a_real_overload():
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers quantized_decomposed, PT2E's ops

    for key in ATEN_TO_IR:
        if key == "operator.getitem":
            continue
        namespace, name, overload = key.split(".")
        assert str(getattr(getattr(getattr(torch.ops, namespace), name), overload)) == key
    assert supported_aten_ops() == sorted(ATEN_TO_IR)


def test_decomposition_table_keeps_what_the_ir_has():
    kept = {str(op) for op in decomposition_table()}
    assert not KEEP_OPS & kept
    assert KEEP_OPS <= set(ATEN_TO_IR)
    assert "aten.linear.default" in kept  # the rest of core ATen's table still applies


class ConvNet(nn.Module):
    """convolution (strided, padded, dilated, grouped, depthwise, 1-d), batch norm, activations, pools, pad,
    nearest upsampling, adaptive pooling, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False)
        self.grouped = nn.Conv2d(8, 8, (3, 1), stride=(1, 2), padding=(1, 0), groups=2)
        self.bn = nn.BatchNorm2d(8)
        self.bn.running_mean.normal_()
        self.bn.running_var.uniform_(0.5, 2.0)
        self.conv1d = nn.Conv1d(8, 4, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = F.relu(self.bn(self.dw(self.stem(x))))
        y = self.grouped(y)
        a = (F.hardswish(y) + F.hardsigmoid(y) + F.silu(y) + F.gelu(y) + F.gelu(y, approximate="tanh")
             + torch.sigmoid(y) * torch.tanh(y) + F.hardtanh(y, -0.5, 0.5) + y.clamp(-0.1, 0.3) + F.relu6(y * 4))
        pooled = F.max_pool2d(a, 3, stride=2, padding=1, ceil_mode=True)
        return (pooled,
                F.avg_pool2d(a, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                F.avg_pool2d(a, 2, divisor_override=3),
                F.max_pool2d(a, 2, dilation=2),
                F.adaptive_avg_pool2d(a, (4, 2)),
                F.interpolate(F.pad(pooled, (1, 2, 0, 1), value=0.5), scale_factor=2),
                F.interpolate(pooled, size=(7, 5)),
                self.conv1d(a.mean(3)),
                self.fc(torch.flatten(F.adaptive_avg_pool2d(a, 1), 1)))


def test_convolution_pooling_and_activations():
    graph = check(ConvNet().eval(), torch.randn(1, 3, 16, 16))
    convs = [n for n in graph.nodes if n.op is Op.CONV2D]
    assert [n.attrs["groups"] for n in convs] == [1, 8, 2, 1]
    assert convs[1].attrs["padding"] == (2, 2, 2, 2) and convs[1].attrs["dilation"] == (2, 2)
    assert ops(graph)[Op.LINEAR] == 1 and ops(graph)[Op.MATMUL] == 0  # addmm(b, x, W.T) is one LINEAR
    assert ops(graph)[Op.MEAN] == 2 and ops(graph)[Op.AVG_POOL2D] == 3  # global pool -> MEAN; 8x4 -> 4x2 pools
    assert {Op.HARDSWISH, Op.HARDSIGMOID, Op.SILU, Op.CLAMP, Op.UPSAMPLE_NEAREST, Op.PAD} <= set(ops(graph))
    assert "stem_weight" in graph.constants and graph.inputs == ("x",)


class Elementwise(nn.Module):
    """add/sub/mul/div in tensor and scalar forms with broadcasting and alpha, rsub, maximum/minimum, unary math,
    pow, clamp with tensor bounds."""

    def forward(self, x, y):
        return (x + y - 2 * x / (y.abs() + 1) + torch.add(x, y, alpha=0.5) - torch.sub(x, 1.5, alpha=2),
                1 - x,
                torch.maximum(x, y) * torch.minimum(x, 0.3 * y),
                x.exp() + (x.abs() + 0.1).log() + x.abs().sqrt() + (x.abs() + 1).rsqrt() - x.neg() + torch.erf(x),
                x.pow(2) + (x.abs() + 1).pow(-0.5) + torch.clamp(x, min=y, max=y + 1) + x.clamp_min(0))


def test_elementwise_broadcasting_and_scalars():
    graph = check(Elementwise(), torch.randn(2, 3, 4), torch.randn(3, 1))
    scalars = [n for n, t in graph.types.items() if n in graph.constants and t.shape == ()]
    assert scalars and all(graph.types[n].dtype.value == "float32" for n in scalars)
    assert {Op.MAXIMUM, Op.MINIMUM, Op.ERF, Op.RSQRT, Op.DIV} <= set(ops(graph))


class Shapes(nn.Module):
    """view/reshape, permute/transpose/t, cat, slice with steps and negative bounds, split, chunk, unbind, select,
    indexing with a constant list, expand, flatten, squeeze/unsqueeze."""

    def forward(self, x):
        c, d, e = torch.split(x, [1, 1, 2], dim=2)
        return (x.view(2, 12, 5).permute(2, 0, 1).reshape(10, 12),
                torch.cat([x, x * 2], dim=1)[:, 1:5:2, -3:, :4],
                c + d, e,
                torch.chunk(x, 2, dim=3)[1],
                x.unbind(1)[2],
                x[:, 1],
                x[..., 0:1].expand(2, 3, 4, 6).transpose(1, 3).contiguous().flatten(1, 2),
                x.flatten(1).t(),
                x.unsqueeze(0).squeeze(0)[None, :, -1:].squeeze(),
                x[:, :, [3, 0, 1]])


def test_data_movement():
    graph = check(Shapes(), torch.randn(2, 3, 4, 5))
    assert {Op.SLICE, Op.CONCAT, Op.PERMUTE, Op.EXPAND, Op.RESHAPE} <= set(ops(graph))
    assert all(node.attrs["step"] >= 1 and node.attrs["start"] >= 0 for node in graph.nodes if node.op is Op.SLICE)


class Reductions(nn.Module):
    """mean/sum/amax/max over dims and all axes, softmax, log_softmax, layer norm with and without affine
    parameters, embedding and indexing a table with run-time indices."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8)
        self.ln_plain = nn.LayerNorm([6, 8], elementwise_affine=False)
        self.emb = nn.Embedding(10, 8)

    def forward(self, x, idx):
        return (x.mean(-1, keepdim=True) + x.sum(dim=(1, 2), keepdim=True),
                x.amax(dim=1) + x.max(dim=-1).values.sum(),
                torch.softmax(x, dim=1), torch.log_softmax(x, -1),
                self.ln(x) + self.ln_plain(x),
                self.emb(idx) + self.emb.weight[idx],
                x.mean() + x.sum())


def test_reductions_normalization_and_embedding():
    graph = check(Reductions(), torch.randn(2, 6, 8), torch.tensor([[1, 2, 9], [0, 0, 4]]))
    assert graph.types["idx"].dtype.value == "int64"
    assert {Op.MEAN, Op.SUM, Op.REDUCE_MAX, Op.SOFTMAX, Op.LOG_SOFTMAX, Op.LAYER_NORM, Op.GATHER} <= set(ops(graph))
    norms = [n for n in graph.nodes if n.op is Op.LAYER_NORM]
    assert sorted(len(n.inputs) for n in norms) == [1, 3] and ops(graph)[Op.GATHER] == 2


class Products(nn.Module):
    """linear on 3-d input, matmul 3-d @ 2-d, bmm, matrix @ vector, addmm with alpha/beta, mm, broadcast batch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.w = nn.Parameter(torch.randn(8, 4))

    def forward(self, x, v):
        return (self.fc(x), x @ self.w, x @ x.transpose(1, 2), x @ v,
                torch.addmm(self.fc.bias, x[0], self.fc.weight.t(), beta=0.5, alpha=2.0),
                torch.mm(x[1], self.w),
                x.unsqueeze(1) @ x.unsqueeze(0).transpose(-1, -2))


def test_matrix_products():
    graph = check(Products(), torch.randn(2, 5, 8), torch.randn(8))
    assert ops(graph)[Op.LINEAR] >= 1 and ops(graph)[Op.MATMUL] >= 4


class Attention(nn.Module):
    """nn.MultiheadAttention (need_weights True: bmm + softmax; False: SDPA) and F.scaled_dot_product_attention
    with is_causal, scale, a run-time float mask with a fully masked row, and a constant boolean mask."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4, batch_first=True)
        self.register_buffer("causal", torch.triu(torch.full((5, 5), float("-inf")), 1))
        self.register_buffer("keep", torch.rand(5, 5) > 0.3)

    def forward(self, x, mask):
        a, weights = self.mha(x, x, x, attn_mask=self.causal)
        b, _ = self.mha(x, x, x, attn_mask=mask, need_weights=False)
        q = x.view(2, 5, 4, 4).transpose(1, 2)
        return (a, weights, b,
                F.scaled_dot_product_attention(q, q, q, is_causal=True),
                F.scaled_dot_product_attention(q, q * 2, q, attn_mask=mask, scale=0.3),
                F.scaled_dot_product_attention(q, q, q, attn_mask=self.keep))


def test_attention():
    mask = torch.randn(5, 5)
    mask[2] = float("-inf")  # every key masked for query 2: torch gives 0 there, not NaN
    graph = check(Attention().eval(), torch.randn(2, 5, 16), mask)
    assert graph.inputs == ("x", "mask")
    assert ops(graph)[Op.SOFTMAX] == 5  # one per attention
    # only the run-time mask may mask a whole row, so only its two attentions guard against it (CLAMP + MUL)
    assert ops(graph)[Op.REDUCE_MAX] == 2


class StaticSubgraphs(nn.Module):
    """A positional encoding (sin, cos) and a mask (tril, where) built in forward from literals, and a lifted
    tensor constant: evaluated once at capture, whatever ops they use."""

    def forward(self, x):
        n = x.shape[1]
        pos = torch.arange(n).unsqueeze(1) * torch.exp(torch.arange(0, 4, 2) * -0.5)
        pe = torch.cat([torch.sin(pos), torch.cos(pos)], dim=-1)
        mask = torch.where(torch.tril(torch.ones(n, n, dtype=torch.bool)), 0.0, float("-inf"))
        h = x + pe
        return torch.softmax(h @ h.transpose(1, 2) + mask, -1) + torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def test_static_subgraphs_become_constants():
    graph = check(StaticSubgraphs(), torch.randn(1, 6, 4))
    assert ops(graph) == Counter({Op.ADD: 3, Op.PERMUTE: 1, Op.MATMUL: 1, Op.SOFTMAX: 1})
    assert {graph.types[c].shape for c in graph.constants} == {(6, 4), (6, 6), (6,)}


class NotDecomposed(nn.Module):
    """What an ATen graph holds before core decompositions (conv2d, batch_norm, linear, layer_norm, matmul,
    softmax.int, relu6, max_pool2d, adaptive_avg_pool2d, upsample_nearest2d.vec, dropout, flatten, ...)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(16, 6)
        self.ln = nn.LayerNorm(6)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        y = F.adaptive_avg_pool2d(F.interpolate(F.max_pool2d(F.relu6(self.bn(self.conv(x))), 2), scale_factor=2), 2)
        z = self.drop(self.ln(self.fc(torch.flatten(y, 1))))
        return (torch.softmax(z, -1), torch.log_softmax(z, 1), torch.matmul(z, z.t()).reshape(-1).squeeze(),
                F.hardswish(z), F.silu(z).clamp_max(0.5).clamp_min(-0.1), z.mean() + z.abs().sum(),
                z.unsqueeze(0).squeeze(0) * torch.ones(6) + torch.zeros_like(z))


def test_graphs_not_decomposed_to_core_aten():
    model, x = NotDecomposed().eval(), torch.randn(1, 3, 8, 8)
    program = torch.export.export(model, (x,))
    specs = program.graph_signature.input_specs
    constants = {i: program.state_dict[s.target] for i, s in enumerate(specs) if s.target in program.state_dict}
    graph = capture_graph_module(program.graph_module, (), constants)
    assert "aten.linear.default" in {str(n.target) for n in program.graph.nodes}
    assert_close(run_graph(graph, [x.numpy()]), _outputs(model(x)))


def test_graphs_as_make_fx_traces_them():
    """The view ops and scalar forms a plain ATen trace keeps (split, unbind, transpose, rsub, detach)."""
    def fn(x):
        a, b = torch.split(x, 2, dim=1)
        return a.transpose(0, 1) - 1, torch.rsub(b, 2.0), x.unbind(0)[1].detach(), x[:, 1:].contiguous() / 2

    x = torch.randn(3, 4)
    gm = make_fx(fn, tracing_mode="fake")(x)
    assert {"aten.split.Tensor", "aten.unbind.int", "aten.transpose.int", "aten.rsub.Scalar"} <= \
        {str(n.target) for n in gm.graph.nodes}
    assert_close(run_graph(capture_graph_module(gm, (x,), {}), [x.numpy()]), list(fn(x)))


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, image, features):
        return [self.fc(features), image * 2]


def test_multi_input_multi_output_names():
    graph = check(TwoInTwoOut(), torch.randn(1, 2, 3, 3), torch.randn(2, 4))
    assert graph.inputs == ("image", "features") and len(graph.outputs) == 2
    assert graph.types[graph.outputs[0]].shape == (2, 3) and graph.types[graph.outputs[1]].shape == (1, 2, 3, 3)
    assert set(graph.constants) >= {"fc_weight", "fc_bias"}


class UsesUnsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Conv3d(1, 2, 1)  # on x as one unbatched 3-d volume

    def forward(self, x):
        a = torch.cumsum(x, 1)
        b = torch.cumsum(x, 2)
        c = torch.sort(x, dim=-1).values
        pooled, indices = F.max_pool2d(x, 2, return_indices=True)
        return a + b + c, self.up(x), pooled, indices


def test_unsupported_ops_are_all_listed_with_node_and_source_line():
    with pytest.raises(UnsupportedOpError) as info:
        capture_module(UsesUnsupported(), (torch.randn(1, 2, 4, 4),))
    items = info.value.items
    whats = Counter(item.what.split(" ")[0] for item in items)
    assert whats == Counter({"aten.cumsum.default": 2, "aten.sort.default": 1, "aten.convolution.default": 1,
                             "aten.max_pool2d_with_indices.default": 1})
    assert len({item.node for item in items}) == len(items)
    by_op = {item.what.split(" ")[0]: item for item in items}
    assert "test_capture.py:" in by_op["aten.sort.default"].source
    assert "torch.sort(x, dim=-1)" in by_op["aten.sort.default"].source
    assert "3-d convolution" in by_op["aten.convolution.default"].what
    assert "self.up(x)" in by_op["aten.convolution.default"].source
    assert "output 1" in by_op["aten.max_pool2d_with_indices.default"].what
    message = str(info.value)
    assert "aten.cumsum.default" in message and "supported_aten_ops()" in message


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


def test_data_dependent_control_flow_is_a_capture_error_naming_the_line():
    with pytest.raises(CaptureError) as info:
        capture_module(DataDependent(), (torch.randn(4),))
    assert "test_capture.py:" in str(info.value) and "if x.sum() > 0:" in str(info.value)
    assert "depend on tensor values" in str(info.value)


def aot_graph(model, *inputs, dynamic=False):
    """The forward graph aot_autograd hands a compiler, with its example inputs."""
    seen = []

    def forward_compiler(gm, example_inputs):
        seen.append((gm, example_inputs))
        return make_boxed_func(gm.forward)

    torch._dynamo.reset()
    torch.compile(model, backend=aot_autograd(fw_compiler=forward_compiler), dynamic=dynamic)(*inputs)
    torch._dynamo.reset()
    return seen[0]


class Small(nn.Module):
    def forward(self, x):
        return torch.relu(x) * 3


def test_dynamic_shapes_are_a_capture_error_naming_the_line():
    gm, example_inputs = aot_graph(Small(), torch.randn(3, 4), dynamic=True)
    with pytest.raises(CaptureError) as info:
        capture_graph_module(gm, example_inputs, {})
    assert "dynamic shape" in str(info.value) and "torch.relu(x) * 3" in str(info.value)


def test_aot_graph_with_constants_baked_in():
    weight = torch.randn(4)
    gm, example_inputs = aot_graph(lambda x, w: torch.relu(x) * w, torch.randn(3, 4), weight)
    graph = capture_graph_module(gm, example_inputs, {1: weight}, {0: "x", 1: "w"})
    assert graph.inputs == ("x",) and "w" in graph.constants
    x = torch.randn(3, 4)
    assert_close(run_graph(graph, [x.numpy()]), [torch.relu(x) * weight])


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.register_buffer("mask", torch.tensor([0.0, float("-inf"), 0.0]))  # -inf on purpose: no warning
        self.register_buffer("stats", torch.tensor([1.0, float("nan"), 2.0]))

    def forward(self, x):
        return torch.softmax(self.fc(x) + self.mask, -1) * self.stats


def test_non_finite_parameters_warn_once_each():
    model = Masked()
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
        model.fc.weight[1, 2] = float("inf")
        model.fc.bias[1] = float("-inf")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        capture_module(model, (torch.randn(1, 3),))
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    assert len(messages) == 3
    assert "buffer 'stats' has 1 NaN" in messages[0]
    assert "parameter 'fc.bias' has 1 NaN/Inf" in messages[1] and "parameter 'fc.weight' has 2 NaN/Inf" in messages[2]


def test_an_internal_type_mismatch_fails_loudly(monkeypatch):
    gm, example_inputs = aot_graph(Small(), torch.randn(3, 4))
    monkeypatch.setitem(ATEN_TO_IR, "aten.relu.default", lambda cx, x: cx.reshape(x, (12,)))
    with pytest.raises(RuntimeError, match="internal error"):
        capture_graph_module(gm, example_inputs, {})


@pytest.fixture
def interpreted(monkeypatch):
    """compile_graph replaced by the reference interpreter: these tests check capture and the backend's plumbing,
    not code generation (the backends have their own tests). Yields the (graph, target, options) compiled."""
    compiled = []

    def compile_graph(graph, target="host", **options):
        compiled.append((graph, target, options))
        return SimpleNamespace(run_numpy=lambda arrays: run_graph(graph, arrays))

    monkeypatch.setattr(edgelower.driver, "compile_graph", compile_graph)
    torch._dynamo.reset()
    yield compiled
    torch._dynamo.reset()


GLOBAL_OFFSET = torch.randn(6)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.bn.running_var.uniform_(0.5, 2.0)
        self.norm = nn.LayerNorm(6)
        self.register_buffer("scale", torch.full((6,), 0.5))

    def forward(self, x, bias):
        y = F.hardswish(self.bn(self.conv(x))).mean((2, 3))
        return self.norm(y) * self.scale + bias + GLOBAL_OFFSET, torch.sigmoid(x)


def test_torch_compile_matches_eager_with_parameters_baked_in(interpreted):
    model, inputs = Block().eval(), (torch.randn(2, 3, 8, 8), torch.randn(6))
    compiled = torch.compile(model, backend="edgelower", options={"target": "host", "quantize": None})
    got = compiled(*inputs)
    assert_close([t.numpy() for t in got], _outputs(model(*inputs)))
    graph, target, options = interpreted[0]
    assert (target, options) == ("host", {"quantize": None})
    assert graph.inputs == ("x", "bias", "GLOBAL_OFFSET")  # a global tensor may change: it stays an input
    assert {"conv_weight", "bn_running_var", "norm_weight", "scale"} <= set(graph.constants)
    assert not got[0].requires_grad  # compiled for inference


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler (apt-get install gcc)")
def test_torch_compile_builds_and_runs_c_on_the_host():
    torch._dynamo.reset()
    model, inputs = Block().eval(), (torch.randn(2, 3, 8, 8), torch.randn(6))
    got = torch.compile(model, backend="edgelower", options={"target": "host"})(*inputs)
    assert_close([t.numpy() for t in got], _outputs(model(*inputs)))
    torch._dynamo.reset()


class AttentionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.register_buffer("keep", torch.rand(6, 6) > 0.3)  # aot turns it into -inf with `where`: folded

    def forward(self, x):
        a, _ = self.mha(x, x, x, need_weights=False)
        q = x.view(1, 6, 2, 4).transpose(1, 2)
        return (a, F.scaled_dot_product_attention(q, q, q, is_causal=True),
                F.scaled_dot_product_attention(q, q, q, attn_mask=self.keep))


def test_torch_compile_attention_lowers_the_cpu_flash_kernel(interpreted):
    model, x = AttentionBlock().eval(), torch.randn(1, 6, 8)
    with torch.no_grad():
        got = torch.compile(model, backend=edgelower_backend)(x)
        assert_close([t.numpy() for t in got], _outputs(model(x)))
    assert Counter(n.op for n in interpreted[0][0].nodes)[Op.SOFTMAX] == 3


@pytest.mark.parametrize("model, inputs", [(ConvNet().eval(), (torch.randn(1, 3, 16, 16),)),
                                           (StaticSubgraphs(), (torch.randn(1, 6, 4),))], ids=["conv", "static"])
def test_torch_compile_sees_the_same_ops_as_export(interpreted, model, inputs):
    """aot_autograd spells some ops differently (nearest upsampling as index gathers, literals as attributes),
    yet both front doors must give the same IR."""
    with torch.no_grad():
        got = torch.compile(model, backend=edgelower_backend)(*inputs)
        assert_close([t.numpy() for t in _outputs(got)], _outputs(model(*inputs)))
    assert len(interpreted) == 1
    assert ops(interpreted[0][0]) == ops(capture_module(model, inputs))


def test_torch_compile_runs_unsupported_ops_in_eager_with_one_warning(interpreted):
    """On the host the supported regions (the two adds, and the views torch puts around the unbatched 3-d
    convolution) are compiled, the rest runs in eager between regions."""
    model, x = UsesUnsupported(), torch.randn(1, 2, 4, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = torch.compile(model, backend=edgelower_backend)(x)
    ours = [w for w in caught if "edgelower" in str(w.message)]
    assert len(ours) == 1 and "aten.cumsum.default" in str(ours[0].message)
    assert "aten.sort.default" in str(ours[0].message)
    regions = [[n.op for n in graph.nodes] for graph, _, _ in interpreted]
    assert sorted((op for ops in regions for op in ops), key=lambda op: op.name) == \
        [Op.ADD, Op.ADD, Op.RESHAPE, Op.RESHAPE]
    for g, w in zip(got, model(x)):
        assert torch.equal(g, w)
