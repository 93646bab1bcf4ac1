"""Fuzzing the parsers the edge server owns, where their input really comes from.

- Upstream answers, over real HTTP: an upstream (a small Starlette app on
  127.0.0.1) plays back whatever status, headers and body pieces hypothesis
  makes up -- event streams half right or all wrong, error bodies of every
  shape, bad encodings -- and UpstreamBackend must end each one with text or
  a catalogue-coded LLMError, in bounded time, never quoting our key.
- GGUF headers: files built from a GGUF grammar must be read back exactly;
  the same files damaged must give a GGUF code; and the backend must refuse
  a damaged file with that code before llama.cpp ever sees it.
- Configuration files as the server reads them (bytes on disk, by
  extension): Settings or a CONFIG code; ``python -m llm_runner_router`` with a
  bad one exits 2 with the code, no traceback.

The unit-level fuzzing of the SSE parser, the decoders and classify_http is in
test_sse.py and tests/core/test_classify.py; this file adds the paths around them.
"""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import ProviderConfig, Settings
from llm_runner_router.core.errors import ConfigError, LLMError
from llm_runner_router.core.types import BackendRequest, Deployment, Message
from llm_runner_router.edge.compose import load_settings
from llm_runner_router.edge.gguf import WANTED, check_gguf
from llm_runner_router.edge.testing.api_fuzz import examples
from llm_runner_router.edge.testing.servers import ThreadServer
from llm_runner_router.edge.upstream import UpstreamBackend

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEY = "sk-fuzz-0123456789abcdef"

# --- upstream answers over HTTP ---------------------------------------------------------------


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[bytes] = field(default_factory=list)


class Playback:
    """An upstream that answers every POST with the current script; ``{AUTH}`` in a piece
    becomes the Authorization header it got (a server that quotes credentials back)."""

    def __init__(self) -> None:
        self.script = Script()
        self.lock = threading.Lock()

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            auth = request.headers.get("authorization", "").encode()
            with self.lock:
                script = self.script

            async def body() -> Any:
                for piece in script.pieces:
                    yield piece.replace(b"{AUTH}", auth)
                    await asyncio.sleep(0)

            return StreamingResponse(body(), status_code=script.status, headers=script.headers)

        return Starlette(routes=[Route("/v1/{endpoint:path}", answer, methods=["POST"])])


@pytest.fixture(scope="module")
def playback() -> Iterator[tuple[Playback, str]]:
    upstream = Playback()
    with ThreadServer(upstream.app()) as server:
        yield upstream, server.url + "/v1"


def backend_for(base_url: str) -> UpstreamBackend:
    provider = ProviderConfig("fuzz", "openai", base_url=base_url, read_timeout=5, connect_timeout=5, options={"max_line_bytes": 512})
    return UpstreamBackend(provider, api_key=KEY)


def request_for(endpoint: str) -> BackendRequest:
    deployment = Deployment(name="d", provider="fuzz", model="m", endpoint=endpoint)
    return BackendRequest(deployment, [Message("user", "hi")], {"max_tokens": 8}, endpoint, request_id="r1")


async def _consume(backend: UpstreamBackend, request: BackendRequest) -> tuple[str, LLMError | None]:
    text: list[str] = []
    try:
        async for chunk in backend.stream(request):
            text.append(chunk.text)
    except LLMError as err:
        return "".join(text), err
    finally:
        await backend.aclose()
    return "".join(text), None


def play(base_url: str, endpoint: str) -> tuple[str, LLMError | None]:
    # wait_for: a stream that never ends would fail here rather than hang the run.
    return asyncio.run(asyncio.wait_for(_consume(backend_for(base_url), request_for(endpoint)), timeout=30))


def _chat(text: str, finish: str | None = None) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}).encode() + b"\n\n"


_FRAMES = st.sampled_from(
    [
        _chat("Hel"),
        _chat("lo", "stop"),
        b"data: [DONE]\n\n",
        b": keep-alive\n\n",
        b'data: {"type": "response.output_text.delta", "delta": "Hi"}\n\n',
        b'data: {"type": "response.completed", "response": {"status": "completed"}}\n\n',
        b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}\n\n',
        b'data: {"error": {"message": "overloaded {AUTH}", "code": 529}}\n\n',
        b'data: {"error": {"message": "bad key {AUTH}", "code": 401, "type": "invalid_request_error"}}\n\n',
        b'event: error\ndata: {"type": "error", "error": {"message": "quota for {AUTH}", "code": "insufficient_quota"}}\n\n',
        b'data: {"choices": "nope"}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n',
        b"data: {not json\n\n",
        b"data: " + b"x" * 600 + b"\n\n",  # over max_line_bytes
        b"\xef\xbb\xbf",
        b"\r\n",
        b"\xff\xfe\x00",
    ]
)
_ERROR_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b'{"error": {"message": "Incorrect API key provided: {AUTH}", "type": "invalid_request_error", "code": "invalid_api_key"}}',
            b'{"error": {"message": "This model\'s maximum context length is 4096 tokens", "code": "context_length_exceeded"}}',
            b'{"error": "rate limited, try again in 20s"}',
            b'{"error": {"message": null, "code": {"nested": [1, 2]}, "param": 5}}',
            b'{"detail": [{"msg": "field required", "loc": ["body", "model"]}]}',
            b"<html><body>502 Bad Gateway {AUTH}</body></html>",
            b'{"error": {"message": "' + b"A" * 100_000 + b'"}}',  # beyond the 64 KiB read
            b"[" * 10_000,
        ]
    ),
)
_STATUSES = st.sampled_from([200, 200, 200, 201, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529, 599])
_CONTENT_TYPES = st.sampled_from(["text/event-stream", "application/json", "text/plain", "text/html", "application/octet-stream"])
_HEADERS = st.fixed_dictionaries(
    {"content-type": _CONTENT_TYPES},
    optional={
        "retry-after": st.sampled_from(
            ["0", "1", "-5", "1e308", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "99999999999999999999"]
        ),
        "content-encoding": st.sampled_from(["gzip", "br", "deflate", "identity", "bogus"]),
        "x-ratelimit-reset-requests": st.sampled_from(["1s", "6m0s", "-1", "x"]),
    },
)


def _check_outcome(text: str, err: LLMError | None) -> None:
    if err is not None:
        assert err.code in catalogue.ALL
        assert err.retry_after is None or (err.retry_after >= 0 and err.retry_after < float("inf"))
        assert KEY not in json.dumps(err.to_dict(), default=str) and KEY not in str(err)
    assert KEY not in text


@FUZZ
@given(
    script=st.builds(Script, status=_STATUSES, headers=_HEADERS, pieces=st.lists(_FRAMES | st.binary(max_size=40), max_size=12)),
    endpoint=st.sampled_from(["chat/completions", "completions", "responses"]),
)
def test_fuzz_any_upstream_answer_ends_in_text_or_a_coded_error(playback: tuple[Playback, str], script: Script, endpoint: str) -> None:
    upstream, base_url = playback
    upstream.script = script
    text, err = play(base_url, endpoint)
    _check_outcome(text, err)
    if not 200 <= script.status < 300:
        assert err is not None and text == ""  # an error status is never passed off as an answer


@FUZZ
@given(status=_STATUSES.filter(lambda s: s >= 400), headers=_HEADERS, body=_ERROR_BODIES, cut=st.integers(1, 64))
def test_fuzz_upstream_error_bodies_give_coded_errors_without_our_key(
    playback: tuple[Playback, str], status: int, headers: dict[str, str], body: bytes, cut: int
) -> None:
    upstream, base_url = playback
    upstream.script = Script(status, headers, [body[i : i + cut] for i in range(0, len(body), cut)] or [b""])
    text, err = play(base_url, "chat/completions")
    assert err is not None and text == ""
    _check_outcome(text, err)
    assert 400 <= err.http_status <= 599


@FUZZ
@given(words=st.lists(st.text(max_size=8), min_size=1, max_size=10), cut=st.integers(1, 50))
def test_fuzz_a_valid_stream_comes_through_whole_however_the_network_cuts_it(
    playback: tuple[Playback, str], words: list[str], cut: int
) -> None:
    upstream, base_url = playback
    raw = b"".join(_chat(w) for w in words) + _chat("", "stop") + b"data: [DONE]\n\n"
    upstream.script = Script(200, {"content-type": "text/event-stream"}, [raw[i : i + cut] for i in range(0, len(raw), cut)])
    assert play(base_url, "chat/completions") == ("".join(words), None)


# --- GGUF ------------------------------------------------------------------------------------

# GGUF value types and how each is written.
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_RANGES = {0: (0, 2**8 - 1), 1: (-(2**7), 2**7 - 1), 2: (0, 2**16 - 1), 3: (-(2**15), 2**15 - 1), 4: (0, 2**32 - 1)}
_RANGES |= {5: (-(2**31), 2**31 - 1), 10: (0, 2**64 - 1), 11: (-(2**63), 2**63 - 1)}
STRING, ARRAY = 8, 9
_TENSOR_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144)}  # F32, F16, Q4_0, Q8_0, Q4_K
_KEYS = st.sampled_from(
    ["general.architecture", "general.name", "tokenizer.chat_template", "tokenizer.ggml.model", "tokenizer.ggml.eos_token_id"]
    + ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token", "llama.context_length", "tokenizer.ggml.tokens", "x.y"]
) | st.text(min_size=1, max_size=20)


def _s(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


def _scalar(vtype: int) -> st.SearchStrategy[Any]:
    if vtype in _RANGES:
        return st.integers(*_RANGES[vtype])
    if vtype == 6:
        return st.floats(width=32, allow_nan=False)
    if vtype == 12:
        return st.floats(allow_nan=False)
    if vtype == 7:
        return st.booleans()
    return st.text(max_size=30)


@st.composite
def gguf_value(draw: st.DrawFn, depth: int = 0) -> tuple[bytes, Any]:
    """(type + value bytes, the value check_gguf keeps: scalars and strings; arrays are walked, not kept)."""
    vtype = draw(st.sampled_from([*_FMT, STRING] + ([ARRAY] if depth < 2 else [])))
    if vtype == STRING:
        text = draw(st.text(max_size=30))
        return struct.pack("<I", STRING) + _s(text.encode()), text
    if vtype != ARRAY:
        value = draw(_scalar(vtype))
        return struct.pack("<I", vtype) + struct.pack(_FMT[vtype], value), value
    etype = draw(st.sampled_from([*_FMT, STRING] + ([ARRAY] if depth < 1 else [])))
    count = draw(st.integers(0, 5))
    if etype == ARRAY:  # arrays of arrays: each inner one an element type and a count of its own
        inner = [draw(st.lists(st.text(max_size=5), max_size=3)) for _ in range(count)]
        items = b"".join(struct.pack("<IQ", STRING, len(words)) + b"".join(_s(w.encode()) for w in words) for words in inner)
        return struct.pack("<IIQ", ARRAY, ARRAY, count) + items, None
    if etype == STRING:
        return struct.pack("<IIQ", ARRAY, STRING, count) + b"".join(_s(draw(st.text(max_size=10)).encode()) for _ in range(count)), None
    values = draw(st.lists(_scalar(etype), min_size=count, max_size=count))
    return struct.pack("<IIQ", ARRAY, etype, count) + b"".join(struct.pack(_FMT[etype], v) for v in values), None


@st.composite
def gguf_file(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], int, int]:
    """A well-formed GGUF file: (bytes, the metadata check_gguf must keep, data offset, data end)."""
    kvs = draw(st.lists(st.tuples(_KEYS, gguf_value()), max_size=8))
    alignment = draw(st.sampled_from([None, 1, 8, 32, 64, 4096]))
    body = b"".join(_s(key.encode()) + value for key, (value, _) in kvs)
    expected: dict[str, Any] = {}
    for key, (_, kept) in kvs:
        if kept is not None and (key in WANTED or key.endswith(".context_length")):
            expected[key] = kept
    if alignment is not None:
        body += _s(b"general.alignment") + struct.pack("<II", 4, alignment)
        expected["general.alignment"] = alignment
    align = alignment or 32
    tensors, offset, data_size = b"", 0, 0
    shapes = draw(
        st.lists(st.tuples(st.lists(st.integers(1, 16), min_size=1, max_size=4), st.sampled_from(sorted(_TENSOR_TYPES))), max_size=4)
    )
    for i, (dims, ttype) in enumerate(shapes):
        elements = 1
        for d in dims:
            elements *= d
        block, block_bytes = _TENSOR_TYPES[ttype]
        size = -(-elements // block) * block_bytes
        tensors += _s(f"t{i}".encode()) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        tensors += struct.pack("<IQ", ttype, offset)
        data_size = max(data_size, offset + size)
        offset += -(-size // align) * align
    n_kv = len(kvs) + (alignment is not None)
    header = b"GGUF" + struct.pack("<IQQ", draw(st.sampled_from([2, 3])), len(shapes), n_kv) + body + tensors
    data_offset = -(-len(header) // align) * align
    return header + b"\0" * (data_offset - len(header) + data_size), expected, data_offset, data_offset + data_size


def _write(data: bytes) -> Path:
    with tempfile.NamedTemporaryFile(suffix=".gguf", delete=False) as f:
        f.write(data)
    return Path(f.name)


@FUZZ
@given(gguf_file())
def test_fuzz_well_formed_gguf_headers_are_read_back_exactly(made: tuple[bytes, dict[str, Any], int, int]) -> None:
    data, expected, data_offset, data_end = made
    path = _write(data)
    try:
        info = check_gguf(path)
    finally:
        path.unlink()
    assert info.metadata == expected
    assert (info.data_offset, info.data_end, info.file_size) == (data_offset, data_end, len(data))


_GGUF_CODES = {catalogue.GGUF_INVALID.code, catalogue.GGUF_VERSION.code, catalogue.GGUF_TRUNCATED.code}


@FUZZ
@given(
    made=gguf_file(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    keep=st.floats(0, 1),
)
def test_fuzz_damaged_gguf_headers_give_a_gguf_code(
    made: tuple[bytes, dict[str, Any], int, int], edits: list[tuple[int, int]], keep: float
) -> None:
    data = bytearray(made[0])
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    cut = bytes(data[: int(len(data) * keep)]) if keep < 1 else bytes(data)
    path = _write(cut)
    try:
        check_gguf(path)
    except LLMError as err:
        assert err.code in _GGUF_CODES, err
    finally:
        path.unlink()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", catalogue.GGUF_TRUNCATED),
        (b"GGU", catalogue.GGUF_TRUNCATED),
        (b"PK\x03\x04" + b"\0" * 60, catalogue.GGUF_INVALID),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), catalogue.GGUF_VERSION),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40), catalogue.GGUF_TRUNCATED),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s(b"k") + struct.pack("<I", 99) + b"\0" * 16, catalogue.GGUF_INVALID),
    ],
)
def test_a_damaged_model_is_refused_with_its_gguf_code_before_llama_cpp_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, code: Any
) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from llm_runner_router.edge.llamacpp import LlamaCppBackend

    constructed: list[Any] = []
    monkeypatch.setattr(llama_cpp, "Llama", lambda *a, **kw: constructed.append((a, kw)))
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    backend = LlamaCppBackend(path, n_ctx=128)
    with pytest.raises(LLMError) as info:
        asyncio.run(backend.load())
    assert info.value.code == code.code and info.value.context["path"] == str(path)
    assert constructed == [] and not backend.loaded


# --- configuration files ------------------------------------------------------------------------

_CONFIG_TEXT = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(
        [
            b"[retry]\nmax_attempts = 0\n",
            b'{"retry": {"max_attempts": "3"}}',
            b"[providers.x]\nkind = 'openai'\nbase_url = 'http://[::1'\n",
            b"\xef\xbb\xbf[retry]\nmax_attempts = 2\n",
            b"\xff\xfe[\x00r\x00",
            b"a = " + b"[" * 5000,
            b"[server]\ncors_origins = ['https://ok.example', 'https://bad.example/path']\n",
        ]
    ),
)


@FUZZ
@given(raw=_CONFIG_TEXT, suffix=st.sampled_from([".toml", ".json", ".conf"]))
def test_fuzz_configuration_files_give_settings_or_a_config_code(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"router{suffix}"
        path.write_bytes(raw)
        try:
            assert isinstance(load_settings(path, {}), Settings)
        except ConfigError as err:
            assert err.code in catalogue.ALL and err.spec.category == "CONFIG"


def test_unreadable_configuration_files_give_a_config_code(tmp_path: Path) -> None:
    for path in [tmp_path / "missing.toml", tmp_path]:
        with pytest.raises(ConfigError) as info:
            load_settings(path, {})
        assert info.value.code == catalogue.CONFIG_INVALID.code and str(path) in info.value.message


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe not text", b"[retry]\nmax_attempts = 'many'\n", b"a = " + b"[" * 5000],
    ids=["not utf-8", "wrong type", "nested too deep"],
)
def test_the_server_refuses_a_bad_configuration_file_with_its_code(tmp_path: Path, raw: bytes) -> None:
    config = tmp_path / "router.toml"
    config.write_bytes(raw)
    done = subprocess.run(
        [sys.executable, "-m", "llm_runner_router", "serve", "--port", "9", "--config", str(config)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "LLM_ROUTER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: LLM_CONFIG_") and "Traceback" not in done.stderr
