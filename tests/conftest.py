"""Hypothesis profiles: `dev` (default, quick, random) and `ci` (derandomized, bounded). CI=true selects `ci`."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="module")
def fresh_build_cache(tmp_path_factory):
    """An EDGELOWER_CACHE of the requesting module's own, so its C really gets compiled, not found in a cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGELOWER_CACHE", str(tmp_path_factory.mktemp("edgelower-cache")))
        yield
