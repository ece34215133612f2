"""Accuracy on real data: a small CNN and a small transformer trained here (seconds) on scikit-learn's bundled
digits (1797 8x8 images, 10 classes; 80/20 split), compiled with quantize="int8" and run as generated C.

int8 accuracy must stay within 1 point (CNN) and 2 points (transformer) of float32 accuracy on the held-out 360
images. Calibration: 256 training images (post-training, minmax observer). The transformer runs I-BERT's integer
softmax, GELU and LayerNorm.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

import edgelower

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: apt-get install gcc")
sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="the digits data set needs scikit-learn")

BATCH = 120  # compiled batch: the 360 test images run as three calls


@pytest.fixture(scope="module")
def digits():
    data = sklearn_datasets.load_digits()
    x = (data.images / 16.0).astype(np.float32)  # pixels 0..16 -> [0, 1]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return torch.from_numpy(x[:1437]), torch.from_numpy(y[:1437]), torch.from_numpy(x[1437:]), y[1437:]


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.classifier(self.features(x.unsqueeze(1)).flatten(1))


class DigitsTransformer(nn.Module):
    """Rows as tokens: 8 tokens of 8 pixels, one pre-norm encoder block (2 heads), mean pooling."""

    def __init__(self, dim: int = 32, heads: int = 2):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.embed = nn.Linear(8, dim)
        self.position = nn.Parameter(torch.zeros(8, dim))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        n, t = x.shape[0], x.shape[1]
        h = self.embed(x) + self.position
        q, k, v = self.qkv(self.norm1(h)).reshape(n, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5), dim=-1)
        h = h + self.proj((attn @ v).transpose(1, 2).reshape(n, t, self.dim))
        h = h + self.mlp(self.norm2(h))
        return self.head(self.norm3(h).mean(dim=1))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> nn.Module:
    """Adam on minibatches of 64, on one thread: these tiny steps only lose time to thread hand-offs (and CI runs
    two test workers on two cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x)).split(64):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def accuracies(model: nn.Module, digits) -> tuple[float, float]:
    """(float32 accuracy, int8 accuracy) in percent on the test images."""
    x_train, _, x_test, y_test = digits
    calibration = list(x_train[:256].split(BATCH))[:2]
    cm = edgelower.compile(model, x_test[:BATCH], quantize="int8", calibration=calibration)
    with torch.no_grad():
        float_pred = model(x_test).argmax(1).numpy()
    int8_pred = np.concatenate([cm(batch).argmax(1).numpy() for batch in x_test.split(BATCH)])
    return 100 * float(np.mean(float_pred == y_test)), 100 * float(np.mean(int8_pred == y_test))


def test_cnn_int8_accuracy_within_one_point(digits):
    torch.manual_seed(0)
    model = train(DigitsCNN(), digits[0], digits[1], epochs=15, lr=3e-3)
    float_acc, int8_acc = accuracies(model, digits)
    print(f"digits CNN: float32 {float_acc:.2f}%, int8 {int8_acc:.2f}%")
    assert float_acc > 95 and int8_acc >= float_acc - 1.0


def test_transformer_int8_accuracy_within_two_points(digits):
    torch.manual_seed(0)
    model = train(DigitsTransformer(), digits[0], digits[1], epochs=30, lr=3e-3)
    float_acc, int8_acc = accuracies(model, digits)
    print(f"digits transformer: float32 {float_acc:.2f}%, int8 {int8_acc:.2f}%")
    assert float_acc > 93 and int8_acc >= float_acc - 2.0
