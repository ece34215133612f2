"""Acceptance: every zoo model, through edgelower.compile and through torch.compile, matches eager within
1e-4 x max|output| in float32 — the generated C really built and run — and builds once under ASan+UBSan."""

import warnings

import numpy as np
import pytest
import torch

import edgelower
from edgelower import zoo
from edgelower.runtime.loader import build_executable, run_executable

from lanes import zoo_params

NAMES = [n for n in zoo.names() if not zoo.MODELS[n].large]
TOLERANCE = 1e-4


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def assert_close(got, expected):
    got, expected = _as_tuple(got), _as_tuple(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        scale = max(e.abs().max().item(), 1e-30)
        err = (g - e).abs().max().item()
        assert err <= TOLERANCE * scale, f"max error {err:.3g} > {TOLERANCE} x {scale:.3g}"


@pytest.mark.parametrize("name", zoo_params(NAMES))
def test_aot_matches_eager_and_is_sanitizer_clean(name):
    model, example = zoo.get(name)
    cm = edgelower.compile(model, example)
    fresh = tuple(zoo.MODELS[name].inputs[i].sample() for i in range(len(example)))  # not the capture inputs
    with torch.no_grad():
        for inputs in (example, fresh):
            assert_close(cm(*inputs), model(*inputs))
    sanitized = build_executable(cm.files, sanitize=True)
    got = run_executable(sanitized, cm.spec, [x.numpy() for x in fresh])
    for g, c in zip(got, cm.run_numpy([x.numpy() for x in fresh])):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(c).max())))


@pytest.mark.parametrize("name", zoo_params(NAMES))
def test_torch_compile_matches_eager(name):
    torch._dynamo.reset()
    model, example = zoo.get(name)
    compiled = torch.compile(model, backend="edgelower", options={"target": "host"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a fallback to eager would warn: zoo models must not need one
        with torch.no_grad():
            got = compiled(*example)
    with torch.no_grad():
        assert_close(got, model(*example))
