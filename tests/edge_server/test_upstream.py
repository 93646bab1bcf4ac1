"""UpstreamBackend against the real FaultProvider, over real HTTP on 127.0.0.1.

Each fault the provider can play must come out as the right LLM_ code, with
the text that got through before it; a prefix must be continued with exactly
the rest of the known answer; cancelling the reader must close the upstream
connection (the provider sees the client leave).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import ProviderConfig
from llm_runner_router.core.errors import ErrorSpec, LLMError
from llm_runner_router.core.types import BackendChunk, BackendRequest, Deployment, Message
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.upstream import ERROR_BODY_LIMIT, UpstreamBackend

ANSWER = fp.DEFAULT_ANSWER
PIECES = fp.pieces(ANSWER)
ENDPOINTS = ["chat/completions", "completions", "responses"]
MESSAGES = [Message("system", "Answer in one sentence."), Message("user", "What does the fox do?")]
KEY = "sk-test-0123456789abcdefSECRET"

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def shared() -> Iterator[fp.FaultProvider]:
    with fp.FaultProvider() as provider:
        yield provider


@pytest.fixture
def p(shared: fp.FaultProvider) -> fp.FaultProvider:
    shared.clear_faults()
    shared.clear_requests()
    shared.configure(answer=ANSWER, reject_prefill=False, ignore_stream=False)
    return shared


def config(base_url: str, **kw: Any) -> ProviderConfig:
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("read_timeout", 10.0)
    return ProviderConfig(name="fp", kind="openai", base_url=base_url, **kw)


def request(endpoint: str = "chat/completions", prefix: str = "", params: dict[str, Any] | None = None) -> BackendRequest:
    deployment = Deployment("fp-deployment", "fp", "served-model", endpoint=endpoint)
    return BackendRequest(deployment, MESSAGES, params or {}, endpoint, prefix, "req-42")


@dataclass
class Outcome:
    chunks: list[BackendChunk]
    error: LLMError | None

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chunks)

    def failed_with(self, *specs: ErrorSpec) -> LLMError:
        assert self.error is not None, f"no error; got {self.text!r}"
        assert self.error.code in {s.code for s in specs}, self.error.to_dict()
        return self.error


async def consume(backend: UpstreamBackend, req: BackendRequest) -> Outcome:
    chunks: list[BackendChunk] = []
    try:
        async with contextlib.aclosing(backend.stream(req)) as gen:
            async for chunk in gen:
                chunks.append(chunk)
    except LLMError as err:
        return Outcome(chunks, err)
    finally:
        await backend.aclose()
    return Outcome(chunks, None)


def stream(base_url: str, endpoint: str = "chat/completions", prefix: str = "", params: dict[str, Any] | None = None, **kw: Any) -> Outcome:
    api_key = kw.pop("api_key", None)
    return run(consume(UpstreamBackend(config(base_url, **kw), api_key=api_key), request(endpoint, prefix, params)))


# --- a healthy upstream ------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_streams_the_known_answer_word_by_word(p: fp.FaultProvider, endpoint: str) -> None:
    out = stream(p.base_url, endpoint)
    assert out.error is None and out.text == ANSWER
    text_chunks = [c for c in out.chunks if c.text]
    assert [c.text for c in text_chunks] == PIECES
    last = out.chunks[-1]
    assert last.finish_reason == "stop" and last.usage is not None and last.usage.completion_tokens == len(PIECES)
    assert all(c.finish_reason is None and c.usage is None for c in out.chunks[:-1])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("said", [1, 5, len(PIECES) - 1])
def test_a_prefix_is_continued_with_exactly_the_rest_of_the_answer(p: fp.FaultProvider, endpoint: str, said: int) -> None:
    prefix = "".join(PIECES[:said])
    out = stream(p.base_url, endpoint, prefix=prefix)
    assert out.error is None
    assert out.text == "".join(PIECES[said:])
    assert prefix + out.text == ANSWER
    assert p.requests[-1].prefix == prefix


def test_the_prefix_goes_as_a_final_assistant_message(p: fp.FaultProvider) -> None:
    stream(p.base_url, prefix="The quick")
    body = p.requests[-1].body
    assert body["messages"][-1] == {"role": "assistant", "content": "The quick"}
    assert body["messages"][:-1] == [{"role": m.role, "content": m.content} for m in MESSAGES]


@pytest.mark.parametrize(
    ("style", "expect"),
    [
        ("vllm", lambda body: body["continue_final_message"] is True and body["add_generation_prompt"] is False),
        ("prefix_flag", lambda body: body["messages"][-1] == {"role": "assistant", "content": "The", "prefix": True}),
    ],
)
def test_prefill_styles_for_servers_that_want_a_flag(p: fp.FaultProvider, style: str, expect: Any) -> None:
    out = stream(p.base_url, prefix="The", options={"prefill": style})
    assert out.text == ANSWER[len("The") :]
    assert expect(p.requests[-1].body)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_request_body_carries_the_deployments_model_and_the_params_as_given(p: fp.FaultProvider, endpoint: str) -> None:
    params = {"temperature": 0.2, "seed": 7, "max_tokens": 50, "stream": False, "model": "not this one"}
    assert stream(p.base_url, endpoint, params=params).error is None
    rec = p.requests[-1]
    body = rec.body
    assert rec.path == f"/v1/{endpoint}" and rec.method == "POST"
    assert body["model"] == "served-model" and body["stream"] is True
    assert body["temperature"] == 0.2 and body["seed"] == 7
    if endpoint == "chat/completions":
        assert body["messages"] == [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What does the fox do?"},
        ]
        assert body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 50
    elif endpoint == "completions":
        assert body["prompt"] == "System: Answer in one sentence.\n\nUser: What does the fox do?\n\nAssistant:"
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert body["instructions"] == "Answer in one sentence."
        assert body["input"] == [{"role": "user", "content": "What does the fox do?"}]
        assert body["max_output_tokens"] == 50 and "max_tokens" not in body and "stream_options" not in body


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_max_tokens_ends_the_answer_with_finish_reason_length(p: fp.FaultProvider, endpoint: str) -> None:
    out = stream(p.base_url, endpoint, params={"max_tokens": 4})
    assert out.error is None and out.text == "".join(PIECES[:4])
    assert out.chunks[-1].finish_reason == "length"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_server_that_ignores_stream_true_is_read_whole(p: fp.FaultProvider, endpoint: str) -> None:
    p.configure(ignore_stream=True)
    out = stream(p.base_url, endpoint)
    assert out.error is None
    assert [(c.text, c.finish_reason) for c in out.chunks] == [(ANSWER, "stop")]
    assert out.chunks[0].usage is not None and out.chunks[0].usage.completion_tokens == len(PIECES)


def test_the_key_and_request_id_go_in_headers(p: fp.FaultProvider) -> None:
    assert stream(p.base_url, api_key=KEY).error is None
    headers = p.requests[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-request-id"] == "req-42"


def test_the_key_is_read_from_the_environment_at_each_request(p: fp.FaultProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_PROVIDER_TEST_KEY", "sk-from-env-1")

    async def twice() -> None:
        backend = UpstreamBackend(config(p.base_url, api_key_env="FAULT_PROVIDER_TEST_KEY"))
        await consume(backend, request())
        monkeypatch.setenv("FAULT_PROVIDER_TEST_KEY", "sk-from-env-2")
        await consume(UpstreamBackend(backend.provider), request())

    run(twice())
    assert [r.headers["authorization"] for r in p.requests] == ["Bearer sk-from-env-1", "Bearer sk-from-env-2"]


def test_a_missing_key_variable_is_a_config_error_and_nothing_is_sent(p: fp.FaultProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULT_PROVIDER_NO_SUCH_KEY", raising=False)
    out = stream(p.base_url, api_key_env="FAULT_PROVIDER_NO_SUCH_KEY")
    err = out.failed_with(catalogue.CONFIG_INVALID)
    assert err.context["env"] == "FAULT_PROVIDER_NO_SUCH_KEY"
    assert p.requests == []


def test_the_key_never_appears_in_errors_even_when_the_upstream_echoes_it(p: fp.FaultProvider) -> None:
    p.set_faults([fp.unauthorized()])
    backend = UpstreamBackend(config(p.base_url), api_key=KEY)
    out = run(consume(backend, request()))
    err = out.failed_with(catalogue.AUTH_UPSTREAM_REJECTED)
    assert KEY in p.requests[-1].headers["authorization"]  # it was sent...
    for text in (str(err), err.to_json(), repr(err.context), err.message, repr(backend)):
        assert KEY not in text  # ...and is said nowhere
    assert "[REDACTED]" in err.context["upstream_message"]


# --- faults: each one's code -------------------------------------------------------------------------


def test_429_with_retry_after_is_rate_limited_with_the_wait(p: fp.FaultProvider) -> None:
    p.set_faults([fp.rate_limited(retry_after=7)])
    err = stream(p.base_url).failed_with(catalogue.RATE_LIMITED)
    assert err.retry_after == 7.0 and err.context["status"] == 429


def test_429_without_retry_after_is_rate_limited_without_a_wait(p: fp.FaultProvider) -> None:
    p.set_faults([fp.rate_limited(retry_after=None)])
    assert stream(p.base_url).failed_with(catalogue.RATE_LIMITED).retry_after is None


def test_500_once_is_an_upstream_error_then_healthy(p: fp.FaultProvider) -> None:
    p.set_faults([fp.server_error()])
    assert stream(p.base_url).failed_with(catalogue.NET_UPSTREAM_ERROR).context["status"] == 500
    assert stream(p.base_url).text == ANSWER


def test_503_persistent_is_unavailable_every_time(p: fp.FaultProvider) -> None:
    p.set_faults([fp.unavailable()])
    for _ in range(3):
        stream(p.base_url).failed_with(catalogue.NET_UNAVAILABLE)
    assert [r.fault for r in p.requests] == ["unavailable"] * 3


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_reset_before_the_headers_is_a_connection_error(p: fp.FaultProvider, endpoint: str) -> None:
    p.set_faults([fp.reset()])
    out = stream(p.base_url, endpoint)
    out.failed_with(catalogue.NET_CONNECTION_RESET, catalogue.NET_CONNECTION_FAILED)
    assert out.chunks == [] and p.requests[-1].aborted


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("how", ["abort", "eof"])
def test_a_stream_cut_mid_answer_is_stream_cut_with_the_text_so_far(p: fp.FaultProvider, endpoint: str, how: str) -> None:
    p.set_faults([fp.cut(after=3, how=how)])
    out = stream(p.base_url, endpoint)
    err = out.failed_with(catalogue.STREAM_CUT)
    assert out.text == "".join(PIECES[:3])
    assert err.context["received_chunks"] == 3 and err.context["provider"] == "fp"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_malformed_chunk_is_stream_malformed(p: fp.FaultProvider, endpoint: str) -> None:
    p.set_faults([fp.malformed(after=3)])
    out = stream(p.base_url, endpoint)
    out.failed_with(catalogue.STREAM_MALFORMED)
    assert out.text == "".join(PIECES[:3])  # nothing after the bad line, though the rest of the answer followed it


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_stream_without_its_end_marker_is_stream_no_done(p: fp.FaultProvider, endpoint: str) -> None:
    p.set_faults([fp.no_done()])
    out = stream(p.base_url, endpoint)
    err = out.failed_with(catalogue.STREAM_NO_DONE)
    assert out.text == ANSWER  # all of it arrived; the stream still did not end properly
    assert all(c.finish_reason is None for c in out.chunks)
    assert err.context["received_chunks"] == len(PIECES)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_error_object_in_the_stream_is_classified(p: fp.FaultProvider, endpoint: str) -> None:
    p.set_faults([fp.error_in_stream(after=2)])
    out = stream(p.base_url, endpoint)
    assert out.failed_with(catalogue.NET_UPSTREAM_ERROR).context["in_stream"] is True
    assert out.text == "".join(PIECES[:2])


def test_context_length_is_runtime_context_length(p: fp.FaultProvider) -> None:
    p.set_faults([fp.context_length()])
    err = stream(p.base_url).failed_with(catalogue.RUNTIME_CONTEXT_LENGTH)
    assert err.context["context_window"] == 8192 and err.context["requested_tokens"] == 9000


def test_content_filter_is_api_content_filtered(p: fp.FaultProvider) -> None:
    p.set_faults([fp.content_filter()])
    stream(p.base_url).failed_with(catalogue.API_CONTENT_FILTERED)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_rejected_prefill_is_prefill_unsupported_and_only_prefills_are_rejected(p: fp.FaultProvider, endpoint: str) -> None:
    p.set_faults([fp.reject_prefill()])
    assert stream(p.base_url, endpoint).text == ANSWER  # no prefix: answered
    stream(p.base_url, endpoint, prefix="The quick").failed_with(catalogue.API_PREFILL_UNSUPPORTED)
    assert p.requests[-1].prefix == "The quick" and p.requests[-1].status == 400


@pytest.mark.parametrize(
    ("fault", "specs"),
    [
        (fp.cut(after=1), [catalogue.STREAM_CUT]),
        (fp.malformed(), [catalogue.STREAM_MALFORMED]),
        (fp.error_in_stream(), [catalogue.NET_UPSTREAM_ERROR]),
        (fp.reset(), [catalogue.NET_CONNECTION_RESET, catalogue.NET_CONNECTION_FAILED]),
    ],
    ids=["cut", "malformed", "error", "reset"],
)
def test_faults_on_a_non_streamed_answer(p: fp.FaultProvider, fault: fp.Fault, specs: list[ErrorSpec]) -> None:
    p.configure(ignore_stream=True)
    p.set_faults([fault])
    out = stream(p.base_url)
    out.failed_with(*specs)
    assert out.chunks == []


def test_down_for_a_while_then_back(p: fp.FaultProvider) -> None:
    p.set_faults([fp.down(seconds=1.5)])
    started = time.monotonic()
    stream(p.base_url).failed_with(catalogue.NET_UNAVAILABLE)
    assert not run(UpstreamBackend(config(p.base_url)).health())
    assert time.monotonic() - started < 1.5  # (both were asked while it was down)
    time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
    assert stream(p.base_url).text == ANSWER
    assert p.faults == []


def test_down_with_resets_then_back(p: fp.FaultProvider) -> None:
    p.set_faults([fp.down(seconds=1.0, how="reset")])
    stream(p.base_url).failed_with(catalogue.NET_CONNECTION_RESET, catalogue.NET_CONNECTION_FAILED)
    time.sleep(1.1)
    assert stream(p.base_url).text == ANSWER


def test_down_refusing_connections_then_back() -> None:
    with fp.FaultProvider() as own:
        own.set_faults([fp.down(seconds=1.0, how="refuse")])
        stream(own.base_url).failed_with(catalogue.NET_CONNECTION_FAILED)
        assert own.wait_for(lambda: own.running, timeout=5)
        assert stream(own.base_url).text == ANSWER


def test_nothing_listening_is_connection_failed() -> None:
    stream(f"http://127.0.0.1:{fp.free_port()}/v1").failed_with(catalogue.NET_CONNECTION_FAILED)


# --- slow, silent and stalled upstreams: the reader cancels, the connection closes -----------------------


@pytest.mark.parametrize(
    ("fault", "chunks_before"),
    [(fp.slow_first_token(delay=30), 0), (fp.hang(), 0), (fp.stall(after=2), 2)],
    ids=["slow_first_token", "no_response", "stall"],
)
@pytest.mark.parametrize("endpoint", ["chat/completions", "responses"])
def test_cancelling_the_reader_closes_the_upstream_connection(
    p: fp.FaultProvider, fault: fp.Fault, chunks_before: int, endpoint: str
) -> None:
    p.set_faults([fault])

    async def scenario() -> list[BackendChunk]:
        backend = UpstreamBackend(config(p.base_url, read_timeout=60))
        got: list[BackendChunk] = []

        async def read() -> None:
            async for chunk in backend.stream(request(endpoint)):
                got.append(chunk)

        task = asyncio.ensure_future(read())
        assert await p.until(lambda: bool(p.requests) and len([c for c in got if c.text]) >= chunks_before)
        await asyncio.sleep(0.2)  # the reader is now waiting on the upstream
        assert not task.done()
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0  # promptly
        assert await p.until(lambda: p.requests[-1].disconnected, timeout=5), "the provider did not see the client leave"
        await backend.aclose()
        return got

    got = run(scenario())
    assert "".join(c.text for c in got) == "".join(PIECES[:chunks_before])
    assert not p.requests[-1].completed


def test_closing_the_generator_mid_answer_closes_the_upstream_connection(p: fp.FaultProvider) -> None:
    """The router's way: it stops reading and calls aclose() on the stream."""
    p.set_faults([fp.stall(after=3)])

    async def scenario() -> str:
        backend = UpstreamBackend(config(p.base_url))
        gen = backend.stream(request())
        first = await anext(gen)
        second = await anext(gen)
        await gen.aclose()
        assert await p.until(lambda: p.requests[-1].disconnected, timeout=5)
        await backend.aclose()
        return first.text + second.text

    assert run(scenario()) == "".join(PIECES[:2])


@pytest.mark.parametrize(
    ("fault", "chunks"),
    [(fp.slow_first_token(delay=5), 0), (fp.hang(), 0), (fp.stall(after=2), 2)],
    ids=["slow_first_token", "no_response", "stall"],
)
def test_a_silent_upstream_hits_the_read_timeout(p: fp.FaultProvider, fault: fp.Fault, chunks: int) -> None:
    p.set_faults([fault])
    started = time.monotonic()
    out = stream(p.base_url, read_timeout=0.3)
    out.failed_with(catalogue.TIMEOUT_READ)
    assert time.monotonic() - started < 3.0
    assert out.text == "".join(PIECES[:chunks])
    assert p.wait_for(lambda: p.requests[-1].disconnected)


# --- health -------------------------------------------------------------------------------------------


def test_health(p: fp.FaultProvider) -> None:
    async def check(url: str, **options: Any) -> bool:
        backend = UpstreamBackend(config(url, options=options))
        try:
            return await backend.health()
        finally:
            await backend.aclose()

    assert run(check(p.base_url))
    p.set_faults([fp.unavailable(scope="all")])
    assert not run(check(p.base_url))
    p.set_faults([fp.unavailable()])  # a fault for generating endpoints only: the health check passes
    assert run(check(p.base_url))
    p.set_faults([fp.hang(scope="all", times=None)])
    started = time.monotonic()
    assert not run(check(p.base_url, health_timeout=0.3))
    assert time.monotonic() - started < 2.0
    assert not run(check(f"http://127.0.0.1:{fp.free_port()}/v1"))


# --- bounds, with a mock transport (an upstream that never stops talking) --------------------------------


class _Endless(httpx.AsyncByteStream):
    def __init__(self, piece: bytes, head: bytes = b"") -> None:
        self.piece, self.head, self.sent = piece, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        while True:
            self.sent += len(self.piece)
            yield self.piece


def _mocked(response: httpx.Response, **options: Any) -> UpstreamBackend:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: response))
    return UpstreamBackend(config("http://upstream.invalid/v1", options=options), client=client)


def test_an_endless_error_body_is_read_only_up_to_the_limit() -> None:
    body = _Endless(b"x" * 4096, head=b'{"error": {"message": "overloaded ')
    out = run(consume(_mocked(httpx.Response(503, stream=body)), request()))
    out.failed_with(catalogue.NET_UNAVAILABLE)
    assert body.sent <= ERROR_BODY_LIMIT + 8192


def test_an_endless_line_is_malformed() -> None:
    body = _Endless(b"y" * 4096, head=b"data: ")
    headers = {"content-type": "text/event-stream"}
    out = run(consume(_mocked(httpx.Response(200, headers=headers, stream=body), max_line_bytes=65536), request()))
    assert out.failed_with(catalogue.STREAM_MALFORMED).context["reason"] == "line_too_long"
    assert body.sent <= 65536 + 8192


def test_a_chunk_without_choices_is_malformed() -> None:
    frames = b'data: {"id": "x", "object": "chat.completion.chunk"}\n\n'
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=frames)
    out = run(consume(_mocked(response), request()))
    assert "choices" in out.failed_with(catalogue.STREAM_MALFORMED).message


def test_an_empty_stream_is_cut() -> None:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b": nothing to say\n\n")
    run(consume(_mocked(response), request())).failed_with(catalogue.STREAM_CUT)


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(LLMError) as info:
        UpstreamBackend(config("http://127.0.0.1:1/v1", options={"prefill": "shout"}))
    assert info.value.code == catalogue.CONFIG_INVALID.code
    with pytest.raises(LLMError):
        UpstreamBackend(ProviderConfig(name="x", kind="llamacpp"))


# --- the provider as a process: kill -9 and start again ----------------------------------------------------


def test_a_provider_process_killed_mid_answer_and_restarted() -> None:
    with fp.FaultProviderProcess() as proc:
        assert stream(proc.base_url).text == ANSWER
        proc.set_faults([fp.unavailable()])
        stream(proc.base_url).failed_with(catalogue.NET_UNAVAILABLE)
        proc.set_faults([fp.stall(after=2)])

        async def killed_mid_answer() -> Outcome:
            backend = UpstreamBackend(config(proc.base_url))
            task = asyncio.ensure_future(consume(backend, request()))
            while not any(r["chunks_sent"] >= 2 for r in await asyncio.to_thread(proc.requests)):
                await asyncio.sleep(0.02)
            await asyncio.to_thread(proc.kill)
            return await task

        out = run(killed_mid_answer())
        out.failed_with(catalogue.STREAM_CUT)
        assert out.text == "".join(PIECES[:2])
        stream(proc.base_url).failed_with(catalogue.NET_CONNECTION_FAILED)  # nothing listening now
        proc.start()  # the same port; a fresh process, healthy, with an empty log
        assert stream(proc.base_url, prefix="".join(PIECES[:2])).text == "".join(PIECES[2:])
        assert [r["prefix"] for r in proc.requests()] == ["".join(PIECES[:2])]
        assert json.dumps(proc.requests())  # the log is plain JSON
        proc.set_faults([fp.down(seconds=1.0, how="refuse")])  # over HTTP: it stops listening, then listens again
        stream(proc.base_url).failed_with(catalogue.NET_CONNECTION_FAILED)
        time.sleep(1.2)
        assert stream(proc.base_url).text == ANSWER


# --- the provider speaks OpenAI: the official SDK reads what it sends ------------------------------------------


def test_the_official_openai_sdk_reads_the_providers_answers(p: fp.FaultProvider) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=p.base_url, api_key="sk-sdk", max_retries=0)
    messages = [{"role": "user", "content": "What does the fox do?"}]
    with client.chat.completions.stream(model="m", messages=messages, stream_options={"include_usage": True}) as events:
        for _ in events:
            pass
        chat = events.get_final_completion()
    assert chat.choices[0].message.content == ANSWER and chat.choices[0].finish_reason == "stop"
    assert chat.usage is not None and chat.usage.completion_tokens == len(PIECES)
    assert client.chat.completions.create(model="m", messages=messages).choices[0].message.content == ANSWER
    completion = client.completions.create(model="m", prompt="User: hi\n\nAssistant:", stream=True)
    assert "".join(c.choices[0].text for c in completion if c.choices) == ANSWER
    with client.responses.stream(model="m", input="What does the fox do?", instructions="Be brief.") as events:
        kinds = [e.type for e in events]
        response = events.get_final_response()
    assert response.output_text == ANSWER and kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert client.responses.create(model="m", input="hi", max_output_tokens=3).incomplete_details.reason == "max_output_tokens"
    assert [m.id for m in client.models.list().data] == [fp.DEFAULT_MODEL]
    p.set_faults([fp.rate_limited(retry_after=2)])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=messages)
    assert info.value.response.headers["retry-after"] == "2" and info.value.code == "rate_limit_exceeded"
