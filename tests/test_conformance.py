"""The public conformance suite, run on each of our backends (as a third party would)."""

from __future__ import annotations

import pytest

from conftest import BACKENDS
from unified.testing import BackendConformance


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not under test")
class TestTorchConformance(BackendConformance):
    backend = "torch"


@pytest.mark.skipif("jax" not in BACKENDS, reason="JAX backend not under test")
class TestJaxConformance(BackendConformance):
    backend = "jax"
