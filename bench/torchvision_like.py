"""torchvision's resnet18, mobilenet_v2 and efficientnet_b0 rebuilt layer for layer (same layers, shapes and
parameter counts: 11,689,512 / 3,504,872 / 5,288,548), so compile-time benchmarks run without torchvision, whose
wheels replace the project's torch. Weights are random (seeded): compile time does not depend on their values."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type | None = nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, 3, stride), _conv_bn(cout, cout, 3, act=None))
        self.down = _conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.down(x))


def resnet18() -> nn.Module:
    layers, cin = [_conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Basic(cin, cout, stride), _Basic(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


class _Inverted(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int, k: int = 3, act=nn.ReLU6, se: bool = False):
        super().__init__()
        mid = cin * expand
        layers = [_conv_bn(cin, mid, 1, act=act)] if expand != 1 else []
        layers.append(_conv_bn(mid, mid, k, stride, groups=mid, act=act))
        if se:
            layers.append(_SqueezeExcite(mid, max(1, cin // 4)))
        layers.append(_conv_bn(mid, cout, 1, act=None))
        self.body, self.residual = nn.Sequential(*layers), stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        scale = torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * scale


def mobilenet_v2() -> nn.Module:
    layers, cin = [_conv_bn(3, 32, 3, 2, act=nn.ReLU6)], 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        for i in range(n):
            layers.append(_Inverted(cin, c, s if i == 0 else 1, t))
            cin = c
    return nn.Sequential(*layers, _conv_bn(320, 1280, 1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(1280, 1000))


def efficientnet_b0() -> nn.Module:
    layers, cin = [_conv_bn(3, 32, 3, 2, act=nn.SiLU)], 32
    for e, k, s, c, n in ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)):
        for i in range(n):
            layers.append(_Inverted(cin, c, s if i == 0 else 1, e, k, nn.SiLU, se=True))
            cin = c
    return nn.Sequential(*layers, _conv_bn(320, 1280, 1, act=nn.SiLU), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(1280, 1000))


MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "efficientnet_b0": efficientnet_b0}
PARAMETERS = {"resnet18": 11_689_512, "mobilenet_v2": 3_504_872, "efficientnet_b0": 5_288_548}


def get(name: str, size: int = 64):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    return model, (torch.randn(1, 3, size, size),)
