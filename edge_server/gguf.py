"""Check a GGUF file's header before handing it to llama.cpp.

llama.cpp reports a bad file with a one-line log and a NULL model; this
reads the header itself (magic, version, metadata, tensor table) and says
what is wrong with a catalogue code and the path:

- not GGUF at all             -> GGUF_INVALID
- GGUF of a version we cannot -> GGUF_VERSION
- cut short (header or data)  -> GGUF_TRUNCATED
- missing / unreadable        -> MODEL_NOT_FOUND / MODEL_LOAD_FAILED

Only the header is read (memory-mapped, so the tensor data is never
touched). Every count and length in it comes from the file and may be
garbage, so each one is checked against the bytes that are left before
anything is allocated or looped over: a malformed file ends in an error,
never in a huge allocation or a long loop.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import ErrorSpec, LLMError

__all__ = ["GGUFInfo", "check_gguf"]

MAGIC: Final = b"GGUF"
SUPPORTED_VERSIONS: Final = (2, 3)
DEFAULT_ALIGNMENT: Final = 32
_MAX_DIMS: Final = 4  # GGML_MAX_DIMS
_MAX_DEPTH: Final = 4  # arrays of arrays; real files use none
_KEPT_STRING: Final = 64 * 1024  # longest string value kept (chat templates are a few KB)

#: Metadata values kept in GGUFInfo.metadata; the rest is walked over.
WANTED: Final = frozenset(
    {
        "general.architecture",
        "general.name",
        "general.alignment",
        "tokenizer.chat_template",
        "tokenizer.ggml.model",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.add_bos_token",
    }
)

# GGUF value types: fixed-size scalars by struct format.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(13)
_SCALARS: Final[Mapping[int, str]] = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}
_SIZES: Final[Mapping[int, int]] = {t: struct.calcsize(f) for t, f in _SCALARS.items()}

# ggml tensor types: (elements per block, bytes per block), from ggml.c's type_traits.
# A type not listed here only loses the exact end-of-data check for its tensor.
_GGML_TYPES: Final[Mapping[int, tuple[int, int]]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
}


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    path: Path
    version: int
    tensor_count: int
    kv_count: int
    file_size: int
    data_offset: int  # where the tensor data starts
    data_end: int  # where the last tensor's data ends (a lower bound when a tensor type is unknown)
    metadata: dict[str, Any] = field(default_factory=dict)  # the WANTED keys that are present

    @property
    def architecture(self) -> str | None:
        return self._str("general.architecture")

    @property
    def name(self) -> str | None:
        return self._str("general.name")

    @property
    def chat_template(self) -> str | None:
        return self._str("tokenizer.chat_template")

    @property
    def context_length(self) -> int | None:
        arch = self.architecture
        return self._int(f"{arch}.context_length") if arch else None

    @property
    def eos_token_id(self) -> int | None:
        return self._int("tokenizer.ggml.eos_token_id")

    @property
    def bos_token_id(self) -> int | None:
        return self._int("tokenizer.ggml.bos_token_id")

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Truncated(Exception):
    pass


class _Invalid(Exception):
    pass


class _Reader:
    """Little-endian reads from a buffer; any read past its end is _Truncated."""

    def __init__(self, buf: Any, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.size - self.pos:
            raise _Truncated(f"{what} needs {n} bytes at offset {self.pos}; the file has {self.size - self.pos} left")

    def scalar(self, vtype: int, what: str) -> Any:
        size = _SIZES[vtype]
        self.need(size, what)
        (value,) = struct.unpack_from(_SCALARS[vtype], self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(_UINT32, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(_UINT64, what))

    def string(self, what: str, keep: bool) -> str | None:
        n = self.u64(f"{what} length")
        self.need(n, what)
        start = self.pos
        self.pos += n
        if not keep or n > _KEPT_STRING:
            return None
        try:
            return bytes(self.buf[start : self.pos]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Invalid(f"{what} at offset {start} is not UTF-8") from exc

    def value(self, vtype: int, what: str, keep: bool, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype, what)
        if vtype == _STRING:
            return self.string(what, keep)
        if vtype != _ARRAY:
            raise _Invalid(f"{what} has unknown value type {vtype}")
        if depth >= _MAX_DEPTH:
            raise _Invalid(f"{what} nests arrays deeper than {_MAX_DEPTH}")
        etype = self.u32(f"{what} element type")
        count = self.u64(f"{what} element count")
        if etype in _SIZES:
            self.need(count * _SIZES[etype], what)  # skipped, not read: arrays are vocabularies
            self.pos += count * _SIZES[etype]
            return None
        if etype not in (_STRING, _ARRAY):
            raise _Invalid(f"{what} has unknown element type {etype}")
        # Each string or array element takes at least 8 bytes (its length):
        # a count the file cannot hold is refused before the loop starts.
        self.need(count * 8, what)
        if etype == _STRING:  # the vocabulary and merges: ~100k strings, so a tight loop
            buf, size, pos, unpack = self.buf, self.size, self.pos, struct.Struct("<Q").unpack_from
            for _ in range(count):
                if size - pos < 8:
                    self.pos = pos
                    self.need(8, f"{what} element length")
                pos += 8 + unpack(buf, pos)[0]
                if pos > size:
                    raise _Truncated(f"{what} runs past the end of the file ({size} bytes)")
            self.pos = pos
            return None
        for _ in range(count):
            self.value(etype, what, keep=False, depth=depth + 1)
        return None


def _error(spec: ErrorSpec, path: Path, detail: str, cause: BaseException | None = None, **context: Any) -> LLMError:
    err = spec.error(f"{spec.message} {path}: {detail}", path=str(path), detail=detail, **context)
    if cause is not None:
        err.__cause__ = cause
    return err


def check_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read and check a GGUF file's header; raise a coded LLMError when it is not a usable GGUF."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                head = f.read(8)
                if MAGIC.startswith(head[:4]):  # empty, or a cut-off GGUF magic
                    raise _error(cat.GGUF_TRUNCATED, path, f"only {size} bytes", file_size=size)
                raise _error(cat.GGUF_INVALID, path, "no GGUF magic", file_size=size)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(path, buf, size)
    except LLMError:
        raise
    except FileNotFoundError as exc:
        raise _error(cat.MODEL_NOT_FOUND, path, "no such file", exc) from exc
    except OSError as exc:
        raise _error(cat.MODEL_LOAD_FAILED, path, f"cannot read: {exc.strerror or exc}", exc) from exc


def _parse(path: Path, buf: Any, size: int) -> GGUFInfo:
    r = _Reader(buf, size)
    try:
        magic = bytes(buf[0:4])
        if magic != MAGIC:
            raise _error(cat.GGUF_INVALID, path, f"magic is {magic!r}, not {MAGIC!r}", file_size=size)
        r.pos = 4
        version = r.u32("version")
        if version not in SUPPORTED_VERSIONS:
            raise _error(cat.GGUF_VERSION, path, f"version {version}; supported: 2, 3", version=version)
        tensor_count = r.u64("tensor count")
        kv_count = r.u64("metadata count")
        # The smallest key-value pair is 13 bytes (key length, type, a one-byte value);
        # the smallest tensor entry 8 + 4 + 8 + 4 + 8 (name length, dims, one dim, type, offset).
        r.need(kv_count * 13, "metadata")
        r.need(tensor_count * 32, "tensor table")
        metadata: dict[str, Any] = {}
        for i in range(kv_count):
            key = r.string(f"metadata key {i}", keep=True) or ""
            vtype = r.u32(f"type of {key!r}")
            keep = key in WANTED or key.endswith(".context_length")
            value = r.value(vtype, repr(key), keep)
            if keep and value is not None:
                metadata[key] = value
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
            raise _Invalid(f"general.alignment {alignment!r} is not a power of two")
        data_size = 0
        for i in range(tensor_count):
            r.string(f"tensor {i} name", keep=False)
            n_dims = r.u32(f"tensor {i} dimensions")
            if not 1 <= n_dims <= _MAX_DIMS:
                raise _Invalid(f"tensor {i} has {n_dims} dimensions")
            elements = 1
            for _ in range(n_dims):
                elements *= r.u64(f"tensor {i} shape")
            ggml_type = r.u32(f"tensor {i} type")
            offset = r.u64(f"tensor {i} offset")
            block, block_bytes = _GGML_TYPES.get(ggml_type, (1, 0))
            data_size = max(data_size, offset + -(-elements // block) * block_bytes)
        data_offset = -(-r.pos // alignment) * alignment
        data_end = data_offset + data_size
        if data_end > size:
            raise _Truncated(f"tensor data ends at byte {data_end}; the file has {size}")
    except _Truncated as exc:
        raise _error(cat.GGUF_TRUNCATED, path, str(exc), exc, file_size=size) from exc
    except _Invalid as exc:
        raise _error(cat.GGUF_INVALID, path, str(exc), exc, file_size=size) from exc
    return GGUFInfo(path, version, tensor_count, kv_count, size, data_offset, data_end, metadata)
