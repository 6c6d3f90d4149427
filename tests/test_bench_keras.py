"""The bench's Keras configuration (unified/bench/_keras.py): it builds, trains, and matches the native twin.

Keras chooses its backend once, when it is first imported, so each backend runs in its own process
through the bench worker's ``build`` (the code path ``unified bench`` takes).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from conftest import BACKENDS

# Importing keras loads the backend named by KERAS_BACKEND, TensorFlow when unset; name an installed one.
os.environ.setdefault("KERAS_BACKEND", BACKENDS[0])
pytest.importorskip("keras")

SHAPE = dict(vocab=64, block=16, layers=2, heads=2, d=32)

CHILD = """
import json, sys

from unified.bench.worker import build

impl, (x, y), sync = build(json.loads(sys.argv[1]))
losses = []
for _ in range(6):
    loss = impl.train(x, y)
    sync(loss)
    losses.append(float(loss))
out = impl.infer(x)
sync(out)
print(json.dumps({"params": impl.count(), "losses": losses, "logits": list(out.shape)}))
"""


def native_count() -> int:
    Native: Any
    if "torch" in BACKENDS:
        from unified.bench._native_torch import Native
    else:
        from unified.bench._native_jax import Native  # the same count (the twins are the same model)
    return int(Native(SHAPE, False, "cpu", "float32").count())


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "compile"), [
    ("jax", True),
    ("torch", False),
    ("torch", True),  # Keras's torch.compile path, as `unified bench` runs it
])
def test_keras_trains_and_matches_native_parameter_count(backend: str, compile: bool) -> None:
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not installed or not under test")
    spec = {"impl": "keras", "backend": backend, "compile": compile, "shape": SHAPE, "batch": 4,
            "dtype": "float32", "device": "cpu", "workloads": ["train", "infer"]}
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    losses = result["losses"]
    assert all(math.isfinite(loss) for loss in losses), losses
    assert losses[5] < losses[0], f"the loss did not fall over 5 steps: {losses}"
    assert result["logits"] == [4, SHAPE["block"], SHAPE["vocab"]]
    assert result["params"] == native_count()
