"""unified.export: ONNX, torch.export and jax.export artifacts of models from either backend, checked against them.

Every artifact is run by its own runtime (onnxruntime; ``torch.export.load``; ``jax.export.deserialize``
in a fresh process that never imports unified) at batch sizes and sequence lengths other than the
example's, and compared with the model it came from within ``assert_model_close`` (float32). Exports
are slow to compile, so each (source backend, format) is exported once per module and shared.
These tests move models between backends, so they need both torch and JAX.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from unified import nn
from unified._backend import load_backend, optional_part
from unified.export import FORMATS, Dim, ExportBackend, ExportError, cli, export, export_checkpoint
from unified.models import GPT, GPTConfig
from unified.nn._convert import convert
from unified.testing import assert_model_close

pytestmark = pytest.mark.skipif(not {"torch", "jax"} <= set(BACKENDS),
                                reason="exports move models between backends: needs torch and JAX")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = GPTConfig.gpt2(vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=32)
EXAMPLE = np.random.default_rng(0).integers(0, 64, (2, 8), dtype=np.int32)  # (batch, seq)
#: Shapes the artifacts run at: none is the example's; batch 1 and seq 1, and the longest sequence.
SHAPES = [(1, 1), (3, 5), (4, 32), (1, 17)]
SUFFIX = {name: fmt.suffix for name, fmt in FORMATS.items()}


def tokens(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed + shape[0] * 100 + shape[1]).integers(0, CONFIG.vocab_size, shape,
                                                                            dtype=np.int32)


def logits(model: GPT, backend: str, ids: np.ndarray) -> np.ndarray:
    with u.use_backend(backend):
        return u.to_numpy(model(u.asarray(ids)))


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    """A GPT's weights, moved off their initialisation (so that a bad copy or transpose shows)."""
    with u.use_backend("jax"), u.manual_seed(0):
        model = GPT(CONFIG)
    rng = np.random.default_rng(1)
    return {k: (u.to_numpy(v) + rng.normal(0.0, 0.05, v.shape)).astype(np.float32)
            for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def models(state: dict[str, np.ndarray]) -> dict[str, GPT]:
    """The same GPT on each backend, in eval mode."""
    out = {}
    for backend in ("torch", "jax"):
        with u.use_backend(backend), u.manual_seed(0):
            model = GPT(CONFIG)
            model.load_state_dict({k: u.asarray(v) for k, v in state.items()})
        out[backend] = model.eval()
    return out


@pytest.fixture(scope="module")
def exported(models: dict[str, GPT], tmp_path_factory: pytest.TempPathFactory):
    """``exported(source, format)``: the ExportResult of the GPT on ``source``, exported once per module."""
    directory = tmp_path_factory.mktemp("exported")
    cache = {}

    def get(source: str, fmt: str):
        if (source, fmt) not in cache:
            path = directory / f"gpt-{source}{SUFFIX[fmt]}"
            cache[source, fmt] = export(models[source], (EXAMPLE,), path, format=fmt)
        return cache[source, fmt]

    return get


# The runner of jax-export artifacts: a fresh Python that imports JAX and numpy, and never unified.
JAX_RUNNER = textwrap.dedent("""
    import sys
    import numpy as np
    import jax
    from jax import export
    with open(sys.argv[1], "rb") as f:
        exported = export.deserialize(bytearray(f.read()))
    inputs = np.load(sys.argv[2])
    outputs = {k: np.asarray(exported.call(inputs[k])) for k in inputs.files}
    np.savez(sys.argv[3], **outputs)
    assert not any(m == "unified" or m.startswith(("unified.", "unified_")) for m in sys.modules), "imported unified"
    print("shapes", [str(a) for a in exported.in_avals])
""")


def run_artifact(path: str, fmt: str, inputs: list[np.ndarray], tmp_path) -> tuple[list[np.ndarray], str]:
    """The artifact's outputs for each input, by its own runtime; and its input signature, in words."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        signature = f"{inp.name}{inp.shape} {inp.type} -> {out.name}{out.shape}"
        return [session.run(None, {inp.name: x})[0] for x in inputs], signature
    if fmt == "torch-export":
        import torch

        program = torch.export.load(path)
        module = program.module()
        with torch.no_grad():
            return [module(torch.from_numpy(x)).numpy() for x in inputs], str(program.range_constraints)
    np.savez(tmp_path / "inputs.npz", **{f"x{i}": x for i, x in enumerate(inputs)})
    script = tmp_path / "run_jax_export.py"
    script.write_text(JAX_RUNNER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script), path, str(tmp_path / "inputs.npz"),
                           str(tmp_path / "outputs.npz")], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = np.load(tmp_path / "outputs.npz")
    return [outputs[f"x{i}"] for i in range(len(inputs))], done.stdout


# ------------------------------------------------------------------------------------------------ artifacts


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("source", ["jax", "torch"])
def test_artifact_gives_the_models_logits_at_other_shapes(source: str, fmt: str, models, exported, tmp_path):
    result = exported(source, fmt)
    inputs = [tokens(shape) for shape in SHAPES]
    outputs, signature = run_artifact(result.path, fmt, inputs, tmp_path)
    for shape, x, got in zip(SHAPES, inputs, outputs):
        assert_model_close(got, logits(models[source], source, x), "float32",
                           err_msg=f"{fmt} from {source} at (batch, seq) = {shape}")
    if fmt == "onnx":
        assert signature == "idx['batch', 'seq'] tensor(int32) -> output['batch', 'seq', 64]", signature
    elif fmt == "jax-export":
        assert "int32[batch,seq]" in signature, signature


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_checks_the_artifact_and_reports_it(fmt: str, exported):
    result = exported("jax", fmt)
    assert result.format == fmt and result.source == "jax" and result.exporter == FORMATS[fmt].backend
    assert result.inputs == (("idx", ("batch", "seq")),)
    assert result.dims == (Dim("batch"), Dim("seq", max=CONFIG.block_size))
    assert result.checked == (((2, 8),), ((3, 9),))  # the example, and every dynamic axis resized
    assert result.rel_diff is not None and result.rel_diff <= result.rtol == 2e-5
    summary = result.summary()
    assert "seq <= 32" in summary and "checked against the model at input shapes (2, 8) and (3, 9)" in summary


def test_torch_export_programs_reject_sequences_beyond_block_size(exported):
    import torch

    module = torch.export.load(exported("torch", "torch-export").path).module()
    with pytest.raises(Exception, match=r"seq|size"):
        module(torch.zeros((1, CONFIG.block_size + 1), dtype=torch.int32))


def test_static_export_fixes_the_shapes(models, tmp_path):
    result = export(models["jax"], EXAMPLE, tmp_path / "static.jaxexport", format="jax-export", dynamic=False)
    assert result.inputs == (("idx", (2, 8)),) and result.dims == () and result.checked == (((2, 8),),)


def test_the_model_keeps_its_mode_and_the_export_runs_in_eval_mode(state, tmp_path):
    with u.use_backend("jax"), u.manual_seed(0):
        model = GPT(dataclasses.replace(CONFIG, dropout=0.5))
        model.load_state_dict({k: u.asarray(v) for k, v in state.items()})
    model.train()
    model.transformer["h"][1].eval()
    result = export(model, EXAMPLE, tmp_path / "m.jaxexport", format="jax-export")  # the check needs no dropout
    assert result.rel_diff is not None and result.rel_diff <= result.rtol
    modes = {name: m.training for name, m in model.named_modules()}
    assert modes[""] and modes["transformer.h.0.mlp"]
    assert not modes["transformer.h.1"] and not modes["transformer.h.1.mlp"]


def test_a_failed_check_raises_and_deletes_the_artifact(models, tmp_path, monkeypatch):
    part = optional_part(load_backend("jax"), "export")
    real_run = part.run
    monkeypatch.setattr(part, "run", lambda *a: [[o * 1.001 for o in outs] for outs in real_run(*a)])
    path = tmp_path / "wrong.jaxexport"
    with pytest.raises(ExportError, match=r"does not compute what the model does: at input shapes \(2, 8\), "
                                          r"output 0: .* above the tolerance 2e-05") as info:
        export(models["jax"], EXAMPLE, path, format="jax-export")
    assert info.value.kind == "mismatch" and not path.exists()


# ------------------------------------------------------------------------------------------------ conversion


class Tied(nn.Module):
    """Everything a module can hold: tied weights, buffers of both kinds, containers, statics, a plain array."""

    calls = 0

    def __init__(self, n: int, *, scale: float):
        Tied.calls += 1
        self.embed = nn.Linear(n, n, bias=False)
        self.out = nn.Linear(n, n)
        self.out.weight = self.embed.weight  # tied: one parameter in two places
        self.mask = nn.Buffer(u.ops.tril(u.ops.ones((n, n))))
        self.cache = nn.Buffer(u.ops.full((n,), 0.5), persistent=False)
        self.offset = u.ops.arange(n)  # a plain array attribute: neither parameter nor buffer
        self.blocks = [nn.Sequential(nn.LayerNorm(n), nn.GELU()), nn.RMSNorm(n)]
        self.heads = {"a": nn.Linear(n, 2), "b": nn.Linear(n, 3, bias=False)}
        self.scale = scale
        self.sizes = [n, 2 * n]
        self.config = {"n": n}

    def __call__(self, x):
        x = u.ops.matmul(self.embed(x), self.mask) * self.scale + self.cache + u.ops.astype(self.offset, "float32")
        for block in self.blocks:
            x = block(x)
        return self.out(x), self.heads["a"](x), self.heads["b"](x)


@pytest.mark.parametrize(("source", "target"), [("jax", "torch"), ("torch", "jax")])
def test_converted_modules_compute_the_same_and_keep_their_structure(source: str, target: str):
    with u.use_backend(source), u.manual_seed(3):
        model = Tied(4, scale=0.5)
    model.heads["b"].eval()
    calls = Tied.calls
    twin = convert(model, target)
    assert Tied.calls == calls, "convert must not call __init__"
    assert type(twin).__unified_backend__ == target and isinstance(twin, Tied)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert [n for n, _ in twin.named_buffers()] == [n for n, _ in model.named_buffers()] == ["mask", "cache"]
    assert list(twin.state_dict()) == list(model.state_dict())  # "cache" is not persistent: absent from both
    assert twin.out.weight is twin.embed.weight
    assert (twin.scale, twin.sizes, twin.config, len(twin.blocks)) == (0.5, [4, 8], {"n": 4}, 2)
    assert {n: m.training for n, m in twin.named_modules()} == {n: m.training for n, m in model.named_modules()}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(u.to_numpy(twin.state_dict()[k]), u.to_numpy(v), err_msg=k)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with u.use_backend(source):
        expected = [u.to_numpy(y) for y in model(u.asarray(x))]
    with u.use_backend(target):
        got = [u.to_numpy(y) for y in twin(u.asarray(x))]
        with u.manual_seed(3):
            native = Tied(4, scale=0.5)  # the same seed gives the same weights on every backend
        native_out = [u.to_numpy(y) for y in native(u.asarray(x))]
    for g, e, n in zip(got, expected, native_out):
        assert_model_close(g, e, "float32", err_msg=f"{source} -> {target}")
        np.testing.assert_array_equal(g, n)  # the converted module is the native one, exactly


@pytest.mark.parametrize(("source", "target"), [("jax", "torch"), ("torch", "jax")])
def test_a_converted_gpt_is_the_native_gpt(source: str, target: str, models):
    twin = convert(models[source], target)
    assert not twin.training
    x = tokens((3, 7))
    np.testing.assert_array_equal(logits(twin, target, x), logits(models[target], target, x))


def test_a_jax_module_that_went_through_jit_converts():
    with u.use_backend("jax"), u.manual_seed(0):
        model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
        model = u.jit(lambda m: m)(model)  # rebuilt from its pytree leaves: carries JAX's child record
    twin = convert(model, "torch")
    assert [n for n, _ in twin.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert not any(k.startswith("_unified_") for k in vars(twin))


def test_convert_refuses_what_is_not_a_unified_module():
    with pytest.raises(nn.ModuleError, match=r"unified\.nn\.Module"):
        convert(object(), "jax")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ errors


class Scale(nn.Module):
    """Reads an array's value with float(): no exporter can express it."""

    def __init__(self):
        self.proj = nn.Linear(4, 4)

    def __call__(self, x):
        return self.proj(x) * float(u.ops.mean(x))


class Branch(nn.Module):
    """Branches in Python on an array's value: data-dependent control flow."""

    def __init__(self):
        self.proj = nn.Linear(4, 4)

    def __call__(self, x):
        if u.ops.sum(x) > 0:
            return self.proj(x)
        return x


class Noise(nn.Module):
    """Draws random numbers while running: unified's threefry, which ONNX cannot express."""

    def __call__(self, x):
        return x + u.random.normal(u.random.key(0), x.shape)


class Block(nn.Module):
    def __init__(self, inner: nn.Module):
        self.norm = nn.LayerNorm(4)
        self.inner = inner

    def __call__(self, x):
        return self.inner(self.norm(x))


class Net(nn.Module):
    def __init__(self, inner: nn.Module):
        self.inp = nn.Linear(4, 4)
        self.blocks = [Block(nn.GELU()), Block(inner)]

    def __call__(self, x):
        x = self.inp(x)
        for block in self.blocks:
            x = block(x)
        return x


X = np.ones((3, 4), np.float32)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize(("bad", "line"), [(Scale, "return self.proj(x) * float(u.ops.mean(x))"),
                                           (Branch, "if u.ops.sum(x) > 0:")])
@pytest.mark.parametrize("source", ["jax", "torch"])
def test_reading_an_array_value_names_the_layer_the_line_and_the_fix(source, bad, line, fmt, tmp_path):
    with u.use_backend(source):
        model = Net(bad())
    with pytest.raises(ExportError) as info:
        export(model, X, tmp_path / "bad", format=fmt)
    e = info.value
    assert (e.layer, e.layer_type, e.kind, e.format) == ("blocks.1.inner", bad.__name__, "value", fmt)
    text = str(e)
    assert text.startswith(f"Cannot export Net to {fmt}: layer 'blocks.1.inner' ({bad.__name__}) reads an "
                           "array's value in Python"), text
    assert "tests/test_export.py:" in text and line in text, text
    assert "How to fix: compute with arrays instead: u.ops.where(cond, a, b)" in text, text
    assert "exporter said: " in text and not (tmp_path / "bad").exists()


def test_an_operation_the_format_lacks_is_found_layer_by_layer(tmp_path):
    with u.use_backend("jax"):
        model = Net(Noise())
    with pytest.raises(ExportError) as info:
        export(model, X, tmp_path / "noise.onnx", format="onnx", dynamic=False)
    assert (info.value.layer, info.value.layer_type, info.value.kind) == ("blocks.1.inner", "Noise", "unsupported")
    assert "uses an operation that the onnx format cannot express" in str(info.value)
    # The same model exports to StableHLO, where threefry is native.
    export(model, X, tmp_path / "noise.jaxexport", format="jax-export", dynamic=False)


class Head(nn.Module):
    """Uses the batch size as a Python number."""

    def __call__(self, x):
        if x.shape[0] > 4:
            return x[:4]
        return x


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_dynamic_size_used_as_a_number_is_a_shape_error_naming_the_layer(fmt, tmp_path):
    with u.use_backend("jax"):
        model = Net(Head())
    with pytest.raises(ExportError) as info:
        export(model, X, tmp_path / "head", format=fmt)
    assert (info.value.layer, info.value.layer_type, info.value.kind) == ("blocks.1.inner", "Head", "shape")
    text = str(info.value)
    assert "uses a dynamic size as a fixed number" in text and "a Dim(name, max=...) in dynamic=" in text, text
    if FORMATS[fmt].backend == "torch":
        assert "Dim('batch', max=4)" in text, text  # torch's suggestion is passed on
    else:
        assert "if x.shape[0] > 4:" in text and "'batch' > '4' is inconclusive" in text, text
    export(model, X, tmp_path / "head-bounded", format=fmt, dynamic=[{0: Dim("batch", max=4)}])  # the fix


def test_a_check_in_the_models_code_needs_the_bound_of_its_axis(models, tmp_path):
    # Without max=block_size, `if T > block_size` cannot be decided for every T.
    with pytest.raises(ExportError) as info:
        export(models["jax"], EXAMPLE, tmp_path / "gpt.jaxexport", format="jax-export",
               dynamic=[{0: "batch", 1: "seq"}])
    assert (info.value.layer, info.value.layer_type, info.value.kind) == ("", "GPT", "shape")
    assert "the model's own code (GPT)" in str(info.value) and "T > self.config.block_size" in str(info.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(format="tflite"), "format must be one of 'onnx', 'torch-export', 'jax-export'; got 'tflite'"),
    (dict(dynamic=[{0: "batch"}, {0: "batch"}]), r"one \{axis: name or Dim\} \(or None\) per example input, 1 here"),
    (dict(dynamic=[{2: "batch"}]), r"axis 2 does not exist in input 0 of shape \(2, 8\)"),
    (dict(dynamic=[{1: Dim("seq", max=4)}]), r"input 0 axis 1 has size 8, outside seq <= 4"),
    (dict(dynamic=[{0: Dim("n"), 1: Dim("n")}]), "dynamic axis 'n' has size 2 at input 0 axis 0 but 8 at input 0"),
    (dict(dynamic=[{0: Dim("n"), 1: Dim("n", max=9)}]), "two different Dims are named 'n'"),
    (dict(dynamic=[{0: 3}]), r"dynamic\[0\]\[0\] must be a name or a unified.export.Dim; got 3"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message, models, tmp_path):
    with pytest.raises(ExportError, match=message):
        export(models["jax"], EXAMPLE, tmp_path / "x", **{"format": "jax-export", **kwargs})


def test_bad_models_and_inputs_say_what_was_expected(models, tmp_path):
    with pytest.raises(ExportError, match=r"export takes a unified\.nn\.Module; got a builtins\.object"):
        export(object(), EXAMPLE, tmp_path / "x")
    with pytest.raises(ExportError, match=r"example_inputs\[1\] is a int; example inputs are arrays"):
        export(models["jax"], (EXAMPLE, 3), tmp_path / "x")
    with pytest.raises(ExportError, match="Dim name must be a Python identifier"):
        Dim("my seq")
    with pytest.raises(ExportError, match="max must be an int >= min=4"):
        Dim("seq", min=4, max=2)


def test_default_dynamic_axes_of_a_module_are_the_batch(tmp_path):
    with u.use_backend("torch"), u.manual_seed(0):
        model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    result = export(model, np.ones((1, 4), np.float32), tmp_path / "mlp.pt2", format="torch-export")
    assert result.inputs == (("x", ("batch", 4)),) and result.checked == (((1, 4),), ((2, 4),))
    with pytest.raises(ExportError, match="axes sharing a name are one dimension"):
        export(model, (np.ones((2, 4)), np.ones((5, 4))), tmp_path / "x", format="torch-export")


# ------------------------------------------------------------------------------------------------ the command


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A run directory of `unified train --backend jax`, a few steps of a small GPT."""
    out = str(tmp_path_factory.mktemp("run"))
    done = subprocess.run([sys.executable, "-m", "unified", "train", "--backend", "jax", "--block-size", "32",
                           "--batch-size", "4", "--steps", "3", "--no-plot", "--sample-tokens", "0",
                           "--eval-every", "3", "--out", out, "--quiet"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_a_run_trained_on_jax_exports_to_onnx_and_runs_in_onnxruntime(trained_run, tmp_path, capsys):
    path = str(tmp_path / "served.onnx")
    assert cli([trained_run, "--format", "onnx", "--out", path]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {path} (onnx via torch; inputs idx (batch, seq) with seq <= 32)" in printed, printed
    assert "checked against the model at input shapes (2, 8) and (3, 9)" in printed, printed
    checkpoint = os.path.join(trained_run, "checkpoint.safetensors")
    meta = u.checkpoint.read_metadata(checkpoint)
    assert meta["backend"] == "jax"
    config = GPTConfig(**json.loads(meta["config"]))
    with u.use_backend("jax"):
        model = GPT(config)
        model.load_state_dict(u.load(checkpoint)["model"])
        model.eval()
    inputs = [np.random.default_rng(s).integers(0, config.vocab_size, s_shape, dtype=np.int32)
              for s, s_shape in enumerate([(1, 1), (3, 13), (2, 32)])]
    outputs, _ = run_artifact(path, "onnx", inputs, tmp_path)
    for x, got in zip(inputs, outputs):
        assert_model_close(got, logits(model, "jax", x), "float32", err_msg=f"onnx of the trained run at {x.shape}")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torch-export", "jax-export"])
def test_a_run_exports_to_every_format_next_to_its_checkpoint(trained_run, fmt, capsys):
    assert cli([trained_run, "--format", fmt, "--batch", "3", "--seq", "5"]) == 0
    path = os.path.join(trained_run, "model" + SUFFIX[fmt])
    assert os.path.exists(path)
    assert "checked against the model at input shapes (3, 5) and (4, 6)" in capsys.readouterr().out


def test_the_command_reports_errors_on_stderr(tmp_path, capsys):
    assert cli([str(tmp_path), "--format", "onnx"]) == 2
    assert "unified export: error: " in capsys.readouterr().err
    assert cli([str(tmp_path), "--format", "tflite"]) == 2  # argparse's own message
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    u.save(tmp_path / "plain.safetensors", {"w": np.zeros(2, np.float32)})
    with pytest.raises(ExportError, match="was not written by `unified train`"):
        export_checkpoint(tmp_path / "plain.safetensors")


def test_bad_sizes_for_the_command(trained_run, capsys):
    assert cli([trained_run, "--seq", "33"]) == 2
    assert "--seq in [1, block_size=32]" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
def test_export_parts_satisfy_the_protocol(backend_name: str):
    import inspect

    part = optional_part(load_backend(backend_name), "export")
    assert isinstance(part, ExportBackend)
    assert set(part.formats) == {name for name, fmt in FORMATS.items() if fmt.backend == backend_name}
    for name in ("export", "run", "classify", "reference"):
        want = [p for p in inspect.signature(getattr(ExportBackend, name)).parameters if p != "self"]
        assert list(inspect.signature(getattr(part, name)).parameters) == want, name


def test_importing_unified_imports_no_framework_and_no_exporter():
    code = ("import sys, unified, unified.export, unified.nn._convert; "
            "heavy = [m for m in ('torch', 'jax', 'onnx', 'onnxruntime', 'onnxscript') if m in sys.modules]; "
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("module", ["unified.export", "unified.nn._convert"])
def test_docstring_examples(module: str, backend_name: str):
    import importlib

    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    with u.use_backend(backend_name):
        for test in finder.find(importlib.import_module(module), module):
            runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
