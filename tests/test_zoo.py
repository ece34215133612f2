"""The model zoo: every entry builds, runs, is deterministic, exports, and reproduces its published figures."""

import math

import pytest
import torch
from torch import nn

from edgelower import zoo

SMALL = [name for name in zoo.names() if not zoo.MODELS[name].large]
LARGE = [name for name in zoo.names() if zoo.MODELS[name].large]
PUBLISHED = [name for name in zoo.names() if zoo.MODELS[name].published is not None]


def hook_macs(model: nn.Module, inputs) -> int:
    """MACs of Conv2d and Linear layers from their output shapes: an independent check of zoo.mac_count."""
    total = 0

    def count(module, _, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += out.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
        else:
            total += out.numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(*inputs)
    for handle in handles:
        handle.remove()
    return total


def on_meta(factory, specs):
    """Build a model and inputs on the meta device: shapes only, no weight init or arithmetic."""
    with torch.device("meta"):
        return factory().eval(), tuple(torch.empty(spec.shape, dtype=spec.dtype) for spec in specs)


def outputs(model, inputs) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = model(*inputs)
    return out if isinstance(out, tuple) else (out,)


def test_registry_holds_the_required_models_in_order():
    required = {"mlp", "lenet5", "ds-cnn", "resnet8", "mbv2-w0.35-r96", "mbv2-w0.35-r144", "mbv2-w0.35-r64",
                "mbv2-w0.3-r64", "mbv2-w1.0-r224", "mnasnet-w0.2-r96", "proxyless-w0.3-r64", "vit-tiny",
                "transformer-block", "embed-classifier", "two-tower"}
    assert zoo.names() == list(zoo.MODELS)
    assert required <= set(zoo.names())
    assert any(name.startswith("mnasnet-w0.5") for name in zoo.names())
    assert LARGE == ["mbv2-w1.0-r224"]


def test_unknown_name_is_a_keyerror_listing_valid_names():
    with pytest.raises(KeyError) as info:
        zoo.get("resnet-9000")
    assert all(name in str(info.value) for name in zoo.names())


def test_get_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    zoo.get("mlp", seed=7)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", SMALL)
def test_builds_runs_and_is_deterministic(name):
    entry = zoo.MODELS[name]
    model, inputs = zoo.get(name, seed=0)
    again, inputs_again = zoo.get(name, seed=0)
    other, _ = zoo.get(name, seed=1)

    assert not any(m.training for m in model.modules())
    assert tuple(x.shape for x in inputs) == entry.input_shapes
    assert [x.dtype for x in inputs] == [spec.dtype for spec in entry.inputs]
    for x, x_again in zip(inputs, inputs_again):
        assert torch.equal(x, x_again)

    state, state_again = model.state_dict(), again.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    assert any(not torch.equal(state[k], v) for k, v in other.state_dict().items() if v.is_floating_point())

    out = outputs(model, inputs)
    assert all(torch.isfinite(y).all() for y in out)
    assert all(y.abs().max() > 1e-3 for y in out), "activations collapsed: BatchNorm statistics are off"
    for y, y_again in zip(out, outputs(again, inputs_again)):
        assert torch.equal(y, y_again)


@pytest.mark.parametrize("name", [n for n in SMALL if any(isinstance(m, nn.BatchNorm2d)
                                                            for m in zoo.MODELS[n].factory().modules())])
def test_batchnorm_statistics_are_non_trivial(name):
    model, _ = zoo.get(name)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
        assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
        assert not torch.allclose(bn.weight, torch.ones_like(bn.weight))
        assert not torch.allclose(bn.bias, torch.zeros_like(bn.bias))


@pytest.mark.parametrize("name", SMALL)
def test_exports_and_the_exported_program_computes_the_same(name):
    model, inputs = zoo.get(name)
    exported = torch.export.export(model, inputs)
    for y, y_exported in zip(outputs(model, inputs), outputs(exported.module(), inputs)):
        torch.testing.assert_close(y_exported, y)


@pytest.mark.parametrize("name", LARGE)
def test_large_model_constructs_with_its_parameter_count(name):
    entry = zoo.MODELS[name]
    model = entry.factory()
    assert zoo.param_count(model) == entry.published.params


@pytest.mark.parametrize("name", PUBLISHED)
def test_reproduces_published_figures(name):
    entry = zoo.MODELS[name]
    published = entry.published
    model, inputs = on_meta(entry.factory, entry.inputs)
    if published.params is not None:
        params = zoo.param_count(model, include_bn_stats=published.params_include_bn_stats)
        assert params == pytest.approx(published.params, rel=published.tolerance)
    if published.macs is not None:
        assert hook_macs(model, inputs) == pytest.approx(published.macs, rel=published.tolerance)


@pytest.mark.parametrize("factory, shape, params, macs", [
    # ProxylessNAS paper: 4.1M params; osmr/imgclsmob proxylessnas_mobile asserts 4,080,512.
    (zoo.proxyless_mobile, (1, 3, 224, 224), 4_080_512, None),
    # MnasNet-A1 (Tan et al. 2019, Table 1): 3.9M params, 312M MACs.
    (zoo.mnasnet, (1, 3, 224, 224), pytest.approx(3.9e6, rel=0.01), pytest.approx(312e6, rel=0.01)),
    # MCUNet README, MbV2-s for TF-Lite (w0.3-r80): 0.63M params, 7.3M MACs.
    (lambda: zoo.mobilenet_v2(0.3), (1, 3, 80, 80), pytest.approx(0.63e6, rel=0.01),
     pytest.approx(7.3e6, rel=0.01)),
    # MobileNetV2 paper: 300M MACs at width 1.0, 224x224.
    (zoo.mobilenet_v2, (1, 3, 224, 224), 3_504_872, pytest.approx(300e6, rel=0.01)),
])
def test_reference_architectures_at_published_configurations(factory, shape, params, macs):
    model, inputs = on_meta(factory, [zoo.InputSpec(shape)])
    assert zoo.param_count(model) == params
    if macs is not None:
        assert hook_macs(model, inputs) == macs


@pytest.mark.parametrize("name", SMALL)
def test_mac_count_agrees_with_the_layer_hook_count(name):
    entry = zoo.MODELS[name]
    model, inputs = on_meta(entry.factory, entry.inputs)
    # Outside Conv2d/Linear modules: attention's two batched matmuls (q k^T, attn v) and, in
    # nn.MultiheadAttention, the functional q/k/v and output projections (17 tokens, dim 64, 2 layers).
    outside = {"vit-tiny": 2 * (2 * 17 * 17 * 64 + 17 * 64 * 4 * 64), "transformer-block": 2 * 16 * 16 * 64}
    assert zoo.mac_count(model, inputs) == hook_macs(model, inputs) + outside.get(name, 0)


@pytest.mark.parametrize("value, rounded", [(5.6, 8), (11.2, 16), (22.4, 24), (33.6, 32), (448.0, 448), (9.6, 16)])
def test_make_divisible_matches_the_mcunet_configurations(value, rounded):
    assert zoo.make_divisible(value) == rounded
