"""check_gguf on the real model, on damaged copies of it, and on hand-made and fuzzed files."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import ErrorSpec, LLMError
from llm_runner_router.edge.gguf import check_gguf

# --- a tiny GGUF writer ------------------------------------------------------------------

U32, STRING, ARRAY = 4, 8, 9


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", STRING) + _s(value)


def kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<I", U32) + struct.pack("<I", value)


def kv_strings(key: str, values: list[str]) -> bytes:
    return _s(key) + struct.pack("<IIQ", ARRAY, STRING, len(values)) + b"".join(_s(v) for v in values)


def make_gguf(kvs: list[bytes], *, version: int = 3, tensors: int = 0, body: bytes = b"", pad: bool = True) -> bytes:
    """Header with the given key-values; with tensors, that many 8-float F32 tensors one after the other."""
    out = b"GGUF" + struct.pack("<IQQ", version, tensors, len(kvs)) + b"".join(kvs)
    for i in range(tensors):
        out += _s(f"t{i}") + struct.pack("<IQIQ", 1, 8, 0, i * 32)  # 1 dim of 8, type F32, offset
    if pad:
        out += b"\0" * (-len(out) % 32)
    return out + body + b"\0" * (tensors * 32)


GOOD = make_gguf([kv_str("general.architecture", "llama"), kv_str("general.name", "tiny"), kv_u32("llama.context_length", 128)], tensors=2)


def write(tmp_path: Path, data: bytes, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def code_of(path: Path) -> str:
    with pytest.raises(LLMError) as info:
        check_gguf(path)
    assert str(path) in str(info.value) and info.value.context["path"] == str(path)
    return info.value.code


# --- the real model ----------------------------------------------------------------------


def test_the_real_model_header(model_path: Path) -> None:
    start = time.perf_counter()
    info = check_gguf(model_path)
    elapsed = time.perf_counter() - start
    assert (info.version, info.tensor_count, info.kv_count) == (3, 272, 33)
    assert info.architecture == "llama" and info.name == "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert info.context_length == 8192
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.data_end == info.file_size == model_path.stat().st_size  # the tensor table accounts for every byte
    assert elapsed < 1.0, f"header check took {elapsed:.2f} s"


def test_a_copy_one_byte_short_is_truncated(model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "short.gguf"
    shutil.copyfile(model_path, copy)
    with copy.open("r+b") as f:
        f.truncate(model_path.stat().st_size - 1)
    assert code_of(copy) == cat.GGUF_TRUNCATED.code


@pytest.mark.parametrize("keep", [0, 3, 7, 24, 100, 5_000, 1_000_000, 1_785_664])
def test_copies_cut_inside_the_header_are_truncated(model_path: Path, tmp_path: Path, keep: int) -> None:
    with model_path.open("rb") as f:
        head = f.read(keep)
    assert code_of(write(tmp_path, head)) == cat.GGUF_TRUNCATED.code


@pytest.mark.parametrize("version", [0, 1, 4, 0xFFFFFFFF])
def test_unsupported_versions(model_path: Path, tmp_path: Path, version: int) -> None:
    with model_path.open("rb") as f:
        head = bytearray(f.read(4096))
    head[4:8] = struct.pack("<I", version)
    path = write(tmp_path, bytes(head))
    with pytest.raises(LLMError) as info:
        check_gguf(path)
    assert info.value.code == cat.GGUF_VERSION.code and info.value.context["version"] == version


@pytest.mark.parametrize(
    "data",
    [b"GGML" + b"\0" * 100, b"\x7fELF" + os.urandom(200), b"<html>not a model</html>", b"PK\x03\x04" + b"\0" * 60, b"gguf", b"xy"],
)
def test_not_gguf(tmp_path: Path, data: bytes) -> None:
    assert code_of(write(tmp_path, data)) == cat.GGUF_INVALID.code


def test_missing_file(tmp_path: Path) -> None:
    assert code_of(tmp_path / "absent.gguf") == cat.MODEL_NOT_FOUND.code


# --- hand-made files ---------------------------------------------------------------------


def test_a_hand_made_file(tmp_path: Path) -> None:
    info = check_gguf(write(tmp_path, GOOD))
    assert (info.version, info.tensor_count, info.kv_count) == (3, 2, 3)
    assert (info.architecture, info.name, info.context_length) == ("llama", "tiny", 128)
    assert info.data_end == info.file_size
    assert check_gguf(write(tmp_path, make_gguf([], version=2))).version == 2


def test_string_arrays_are_walked(tmp_path: Path) -> None:
    kvs = [kv_strings("tokenizer.ggml.tokens", ["a", "bb", "ccc"] * 1000), kv_str("tokenizer.chat_template", "{{ x }}")]
    assert check_gguf(write(tmp_path, make_gguf(kvs))).chat_template == "{{ x }}"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        # counts and lengths far beyond the file: refused before any loop or allocation
        (struct.pack("<IQQ", 3, 0, 2**63), cat.GGUF_TRUNCATED),
        (struct.pack("<IQQ", 3, 2**60, 0), cat.GGUF_TRUNCATED),
        (struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**64 - 1), cat.GGUF_TRUNCATED),
        (struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<IIQ", ARRAY, STRING, 2**62), cat.GGUF_TRUNCATED),
        (struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<IIQ", ARRAY, 12, 2**61), cat.GGUF_TRUNCATED),
        (struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", STRING) + struct.pack("<Q", 10**15), cat.GGUF_TRUNCATED),
        # nonsense types and shapes
        (struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", 77) + b"\0" * 16, cat.GGUF_INVALID),
        (struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<III", ARRAY, 99, 1) + b"\0" * 16, cat.GGUF_INVALID),
        (
            struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", ARRAY) + struct.pack("<IQ", ARRAY, 1) * 6 + b"\0" * 64,
            cat.GGUF_INVALID,
        ),
        (struct.pack("<IQQ", 3, 0, 1) + _s("general.name") + struct.pack("<I", STRING) + _s(b"\xff\xfe") + b"\0" * 64, cat.GGUF_INVALID),
        (struct.pack("<IQQ", 3, 1, 0) + _s("t") + struct.pack("<I", 9) + b"\0" * 80, cat.GGUF_INVALID),
        (struct.pack("<IQQ", 3, 0, 1) + kv_u32("general.alignment", 3) + b"\0" * 40, cat.GGUF_INVALID),
        # a tensor whose data lies past the end of the file
        (struct.pack("<IQQ", 3, 1, 0) + _s("t") + struct.pack("<IQIQ", 1, 8, 0, 10**9) + b"\0" * 64, cat.GGUF_TRUNCATED),
    ],
)
def test_malformed_headers(tmp_path: Path, header: bytes, code: ErrorSpec) -> None:
    start = time.perf_counter()
    assert code_of(write(tmp_path, b"GGUF" + header)) == code.code
    assert time.perf_counter() - start < 0.5


# --- fuzz: whatever the bytes, an LLMError or a GGUFInfo, quickly --------------------------


def _check_quickly(data: bytes) -> None:
    fd, name = tempfile.mkstemp(suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        start = time.perf_counter()
        try:
            check_gguf(name)
        except LLMError as exc:
            assert exc.code in {s.code for s in (cat.GGUF_INVALID, cat.GGUF_VERSION, cat.GGUF_TRUNCATED)}
        assert time.perf_counter() - start < 1.0
    finally:
        os.unlink(name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_after_the_magic(tail: bytes) -> None:
    _check_quickly(b"GGUF" + struct.pack("<I", 3) + tail)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, len(GOOD)),
)
def test_fuzz_mutated_and_cut_valid_files(edits: list[tuple[int, int]], keep: int) -> None:
    data = bytearray(GOOD)
    for pos, value in edits:
        data[pos] = value
    _check_quickly(bytes(data[:keep]))
