"""The bundled model zoo: small, deterministic PyTorch models that every pass and backend is tested on.

    edgelower.zoo.names()                      # registry order
    model, inputs = edgelower.zoo.get("mbv2-w0.35-r96", seed=0)
    model(*inputs)

`get` builds the model under `torch.manual_seed(seed)` (without disturbing the caller's RNG), gives every
BatchNorm a non-trivial affine and running statistics measured on a random batch (so BN folding really changes
weights while activations stay well scaled), returns it in eval mode with example inputs drawn from the same
seed. Every model runs in eager and is capturable by `torch.export.export(model, inputs)`: static shapes, no
data-dependent control flow. Published figures a model reproduces are attached to its entry and checked by
tests/test_zoo.py; `bench/zoo_table.py` prints the table in docs/zoo.md.

The models are torch modules by definition, so this module imports torch; `edgelower` reaches it lazily.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgelower.zoo.cnn import (
    MBNet, TwoTower, ds_cnn, lenet5, make_divisible, mcunet_in1, mlp, mnasnet, mobilenet_v2, proxyless_mobile,
    resnet8,
)
from edgelower.zoo.transformer import EmbedClassifier, EncoderBlock, VisionTransformer


@dataclass(frozen=True)
class InputSpec:
    """One example input: float32 standard normal, or int64 token ids drawn uniformly from [0, high)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    high: int | None = None

    def sample(self, batch: int | None = None) -> torch.Tensor:
        shape = self.shape if batch is None else (batch, *self.shape[1:])
        if self.dtype.is_floating_point:
            return torch.randn(shape, dtype=self.dtype)
        return torch.randint(0, self.high, shape, dtype=self.dtype)


@dataclass(frozen=True)
class Published:
    """Published figures a zoo model mirrors. `params` and `macs`, where given, are checked by the tests;
    latency and peak-SRAM figures stay in `source` as anchors for the backends and the memory planner.

    `tolerance` is relative: published figures are usually rounded (0.75M, 23.5M). Keras counts BatchNorm
    moving mean and variance as parameters; `params_include_bn_stats` says the figure does too."""

    source: str
    params: int | None = None
    macs: int | None = None
    tolerance: float = 0.0
    params_include_bn_stats: bool = False


@dataclass(frozen=True)
class ZooEntry:
    """A registered model: a zero-argument factory returning the untrained nn.Module, its batch-1 inputs, a
    one-line description, the published figures it mirrors, and whether it is too large for quick tests."""

    factory: Callable[[], nn.Module]
    inputs: tuple[InputSpec, ...]
    description: str
    published: Published | None = None
    large: bool = False

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(spec.shape for spec in self.inputs)


def _image(channels: int, height: int, width: int | None = None) -> tuple[InputSpec, ...]:
    return (InputSpec((1, channels, height, width or height)),)


_MCUNET_README = "mit-han-lab/tinyml mcunet README"

MODELS: dict[str, ZooEntry] = {
    "mlp": ZooEntry(
        partial(mlp, (64, 128, 64, 10)), (InputSpec((1, 64)),), "MLP 64-128-64-10 with ReLU"),
    "lenet5": ZooEntry(
        lenet5, _image(1, 32), "LeNet-5: conv-tanh-avgpool, conv-relu-maxpool, 3 linear layers",
        Published("LeCun et al. 1998, LeNet-5: 61,706 parameters", params=61_706)),
    "ds-cnn": ZooEntry(
        ds_cnn, _image(1, 49, 10), "MLPerf Tiny KWS DS-CNN: conv 10x4/2 + 4 depthwise-separable blocks, 12 classes",
        Published("mlcommons/tiny KWS DS-CNN (Keras summary: 24,908 params)", params=24_908,
                  params_include_bn_stats=True)),
    "resnet8": ZooEntry(
        resnet8, _image(3, 32), "MLPerf Tiny image classification ResNet-8 (16/32/64), 10 classes",
        Published("mlcommons/tiny IC ResNet-8 (Keras summary: 78,666 params)", params=78_666,
                  params_include_bn_stats=True)),
    "mbv2-w0.35-r64": ZooEntry(
        partial(mobilenet_v2, 0.35), _image(3, 64), "MobileNetV2 w0.35 at 64x64, 1000 classes",
        Published(f"MCUNet MbV2-s w0.35 ({_MCUNET_README}): 0.75M params; MCUNet latency/memory figure: "
                  "TinyEngine 95 ms, 65 kB peak SRAM", params=750_000, tolerance=0.02)),
    "mbv2-w0.35-r96": ZooEntry(
        partial(mobilenet_v2, 0.35), _image(3, 96), "MobileNetV2 w0.35 at 96x96, 1000 classes",
        Published(f"MCUNet MbV2-s w0.35 ({_MCUNET_README}): 0.75M params", params=750_000, tolerance=0.02)),
    "mbv2-w0.35-r144": ZooEntry(
        partial(mobilenet_v2, 0.35), _image(3, 144), "MobileNetV2 w0.35 at 144x144, 1000 classes",
        Published(f"MCUNet MbV2-s w0.35-r144 ({_MCUNET_README}): 0.75M params, 23.5M MACs", params=750_000,
                  macs=23_500_000, tolerance=0.02)),
    "mbv2-w0.3-r64": ZooEntry(
        partial(mobilenet_v2, 0.3), _image(3, 64), "MobileNetV2 w0.3 at 64x64, 1000 classes (TinyEngine table)",
        Published(f"MCUNet MbV2-s w0.3 ({_MCUNET_README}, r80 row): 0.63M params; TinyEngine README "
                  "(STM32H743): 23 ms, 61 kB peak SRAM", params=630_000, tolerance=0.02)),
    "mbv2-w1.0-r224": ZooEntry(
        mobilenet_v2, _image(3, 224), "MobileNetV2 w1.0 at 224x224, 1000 classes (large: 3.5M params)",
        Published("MobileNetV2 (Sandler et al. 2018): 3.4M params, 300M MACs; torchvision: 3,504,872 params",
                  params=3_504_872, macs=300_000_000, tolerance=0.02),
        large=True),
    "proxyless-w0.3-r64": ZooEntry(
        partial(proxyless_mobile, 0.3), _image(3, 64), "ProxylessNAS-Mobile w0.3 at 64x64, 1000 classes",
        # MCUNet's w0.3 configuration is not public; rounding every width of the public ProxylessNAS-Mobile
        # table (exact at w1.0: 4,080,512 params) gives 5% fewer parameters than its 0.75M.
        Published(f"MCUNet Proxyless-s w0.3 ({_MCUNET_README}, r176 row): 0.75M params; TinyEngine README "
                  "(STM32H743): 23 ms, 35 kB peak SRAM", params=750_000, tolerance=0.06)),
    "mnasnet-w0.2-r96": ZooEntry(
        partial(mnasnet, 0.2), _image(3, 96), "MnasNet-A1 w0.2 at 96x96 (ReLU, sigmoid SE), 1000 classes",
        Published("MCUNet latency/memory figure: MnasNet-w0.2-r96, TinyEngine 118 ms, 84 kB peak SRAM (its exact "
                  "MnasNet variant is not published; this is A1 with SE)")),
    "mnasnet-w0.5-r128": ZooEntry(
        partial(mnasnet, 0.5, hard_activations=True), _image(3, 128),
        "MnasNet-A1 w0.5 at 128x128 (hardsigmoid SE, hardswish head), 1000 classes"),
    "mcunet-in1": ZooEntry(
        mcunet_in1, _image(3, 96), "MCUNet-in1 (TinyNAS, 5 fps on STM32F746) at 96x96, 1000 classes",
        Published("MCUNet mcunet-in1 (mit-han-lab/mcunet README model zoo): 0.64M params, 12.8M MACs; "
                  "TinyEngine README (STM32H743): 56 ms, 96 kB peak SRAM", params=640_000, macs=12_800_000,
                  tolerance=0.02)),
    "vit-tiny": ZooEntry(
        VisionTransformer, _image(3, 32),
        "ViT: 8x8 patches, dim 64, 4 heads, 2 pre-norm layers (nn.MultiheadAttention), 10 classes"),
    "transformer-block": ZooEntry(
        EncoderBlock, (InputSpec((1, 16, 64)),),
        "BERT-style post-norm encoder block: explicit q/k/v/out attention, tanh GELU, dim 64, 4 heads"),
    "embed-classifier": ZooEntry(
        EmbedClassifier, (InputSpec((1, 16), torch.int64, high=256),),
        "int64 token ids -> nn.Embedding(256, 32) -> mean -> linear, 4 classes"),
    "two-tower": ZooEntry(
        TwoTower, (InputSpec((1, 3, 16, 16)), InputSpec((1, 8))),
        "two inputs (image, vector), two outputs (4 logits, similarity score)"),
}


def names() -> list[str]:
    return list(MODELS)


def get(name: str, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The registered model `name` in eval mode with deterministic weights, and its example inputs."""
    if name not in MODELS:
        raise KeyError(f"unknown zoo model {name!r}; registered: {', '.join(MODELS)}")
    return instantiate(MODELS[name], seed)


def instantiate(entry: ZooEntry, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Build any entry (registered or not) the way `get` does."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = entry.factory()
        _calibrate_batchnorm(model, entry.inputs)
        model.eval()
        inputs = tuple(spec.sample() for spec in entry.inputs)
    return model, inputs


def _calibrate_batchnorm(model: nn.Module, inputs: tuple[InputSpec, ...], batch: int = 4) -> None:
    """Random affine (gamma in [0.5, 1.5], beta in [-0.25, 0.25]) and running statistics equal to one random
    batch's statistics: eval-mode activations stay near unit scale through deep stacks, and folding BN into the
    preceding conv changes both weight and bias."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [bn.momentum for bn in norms]
    with torch.no_grad():
        for bn in norms:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.25, 0.25)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch the running stats are that batch's
        model.train()
        model(*(spec.sample(batch) for spec in inputs))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum


def param_count(model: nn.Module, include_bn_stats: bool = False) -> int:
    """Number of parameters; with `include_bn_stats`, BatchNorm running mean and variance too (Keras's count)."""
    count = sum(p.numel() for p in model.parameters())
    if include_bn_stats:
        count += sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                     if isinstance(m, nn.modules.batchnorm._BatchNorm))
    return count


def mac_count(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass: convolutions, matmuls and linear layers (torch's flop counter
    counts 2 flops per MAC; bias adds, normalisation, pooling and activations are not counted).

    Counted on a meta-device copy: shapes only, so it is instant for large models, and nn.MultiheadAttention
    cannot take its fused CPU fast path, which the flop counter does not see."""
    meta_model = copy.deepcopy(model).to("meta")
    meta_inputs = tuple(torch.empty_like(x, device="meta") for x in inputs)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        meta_model(*meta_inputs)
    return counter.get_total_flops() // 2


__all__ = [
    "MODELS", "InputSpec", "Published", "ZooEntry", "get", "instantiate", "mac_count", "names", "param_count",
    "ds_cnn", "lenet5", "make_divisible", "mcunet_in1", "mlp", "mnasnet", "mobilenet_v2", "proxyless_mobile",
    "resnet8", "EmbedClassifier", "EncoderBlock", "MBNet", "TwoTower", "VisionTransformer",
]
