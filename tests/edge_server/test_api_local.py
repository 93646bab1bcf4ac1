"""The edge server with its default configuration: real llama.cpp on the embedded model.

The server runs as a real process (``python -m llm_runner_router``) on a free
127.0.0.1 port; requests come from the official openai client and httpx.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ProcessServer

KEY = "test-admin-key-0123456789"
MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    data = tmp_path_factory.mktemp("edge-data")
    env = {"LLM_ROUTER_DATA_DIR": str(data), "LLM_ROUTER_API_KEY": KEY, "LLM_ROUTER_MODELS_DIR": str(model_path.parent)}
    with ProcessServer([], env) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ProcessServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)


def test_models(client: openai.OpenAI) -> None:
    assert {MODEL, "default"} <= {m.id for m in client.models.list()}


def test_chat_non_stream_is_deterministic_with_a_seed(client: openai.OpenAI) -> None:
    kw: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Name a colour."}],
        "max_tokens": 16,
        "temperature": 0,
        "seed": 1,
    }
    a = client.chat.completions.create(**kw)
    b = client.chat.completions.create(**kw)
    assert a.choices[0].message.content and a.choices[0].message.content == b.choices[0].message.content
    assert a.choices[0].finish_reason in ("stop", "length")
    assert a.usage is not None and a.usage.prompt_tokens > 0 and 0 < a.usage.completion_tokens <= 16


def test_chat_stream_equals_non_stream(client: openai.OpenAI) -> None:
    kw: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 12, "temperature": 0}
    whole = client.chat.completions.create(**kw).choices[0].message.content
    parts, finish, usage = [], None, None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(parts) == whole
    assert finish in ("stop", "length") and usage is not None and usage.completion_tokens > 0


def test_stop_sequences_and_max_tokens(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count from 1 to 10."}], max_tokens=3, temperature=0
    )
    assert r.choices[0].finish_reason == "length" and r.usage is not None and r.usage.completion_tokens == 3
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
        max_tokens=60,
        temperature=0,
        stop=["5"],
    )
    assert "5" not in (r.choices[0].message.content or "")


def test_continue_final_message_finishes_an_answer_without_repeating_it(client: openai.OpenAI) -> None:
    # What the page does when its local engine fails mid-answer: the text the user
    # saw goes back as the assistant prefix, and only the rest comes back.
    messages: list[Any] = [{"role": "user", "content": "Write one sentence about the sea."}]
    kw: dict[str, Any] = {"model": MODEL, "max_tokens": 24, "temperature": 0, "seed": 1}
    whole = client.chat.completions.create(messages=messages, **kw).choices[0].message.content
    assert whole and len(whole) > 12
    cut = len(whole) // 2
    seen = whole[:cut]
    extra = {"continue_final_message": True, "add_generation_prompt": False}
    rest = client.chat.completions.create(
        messages=[*messages, {"role": "assistant", "content": seen}], extra_body=extra, **{**kw, "max_tokens": 24}
    ).choices[0].message.content
    assert rest and not rest.startswith(seen)
    # Greedy from a cold cache: the continuation is the rest of the same answer.
    assert whole.startswith(seen + rest) or (seen + rest).startswith(whole)


def test_continue_final_message_needs_an_assistant_message_last(server: ProcessServer) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "continue_final_message": True}
    r = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"].startswith("LLM_VAL_")
    assert r.json()["error"]["param"] == "continue_final_message"


def test_completions_and_responses(client: openai.OpenAI) -> None:
    comp = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0)
    assert comp.choices[0].text
    resp = client.responses.create(model=MODEL, input="Say one word.", max_output_tokens=8)
    assert resp.output_text


def test_prompt_over_the_context_window_is_a_400_with_a_code(server: ProcessServer) -> None:
    long = "word " * 5000  # ~5000 tokens > n_ctx 2048
    r = httpx.post(server.url + "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": long}]}, timeout=120)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "LLM_RUNTIME_003_E"


def test_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "LLM_MODEL_001_E"  # type: ignore[index]


def test_operations_endpoints(server: ProcessServer) -> None:
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    status = httpx.get(server.url + "/api/status").json()
    assert status["backends"]["local"]["loaded"] is True and status["deployments"]["local-smollm2"]["breaker"] == "closed"
    text = httpx.get(server.url + "/metrics").text
    assert "# TYPE llm_requests_total counter" in text
    r = httpx.get(server.url + "/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": "wrong"},
        {"authorization": "Bearer wrong"},
        {"authorization": KEY},
        {"authorization": f"Basic {KEY}"},
    ],
    ids=["none", "empty", "wrong", "wrong-bearer", "no-scheme", "basic"],
)
def test_admin_endpoints_refuse_without_the_key(server: ProcessServer, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/api/diagnostics"), ("POST", "/api/heal")):
        r = httpx.request(method, server.url + path, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "LLM_AUTH_001_E"


def test_admin_endpoints_with_the_key(server: ProcessServer) -> None:
    diag = httpx.get(server.url + "/api/diagnostics", headers={"x-api-key": KEY})
    assert diag.status_code == 200 and "metrics" in diag.json()
    heal = httpx.post(server.url + "/api/heal", headers={"authorization": f"Bearer {KEY}"}, json={"actions": ["clear_caches"]})
    assert heal.status_code == 200 and heal.json()["actions"][0]["action"] == "clear_caches"
    log = server.log.read_text()
    assert KEY not in log


def test_ops_commands(server: ProcessServer) -> None:
    import subprocess
    import sys

    env = {**os.environ, "LLM_ROUTER_API_KEY": KEY}
    for cmd, expect in (("status", "local-smollm2"), ("check", "healthy"), ("recover", "clear_caches"), ("clean", "clear_caches")):
        out = subprocess.run(
            [sys.executable, "-m", "llm_runner_router", cmd, "--url", server.url], capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert expect in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "llm_runner_router", "monitor", "--url", server.url, "--interval", "0.1", "--count", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.count(" ok ") == 2
    down = subprocess.run(
        [sys.executable, "-m", "llm_runner_router", "check", "--url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 1 and "cannot reach" in down.stderr


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@given(
    path=st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/responses"]),
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["model", "messages", "prompt", "input", "max_tokens", "temperature", "stream", "stop", "n"]),
            json_values,
            max_size=6,
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bad_input_never_gets_a_5xx(server: ProcessServer, path: str, body: bytes) -> None:
    r = httpx.post(server.url + path, content=body, headers={"content-type": "application/json"}, timeout=120)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["error"]["code"].startswith("LLM_")


def test_persistence_across_restart_and_kill_9(model_path: Path, tmp_path: Path) -> None:
    """What the router learned (a blacklist, a learned parameter, an open breaker) survives a restart and a kill -9."""
    with fp.FaultProvider(answer="fine", model="up") as upstream:
        config = tmp_path / "router.toml"
        config.write_text(
            f"""
[retry]
max_attempts = 1
[breaker]
failure_threshold = 3
cooldown = 600
[providers.local]
kind = "llamacpp"
options = {{ model_path = "{model_path}" }}
[providers.up]
kind = "openai"
base_url = "{upstream.base_url}"
[deployments.up]
provider = "up"
model = "up"
[deployments.local]
provider = "local"
model = "{MODEL}"
context_window = 2048
[aliases.chat]
deployments = ["up", "local"]
"""
        )
        env = {"LLM_ROUTER_DATA_DIR": str(tmp_path / "data")}
        proc = ProcessServer(["--config", str(config)], env).start()
        try:
            _persistence_checks(proc, upstream)
        finally:
            proc.stop()


def _persistence_checks(proc: ProcessServer, upstream: fp.FaultProvider) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
    upstream.set_faults([fp.unavailable()])
    for _ in range(3):
        assert httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=120).status_code == 200  # served by local
    state = httpx.get(proc.url + "/api/status").json()
    assert state["deployments"]["up"]["breaker"] == "open"
    time.sleep(0.5)  # committed within 50 ms of being learned
    proc.kill9()
    proc.start()
    after = httpx.get(proc.url + "/api/status").json()
    assert after["deployments"]["up"]["breaker"] == "open"
    hints = {h["provider"]: h for h in after["hints"]}
    assert hints["up"]["error_count"] == 3 and hints["local"]["success_count"] == 3
    proc.stop()  # graceful: flushes
    proc.start()
    assert httpx.get(proc.url + "/api/status").json()["deployments"]["up"]["breaker"] == "open"


def test_corrupt_database_is_set_aside_and_rebuilt(model_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "router.db").write_bytes(b"this is not a database" * 100)
    env = {"LLM_ROUTER_DATA_DIR": str(data), "LLM_ROUTER_MODELS_DIR": str(model_path.parent)}
    with ProcessServer([], env) as proc:
        r = httpx.post(
            proc.url + "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
            timeout=120,
        )
        assert r.status_code == 200
        assert "LLM_CORE_002_E" in proc.log.read_text()
    assert list(data.glob("router.db.corrupt-*"))


def test_client_disconnect_cancels_local_generation(server: ProcessServer) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a long story about a fox."}],
        "max_tokens": 1500,
        "stream": True,
    }
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first token
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = httpx.get(server.url + "/api/status").json()
        if status["queue"]["active"] == 0 and status["deployments"]["local-smollm2"]["inflight"] == 0:
            break
        time.sleep(0.1)
    assert status["queue"]["active"] == 0 and status["deployments"]["local-smollm2"]["inflight"] == 0
    # The model is free again at once: a new request is answered without waiting for 1500 tokens.
    t0 = time.monotonic()
    r2 = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        timeout=120,
    )
    assert r2.status_code == 200 and time.monotonic() - t0 < 10


def test_graceful_shutdown_finishes_the_running_answer(model_path: Path, tmp_path: Path) -> None:
    env = {"LLM_ROUTER_DATA_DIR": str(tmp_path / "data"), "LLM_ROUTER_MODELS_DIR": str(model_path.parent)}
    proc = ProcessServer([], env).start()
    try:
        _graceful_shutdown_checks(proc)
    finally:
        proc.stop()


def _graceful_shutdown_checks(proc: ProcessServer) -> None:
    import threading

    quick = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert httpx.post(proc.url + "/v1/chat/completions", json=quick, timeout=120).status_code == 200
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me about foxes."}],
        "max_tokens": 60,
        "stream": True,
        "temperature": 0,
    }
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        with httpx.stream("POST", proc.url + "/v1/chat/completions", json=body, timeout=120) as r:
            for line in r.iter_lines():
                lines.append(line)
                started.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(60)
    # SIGTERM while the answer is streaming. uvicorn shuts down gracefully, then re-raises
    # the signal, so the exit status is -15 (or 0).
    assert proc.stop() in (0, -15)
    reader.join(60)
    # Finished, or (when it would not finish in time) ended with a coded error event: never cut.
    assert [x for x in lines if x][-1] == "data: [DONE]"
    last = [json.loads(x[5:]) for x in lines if x.startswith("data: {")][-1]
    assert last.get("x_llm", {}).get("status") == "complete" or last["error"]["code"] == "LLM_CORE_008_W"
    # The store was flushed on the way out: what was learned is remembered.
    proc.start()
    hints = httpx.get(proc.url + "/api/status").json()["hints"]
    assert hints and hints[0]["success_count"] >= 1
