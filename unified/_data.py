"""Text for `unified train`: a built-in corpus on every machine, byte-level tokens, reproducible batches."""

from __future__ import annotations

import glob
import os
import sysconfig
from dataclasses import dataclass

import numpy as np

from unified._errors import UnifiedError

#: Byte-level tokens: any text (any language, any file) encodes with no tokenizer to ship.
VOCAB_SIZE = 256


class DataError(UnifiedError, ValueError):
    """Training text that cannot be used: missing, empty, or shorter than one block."""


def builtin_corpus() -> tuple[bytes, str]:
    """The Python standard library's own top-level sources (about 4.7 MB on CPython 3.11).

    Present wherever Python is, so `unified train` needs no download. The files
    are read in sorted order, so the corpus is the same on every run of one
    Python version.
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(stdlib, "*.py")))
    if not files:
        raise DataError(f"No Python sources under {stdlib} to train on; pass --data FILE with your own text.")
    parts = []
    for path in files:
        with open(path, "rb") as f:
            parts.append(f"# ---- {os.path.basename(path)}\n".encode() + f.read())
    return b"\n".join(parts), f"the Python {sysconfig.get_python_version()} standard library ({len(files)} files)"


def read_corpus(path: str | None) -> tuple[bytes, str]:
    """The bytes of ``path`` (or the built-in corpus), and a description of them."""
    if path is None:
        return builtin_corpus()
    if not os.path.exists(path):
        raise DataError(f"--data {path}: no such file. Give a text file, or leave --data out to train on "
                        "the built-in corpus (the Python standard library's sources).")
    if os.path.isdir(path):
        raise DataError(f"--data {path} is a directory; give one text file (concatenate several with cat).")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise DataError(f"--data {path} is empty; it needs text to learn from.")
    return data, f"{path} ({len(data):,} bytes)"


@dataclass(frozen=True)
class Corpus:
    """Byte tokens split into training and validation text (the last 10% of the file)."""

    train: np.ndarray
    val: np.ndarray
    description: str

    @classmethod
    def from_bytes(cls, data: bytes, description: str, block_size: int) -> Corpus:
        tokens = np.frombuffer(data, dtype=np.uint8)
        n_val = max(len(tokens) // 10, block_size + 1)
        train, val = tokens[:-n_val], tokens[-n_val:]
        if len(train) < block_size + 1:
            raise DataError(
                f"{description} holds {len(tokens):,} bytes: too short for training blocks of {block_size} tokens "
                f"(it needs at least {2 * (block_size + 1):,}: one block to train on, one to validate). "
                "Give more text, or a smaller model (--block-size)."
            )
        return cls(train, val, description)

    def batch(self, split: str, seed: int, step: int, batch_size: int, block_size: int) -> tuple[np.ndarray, ...]:
        """``(inputs, targets)``, each ``(batch_size, block_size)`` int32; a pure function of (seed, step).

        Batches depend on nothing but their arguments, so a resumed run sees
        exactly the batches the interrupted one would have.
        """
        data = self.train if split == "train" else self.val
        rng = np.random.default_rng([seed, step, 0 if split == "train" else 1])
        starts = rng.integers(0, len(data) - block_size, size=batch_size)
        rows = np.stack([data[s:s + block_size + 1] for s in starts]).astype(np.int32)
        return rows[:, :-1], rows[:, 1:]


def encode(text: str) -> np.ndarray:
    """UTF-8 bytes of ``text`` as int32 token ids."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)


def decode(tokens: np.ndarray) -> str:
    """Token ids back to text (invalid UTF-8, which a byte model can produce, shown as U+FFFD)."""
    return bytes(np.asarray(tokens, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")
