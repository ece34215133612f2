"""Ahead-of-time: compile an nn.Module, call it, inspect the report, save a C project and load it back."""

import torch
from torch import nn

import edgelower

model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 10)).eval()
x = torch.randn(1, 3, 32, 32)
cm = edgelower.compile(model, (x,), target="host")
print((cm(x) - model(x)).abs().max().item())
print(cm.report)
cm.save("out/aot", overwrite=True)
print(edgelower.load("out/aot")(x).shape)
