"""Validation of the OpenAI-compatible request bodies, into core ChatRequests.

Every problem is an LLM_VAL_* error that names the field (``context["field"]``,
shown as ``error.param``), so a client learns exactly what to fix. Fields
this server does not know are ignored, as OpenAI clients send many; fields
it knows but cannot honour are refused (LLM_VAL_007_E), not silently
dropped, whenever they ask for more than the default: ``n > 1``, tools and
``tool_choice`` other than "none"/"auto", ``function_call``, ``logprobs``,
``top_logprobs``, ``logit_bias``, ``response_format`` other than text,
``modalities`` other than ["text"], ``audio``, ``prediction``,
``web_search_options``, ``reasoning_effort``, ``verbosity``; on
/v1/completions ``echo``, a non-empty ``suffix``, ``best_of > 1``; on
/v1/responses ``previous_response_id`` and ``conversation`` (no response is
kept), ``prompt``, ``background``, ``include``, ``reasoning``, ``truncation``
"auto" and ``text.format`` other than text (the table ``_UNHONOURED*``).
Fields that do not change the answer (``user``, ``metadata``, ``store``,
``service_tier``, ``stream_options``, ``parallel_tool_calls``...) are accepted.
Written by hand rather than with a schema library: the rules are few, and
the error codes and messages are this product's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from llm_runner_router.core import catalogue
from llm_runner_router.core.params import field_error as _err
from llm_runner_router.core.params import number, sampling
from llm_runner_router.core.types import ChatRequest, Message

__all__ = ["MAX_BODY_BYTES", "MAX_PROMPT_CHARS", "parse_body", "parse_chat", "parse_completion", "parse_responses"]

MAX_BODY_BYTES = 1 << 20  # 1 MiB
MAX_PROMPT_CHARS = 200_000
ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


def parse_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise catalogue.VAL_TOO_LARGE.error(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", limit=MAX_BODY_BYTES)
    if not raw.strip():
        raise catalogue.VAL_MALFORMED.error("request body is empty; expected a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise catalogue.VAL_MALFORMED.error(f"request body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise catalogue.VAL_MALFORMED.error(f"request body must be a JSON object, not {type(data).__name__}")
    try:
        # JSON lets a \ud800 escape stand alone; such a string is no text at all and
        # cannot be encoded to send on to a backend, or even to quote in our error.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise catalogue.VAL_MALFORMED.error("request body holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape, unpaired)") from None
    except RecursionError:
        raise catalogue.VAL_MALFORMED.error("request body is nested too deeply") from None
    return data


def _model(data: Mapping[str, Any]) -> str:
    model = data.get("model")
    if model is None:
        raise _err(catalogue.VAL_MISSING_FIELD, "model", "is required")
    if not isinstance(model, str):
        raise _err(catalogue.VAL_WRONG_TYPE, "model", "must be a string", model)
    if not model.strip() or len(model) > 256:
        raise _err(catalogue.VAL_OUT_OF_RANGE, "model", "must be a non-empty name of at most 256 characters", model)
    return model


def _content(value: Any, field: str) -> str:
    """A message's content: a string, or a list of text parts."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        texts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict):
                raise _err(catalogue.VAL_WRONG_TYPE, f"{field}[{i}]", "must be an object")
            kind = part.get("type")
            if kind not in ("text", "input_text", "output_text"):
                raise _err(catalogue.VAL_UNSUPPORTED, f"{field}[{i}].type", "only text parts are supported", kind)
            text = part.get("text")
            if not isinstance(text, str):
                raise _err(catalogue.VAL_WRONG_TYPE, f"{field}[{i}].text", "must be a string", text)
            texts.append(text)
        return "".join(texts)
    raise _err(catalogue.VAL_WRONG_TYPE, field, "must be a string or a list of text parts", value)


def _messages(value: Any, field: str = "messages") -> list[Message]:
    if value is None:
        raise _err(catalogue.VAL_MISSING_FIELD, field, "is required")
    if not isinstance(value, list):
        raise _err(catalogue.VAL_WRONG_TYPE, field, "must be an array of messages", value)
    if not value:
        raise _err(catalogue.VAL_EMPTY, field, "must hold at least one message")
    out = []
    for i, m in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(m, dict):
            raise _err(catalogue.VAL_WRONG_TYPE, where, "must be an object with role and content", m)
        role = m.get("role")
        if role is None:
            raise _err(catalogue.VAL_MISSING_FIELD, f"{where}.role", "is required")
        if not isinstance(role, str) or role not in ROLES:
            raise _err(catalogue.VAL_UNSUPPORTED, f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}", role)
        if "content" not in m and not m.get("tool_calls"):
            raise _err(catalogue.VAL_MISSING_FIELD, f"{where}.content", "is required")
        out.append(Message(role, _content(m.get("content"), f"{where}.content")))
    if not any(m.content.strip() for m in out):
        raise _err(catalogue.VAL_EMPTY, field, "every message is empty")
    if sum(len(m.content) for m in out) > MAX_PROMPT_CHARS:
        raise catalogue.VAL_TOO_LARGE.error(f"{field}: the prompt is longer than {MAX_PROMPT_CHARS} characters", field=field)
    return out


def _sampling(data: Mapping[str, Any], max_tokens_fields: tuple[str, ...]) -> dict[str, Any]:
    # The ranges are the core's (core/params.py), shared with the page.
    params = sampling(data, {"max_tokens": max_tokens_fields})
    n = number(data.get("n"), "n", 1, 128, integer=True)
    if n not in (None, 1):
        raise _err(catalogue.VAL_UNSUPPORTED, "n", "only n = 1 is supported", n)
    _refuse_unhonoured(data, _UNHONOURED)
    return params


def _nothing(value: Any) -> bool:
    """null, or an empty string, array or object: asks for nothing."""
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def _only(*allowed: Any) -> Callable[[Any], bool]:
    """null or one of ``allowed`` (a boolean is no number here: ``best_of: true`` is not 1)."""
    return lambda value: value is None or any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in allowed)


def _plain_text(value: Any) -> bool:
    """A format that asks for plain text: what this server answers with anyway."""
    return value is None or (isinstance(value, dict) and value.get("type") == "text")


def _no_reasoning(value: Any) -> bool:
    return _nothing(value) or (
        isinstance(value, dict)
        and _only("none")(value.get("effort"))
        and value.get("summary") is None
        and value.get("generate_summary") is None
    )


# Fields of OpenAI's request bodies that would change the answer and that this server does
# not honour: each is refused (LLM_VAL_007_E, naming it) unless absent, null, or the value
# that asks for no more than what the server does anyway (the API's default).
# name -> (accepts the value?, what is supported).
_Rules = dict[str, tuple[Callable[[Any], bool], str]]
_UNHONOURED: _Rules = {  # chat completions (and the same fields sent to the other two endpoints)
    "tools": (_nothing, "tools are not supported by this server"),
    "functions": (_nothing, "functions are not supported by this server"),
    "tool_choice": (_only("none", "auto"), 'only "none" or "auto" (no tools) is supported'),
    "function_call": (_only("none", "auto"), 'only "none" or "auto" (no functions) is supported'),
    "logprobs": (_only(False), "log probabilities are not supported by this server"),
    "top_logprobs": (_only(0), "log probabilities are not supported by this server"),
    "logit_bias": (_nothing, "token biases are not supported by this server"),
    "response_format": (_plain_text, 'only {"type": "text"} is supported'),
    "modalities": (_only(["text"]), 'only ["text"] is supported'),
    "audio": (_nothing, "audio output is not supported by this server"),
    "prediction": (_nothing, "predicted outputs are not supported by this server"),
    "web_search_options": (_nothing, "web search is not supported by this server"),
    "reasoning_effort": (_only("none"), 'only "none" is supported (the models here do not reason)'),
    "verbosity": (_only("medium"), 'only "medium" is supported'),
}
_UNHONOURED_COMPLETION: _Rules = {
    "echo": (_only(False), "only false is supported (the answer never repeats the prompt)"),
    "suffix": (_nothing, "text after the completion is not supported by this server"),
    "best_of": (_only(1), "only best_of = 1 is supported"),
}
_UNHONOURED_RESPONSES: _Rules = {
    "previous_response_id": (_nothing, "this server keeps no responses: send the whole conversation in input"),
    "conversation": (_nothing, "this server keeps no conversations: send the whole conversation in input"),
    "prompt": (_nothing, "stored prompt templates are not supported by this server"),
    "background": (_only(False), "only false is supported (every response is answered at once)"),
    "include": (_nothing, "no extra output can be included by this server"),
    "reasoning": (_no_reasoning, 'only effort "none", without a summary, is supported (the models here do not reason)'),
    "truncation": (_only("disabled"), 'only "disabled" is supported'),
}


def _refuse_unhonoured(data: Mapping[str, Any], rules: _Rules) -> None:
    for name, (accepts, supported) in rules.items():
        value = data.get(name)
        if not accepts(value):
            raise _err(catalogue.VAL_UNSUPPORTED, name, supported, value)


def _text_options(data: Mapping[str, Any]) -> None:
    """The Responses API's ``text`` object: only plain text at the default verbosity."""
    text = data.get("text")
    if text is None:
        return
    if not isinstance(text, dict):
        raise _err(catalogue.VAL_WRONG_TYPE, "text", "must be an object", text)
    if not _plain_text(text.get("format")):
        raise _err(catalogue.VAL_UNSUPPORTED, "text.format", 'only {"type": "text"} is supported', text.get("format"))
    if not _only("medium")(text.get("verbosity")):
        raise _err(catalogue.VAL_UNSUPPORTED, "text.verbosity", 'only "medium" is supported', text.get("verbosity"))


def _stream(data: Mapping[str, Any]) -> bool:
    stream = data.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise _err(catalogue.VAL_WRONG_TYPE, "stream", "must be a boolean", stream)
    return stream


def _continuation(data: Mapping[str, Any], messages: list[Message]) -> tuple[list[Message], str]:
    """``continue_final_message`` (vLLM's name for it): the last, assistant, message is a
    prefix to continue, not a finished turn. → (messages before it, the prefix)."""
    flag = data.get("continue_final_message", False)
    if flag is None or flag is False:
        return messages, ""
    if not isinstance(flag, bool):
        raise _err(catalogue.VAL_WRONG_TYPE, "continue_final_message", "must be a boolean", flag)
    if messages[-1].role != "assistant" or not messages[-1].content:
        raise _err(catalogue.VAL_UNSUPPORTED, "continue_final_message", "needs a last message with role assistant and some content")
    if len(messages) < 2:
        raise _err(catalogue.VAL_EMPTY, "messages", "there is nothing before the assistant message to continue")
    return messages[:-1], messages[-1].content


def parse_chat(data: Mapping[str, Any], request_id: str = "") -> tuple[ChatRequest, bool]:
    """POST /v1/chat/completions → (request, stream)."""
    model = _model(data)
    messages, prefix = _continuation(data, _messages(data.get("messages")))
    params = _sampling(data, ("max_tokens", "max_completion_tokens"))
    return ChatRequest(model, messages, params, request_id, prefix=prefix), _stream(data)


def parse_completion(data: Mapping[str, Any], request_id: str = "") -> tuple[ChatRequest, bool]:
    """POST /v1/completions (a single text prompt) → (request, stream)."""
    model = _model(data)
    prompt = data.get("prompt")
    if prompt is None:
        raise _err(catalogue.VAL_MISSING_FIELD, "prompt", "is required")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise _err(catalogue.VAL_WRONG_TYPE, "prompt", "must be a string (one prompt per request)", prompt)
    if not prompt.strip():
        raise _err(catalogue.VAL_EMPTY, "prompt", "is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise catalogue.VAL_TOO_LARGE.error(f"prompt: longer than {MAX_PROMPT_CHARS} characters", field="prompt")
    params = _sampling(data, ("max_tokens",))
    _refuse_unhonoured(data, _UNHONOURED_COMPLETION)
    return ChatRequest(model, [Message("user", prompt)], params, request_id, kind="text"), _stream(data)


def parse_responses(data: Mapping[str, Any], request_id: str = "") -> tuple[ChatRequest, bool]:
    """POST /v1/responses, text subset: input (string or messages) and instructions."""
    model = _model(data)
    raw = data.get("input")
    if raw is None:
        raise _err(catalogue.VAL_MISSING_FIELD, "input", "is required")
    if isinstance(raw, str):
        if not raw.strip():
            raise _err(catalogue.VAL_EMPTY, "input", "is empty")
        messages = [Message("user", raw)]
    else:
        messages = _messages(raw, "input")
    instructions = data.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _err(catalogue.VAL_WRONG_TYPE, "instructions", "must be a string", instructions)
        messages.insert(0, Message("system", instructions))
    if sum(len(m.content) for m in messages) > MAX_PROMPT_CHARS:
        field = "input" if len(instructions or "") <= MAX_PROMPT_CHARS else "instructions"
        raise catalogue.VAL_TOO_LARGE.error(f"{field}: the prompt is longer than {MAX_PROMPT_CHARS} characters", field=field)
    params = _sampling(data, ("max_output_tokens",))
    _refuse_unhonoured(data, _UNHONOURED_RESPONSES)
    _text_options(data)
    return ChatRequest(model, messages, params, request_id), _stream(data)
