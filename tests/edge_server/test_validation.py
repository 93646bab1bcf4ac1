from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge.validation import MAX_BODY_BYTES, parse_body, parse_chat, parse_completion, parse_responses

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(**changes: Any) -> Any:
    body = {**OK, **changes}
    return parse_chat({k: v for k, v in body.items() if v is not ...})


def code_of(fn: Any, *args: Any, **kw: Any) -> tuple[str, Any]:
    with pytest.raises(LLMError) as info:
        fn(*args, **kw)
    return info.value.code, info.value.context.get("field")


def test_a_valid_request() -> None:
    req, stream = chat(max_tokens=5, temperature=0, top_p=1, seed=3, stop="\n", stream=True)
    assert (req.model, stream, req.params) == ("m", True, {"max_tokens": 5, "temperature": 0, "top_p": 1, "seed": 3, "stop": ["\n"]})
    assert req.messages[0].content == "hi" and req.kind == "chat"


def test_text_parts_are_joined() -> None:
    req, _ = chat(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert req.messages[0].content == "ab"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"model": ...}, catalogue.VAL_MISSING_FIELD, "model"),
        ({"model": 3}, catalogue.VAL_WRONG_TYPE, "model"),
        ({"model": ""}, catalogue.VAL_OUT_OF_RANGE, "model"),
        ({"messages": ...}, catalogue.VAL_MISSING_FIELD, "messages"),
        ({"messages": []}, catalogue.VAL_EMPTY, "messages"),
        ({"messages": "hi"}, catalogue.VAL_WRONG_TYPE, "messages"),
        ({"messages": [3]}, catalogue.VAL_WRONG_TYPE, "messages[0]"),
        ({"messages": [{"content": "x"}]}, catalogue.VAL_MISSING_FIELD, "messages[0].role"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, catalogue.VAL_UNSUPPORTED, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, catalogue.VAL_MISSING_FIELD, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 7}]}, catalogue.VAL_WRONG_TYPE, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, catalogue.VAL_UNSUPPORTED, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": "  "}]}, catalogue.VAL_EMPTY, "messages"),
        ({"max_tokens": 0}, catalogue.VAL_OUT_OF_RANGE, "max_tokens"),
        ({"max_tokens": 10**9}, catalogue.VAL_OUT_OF_RANGE, "max_tokens"),
        ({"max_tokens": "5"}, catalogue.VAL_WRONG_TYPE, "max_tokens"),
        ({"max_tokens": True}, catalogue.VAL_WRONG_TYPE, "max_tokens"),
        ({"max_tokens": 2.5}, catalogue.VAL_WRONG_TYPE, "max_tokens"),
        ({"temperature": -1}, catalogue.VAL_OUT_OF_RANGE, "temperature"),
        ({"temperature": 9}, catalogue.VAL_OUT_OF_RANGE, "temperature"),
        ({"top_p": 0}, catalogue.VAL_OUT_OF_RANGE, "top_p"),
        ({"stop": [1]}, catalogue.VAL_WRONG_TYPE, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, catalogue.VAL_OUT_OF_RANGE, "stop"),
        ({"stream": "yes"}, catalogue.VAL_WRONG_TYPE, "stream"),
        ({"n": 2}, catalogue.VAL_UNSUPPORTED, "n"),
        ({"tools": [{"type": "function"}]}, catalogue.VAL_UNSUPPORTED, "tools"),
    ],
)
def test_each_bad_field_is_named_with_its_code(changes: dict[str, Any], code: Any, field: str) -> None:
    got_code, got_field = code_of(chat, **changes)
    assert (got_code, got_field) == (code.code, field)


def test_body_level_errors() -> None:
    assert code_of(parse_body, b"")[0] == catalogue.VAL_MALFORMED.code
    assert code_of(parse_body, b"{nope")[0] == catalogue.VAL_MALFORMED.code
    assert code_of(parse_body, b"[1, 2]")[0] == catalogue.VAL_MALFORMED.code
    assert code_of(parse_body, b"[" * 100_000)[0] == catalogue.VAL_MALFORMED.code
    assert code_of(parse_body, b" " * (MAX_BODY_BYTES + 1))[0] == catalogue.VAL_TOO_LARGE.code


def test_completions_and_responses() -> None:
    req, _ = parse_completion({"model": "m", "prompt": "Once upon"})
    assert req.kind == "text" and req.messages[0].content == "Once upon"
    assert code_of(parse_completion, {"model": "m", "prompt": ["a", "b"]})[1] == "prompt"
    req, stream = parse_responses({"model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 9})
    assert [m.role for m in req.messages] == ["system", "user"] and req.params["max_tokens"] == 9 and not stream
    assert code_of(parse_responses, {"model": "m"})[1] == "input"


COMPLETION = {"model": "m", "prompt": "Once upon"}
RESPONSES = {"model": "m", "input": "hi"}
# Fields of OpenAI's chat completions that change the answer and that the server does not honour:
# refused on every generating endpoint, naming the field.
REFUSED_EVERYWHERE: list[tuple[str, Any]] = [
    ("tools", [{"type": "function", "function": {"name": "f"}}]),
    ("functions", [{"name": "f"}]),
    ("tool_choice", "required"),
    ("tool_choice", {"type": "function", "function": {"name": "f"}}),
    ("function_call", {"name": "f"}),
    ("function_call", "auto!"),
    ("logprobs", True),
    ("logprobs", 0),  # /v1/completions: logprobs of the chosen tokens
    ("logprobs", 5),
    ("top_logprobs", 3),
    ("logit_bias", {"50256": -100}),
    ("response_format", {"type": "json_object"}),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
    ("response_format", "text"),
    ("modalities", ["text", "audio"]),
    ("modalities", ["audio"]),
    ("audio", {"voice": "alloy", "format": "wav"}),
    ("prediction", {"type": "content", "content": "old text"}),
    ("web_search_options", {"search_context_size": "low"}),
    ("reasoning_effort", "high"),
    ("verbosity", "low"),
]
REFUSED_COMPLETION: list[tuple[str, Any]] = [
    ("echo", True),
    ("suffix", "the end"),
    ("best_of", 2),
    ("best_of", True),
]
REFUSED_RESPONSES: list[tuple[str, Any]] = [
    ("previous_response_id", "resp_123"),
    ("conversation", "conv_123"),
    ("prompt", {"id": "pmpt_123"}),
    ("background", True),
    ("include", ["message.output_text.logprobs"]),
    ("reasoning", {"effort": "high"}),
    ("reasoning", {"summary": "auto"}),
    ("truncation", "auto"),
]
# What changes nothing: the defaults of the fields above, and fields that do not touch the answer.
ACCEPTED_EVERYWHERE: list[dict[str, Any]] = [
    {"tools": []},
    {"tools": None, "tool_choice": None, "functions": None, "function_call": None},
    {"tool_choice": "none"},
    {"tool_choice": "auto", "parallel_tool_calls": True},
    {"function_call": "none"},
    {"logprobs": False, "top_logprobs": 0},
    {"logprobs": None, "top_logprobs": None},
    {"logit_bias": {}},
    {"logit_bias": None},
    {"response_format": {"type": "text"}},
    {"modalities": ["text"]},
    {"audio": None, "prediction": None, "web_search_options": None},
    {"reasoning_effort": "none", "verbosity": "medium"},
    {"user": "u-1", "metadata": {"k": "v"}, "store": True, "service_tier": "auto", "stream_options": {"include_usage": True}},
    {"safety_identifier": "s", "prompt_cache_key": "k", "parallel_tool_calls": False},
]


@pytest.mark.parametrize(("field", "value"), REFUSED_EVERYWHERE, ids=[f"{f}={v!r}"[:40] for f, v in REFUSED_EVERYWHERE])
@pytest.mark.parametrize("parse", [parse_chat, parse_completion, parse_responses], ids=["chat", "completions", "responses"])
def test_fields_that_would_change_the_answer_are_refused_not_dropped(parse: Any, field: str, value: Any) -> None:
    base = {parse_chat: OK, parse_completion: COMPLETION, parse_responses: RESPONSES}[parse]
    assert code_of(parse, {**base, field: value}) == (catalogue.VAL_UNSUPPORTED.code, field)


@pytest.mark.parametrize(("field", "value"), REFUSED_COMPLETION)
def test_completion_fields_the_server_does_not_honour_are_refused(field: str, value: Any) -> None:
    assert code_of(parse_completion, {**COMPLETION, field: value}) == (catalogue.VAL_UNSUPPORTED.code, field)


@pytest.mark.parametrize(("field", "value"), REFUSED_RESPONSES)
def test_responses_fields_the_server_does_not_honour_are_refused(field: str, value: Any) -> None:
    assert code_of(parse_responses, {**RESPONSES, field: value}) == (catalogue.VAL_UNSUPPORTED.code, field)


def test_previous_response_id_says_no_response_is_kept() -> None:
    with pytest.raises(LLMError) as info:
        parse_responses({**RESPONSES, "previous_response_id": "resp_123"})
    assert info.value.http_status == 400 and "keeps no responses" in str(info.value)


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ({"format": {"type": "json_schema", "name": "x", "schema": {}}}, catalogue.VAL_UNSUPPORTED, "text.format"),
        ({"format": {"type": "json_object"}}, catalogue.VAL_UNSUPPORTED, "text.format"),
        ({"verbosity": "high"}, catalogue.VAL_UNSUPPORTED, "text.verbosity"),
        ("plain", catalogue.VAL_WRONG_TYPE, "text"),
    ],
)
def test_responses_text_format_other_than_text_is_refused(text: Any, code: Any, field: str) -> None:
    assert code_of(parse_responses, {**RESPONSES, "text": text}) == (code.code, field)


@pytest.mark.parametrize("changes", ACCEPTED_EVERYWHERE, ids=lambda c: ",".join(c))
@pytest.mark.parametrize("parse", [parse_chat, parse_completion, parse_responses], ids=["chat", "completions", "responses"])
def test_defaults_and_fields_that_do_not_change_the_answer_are_accepted(parse: Any, changes: dict[str, Any]) -> None:
    base = {parse_chat: OK, parse_completion: COMPLETION, parse_responses: RESPONSES}[parse]
    request, _ = parse({**base, **changes})
    assert request.model == "m"


@pytest.mark.parametrize(
    "changes",
    [
        {"echo": False},
        {"echo": None},
        {"suffix": ""},
        {"suffix": None},
        {"best_of": 1},
        {"best_of": None},
        {"echo": False, "best_of": 1, "suffix": "", "logprobs": None, "user": "u"},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_completion_defaults_are_accepted(changes: dict[str, Any]) -> None:
    request, _ = parse_completion({**COMPLETION, **changes})
    assert request.messages[0].content == "Once upon" and request.kind == "text"


@pytest.mark.parametrize(
    "changes",
    [
        {"previous_response_id": None, "conversation": None, "prompt": None},
        {"background": False},
        {"include": []},
        {"reasoning": {}},
        {"reasoning": {"effort": "none"}},
        {"truncation": "disabled"},
        {"text": {"format": {"type": "text"}}},
        {"text": {"format": {"type": "text"}, "verbosity": "medium"}},
        {"text": {}},
        {"text": None},
        {"store": False, "metadata": {"a": "b"}, "max_tool_calls": 3, "service_tier": "default", "user": "u"},
    ],
    ids=lambda c: ",".join(c),
)
def test_responses_defaults_are_accepted(changes: dict[str, Any]) -> None:
    request, _ = parse_responses({**RESPONSES, **changes})
    assert request.messages[-1].content == "hi"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
fields = st.sampled_from(
    ["model", "messages", "max_tokens", "temperature", "top_p", "stop", "stream", "seed", "n", "prompt", "input", "tools"]
    + ["echo", "best_of", "suffix", "response_format", "text", "previous_response_id", "logprobs", "top_logprobs", "tool_choice"]
)


@given(st.dictionaries(fields, json_values, max_size=8))
@settings(max_examples=400, deadline=None)
def test_any_json_body_is_accepted_or_refused_with_a_val_code(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    for parse in (parse_chat, parse_completion, parse_responses):
        try:
            parse(parse_body(raw))
        except LLMError as err:
            assert err.code.startswith("LLM_VAL_") and 400 <= err.http_status < 500
