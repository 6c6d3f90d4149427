"""Checkpoints: round trips on every backend and across backends, the official safetensors library both
ways, every way a file can be bad, no code run on load, and a crash in the middle of a save."""

from __future__ import annotations

import builtins
import collections
import dataclasses
import itertools
import json
import os
import pathlib
import pickle
import re
import signal
import struct
import subprocess
import sys
import time

import ml_dtypes
import numpy as np
import pytest

import unified as u
from conftest import BACKENDS
from unified import _safetensors, nn
from unified.checkpoint import read_metadata

ROOT = pathlib.Path(__file__).resolve().parent.parent
AdamState = collections.namedtuple("AdamState", "count mu nu")


@dataclasses.dataclass
class Schedule:
    lr: float
    warmup: int
    name: str = dataclasses.field(default="cosine", metadata={"static": True})


def mlp(backend: str, seed: int, sizes: tuple[int, ...] = (4, 8, 3)):
    """A small model; the same seed gives bit-identical weights on every backend."""
    with u.use_backend(backend), u.manual_seed(seed):
        layers = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), nn.GELU()]
        return nn.Sequential(*layers[:-1])


def perturb(model, backend: str):
    """Move every weight away from its initial value, the same way on every backend (so loading counts)."""
    rng = np.random.default_rng(123)
    with u.use_backend(backend):
        model.load_state_dict({k: u.asarray(u.to_numpy(v) + rng.standard_normal(v.shape).astype(np.float32))
                               for k, v in model.state_dict().items()})
    return model


def state(model) -> dict[str, np.ndarray]:
    return {k: u.to_numpy(v) for k, v in model.state_dict().items()}


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k  # bit for bit: NaNs, -0.0 and bf16 included


def x_input(backend: str):
    with u.use_backend(backend):
        return u.asarray(np.linspace(-2, 2, 20, dtype=np.float32).reshape(5, 4))


def file_names(path) -> list[str]:
    return list(_safetensors.read(path)[0])


# ----------------------------------------------------------------------------------------- round trips


def test_module_round_trip(backend, tmp_path):
    path = tmp_path / "model.safetensors"
    trained = perturb(mlp(backend, 0), backend)
    u.save(path, trained)
    fresh = mlp(backend, 1)
    assert not np.array_equal(state(fresh)["0.weight"], state(trained)["0.weight"])
    loaded = u.load(path, like=fresh)
    assert loaded is fresh
    assert_same_arrays(state(fresh), state(trained))
    x = x_input(backend)
    np.testing.assert_array_equal(u.to_numpy(fresh(x)), u.to_numpy(trained(x)))
    # a module saved on its own is a plain state-dict file: the names are state_dict()'s
    assert sorted(file_names(path)) == sorted(trained.state_dict())


def make_tree(backend: str, seed: int):
    rng = np.random.default_rng(seed)

    def arr(shape, dtype="float32"):
        return u.asarray(rng.standard_normal(shape).astype(np.float32), dtype=dtype)

    with u.use_backend(backend):
        return {
            "model": perturb(mlp(backend, seed), backend),
            "opt_state": AdamState(count=u.asarray(seed + 3), mu=[arr((8, 4)), arr((8,), "bfloat16")],
                                   nu=(arr(()), None)),
            "schedule": Schedule(lr=1e-3 * (seed + 1), warmup=100 + seed),
            "step": 1000 + seed,
            "loss": float("nan") if seed == 0 else 2.5,
            "tag": f"run-{seed}",
            "done": seed == 0,
            "layers": {0: arr((2,)), 1: [seed, "x"]},
            "host": np.arange(3, dtype=np.int64) + seed,
        }


def test_tree_round_trip_into_like(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    saved = make_tree(backend, 0)
    u.save(path, saved)
    like = make_tree(backend, 1)
    out = u.load(path, like=like)
    assert out["model"] is like["model"]
    assert_same_arrays(state(out["model"]), state(saved["model"]))
    assert type(out["opt_state"]) is AdamState and type(out["schedule"]) is Schedule
    assert out["schedule"] == Schedule(lr=1e-3, warmup=100)
    assert (out["step"], out["tag"], out["done"], out["layers"][1]) == (1000, "run-0", True, [0, "x"])
    assert np.isnan(out["loss"])
    assert out["opt_state"].nu[1] is None
    for got, want in [(out["opt_state"].count, saved["opt_state"].count), (out["opt_state"].mu[1],
                      saved["opt_state"].mu[1]), (out["opt_state"].nu[0], saved["opt_state"].nu[0]),
                      (out["layers"][0], saved["layers"][0])]:
        assert type(got) is type(want) and u.dtype(got) == u.dtype(want)
        assert_same_arrays({"x": u.to_numpy(got)}, {"x": u.to_numpy(want)})
    assert isinstance(out["host"], np.ndarray) and out["host"].dtype == np.int64
    np.testing.assert_array_equal(out["host"], np.arange(3))


def test_tree_round_trip_without_like(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    saved = make_tree(backend, 2)
    u.save(path, saved)
    out = u.load(path)
    # containers come back as builtins: modules, named tuples and dataclasses as dicts
    assert list(out) == list(saved)
    assert_same_arrays({k: u.to_numpy(v) for k, v in out["model"].items()}, state(saved["model"]))
    assert list(out["opt_state"]) == ["count", "mu", "nu"] and isinstance(out["opt_state"]["nu"], tuple)
    assert out["schedule"] == {"lr": 1e-3 * 3, "warmup": 102}  # static fields are structure, kept by `like` only
    assert (out["step"], out["loss"], out["tag"], out["done"]) == (1002, 2.5, "run-2", False)
    assert list(out["layers"]) == [0, 1] and out["layers"][1] == [2, "x"]
    mu = out["opt_state"]["mu"]
    assert u.is_array(mu[1]) and u.dtype(mu[1]) == "bfloat16"
    assert_same_arrays({"mu": u.to_numpy(mu[1])}, {"mu": u.to_numpy(saved["opt_state"].mu[1])})
    # numpy leaves come back on the active backend; 64-bit ones as 64-bit where the backend has them
    host = out["host"]
    assert u.is_array(host)
    np.testing.assert_array_equal(u.to_numpy(host), [2, 3, 4])
    x64 = backend != "jax" or __import__("jax").config.read("jax_enable_x64")
    assert u.dtype(host) == ("int64" if x64 else "int32")


SPECIAL = np.array([0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1e-40, 3.0e38, 65504.0], np.float32)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "float16", "bfloat16", "float32"])
def test_every_dtype_round_trips_bit_for_bit(backend, tmp_path, dtype):
    path = tmp_path / "dtypes.safetensors"
    with np.errstate(over="ignore", invalid="ignore"):
        values = {"vector": SPECIAL.astype(_safetensors.np_dtype(dtype)),
                  "matrix": SPECIAL[:6].reshape(2, 3).astype(_safetensors.np_dtype(dtype)),
                  "scalar": SPECIAL[3:4].reshape(()).astype(_safetensors.np_dtype(dtype)),
                  "empty": np.zeros((2, 0, 3), _safetensors.np_dtype(dtype))}
    arrays = {k: u.asarray(v, dtype=dtype) for k, v in values.items()}
    u.save(path, arrays)
    out = u.load(path, like={k: u.ops.zeros(v.shape, dtype=dtype) for k, v in values.items()})
    assert_same_arrays({k: u.to_numpy(v) for k, v in out.items()}, values)
    out = u.load(path)
    assert_same_arrays({k: u.to_numpy(v) for k, v in out.items()}, values)


@pytest.mark.parametrize("dtype", list(_safetensors.DTYPES.values()))
def test_the_format_layer_round_trips_every_dtype(tmp_path, dtype):
    """Numpy in, numpy out: no backend involved, so this runs once."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=4 * 3 * 8, dtype=np.uint8)
    dt = _safetensors.np_dtype(dtype)
    a = raw[:12 * dt.itemsize].view(dt).reshape(4, 3) if dtype != "bool" else raw[:12].reshape(4, 3) % 2 == 1
    tensors = {"a": a, "odd": np.ones(3, np.uint8), "s": a[0, 0].reshape(())}
    _safetensors.write(tmp_path / "f.safetensors", tensors, {"k": "v"})
    got, meta = _safetensors.read(tmp_path / "f.safetensors")
    assert meta == {"k": "v"}
    assert_same_arrays(dict(sorted(got.items())), dict(sorted(tensors.items())))
    assert all(t.flags.aligned for t in got.values())


# ------------------------------------------------------------------------------------------ across backends


@pytest.mark.parametrize(("source", "target"), [("torch", "jax"), ("jax", "torch")])
def test_a_checkpoint_loads_on_the_other_backend(both, tmp_path, source, target):
    path = tmp_path / "ckpt.safetensors"
    saved = make_tree(source, 0)
    u.save(path, saved)
    like = make_tree(target, 1)
    out = u.load(path, like=like)
    assert out["model"] is like["model"]
    assert type(out["model"]).__unified_backend__ == target
    assert_same_arrays(state(out["model"]), state(saved["model"]))
    mu = out["opt_state"].mu[1]
    assert u.dtype(mu) == "bfloat16"
    with u.use_backend(target):
        assert u.is_array(mu) and type(mu) is type(u.ops.zeros(1))
    assert_same_arrays({"mu": u.to_numpy(mu)}, {"mu": u.to_numpy(saved["opt_state"].mu[1])})
    assert (out["step"], out["tag"]) == (1000, "run-0")
    # the same weights compute the same outputs on the other framework
    np.testing.assert_allclose(u.to_numpy(out["model"](x_input(target))),
                               u.to_numpy(saved["model"](x_input(source))), rtol=1e-6, atol=1e-6)
    # and a module saved on its own, loaded without `like` on the other backend, gives the same arrays
    u.save(path, saved["model"])
    with u.use_backend(target):
        flat = u.load(path)
    assert_same_arrays({k: u.to_numpy(v) for k, v in flat.items()}, state(saved["model"]))


# ------------------------------------------------------------------------------- the official library


def _torch_or_skip():
    if "torch" not in BACKENDS:
        pytest.skip("the official library's bfloat16 support is its torch API: needs torch")
    import torch

    return torch


def test_the_official_library_reads_our_files(backend, tmp_path):
    torch = _torch_or_skip()
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = tmp_path / "ckpt.safetensors"
    saved = make_tree(backend, 0)
    u.save(path, saved, metadata={"run": "interop"})
    theirs = load_file(path)
    ours, _ = _safetensors.read(path)
    assert sorted(theirs) == sorted(ours)
    for k, t in theirs.items():
        a = (t.view(torch.int16).numpy().view(ml_dtypes.bfloat16) if t.dtype == torch.bfloat16 else t.numpy())
        assert_same_arrays({k: a}, {k: ours[k]})
    assert theirs["opt_state.mu.1"].dtype == torch.bfloat16
    with safe_open(path, "np") as f:
        assert f.metadata()["run"] == "interop"
    # without bfloat16, its numpy API reads our files too
    from safetensors.numpy import load_file as load_numpy

    u.save(path, {"w": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.array([True, False])})
    got = load_numpy(path)
    np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float16).reshape(2, 3))
    np.testing.assert_array_equal(got["b"], [True, False])


def test_we_read_the_official_librarys_files(backend, tmp_path):
    torch = _torch_or_skip()
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file

    path = tmp_path / "theirs.safetensors"
    g = torch.Generator().manual_seed(0)
    tensors = {"emb.weight": torch.randn(5, 3, generator=g).to(torch.bfloat16),
               "a": torch.randn(7, generator=g), "ids": torch.arange(4, dtype=torch.int64),
               "mask": torch.tensor([True, False, True]), "h": torch.randn(2, 2, generator=g).half(),
               "empty": torch.zeros(0, 4), "scalar": torch.tensor(3.5)}
    save_file(tensors, path, metadata={"format": "pt"})
    ours, meta = _safetensors.read(path)
    assert meta == {"format": "pt"} and read_metadata(path) == {"format": "pt"}
    with u.use_backend("torch"):
        assert_same_arrays({k: ours[k] for k in tensors}, {k: u.to_numpy(t) for k, t in tensors.items()})
    flat = u.load(path)  # no structure recorded: a flat dict of its tensors, on the active backend
    assert sorted(flat) == sorted(tensors) and u.dtype(flat["emb.weight"]) == "bfloat16"
    save_numpy({"x": np.arange(5, dtype=np.uint16), "y": np.eye(2)}, str(path))
    got, _ = _safetensors.read(path)
    np.testing.assert_array_equal(got["x"], np.arange(5, dtype=np.uint16))
    assert got["y"].dtype == np.float64


def test_a_state_dict_written_by_torch_loads_into_a_model(backend, tmp_path):
    """The Hugging Face way: safetensors.torch.save_file(model.state_dict()), then u.load(path, like=model)."""
    _torch_or_skip()
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    torch_model = perturb(mlp("torch", 0), "torch")
    save_file({k: v.contiguous() for k, v in torch_model.state_dict().items()}, path)
    model = u.load(path, like=mlp(backend, 1))
    assert_same_arrays(state(model), state(torch_model))


# ------------------------------------------------------------------------------------ `like` mismatches


def test_a_mismatch_lists_every_problem_at_once_and_loads_nothing(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    with u.use_backend(backend):
        u.save(path, {"model": perturb(mlp(backend, 0, (4, 8, 3)), backend), "step": 5, "ema": u.ops.ones(3),
                      "count": 2})
        like = {"model": mlp(backend, 1, (4, 8, 5, 2)), "step": 0, "lr": 0.1, "count": u.ops.zeros(())}
    before = state(like["model"])
    with pytest.raises(u.CheckpointError) as info:
        u.load(path, like=like)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, u.UnifiedError)
    assert err.missing_keys == ["lr", "model.4.weight", "model.4.bias"]
    assert err.unexpected_keys == ["ema"]
    assert err.wrong_shapes == {"model.2.weight": ((5, 8), (3, 8)), "model.2.bias": ((5,), (3,))}
    text = str(err)
    for part in ("Missing from the file (3): lr, model.4.weight, model.4.bias",
                 "Unexpected in the file, absent from `like` (1): ema",
                 "model.2.weight (`like` has (5, 8), the file (3, 8))",
                 "count: `like` has an array of shape (), the file the value 2",
                 "nothing was loaded"):
        assert part in text, text
    # model.0 matched, but nothing was loaded: no half-loaded model
    assert_same_arrays(state(like["model"]), before)


def test_a_module_saved_inside_a_dict_does_not_load_as_the_root(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    u.save(path, {"model": mlp(backend, 0)})
    with pytest.raises(u.CheckpointError, match=r"Missing from the file \(4\): 0.weight") as info:
        u.load(path, like=mlp(backend, 1))
    assert info.value.unexpected_keys == ["model.0.bias", "model.0.weight", "model.2.bias", "model.2.weight"]
    assert "without `like`" in str(info.value)


def test_a_leaf_of_an_unsupported_kind_in_like_is_reported(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    u.save(path, {"a": 1})
    with pytest.raises(u.CheckpointError, match="a: `like` has an instance of object, which a checkpoint cannot"):
        u.load(path, like={"a": object()})


# ------------------------------------------------------------------------------------------- save errors


@pytest.mark.parametrize(("tree", "metadata", "match"), [
    ({"f": print}, None, "Cannot save the builtins.builtin_function_or_method at f"),
    ({"c": np.ones(2, np.complex64)}, None, "Cannot save c: it is complex64"),
    ({("a", "b"): 1}, None, r"has keys \[\('a', 'b'\)\]"),
    ({"a.b": 1, "a": {"b": 2}}, None, "both named 'a.b'"),
    ({"x": 1}, {"unified.tree": "{}"}, "reserves for itself"),
    ({"x": 1}, {"step": 10}, "metadata must map str to str"),
], ids=["function", "complex", "tuple key", "name collision", "reserved key", "non-str metadata"])
def test_what_cannot_be_saved_is_refused_and_the_old_file_kept(tmp_path, tree, metadata, match):
    """Refused before any backend array is made: runs once."""
    path = tmp_path / "ckpt.safetensors"
    u.save(path, {"x": 1})
    with pytest.raises(u.CheckpointError, match=match):
        u.save(path, tree, metadata=metadata)
    assert u.load(path) == {"x": 1}
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    """The failure is in the file system (os.fsync), under any backend: runs once."""
    path = tmp_path / "ckpt.safetensors"
    u.save(path, {"step": 1, "w": np.arange(4.0)})

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        u.save(path, {"step": 2, "w": np.zeros(1000)})
    monkeypatch.undo()
    assert u.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_metadata_round_trips_and_names_follow_tree_paths(backend, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    tree = {"model": mlp(backend, 0), "opt": [u.ops.ones(2), {"m": u.ops.zeros(3)}], "step": 3}
    u.save(path, tree, metadata={"config": json.dumps({"d": 4}), "note": "héllo ✓"})
    assert read_metadata(path) == {"config": '{"d": 4}', "note": "héllo ✓"}
    paths = [u.tree.keystr(p) for p, x in u.tree.leaves_with_path(tree["opt"])]
    assert sorted(file_names(path)) == sorted([f"model.{k}" for k in tree["model"].state_dict()]
                                              + [f"opt.{p}" for p in paths])


# ---------------------------------------------------------------------------------------- damaged files


def good_file(tmp_path) -> pathlib.Path:
    """A small checkpoint with two dtypes and a scalar (a few hundred bytes), made with numpy."""
    path = tmp_path / "good.safetensors"
    u.save(path, {"w": np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6),
                  "b": np.arange(5, dtype=np.int16), "step": 7})
    return path


def test_a_file_cut_anywhere_is_reported_as_truncated(backend, tmp_path):
    data = good_file(tmp_path).read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    cut = tmp_path / "cut.safetensors"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(u.CheckpointError, match="truncated") as info:
            u.load(cut)
        if size < 8:
            assert "fewer than the 8 that give the header's length" in str(info.value)
        elif size < header_end:
            assert f"its header is {header_end - 8} bytes long, but only {size - 8} bytes follow" in str(info.value)
        else:
            assert f"the file has {size - header_end}" in str(info.value)
    cut.write_bytes(data[:header_end + 10])
    message = f"{cut} is truncated: the header says {len(data) - header_end} bytes of data, the file has 10."
    with pytest.raises(u.CheckpointError, match=re.escape(message)):
        u.load(cut)


def test_any_flipped_byte_is_detected(tmp_path):
    """Every single-byte corruption of a file, header or data, raises a CheckpointError.

    Runs once: it reads through the format layer only (a few hundred reads).
    """
    data = good_file(tmp_path).read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    bad = tmp_path / "bad.safetensors"
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x5A
        bad.write_bytes(bytes(flipped))
        with pytest.raises(u.CheckpointError) as info:
            _safetensors.read(bad)
        if i >= header_end:
            assert "is corrupted: the CRC32 of its data is" in str(info.value)


def test_corrupted_data_and_header_name_the_checksum(backend, tmp_path):
    path = good_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(u.CheckpointError, match=r"corrupted: the CRC32 of its data is [0-9a-f]{8}, but its header "
                                                r"records [0-9a-f]{8}\. The file changed after it was written"):
        u.load(path)
    # a header edit that keeps it valid JSON, of the right sizes (a transposed shape), is caught by its CRC
    path = good_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"shape":[4,6]', b'"shape":[6,4]'))
    with pytest.raises(u.CheckpointError, match="has a corrupted header: its CRC32 is"):
        u.load(path)


def raw_file(path: pathlib.Path, header: dict, data: bytes = b"", *, length: int | None = None) -> pathlib.Path:
    """A file made by hand, without checksums (as other writers make them)."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED = {
    "text file": (b"this is not a checkpoint, just some text\n", "is not a safetensors file: its first 8 bytes give"),
    "torch.save (zip)": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40), "It is a zip archive, as torch.save"),
    "pickle": (pickle.dumps({"w": [1.0, 2.0]}), "looks like a pickle, which unified never loads"),
    "header length past the end": (struct.pack("<Q", 4096) + b'{"a":1}', "its header is 4096 bytes long, but only 7"),
    "empty header": (struct.pack("<Q", 0), "its header does not start with '{'"),
    "garbage JSON": (struct.pack("<Q", 12) + b'{"a": [1, 2 ', "is not valid JSON"),
    "not UTF-8": (struct.pack("<Q", 7) + b'{"\xff":1}', "it is not UTF-8"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bytes_are_refused_clearly(backend, tmp_path, case):
    content, match = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(u.CheckpointError, match=match):
        u.load(path)


MALFORMED_HEADERS = {
    "unknown dtype": ({"a": {"dtype": "F8_E5M2", "shape": [2], "data_offsets": [0, 2]}}, 2,
                      "has dtype 'F8_E5M2', which unified cannot read"),
    "negative shape": ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8, "non-negative integers"),
    "float shape": ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, 8, "non-negative integers"),
    "reversed offsets": ({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, 8, "0 <= begin <= end"),
    "size not shape": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8,
                       "is F32 of shape \\[3\\], which takes 12 bytes, but its data_offsets \\[0, 8\\] give 8"),
    "missing field": ({"a": {"dtype": "F32", "shape": [2]}}, 8, "expected the fields dtype, shape and data_offsets"),
    "overlap": ({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12,
                "tensors 'a' and 'b' overlap"),
    "gap": ({"a": F32x2, "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}, 16,
            "bytes 8 to 12 of the data belong to no tensor"),
    "trailing bytes": ({"a": F32x2}, 11, "has 3 bytes after its data"),
    "data missing": ({"a": F32x2}, 5, "truncated: the header says 8 bytes of data, the file has 5"),
    "metadata not strings": ({"__metadata__": {"step": 10}, "a": F32x2}, 8, "must map strings to strings"),
    "not a dict entry": ({"a": [0, 8]}, 8, "has list, expected the fields"),
}


@pytest.mark.parametrize("case", list(MALFORMED_HEADERS))
def test_malformed_headers_are_refused_clearly(backend, tmp_path, case):
    header, n_data, match = MALFORMED_HEADERS[case]
    path = raw_file(tmp_path / "bad.safetensors", header, bytes(n_data))
    with pytest.raises(u.CheckpointError, match=match):
        u.load(path)


def test_a_duplicated_name_is_refused(backend, tmp_path):
    text = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
    path = tmp_path / "dup.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\x01\x02")
    with pytest.raises(u.CheckpointError, match="names 'a' twice"):
        u.load(path)


def test_a_damaged_structure_is_refused(backend, tmp_path):
    data = np.zeros(2, np.float32).tobytes()
    for tree_text, match in [('{"type":"array"', "not valid JSON"),
                             ('{"type":"dict","items":[["a",{"type":"pickle"}]]}', "not a structure unified writes"),
                             ('{"type":"dict","items":[["b",{"type":"array"}]]}', r"names tensors the file lacks")]:
        header = {"__metadata__": {"unified.tree": tree_text}, "a": F32x2}
        path = raw_file(tmp_path / "bad.safetensors", header, data)
        with pytest.raises(u.CheckpointError, match=match):
            u.load(path)


# --------------------------------------------------------------------------------------- no code is run


def test_loading_runs_no_code(backend, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    payload = pickle.dumps(print).decode("latin-1")
    u.save(path, {"step": code, "blob": payload, "w": u.ops.ones(2)}, metadata={"exploit": code})

    def refuse(*args, **kwargs):
        raise AssertionError("checkpoint loading called pickle or eval")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    out = u.load(path)
    like = u.load(path, like={"step": "", "blob": "", "w": u.ops.zeros(2)})
    meta = read_metadata(path)
    monkeypatch.undo()
    assert out["step"] == like["step"] == meta["exploit"] == code  # just text
    assert out["blob"] == payload
    assert not marker.exists()


# -------------------------------------------------------------------------------- a crash during a save

CHILD = """
import sys
import numpy as np
import unified as u

path = sys.argv[1]
u.save(path, {"w": np.arange(10, dtype=np.float32), "step": 1})
big = np.ones(50_000_000, np.float32)  # 200 MB
print("saving", flush=True)
u.save(path, {"w": big, "step": 2})
print("saved", flush=True)
"""


def test_a_crash_in_the_middle_of_a_save_keeps_the_previous_checkpoint(tmp_path):
    """SIGKILL a process while it writes a 200 MB checkpoint over a small one: the small one survives.

    The child saves numpy arrays, so no backend is involved: runs once. It is killed when its
    temporary file has reached a given size (so the kill lands mid-write, not by luck of timing).
    """
    if sys.platform == "win32":
        pytest.skip("needs SIGKILL")
    killed_mid_write = 0
    for threshold in (0, 50_000_000, 200_000_000):  # at the header, midway, during the fsync
        directory = tmp_path / f"run{threshold}"
        directory.mkdir()
        path = directory / "ckpt.safetensors"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                                 cwd=ROOT)
        try:
            assert child.stdout is not None and child.stdout.readline() == "saving\n"
            deadline = time.monotonic() + 20
            while child.poll() is None and time.monotonic() < deadline:
                temps = [e for e in os.scandir(directory) if e.name.endswith(".tmp")]
                if temps and temps[0].stat().st_size >= threshold:
                    break
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        left = [name for name in os.listdir(directory) if name.endswith(".tmp")]
        if left:  # killed before the rename: the previous checkpoint is there, whole
            killed_mid_write += 1
            os.remove(directory / left[0])  # 200 MB that pytest would keep
            out = u.load(path)
            assert out["step"] == 1
            np.testing.assert_array_equal(u.to_numpy(out["w"]), np.arange(10, dtype=np.float32))
            assert _safetensors.read(path)[1]["unified.format"] == "1"
        else:  # the save had finished: the new checkpoint is there, whole
            out = u.load(path)
            assert out["step"] == 2 and u.to_numpy(out["w"]).shape == (50_000_000,)
    assert killed_mid_write >= 1
