"""The `unified` command: train (and resume after a kill), generate on either backend, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BACKENDS

# A small, fast run: the "tiny" model with a short context.
FAST = ["--block-size", "32", "--batch-size", "4", "--eval-every", "10", "--sample-tokens", "20", "--quiet"]


def unified(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unified", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def losses(out: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_train_writes_everything_and_learns(tmp_path, name):
    out = tmp_path / name
    result = unified("train", "--backend", name, "--steps", "30", "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    for file in ("checkpoint.safetensors", "metrics.jsonl", "loss.png", "sample.txt"):
        assert (out / file).exists(), file
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"step", "loss"} <= set(records[0]) and any("val_loss" in r for r in records)
    trajectory = losses(out)
    assert sorted(trajectory) == list(range(30))
    assert trajectory[29] < trajectory[0] - 1.0  # from ~5.5 (uniform over 256 bytes) down
    assert (out / "sample.txt").read_text(encoding="utf-8").startswith("def ")


@pytest.mark.slow
def test_both_backends_train_the_same_model(both, tmp_path):
    runs = {}
    for name in both:
        result = unified("train", "--backend", name, "--steps", "8", "--out", str(tmp_path / name), *FAST)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = losses(tmp_path / name)
    for step in range(8):
        assert abs(runs["torch"][step] - runs["jax"][step]) < 1e-4 * abs(runs["jax"][step]), step


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_a_killed_run_resumes_with_the_same_loss_trajectory(tmp_path, name):
    args = ["train", "--backend", name, "--steps", "40", "--checkpoint-every", "10", "--sample-tokens", "0",
            "--no-plot", *FAST[:-3]]
    whole = tmp_path / "whole"
    assert unified(*args, "--out", str(whole)).returncode == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "unified", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill it after the step-20 checkpoint, mid-way to the next one
        if (killed / "metrics.jsonl").exists() and max(losses(killed), default=-1) >= 24:
            break
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert max(losses(killed)) < 39  # it really died mid-run

    resumed = unified(*args, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, got = losses(whole), losses(killed)
    assert sorted(got) == list(range(40))
    assert got == expected  # exactly the same numbers: batches, keys and state all resume


@pytest.mark.slow
def test_generate_on_either_backend_whichever_trained(both, tmp_path):
    out = tmp_path / "run"
    train = unified("train", "--backend", "torch", "--no-compile", "--steps", "5", "--out", str(out), *FAST)
    assert train.returncode == 0, train.stderr[-3000:]
    texts = {}
    for name in both:
        result = unified("generate", str(out), "--backend", name, "--prompt", "import ", "--tokens", "12")
        assert result.returncode == 0, result.stderr[-3000:]
        texts[name] = result.stdout.rstrip("\n")
        assert texts[name].startswith("import ")
    assert texts["torch"] == texts["jax"]  # same weights, same key: the same text


def test_bad_input_gives_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    short = tmp_path / "short.txt"
    short.write_text("just a few words")
    cases = [
        (["train", "--data", str(tmp_path / "missing.txt")], "no such file"),
        (["train", "--data", str(empty)], "is empty"),
        (["train", "--data", str(short)], "too short for training blocks"),
        (["train", "--backend", "tensorflow"], "Unknown backend 'tensorflow'"),
        (["generate", str(tmp_path / "nothing")], "no such checkpoint"),
    ]
    for args, message in cases:
        result = unified(*args, "--out", str(tmp_path / "out")) if args[0] == "train" else unified(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.skipif("jax" not in BACKENDS, reason="uses the JAX backend (fastest to start)")
def test_resuming_with_another_model_size_is_refused(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--backend", "jax", "--steps", "2", "--out", str(out), *FAST]
    assert unified(*base).returncode == 0
    result = unified("train", "--backend", "jax", "--steps", "4", "--out", str(out), "--resume", "--size", "small",
                     *FAST)
    assert result.returncode == 2
    assert "holds a different model" in result.stderr and "n_embd=128 in the checkpoint, 384 asked for" in result.stderr


def test_parity_through_the_command(both):
    result = unified("parity", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["passed"] is True
