"""Convolutional models of the zoo, written in plain torch.nn.

Every factory returns an `nn.Module` (training mode, default torch initialisation); `edgelower.zoo` seeds it,
gives its BatchNorm layers non-trivial statistics and switches it to eval mode. The networks are resolution
agnostic (global pooling), so the input resolution lives in the registry entry, not in the factory.

The mobile networks (MobileNetV2, ProxylessNAS, MnasNet, MCUNet) are one `MBNet` built from a table of
`MBBlock` rows, the way their reference implementations describe them. Width multipliers round every channel
count, including the final 1x1 "feature mix" convolution, with `make_divisible`, as MCUNet's released
configurations do (mit-han-lab/tinyml: mcunet/assets/configs/mbv2-w0.35-r144_imagenet.json has a 448-wide head
for 0.35 x 1280); torchvision instead keeps 1280 below width 1.0, which would not reproduce MCUNet's figures.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to the nearest multiple of `divisor`, at least `divisor` and never more than
    10% below `value` (the rule of MobileNetV2, ProxylessNAS and MCUNet)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """Conv (no bias, 'same' padding for odd kernels) + BatchNorm + optional activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def mlp(sizes: Sequence[int] = (64, 128, 64, 10)) -> nn.Sequential:
    """Fully connected layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def lenet5(num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 on 1x32x32 (61,706 parameters at 10 classes). The first stage keeps the classic form (tanh,
    average subsampling), the second the modern one (ReLU, max pooling), so one small model covers all four."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, num_classes),
    )


def ds_cnn(channels: int = 64, num_classes: int = 12) -> nn.Sequential:
    """MLPerf Tiny keyword spotting DS-CNN on a 1x49x10 MFCC map (mlcommons/tiny:
    benchmark/training/keyword_spotting/keras_model.py). Convolutions keep their bias before BatchNorm, as Keras
    builds them. Two deliberate differences from the Keras graph, neither changing parameters or MACs: the
    stride-2 10x4 convolution pads symmetrically (5, 1) where TF 'same' pads (4, 5) x (1, 1), and dropout is
    omitted (identity at inference). The final 24x5 average pool over the 25x5 map is the reference's: it drops
    the last row."""
    layers: list[nn.Module] = [
        nn.Conv2d(1, channels, (10, 4), stride=2, padding=(5, 1)), nn.BatchNorm2d(channels), nn.ReLU(),
    ]
    for _ in range(4):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(),
        ]
    layers += [nn.AvgPool2d((24, 5)), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


class ResidualStack(nn.Module):
    """Two 3x3 conv+BN layers and a shortcut: identity, or a 1x1 strided conv (no BN) when the stack downsamples."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride) if stride != 1 else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.body(x))


def resnet8(num_classes: int = 10) -> nn.Sequential:
    """MLPerf Tiny image classification ResNet-8 on 3x32x32 (mlcommons/tiny:
    benchmark/training/image_classification/keras_model.py): a 16-channel stem and three residual stacks of
    16, 32, 64 channels. Convolutions keep their Keras bias; stride-2 convolutions pad symmetrically where TF
    'same' pads only bottom/right (same shapes, parameters and MACs)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(),
        ResidualStack(16, 16, 1), ResidualStack(16, 32, 2), ResidualStack(32, 64, 2),
        nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, num_classes),
    )


class MBBlock(NamedTuple):
    """One row of a mobile network table: depthwise kernel, expansion ratio, output channels, stride, whether
    the block has squeeze-excitation, and whether it may take an identity shortcut (when shapes allow)."""

    kernel: int
    expand: int
    out: int
    stride: int
    se: bool = False
    skip: bool = True


class SqueezeExcite(nn.Module):
    """Channel attention: global average pool, 1x1 reduce + ReLU, 1x1 expand, gate, scale the input."""

    def __init__(self, channels: int, squeezed: int, gate: type[nn.Module]):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """MBConv: 1x1 expansion (absent when expand == 1), depthwise conv, optional squeeze-excitation, linear 1x1
    projection; identity shortcut when stride is 1, channels match and the row allows it."""

    def __init__(self, in_channels: int, block: MBBlock, act: type[nn.Module], se_gate: type[nn.Module]):
        super().__init__()
        mid = in_channels * block.expand
        layers: list[nn.Module] = []
        if block.expand != 1:
            layers.append(conv_bn(in_channels, mid, 1, act=act))
        layers.append(conv_bn(mid, mid, block.kernel, block.stride, groups=mid, act=act))
        if block.se:
            # MnasNet sizes the squeeze from the block's input channels (se_ratio 0.25 of input_filters).
            layers.append(SqueezeExcite(mid, max(1, int(in_channels * 0.25)), se_gate))
        layers.append(conv_bn(mid, block.out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = block.skip and block.stride == 1 and in_channels == block.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MBNet(nn.Module):
    """Stem conv 3x3/2, a sequence of inverted residual blocks, optional 1x1 head conv, global pool, classifier."""

    def __init__(self, stem: int, blocks: Sequence[MBBlock], head: int | None, num_classes: int,
                 act: type[nn.Module] = nn.ReLU6, head_act: type[nn.Module] | None = None,
                 se_gate: type[nn.Module] = nn.Sigmoid, in_channels: int = 3):
        super().__init__()
        self.stem = conv_bn(in_channels, stem, 3, 2, act=act)
        layers, channels = [], stem
        for block in blocks:
            layers.append(InvertedResidual(channels, block, act, se_gate))
            channels = block.out
        self.blocks = nn.Sequential(*layers)
        self.head = conv_bn(channels, head, 1, act=head_act or act) if head else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head or channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


def _stages(rows: Sequence[tuple[int, int, int, int]], kernel: int = 3) -> list[MBBlock]:
    """Expand MobileNetV2-style (expand, channels, repeats, first stride) stage rows into blocks; the network's
    first block never takes a shortcut (as in every reference implementation)."""
    blocks = [MBBlock(kernel, t, c, s if i == 0 else 1) for t, c, n, s in rows for i in range(n)]
    return [blocks[0]._replace(skip=False), *blocks[1:]]


def _scaled(blocks: Sequence[MBBlock], width: float) -> list[MBBlock]:
    return [b._replace(out=make_divisible(b.out * width)) for b in blocks]


MOBILENET_V2 = _stages([(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1)])

# ProxylessNAS-Mobile (mit-han-lab/tinyml: mcunet/assets/configs/proxyless_mobile.json); its two ZeroLayer
# blocks (pure identity) are left out.
PROXYLESS_MOBILE = [
    MBBlock(3, 1, 16, 1, skip=False),
    MBBlock(5, 3, 32, 2), MBBlock(3, 3, 32, 1),
    MBBlock(7, 3, 40, 2), MBBlock(3, 3, 40, 1), MBBlock(5, 3, 40, 1), MBBlock(5, 3, 40, 1),
    MBBlock(7, 6, 80, 2), MBBlock(5, 3, 80, 1), MBBlock(5, 3, 80, 1), MBBlock(5, 3, 80, 1),
    MBBlock(5, 6, 96, 1), MBBlock(5, 3, 96, 1), MBBlock(5, 3, 96, 1), MBBlock(5, 3, 96, 1),
    MBBlock(7, 6, 192, 2), MBBlock(7, 6, 192, 1), MBBlock(7, 3, 192, 1), MBBlock(7, 3, 192, 1),
    MBBlock(7, 6, 320, 1),
]

# MnasNet-A1 (Tan et al., CVPR'19, Fig. 7; TF mnasnet_a1 block strings): SepConv, then MBConv stages.
MNASNET_A1 = [
    MBBlock(3, 1, 16, 1, skip=False),
    MBBlock(3, 6, 24, 2), MBBlock(3, 6, 24, 1),
    MBBlock(5, 3, 40, 2, se=True), MBBlock(5, 3, 40, 1, se=True), MBBlock(5, 3, 40, 1, se=True),
    MBBlock(3, 6, 80, 2), MBBlock(3, 6, 80, 1), MBBlock(3, 6, 80, 1), MBBlock(3, 6, 80, 1),
    MBBlock(3, 6, 112, 1, se=True), MBBlock(3, 6, 112, 1, se=True),
    MBBlock(5, 6, 160, 2, se=True), MBBlock(5, 6, 160, 1, se=True), MBBlock(5, 6, 160, 1, se=True),
    MBBlock(3, 6, 320, 1),
]

# MCUNet-in1, "mcunet-5fps_imagenet" (mit-han-lab/tinyml: mcunet/assets/configs/mcunet-5fps_imagenet.json):
# a TinyNAS-searched network with no head conv (the classifier reads the 160 channels directly).
MCUNET_IN1 = [
    MBBlock(3, 1, 8, 1, skip=False),
    MBBlock(3, 4, 16, 2), MBBlock(3, 3, 16, 1),
    MBBlock(7, 3, 24, 2), MBBlock(3, 5, 24, 1),
    MBBlock(3, 5, 40, 2), MBBlock(7, 4, 40, 1),
    MBBlock(5, 4, 48, 1), MBBlock(3, 3, 48, 1), MBBlock(3, 4, 48, 1),
    MBBlock(7, 5, 96, 2), MBBlock(5, 4, 96, 1), MBBlock(5, 4, 96, 1),
    MBBlock(3, 6, 160, 1),
]


def mobilenet_v2(width: float = 1.0, num_classes: int = 1000) -> MBNet:
    """MobileNetV2 (Sandler et al., CVPR'18) with ReLU6, BatchNorm and a width multiplier."""
    return MBNet(make_divisible(32 * width), _scaled(MOBILENET_V2, width), make_divisible(1280 * width),
                 num_classes)


def proxyless_mobile(width: float = 1.0, num_classes: int = 1000) -> MBNet:
    """ProxylessNAS-Mobile (Cai et al., ICLR'19) with a width multiplier, as MCUNet scales it."""
    return MBNet(make_divisible(32 * width), _scaled(PROXYLESS_MOBILE, width), make_divisible(1280 * width),
                 num_classes)


def mnasnet(width: float = 1.0, num_classes: int = 1000, hard_activations: bool = False) -> MBNet:
    """MnasNet-A1 with ReLU and sigmoid-gated squeeze-excitation. `hard_activations` makes the MobileNetV3 swap
    (SE gate hardsigmoid, head conv hardswish), the integer-friendly forms MCU deployments use."""
    return MBNet(make_divisible(32 * width), _scaled(MNASNET_A1, width), make_divisible(1280 * width),
                 num_classes, act=nn.ReLU, head_act=nn.Hardswish if hard_activations else None,
                 se_gate=nn.Hardsigmoid if hard_activations else nn.Sigmoid)


def mcunet_in1(num_classes: int = 1000) -> MBNet:
    """MCUNet-in1 (Lin et al., NeurIPS'20), the 5 fps ImageNet model for STM32F746, at 96x96."""
    return MBNet(16, MCUNET_IN1, None, num_classes)


class TwoTower(nn.Module):
    """Two inputs, two outputs: a conv tower over a 3x16x16 image and an MLP tower over an 8-vector meet in a
    concatenation (-> 4 logits) and a dot product (-> 1 similarity score)."""

    def __init__(self, features: int = 8, embedding: int = 16, num_classes: int = 4):
        super().__init__()
        self.image_tower = nn.Sequential(
            conv_bn(3, 8, 3, 2, act=nn.ReLU), conv_bn(8, 16, 3, 2, act=nn.ReLU),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, embedding),
        )
        self.vector_tower = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, embedding))
        self.classifier = nn.Linear(2 * embedding, num_classes)

    def forward(self, image: torch.Tensor, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.image_tower(image), self.vector_tower(vector)
        return self.classifier(torch.cat([a, b], dim=1)), (a * b).sum(dim=1, keepdim=True)
