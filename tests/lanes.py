"""The two test lanes: `make test` runs everything; `make test-fast` (`-m "not slow"`) keeps, of the whole-zoo
tests, only the small models, which exercise the same code paths in seconds."""

import pytest

FAST_ZOO = frozenset({"mlp", "lenet5", "ds-cnn", "two-tower", "embed-classifier", "transformer-block"})


def zoo_params(names, fast=FAST_ZOO) -> list:
    """`names` as pytest parameters, the ones outside `fast` marked slow."""
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]
