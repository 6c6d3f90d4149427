"""``unified.parity``: a user's check of their own model, torch against JAX, layer by layer.

Every test here compares the two backends in one process, so each needs both (the ``both`` fixture).
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import unified as u
from unified import nn
from unified.models import GPT, GPTConfig
from unified.nn import functional as F
from unified.parity import ParityError, ParityReport, ParityRow, cli, compare

CONFIG = GPTConfig.seed(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64)
PERTURBED = "transformer.h.1.mlp.c_fc"


def small_gpt() -> GPT:
    return GPT(CONFIG)


def perturbed_gpt() -> GPT:
    """The same GPT, but under JAX one weight is off by 1e-2: what a porting bug looks like.

    One column is shifted, not the whole matrix: ``c_fc`` reads a layer norm's output, whose
    features sum to zero, so a constant added to every weight would not change the output at
    all (only the layer norm's gradients, which the report then shows as the first divergence).
    """
    model = GPT(CONFIG)
    if u.get_backend().name == "jax":
        name = f"{PERTURBED}.weight"
        weight = u.to_numpy(model.state_dict()[name])
        weight[:, 0] += 1e-2
        model.load_state_dict({name: u.asarray(weight)}, strict=False)
    return model


class TwoTower(nn.Module):
    """Not a GPT: one encoder called twice (shared weights), and a pair of arrays as output."""

    def __init__(self) -> None:
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 8))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def __call__(self, a, b):
        za, zb = self.norm(self.encoder(a)), self.norm(self.encoder(b))
        return self.head(za), za * zb


def two_tower_loss(model, a, b, labels):
    logits, similarity = model(a, b)
    return F.cross_entropy(logits, labels) + u.ops.mean(similarity)


def two_tower():
    rng = np.random.default_rng(0)
    inputs = (rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((4, 6)).astype(np.float32),
              np.array([0, 1, 2, 0], np.int32))
    return TwoTower(), inputs, two_tower_loss


# ------------------------------------------------------------------------------------------------ compare


def test_the_default_gpt_passes_with_a_row_for_every_layer_and_parameter(both):
    report = compare(small_gpt)
    assert report.passed and report.first_divergence is None, report.format(failures_only=True)
    assert report.weights_differ == {}
    model = small_gpt()
    layers = [name or "<model>" for name, _ in model.named_modules()]
    assert list(dict.fromkeys(r.layer for r in report.rows)) == layers  # named_modules() order
    grads = [f"{r.layer}.{r.param}" for r in report.rows if r.kind == "grad"]
    assert grads == [name for name, _ in model.named_parameters()]
    not_called = {r.layer for r in report.rows if r.passed is None}
    assert not_called == {"transformer", "transformer.h"}  # containers: their children are called instead
    assert abs(report.loss["torch"] - report.loss["jax"]) < 1e-5 * report.loss["jax"]
    assert report.dtype == "float32" and report.rtol == 2e-5
    text = report.format()
    assert text.splitlines()[-1].startswith("PASS: torch and jax agree on all")
    assert "transformer.h.1.mlp.c_fc" in text and "grad weight" in text


def test_a_layer_perturbed_under_jax_is_the_first_divergence(both):
    report = compare(perturbed_gpt)
    assert not report.passed
    first = report.first_divergence
    assert first is not None and (first.layer, first.kind) == (PERTURBED, "output"), report.format()
    assert first.max_abs_diff > first.limit
    outputs = [r for r in report.rows if r.kind == "output" and r.step is not None]
    earlier = [r for r in outputs if r.step < first.step]
    assert len(earlier) >= 10 and all(r.passed for r in earlier)  # embeddings, block 0, block 1's attention
    assert {r.layer for r in earlier} >= {"transformer.wte", "transformer.h.0", "transformer.h.1.attn"}
    # what the perturbation feeds fails too: the MLP, the block, the logits
    failed = {r.layer for r in report.failures if r.kind == "output"}
    assert {PERTURBED, "transformer.h.1.mlp", "transformer.h.1", "<model>"} <= failed
    assert list(report.weights_differ) == [f"{PERTURBED}.weight"]
    assert report.weights_differ[f"{PERTURBED}.weight"] == pytest.approx(1e-2, rel=1e-3)
    text = report.format()
    assert "<- first divergence" in text and "started from different weights" in text
    assert text.splitlines()[-1].startswith(f"FAIL: {len(report.failures)} of")
    assert f"First divergence: {PERTURBED} output" in text


def test_a_user_model_with_its_own_inputs_and_loss(both):
    report = compare(two_tower)
    assert report.passed, report.format()
    # the shared encoder ran twice: one row per call, each in its place in the forward pass
    encoder = [r for r in report.rows if r.layer == "encoder" and r.kind == "output"]
    assert [r.call for r in encoder] == [1, 2] and encoder[0].step < encoder[1].step
    root = next(r for r in report.rows if r.layer == "<model>")
    assert root.shapes == ((4, 3), (4, 8))  # a tuple output: both arrays compared
    assert [r.param for r in report.rows if r.layer == "encoder.0"] == [None, None, "weight", "bias"]
    # the loss is the factory's
    with u.manual_seed(0):
        model, inputs, loss = two_tower()
    expected = float(u.to_numpy(loss(model.eval(), *[u.asarray(x) for x in inputs])))
    assert report.loss[u.get_backend().name] == pytest.approx(expected, rel=1e-6)


def test_inputs_and_loss_given_as_keywords_override_the_factory(both):
    def build():
        return nn.Linear(4, 2), (np.zeros((5, 4), np.float32),), lambda m, x: u.ops.mean(m(x))

    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    report = compare(build, inputs=(x,), loss=lambda m, x: u.ops.sum(m(x)))
    assert report.passed
    assert report.rows[0].shapes == ((3, 2),)  # the keyword's inputs
    grad_bias = next(r for r in report.rows if r.param == "bias")
    assert report.gradient_scale == 3.0 and grad_bias.max_abs_diff == 0.0  # d sum / d bias = 3 rows, exactly


def test_bfloat16_casts_weights_and_inputs_and_uses_its_tolerance(both):
    def build():
        return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)), (np.ones((3, 4), np.float32),)

    report = compare(build, dtype="bfloat16")
    assert report.passed and report.rtol == 0.05
    assert report.loss["torch"] == pytest.approx(report.loss["jax"], rel=0.05)


def test_jax_classes_are_restored_even_when_the_model_fails(both):
    class Boom(nn.Module):
        def __init__(self):
            self.linear = nn.Linear(2, 2)

        def __call__(self, x):
            raise RuntimeError("boom")

    def build():
        return Boom(), (np.ones((1, 2), np.float32),)

    with pytest.raises(RuntimeError, match="boom") as info:
        compare(build)
    assert any("under torch" in note for note in getattr(info.value, "__notes__", ["under torch"]))
    with u.use_backend("jax"):
        for cls in (type(Boom()), type(nn.Linear(2, 2))):
            assert cls.__dict__["__call__"] is cls.__unified_compute__
        compare(lambda: (nn.Linear(2, 2), (np.ones((1, 2), np.float32),)))  # capture left nothing behind


@pytest.mark.parametrize(("factory", "kwargs", "message"), [
    (lambda: 42, {}, "must return a unified.nn.Module"),
    (lambda: (nn.Linear(2, 2), None, "loss"), {}, "loss_fn must be callable"),
    (lambda: nn.Linear(2, 2), {}, "no inputs for Linear"),
    (small_gpt, {"seed": -1}, "seed must be a non-negative int"),
    (small_gpt, {"rtol": 0.0}, "rtol must be a positive number"),
    (small_gpt, {"dtype": "int8"}, "no default tolerance for dtype 'int8'"),
    (lambda: (nn.Linear(2, 2), "not arrays"), {}, "must be a tuple of arrays"),
])
def test_bad_arguments_say_what_to_do(both, factory, kwargs, message):
    with pytest.raises(ParityError, match=message):
        compare(factory, **kwargs)


def test_a_model_built_on_the_wrong_backend_is_refused(both):
    def build():
        with u.use_backend("torch"):
            return nn.Linear(2, 2), (np.ones((1, 2), np.float32),)

    with pytest.raises(ParityError, match="built a torch model while jax was active"):
        compare(build)


def test_a_missing_backend_is_named(both, monkeypatch):
    monkeypatch.setattr(u._backend, "installed_backends", lambda: ["torch"])
    with pytest.raises(ParityError, match=r"needs both installed; installed: torch \(jax missing\)"):
        compare(small_gpt)


def _row(layer, kind, step, passed, param=None):
    return ParityRow(layer, kind, param=param, step=step, passed=passed, max_abs_diff=1.0, limit=0.5)


def test_first_divergence_prefers_outputs_in_forward_order_then_gradients_in_backward_order():
    def report(*rows):
        return ParityReport(rows=rows, dtype="float32", rtol=2e-5, seed=0, loss={"torch": 1.0, "jax": 1.0},
                            gradient_scale=1.0)

    # table order is named_modules() order; the root returns last
    r = report(_row("<model>", "output", 3, False), _row("a", "output", 0, True), _row("b", "output", 1, False),
               _row("a", "grad", 0, False, "weight"))
    assert r.first_divergence is r.rows[2]
    # every output agrees: the backward pass parts first at the last failing layer in forward order
    r = report(_row("a", "grad", 0, False, "weight"), _row("b", "grad", 1, False, "weight"),
               _row("c", "grad", 2, True, "weight"), _row("c", "output", 2, True))
    assert r.first_divergence is r.rows[1]
    assert report(_row("a", "output", None, None), _row("a", "grad", 0, True, "w")).first_divergence is None


# ------------------------------------------------------------------------------------------------ the command

USER_MODELS = '''
import numpy as np
import unified as u
from unified import nn


def tiny():
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    return model, (np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4),)


def tiny_perturbed():
    model, inputs = tiny()
    if u.get_backend().name == "jax":
        model.load_state_dict({"2.bias": model.state_dict()["2.bias"] + 1e-2}, strict=False)
    return model, inputs


def broken():
    raise RuntimeError("the user's model does not build")


def wrong_return():
    return "a model"


not_callable = 3
'''


@pytest.fixture
def user_models(tmp_path_factory, monkeypatch):
    """A directory holding ``parity_user_models.py``, made the current directory (as a user would run it)."""
    root = tmp_path_factory.getbasetemp() / "parity_user"
    root.mkdir(exist_ok=True)
    (root / "parity_user_models.py").write_text(USER_MODELS)
    monkeypatch.chdir(root)
    return root


def test_cli_json_for_a_user_model(both, user_models, capsys):
    assert cli(["--model", "parity_user_models:tiny", "--json", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["first_divergence"] is None and out["failed"] == 0
    assert (out["backends"], out["dtype"], out["rtol"], out["seed"]) == (["torch", "jax"], "float32", 2e-5, 3)
    names = [(r["layer"], r["kind"], r["param"]) for r in out["rows"]]
    assert names[:4] == [("<model>", "output", None), ("0", "output", None), ("0", "grad", "weight"),
                         ("0", "grad", "bias")]
    assert out["checks"] == len(out["rows"]) == 8
    assert all(r["passed"] and r["max_abs_diff"] <= r["limit"] for r in out["rows"])
    assert "parity_user" not in " ".join(sys.path)  # the current directory was on sys.path only while importing


def test_cli_exit_status_1_and_the_table_when_a_layer_differs(both, user_models, capsys):
    assert cli(["--model", "parity_user_models:tiny_perturbed"]) == 1
    text = capsys.readouterr().out
    assert "FAIL <- first divergence" in text
    assert text.splitlines()[-1].startswith("FAIL: ") and "First divergence: 2 output" in text
    assert cli(["--model", "parity_user_models:tiny_perturbed", "--rtol", "1"]) == 0  # loose enough to pass
    capsys.readouterr()
    assert cli(["--model", "parity_user_models:tiny_perturbed", "--failures-only"]) == 1
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    rows = lines[header + 1:lines.index("", header)]
    assert len(rows) == 6 and all(" FAIL" in row for row in rows)  # only what failed


def test_cli_default_model_passes(both, capsys):
    assert cli(["--failures-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("unified parity: torch vs jax, float32, seed 0, rtol 2e-05")
    assert lines[-1].startswith("PASS: torch and jax agree on all 58 checks")


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "parity_user_models"], "expected MODULE:FACTORY"),
    (["--model", "no_such_module_for_parity:build"], "no module named 'no_such_module_for_parity'"),
    (["--model", "parity_user_models:nothing"], "has no attribute 'nothing'"),
    (["--model", "parity_user_models:not_callable"], "not_callable is a int, not callable"),
    (["--model", "parity_user_models:wrong_return"], "must return a unified.nn.Module"),
    (["--model", "parity_user_models:broken"], "the user's model does not build"),
    (["--rtol", "-1"], "rtol must be a positive number"),
    (["--dtype", "int8"], "invalid choice: 'int8'"),
    (["--seed", "one"], "invalid int value: 'one'"),
])
def test_cli_exit_status_2_on_bad_input(both, user_models, capsys, argv, message):
    assert cli(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_cli_exit_status_2_when_a_backend_is_missing(both, monkeypatch, capsys):
    monkeypatch.setattr(u._backend, "installed_backends", lambda: ["jax"])
    assert cli([]) == 2
    err = capsys.readouterr().err
    assert "needs both installed; installed: jax (torch missing)" in err and "unified-dl[all]" in err


def test_cli_end_to_end_in_a_fresh_process(both, user_models):
    code = ("from unified.parity import cli; "
            "raise SystemExit(cli(['--model', 'parity_user_models:tiny_perturbed', '--json']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=user_models,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 1, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["passed"] is False
    assert (out["first_divergence"]["layer"], out["first_divergence"]["kind"]) == ("2", "output")
    assert list(out["weights_differ"]) == ["2.bias"]


def test_the_docstring_examples_run(both):
    import unified.parity

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(unified.parity) if t.examples]
    assert tests
    for test in tests:
        runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 0


def test_a_difference_only_the_backward_pass_sees_is_found_in_the_gradients(both):
    def build():
        # A constant added to every weight of c_fc changes nothing forward: c_fc reads a layer norm's
        # output, whose features sum to zero. The gradient of that layer norm sees it.
        model = GPT(CONFIG)
        if u.get_backend().name == "jax":
            name = f"{PERTURBED}.weight"
            model.load_state_dict({name: model.state_dict()[name] + 1e-2}, strict=False)
        return model

    report = compare(build)
    assert all(r.passed is not False for r in report.rows if r.kind == "output")
    first = report.first_divergence
    assert first is not None and (first.layer, first.kind, first.param) == ("transformer.h.1.ln_1", "grad", "weight")
    assert "every output agrees" in report.format().splitlines()[-1]


def test_a_dtype_one_backend_cannot_compute_in_is_refused(both):
    import jax

    if jax.config.jax_enable_x64:
        pytest.skip("JAX computes in float64 here (JAX_ENABLE_X64)")
    with pytest.raises(ParityError, match=r"the jax backend gave float32 when asked for float64.*JAX_ENABLE_X64=1"):
        compare(lambda: (nn.Linear(2, 2), (np.ones((1, 2), np.int32),), lambda m, x: u.ops.sum(m.weight)),
                dtype="float64")  # no float input: the weights' cast is what JAX quietly keeps in float32
    with pytest.raises(u.UnifiedError, match="JAX_ENABLE_X64=1"):
        compare(lambda: (nn.Linear(2, 2), (np.ones((1, 2), np.float32),)), dtype="float64")
