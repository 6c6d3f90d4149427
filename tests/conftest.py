"""Test configuration: every test runs on every installed backend.

* ``UNIFIED_TEST_BACKENDS=torch`` (comma-separated) narrows the backends.
* Hypothesis profiles: ``ci`` (bounded examples, no deadline; chosen when ``CI``
  is set), ``dev`` and ``thorough``; pick with ``HYPOTHESIS_PROFILE``. The seed is printed in
  the header; rerun with ``HYPOTHESIS_SEED=<seed>`` to reproduce a run.
"""

from __future__ import annotations

import os
import random

import hypothesis
import pytest

import unified as u

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Compiled artifacts are shared across tests and runs (inductor takes 10-20 s per
# model cold, about 1 s warm); CI keeps the directory between steps of one run.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(_CACHE, "torchinductor"))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(_CACHE, "jax"))
# Inductor precompiles its common C++ header into that shared directory; test processes running
# at once (xdist workers, their subprocesses) have, rarely, compiled a kernel against a header
# another process was still writing ("'at::vec' has not been declared"). Kernels compile
# without the precompiled header, a little slower and never wrong.
os.environ.setdefault("TORCHINDUCTOR_CPP_CACHE_PRECOMPILE_HEADERS", "0")

hypothesis.settings.register_profile(
    "ci", max_examples=20, deadline=None, print_blob=True, derandomize=False,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
hypothesis.settings.register_profile(
    "dev", max_examples=60, deadline=None, print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
hypothesis.settings.register_profile(
    "thorough", max_examples=400, deadline=None, print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def _selected_backends() -> list[str]:
    installed = u.installed_backends()
    wanted = os.environ.get("UNIFIED_TEST_BACKENDS")
    if not wanted:
        return installed
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise pytest.UsageError(f"UNIFIED_TEST_BACKENDS names {unknown}, not installed ({installed}).")
    return names


BACKENDS = _selected_backends()
_SEED = int(os.environ.get("HYPOTHESIS_SEED") or random.SystemRandom().randrange(2**32))


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--hypothesis-seed", default=None) is None:
        import hypothesis.core

        hypothesis.core.global_force_seed = _SEED  # what --hypothesis-seed sets


def pytest_report_header(config: pytest.Config) -> list[str]:
    seed = config.getoption("--hypothesis-seed", default=None) or _SEED
    return [
        f"unified backends under test: {', '.join(BACKENDS)}",
        f"hypothesis profile: {hypothesis.settings._current_profile}; seed: {seed} "
        f"(reproduce with HYPOTHESIS_SEED={seed})",
    ]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest):
    """Runs the test once per backend, with that backend active."""
    with u.use_backend(request.param):
        yield request.param


@pytest.fixture
def both():
    """For tests comparing backends in one process: needs torch and JAX both."""
    if not {"torch", "jax"} <= set(BACKENDS):
        pytest.skip("needs both the torch and the JAX backend (compares them)")
    return ("torch", "jax")
