"""Every example in a public docstring runs, on every backend, and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS

MODULES = [
    "unified",
    "unified._backend",
    "unified._core",
    "unified.ops._creation",
    "unified.ops._elementwise",
    "unified.ops._reductions",
    "unified.ops._linalg",
    "unified.ops._shape",
    "unified.ops._indexing",
    "unified.random",
    "unified.transforms",
    "unified.tree",
    "unified.checkpoint",
    "unified.nn",
    "unified.nn._module",
    "unified.nn._containers",
    "unified.nn._layers",
    "unified.nn._attention",
    "unified.nn.functional",
    "unified.nn.init",
    "unified.models.gpt",
    "unified.testing._tolerances",
    "unified.optim",
    "unified.optim._schedules",
    "unified._autocast",
    "unified.parity",
    "unified.export",
    "unified.nn._convert",
    "unified.distributed",
]

# Examples that only hold where both frameworks are installed, or that change
# global state, run once rather than per backend.
ONCE = {"unified._backend", "unified.parity"}


def _collect() -> list[tuple[str, doctest.DocTest]]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for test in finder.find(module, name, globs={"np": np}):
            if test.examples:
                found.append((name, test))
    return found


CASES = _collect()


def _run(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    test.globs = dict(test.globs)
    result = runner.run(test, out=lambda s: failures.append(s))
    if result.failed:
        pytest.fail("".join(failures), pytrace=False)


failures: list[str] = []


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize(("module", "test"), [c for c in CASES if c[0] not in ONCE],
                         ids=[c[1].name for c in CASES if c[0] not in ONCE])
def test_docstring_example(backend_name: str, module: str, test: doctest.DocTest) -> None:
    failures.clear()
    with u.use_backend(backend_name):
        _run(test)


@pytest.mark.parametrize(("module", "test"), [c for c in CASES if c[0] in ONCE],
                         ids=[c[1].name for c in CASES if c[0] in ONCE])
def test_docstring_example_once(module: str, test: doctest.DocTest, both) -> None:
    from unified import _backend

    failures.clear()
    specs = dict(_backend._discover())
    try:
        _run(test)
    finally:  # an example that registers a backend must not leave it to the tests after it
        _backend._discover().clear()
        _backend._discover().update(specs)
