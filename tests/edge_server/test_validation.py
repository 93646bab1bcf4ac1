from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import catalogue
from core.errors import LLMError
from edge_server.validation import MAX_BODY_BYTES, parse_body, parse_chat, parse_completion, parse_responses

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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
fields = st.sampled_from(
    ["model", "messages", "max_tokens", "temperature", "top_p", "stop", "stream", "seed", "n", "prompt", "input", "tools"]
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
