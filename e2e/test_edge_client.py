"""web/lib/edge.js in Chromium against the real edge server (llama.cpp on the embedded model).

The edge client is the engine contract over fetch + SSE; the page runtime will
route to it when the local engines cannot answer.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import Page

from e2e.conftest import NewPage
from llm_runner_router.edge.testing.servers import ProcessServer

RUN = """async ([options, abortAfter]) => {
  const { EdgeClient } = await import('/lib/edge.js');
  const client = new EdgeClient(location.origin, { model: options.model || 'default' });
  const controller = new AbortController();
  const pieces = [];
  let final = null;
  try {
    for await (const chunk of client.stream({ ...options, signal: controller.signal })) {
      if (chunk.finishReason) final = chunk;
      else pieces.push(chunk.text);
      if (abortAfter && pieces.length >= abortAfter) controller.abort();
    }
  } catch (e) {
    return { pieces, error: { code: e.code, message: e.message } };
  }
  return { pieces, final };
}"""


def stream(page: Page, server: ProcessServer, options: dict[str, Any], abort_after: int | None = None) -> dict[str, Any]:
    page.goto(f"{server.url}/engine.html?module=")
    result: dict[str, Any] = page.evaluate(RUN, [options, abort_after])
    return result


def one_shot(server: ProcessServer, messages: list[dict[str, str]], max_tokens: int) -> str:
    """The server's non-streaming answer to the same greedy request."""
    body = {"model": "default", "messages": messages, "max_tokens": max_tokens, "temperature": 0, "seed": 1}
    request = urllib.request.Request(f"{server.url}/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return str(json.load(response)["choices"][0]["message"]["content"])


def test_streams_the_servers_answer(edge_server: ProcessServer, new_page: NewPage) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    result = stream(new_page(), edge_server, {"messages": messages, "maxTokens": 16, "temperature": 0, "seed": 1})
    assert "error" not in result, result
    assert "".join(result["pieces"]) == one_shot(edge_server, messages, 16)
    assert result["final"]["finishReason"] in ("stop", "length")
    assert result["final"]["usage"]["completionTokens"] >= len(result["pieces"]) > 1


def test_a_server_error_keeps_its_code(edge_server: ProcessServer, new_page: NewPage) -> None:
    messages = [{"role": "user", "content": "hi"}]
    result = stream(new_page(), edge_server, {"messages": messages, "model": "no-such-model", "maxTokens": 4})
    assert result["error"]["code"].startswith("LLM_") and result["pieces"] == [], result
    assert "no-such-model" in result["error"]["message"] or result["error"]["code"] == "LLM_MODEL_001_E"


def test_abort_ends_the_stream(edge_server: ProcessServer, new_page: NewPage) -> None:
    messages = [{"role": "user", "content": "Write a long story about a robot."}]
    result = stream(new_page(), edge_server, {"messages": messages, "maxTokens": 200}, abort_after=2)
    assert "error" not in result, result
    assert 2 <= len(result["pieces"]) <= 3 and result["final"]["finishReason"] == "abort"
