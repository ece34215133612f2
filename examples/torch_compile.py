"""torch.compile: edgelower as a dynamo backend (registered through the torch_dynamo_backends entry point)."""

import torch
from torch import nn

model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)).eval()
fast = torch.compile(model, backend="edgelower", options={"target": "host"})
x = torch.randn(2, 16)
print((fast(x) - model(x)).abs().max().item())
