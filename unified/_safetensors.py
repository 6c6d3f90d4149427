"""The safetensors file format: a strict reader, and an atomic writer with checksums.

A safetensors file is three parts, and nothing else:

* 8 bytes: ``N``, the length of the header, an unsigned little-endian 64-bit int;
* ``N`` bytes: the header, UTF-8 JSON (padded with spaces so that the data starts on a
  multiple of 8)::

      {"__metadata__": {"step": "10"},
       "fc.weight": {"dtype": "F32", "shape": [16, 4], "data_offsets": [0, 256]}, ...}

  ``data_offsets`` are ``[begin, end)`` in the data buffer; ``__metadata__`` maps strings to strings;
* the data buffer: every tensor's bytes, little-endian, row-major, back to back, with no gap,
  no overlap, and nothing after the last tensor.

Why our own reader and writer rather than the ``safetensors`` package: its numpy API cannot load
bfloat16 (``safetensors.numpy.load_file`` raises ``KeyError: 'BF16'``); its torch API would make torch a
dependency of JAX users; and neither writes atomically nor checks what it reads against a checksum.
Here a write goes to a temporary file in the same directory, is flushed and fsynced, and then renamed
over the destination (``os.replace`` is atomic), so a crash leaves the old file or the new one, never
half of one. The writer records two CRC32s in ``__metadata__`` (``unified.crc32`` of the data buffer,
``unified.header_crc32`` of the rest of the header), which the reader verifies when present; files from
other writers (Hugging Face, ``safetensors.torch.save_file``) have none and are accepted. The files are
the format exactly: the test suite loads ours with the official library and theirs with ours.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct
import sys
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from unified._errors import CheckpointError

__all__ = ["CheckpointError", "read", "read_header", "write"]

#: The format's codes, and the canonical dtype names they stand for.
DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "U32": "uint32",
    "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16", "BF16": "bfloat16",
    "F32": "float32", "F64": "float64",
}
_CODES = {name: code for code, name in DTYPES.items()}
CRC_KEY = "unified.crc32"
HEADER_CRC_KEY = "unified.header_crc32"
MAX_HEADER = 100_000_000  # bytes, the official library's limit: a larger length means "not this format"
_FIELDS = ("data_offsets", "dtype", "shape")
_BIG_ENDIAN = sys.byteorder == "big"


def np_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype of a canonical name; bfloat16 is ``ml_dtypes.bfloat16`` (numpy has none)."""
    if name != "bfloat16":
        return np.dtype(name)
    try:
        import ml_dtypes
    except ImportError as e:  # only a torch-only install can lack it (JAX depends on it)
        raise CheckpointError("Reading bfloat16 tensors needs the ml_dtypes package: pip install ml_dtypes.") from e
    return np.dtype(ml_dtypes.bfloat16)


# ----------------------------------------------------------------------------------------------- writing


def write(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Write ``tensors`` and ``metadata`` to ``path`` as safetensors, atomically, with CRC32s.

    Tensors are laid out largest itemsize first (as the official writer does), so that each one
    starts at a multiple of its itemsize and can be memory-mapped in place.

    Raises:
        CheckpointError: a tensor of a dtype the format lacks, a reserved name or metadata key.
        OSError: the file could not be written (``path`` is left as it was).
    """
    path = os.fspath(path)
    for key in (CRC_KEY, HEADER_CRC_KEY):
        if key in metadata:
            raise CheckpointError(f"The metadata key {key!r} is reserved for the checksum; rename yours.")
    if "__metadata__" in tensors:
        raise CheckpointError("A tensor cannot be named '__metadata__': the format reserves that name.")
    arrays: dict[str, np.ndarray] = {}
    for name, a in tensors.items():
        if a.dtype.name not in _CODES:
            raise CheckpointError(
                f"Tensor {name!r} is {a.dtype.name}, which safetensors cannot store; it stores "
                f"{', '.join(_CODES)}. Convert it first (e.g. complex as two real arrays)."
            )
        arrays[name] = a
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header: dict[str, Any] = {}
    offset = crc = 0
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _CODES[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        crc = zlib.crc32(_raw_bytes(a), crc)
    meta = {**metadata, CRC_KEY: f"{crc:08x}"}
    meta[HEADER_CRC_KEY] = f"{_header_crc(header, meta):08x}"
    text = json.dumps({"__metadata__": meta, **header}, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)

    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    # os.open rather than tempfile.mkstemp: mode 0o666 under the umask, as a plain open() would give,
    # not mkstemp's 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for name in order:
                f.write(_raw_bytes(arrays[name]))
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)  # and the rename itself survives a power cut


def _raw_bytes(a: np.ndarray) -> memoryview:
    """The bytes of ``a``, row-major and little-endian, without a copy where it already is."""
    a = np.ascontiguousarray(a)
    if _BIG_ENDIAN:
        a = a.byteswap()
    return a.reshape(-1).view(np.uint8).data


def _fsync_directory(directory: str) -> None:
    if os.name != "posix":  # Windows cannot open a directory; its rename is durable on its own
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _header_crc(header: Mapping[str, Any], metadata: Mapping[str, str]) -> int:
    """CRC32 of the header in a canonical form (sorted keys), leaving out the header CRC itself."""
    meta = {k: v for k, v in metadata.items() if k != HEADER_CRC_KEY}
    canonical = json.dumps({**header, "__metadata__": meta}, sort_keys=True, separators=(",", ":"))
    return zlib.crc32(canonical.encode())


# ----------------------------------------------------------------------------------------------- reading


class _Entry:
    __slots__ = ("begin", "dtype", "end", "name", "shape")

    def __init__(self, name: str, dtype: str, shape: tuple[int, ...], begin: int, end: int) -> None:
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


def read(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors (in file order) and the metadata of a safetensors file, every part of it checked.

    The returned metadata leaves out the checksums, which are verified here.

    Raises:
        CheckpointError: the file is truncated, corrupted (a checksum differs), malformed in any
            way, or not a safetensors file; the message says which, and where.
        OSError: the file cannot be opened.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        entries, metadata, data_size = _read_header(f, name)
        buffer = np.empty(data_size, np.uint8)
        view, done = buffer.data, 0
        while done < data_size:
            n = f.readinto(view[done:])
            if not n:  # the file shrank after we measured it
                raise CheckpointError(f"{name} is truncated: the header says {data_size} bytes of data, "
                                      f"the file has {done}.")
            done += n
    want = metadata.pop(CRC_KEY, None)
    if want is not None and (got := f"{zlib.crc32(buffer.data):08x}") != want:
        raise CheckpointError(
            f"{name} is corrupted: the CRC32 of its data is {got}, but its header records {want}. "
            "The file changed after it was written (a disk error, an incomplete copy); restore it from a copy."
        )
    tensors = {}
    for e in entries:
        a = buffer[e.begin:e.end].view(np_dtype(e.dtype)).reshape(e.shape)
        if not a.flags.aligned:  # another writer's layout: copy rather than hand out misaligned arrays
            a = a.copy()
        tensors[e.name] = a.byteswap() if _BIG_ENDIAN else a
    return tensors, metadata


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """``{name: (dtype, shape)}`` and the metadata of a safetensors file, without reading its data.

    The header is checked as by :func:`read` (and its checksum verified); the data is not.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        entries, metadata, _ = _read_header(f, name)
    metadata.pop(CRC_KEY, None)
    return {e.name: (e.dtype, e.shape) for e in entries}, metadata


def _read_header(f: BinaryIO, name: str) -> tuple[list[_Entry], dict[str, str], int]:
    """The tensor entries sorted by offset, the metadata (checksums included) and the data's size."""
    size = os.fstat(f.fileno()).st_size
    if size < 8:
        raise CheckpointError(f"{name} is truncated or not a safetensors file: it holds {size} bytes, fewer "
                              "than the 8 that give the header's length.")
    first = f.read(8)
    (n,) = struct.unpack("<Q", first)
    if n > MAX_HEADER:
        raise CheckpointError(
            f"{name} is not a safetensors file: its first 8 bytes give a header length of {n} bytes, over the "
            f"format's limit of {MAX_HEADER}.{_what_it_looks_like(first)}"
        )
    if n > size - 8:
        raise CheckpointError(f"{name} is truncated: its header is {n} bytes long, but only {size - 8} bytes "
                              "follow the length.")
    raw = f.read(n)
    if len(raw) < n:
        raise CheckpointError(f"{name} is truncated: its header is {n} bytes long, the file holds {len(raw)}.")
    if not raw.startswith(b"{"):
        raise CheckpointError(f"{name} is not a safetensors file: its header does not start with '{{'."
                              f"{_what_it_looks_like(first)}")
    header = _parse_json(raw, name)
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{name} has a malformed header: '__metadata__' must map strings to strings, "
                              f"got {metadata!r:.200}.")
    want = metadata.pop(HEADER_CRC_KEY, None)
    if (want is None) != (CRC_KEY not in metadata):  # so that one flipped byte in a key cannot disable both
        raise CheckpointError(f"{name} has a corrupted header: it records one of its checksums ({CRC_KEY!r}, "
                              f"{HEADER_CRC_KEY!r}) but not the other; restore it from a copy.")
    if want is not None and (got := f"{_header_crc(header, metadata):08x}") != want:
        raise CheckpointError(
            f"{name} has a corrupted header: its CRC32 is {got}, but the header records {want}. The file "
            "changed after it was written (a disk error, an edit); restore it from a copy."
        )
    entries = [_entry(name, key, info) for key, info in header.items()]
    entries.sort(key=lambda e: (e.begin, e.end))
    end, last = 0, ""
    for e in entries:  # the data must be covered exactly: no overlap, no gap
        if e.begin < end:
            raise CheckpointError(f"{name} has a malformed header: tensors {last!r} and {e.name!r} overlap ({last!r} "
                                  f"ends at byte {end} of the data, {e.name!r} starts at byte {e.begin}).")
        if e.begin > end:
            raise CheckpointError(f"{name} has a malformed header: bytes {end} to {e.begin} of the data belong to "
                                  f"no tensor (a gap before {e.name!r}); the format allows none.")
        end, last = e.end, e.name
    available = size - 8 - n
    if end > available:
        raise CheckpointError(f"{name} is truncated: the header says {end} bytes of data, the file has {available}.")
    if end < available:
        raise CheckpointError(f"{name} has {available - end} bytes after its data, which the header does not "
                              f"account for (it says {end} bytes of data): the file was damaged or appended to.")
    return entries, metadata, end


def _parse_json(raw: bytes, name: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:  # json.loads would keep the last silently
                raise CheckpointError(f"{name} has a malformed header: it names {key!r} twice.")
            out[key] = value
        return out

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{name} has a corrupted header: it is not UTF-8 ({e.reason} at byte {e.start}).") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{name} has a corrupted header: it is not valid JSON ({e.msg} at character "
                              f"{e.pos}).") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} has a malformed header: expected a JSON object, got a {type(header).__name__}.")
    return header


def _entry(name: str, key: str, info: Any) -> _Entry:
    where = f"{name} has a malformed header: tensor {key!r}"
    if not isinstance(info, dict) or tuple(sorted(info)) != _FIELDS:
        fields = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise CheckpointError(f"{where} has {fields}, expected the fields dtype, shape and data_offsets.")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code not in DTYPES:
        raise CheckpointError(f"{where} has dtype {code!r}, which unified cannot read; it reads "
                              f"{', '.join(DTYPES)}.")
    if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
        raise CheckpointError(f"{where} has shape {shape!r}, expected a list of non-negative integers.")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)
            and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{where} has data_offsets {offsets!r}, expected [begin, end] with "
                              "0 <= begin <= end.")
    dtype = DTYPES[code]
    nbytes = math.prod(shape) * np_dtype(dtype).itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise CheckpointError(f"{where} is {code} of shape {shape}, which takes {nbytes} bytes, but its "
                              f"data_offsets {offsets} give {offsets[1] - offsets[0]}.")
    return _Entry(key, dtype, tuple(shape), offsets[0], offsets[1])


def _is_count(x: Any) -> bool:
    return type(x) is int and x >= 0


def _what_it_looks_like(first: bytes) -> str:
    if first.startswith(b"PK\x03\x04"):
        return (" It is a zip archive, as torch.save writes: load it with torch.load(path, weights_only=True) "
                "and save it again with u.save.")
    if first.startswith(b"\x80"):
        return " It looks like a pickle, which unified never loads (unpickling can run arbitrary code)."
    return ""
