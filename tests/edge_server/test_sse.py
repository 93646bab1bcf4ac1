"""The event-stream parser: the standard's line rules, its bounds, and fuzzing.

The fuzz tests feed arbitrary bytes cut at arbitrary places: the parser (and
the endpoint decoders behind it) may raise nothing but an LLMError, and for
a valid stream the cuts must not change what comes out.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge.sse import SSEEvent, SSEParser
from llm_runner_router.edge.upstream import decoder_for


def parse(*pieces: bytes, parser: SSEParser | None = None) -> list[SSEEvent]:
    parser = parser or SSEParser()
    out: list[SSEEvent] = []
    for piece in pieces:
        out.extend(parser.feed(piece))
    out.extend(parser.close())
    return out


def cut_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


# --- the line rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_each_line_ending_ends_a_line(eol: str) -> None:
    stream = f"data: one{eol}{eol}data: two{eol}{eol}".encode()
    assert [e.data for e in parse(stream)] == ["one", "two"]


def test_a_crlf_split_across_pieces_is_one_line_end() -> None:
    assert [e.data for e in parse(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_comments_are_skipped_and_data_lines_join_with_newlines() -> None:
    stream = b": keep-alive\n\ndata: first\n: a comment in the middle\ndata:second\ndata\n\n"
    assert parse(stream) == [SSEEvent("first\nsecond\n")]


def test_event_id_and_retry_fields() -> None:
    stream = b"event: response.output_text.delta\nid: 7\nretry: 1500\ndata: {}\n\ndata: next\n\n"
    first, second = parse(stream)
    assert first == SSEEvent("{}", "response.output_text.delta", "7", 1500)
    assert second == SSEEvent("next", "message", "7", None)  # the last event ID carries on; the type does not


def test_only_one_space_after_the_colon_is_dropped_and_unknown_fields_are_ignored() -> None:
    assert parse(b"data:  two spaces\nfoo: bar\nretry: soon\n\n") == [SSEEvent(" two spaces")]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert parse(b"event: ping\n\n: just a comment\n\n") == []


def test_a_leading_byte_order_mark_is_skipped_even_split() -> None:
    assert [e.data for e in parse(b"\xef", b"\xbb", b"\xbfdata: x\n\n")] == ["x"]
    assert [e.data for e in parse(b"\xef\xbb\xbfdata: y\n\n")] == ["y"]


def test_utf8_split_inside_a_character_is_reassembled() -> None:
    raw = "data: naïve — ✓\n\n".encode()
    assert [e.data for e in parse(*[raw[i : i + 1] for i in range(len(raw))])] == ["naïve — ✓"]


def test_at_the_end_a_pending_event_is_dispatched_unless_a_line_of_it_was_cut() -> None:
    assert [e.data for e in parse(b"data: [DONE]\n")] == ["[DONE]"]
    assert [e.data for e in parse(b'data: {"choi')] == []
    assert [e.data for e in parse(b"data: a\ndata: b")] == []
    assert [e.data for e in parse(b"data: a\n\ndata: b")] == ["a"]


def test_an_over_long_line_is_malformed_whether_it_ends_or_not() -> None:
    with pytest.raises(LLMError) as ended:
        parse(b"data: " + b"x" * 100 + b"\n\n", parser=SSEParser(max_line=64))
    assert ended.value.code == catalogue.STREAM_MALFORMED.code
    parser = SSEParser(max_line=64)
    with pytest.raises(LLMError) as endless:
        for _ in range(100):  # a line that never ends is refused as soon as it is too long
            parser.feed(b"x" * 10)
    assert endless.value.code == catalogue.STREAM_MALFORMED.code
    assert endless.value.context["reason"] == "line_too_long"


def test_an_over_long_event_is_malformed() -> None:
    with pytest.raises(LLMError) as info:
        parse(b"data: 0123456789\n" * 20 + b"\n", parser=SSEParser(max_event=100))
    assert info.value.code == catalogue.STREAM_MALFORMED.code
    assert info.value.context["reason"] == "event_too_long"


def test_a_line_exactly_at_the_limit_is_accepted() -> None:
    line = b"data: " + b"y" * 58
    assert len(line) == 64
    assert parse(line[:30], line[30:] + b"\n\n", parser=SSEParser(max_line=64)) == [SSEEvent("y" * 58)]


# --- fuzzing ----------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ENDPOINTS = ["chat/completions", "completions", "responses"]
# Bytes that hit the parser's branches often: line ends, colons, field names, JSON, a BOM.
_TOKENS = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b":", b" ", b"data", b"data: ", b"event: ", b"id: ", b"retry: 12", b"[DONE]", b"\xef\xbb\xbf", b"{", b"}", b'"']
    + [b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}', b'{"type":"response.output_text.delta","delta":"x"}']
)
_BYTES = st.one_of(st.binary(max_size=400), st.lists(st.one_of(_TOKENS, st.binary(max_size=8)), max_size=60).map(b"".join))


@_FUZZ
@given(data=_BYTES, cuts=st.lists(st.integers(0, 400), max_size=12), max_line=st.sampled_from([8, 64, 1 << 20]))
def test_fuzz_the_parser_raises_only_llm_errors(data: bytes, cuts: list[int], max_line: int) -> None:
    parser = SSEParser(max_line=max_line, max_event=4 * max_line)
    try:
        parse(*cut_at(data, cuts), parser=parser)
    except LLMError as err:
        assert err.code == catalogue.STREAM_MALFORMED.code


@_FUZZ
@given(data=_BYTES, cuts=st.lists(st.integers(0, 400), max_size=12), endpoint=st.sampled_from(_ENDPOINTS))
def test_fuzz_the_parser_and_decoders_raise_only_llm_errors(data: bytes, cuts: list[int], endpoint: str) -> None:
    parser, decoder = SSEParser(max_line=256), decoder_for(endpoint)
    try:
        for piece in [*cut_at(data, cuts), None]:
            events = parser.close() if piece is None else parser.feed(piece)
            for event in events:
                decoder.event(event)
                if decoder.done:
                    return
        raise decoder.ended_early()
    except LLMError:
        pass


_LINE_TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20)
_EVENT = st.fixed_dictionaries(
    {
        "event": st.one_of(st.none(), st.text(st.characters(whitelist_categories=["Ll", "Lu", "Nd"]), min_size=1, max_size=10)),
        "id": st.one_of(st.none(), st.text(st.characters(whitelist_categories=["Ll", "Nd"]), max_size=5)),
        "data": st.lists(_LINE_TEXT, min_size=1, max_size=4),
        "comment": st.booleans(),
    }
)


def _serialize(events: list[dict[str, object]], eol: str) -> tuple[bytes, list[SSEEvent]]:
    out, expected, last_id = [], [], None
    for ev in events:
        if ev["comment"]:
            out.append(f": keep-alive{eol}")
        if ev["event"] is not None:
            out.append(f"event: {ev['event']}{eol}")
        if ev["id"] is not None:
            out.append(f"id: {ev['id']}{eol}")
            last_id = ev["id"]
        lines = ev["data"]
        assert isinstance(lines, list)
        out.extend(f"data: {line}{eol}" for line in lines)
        out.append(eol)
        expected.append(SSEEvent("\n".join(lines), str(ev["event"] or "message"), last_id if isinstance(last_id, str) else None))
    return "".join(out).encode(), expected


@_FUZZ
@given(
    events=st.lists(_EVENT, max_size=8),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(0, 2000), max_size=20),
    bom=st.booleans(),
)
def test_fuzz_valid_streams_parse_the_same_however_they_are_cut(
    events: list[dict[str, object]], eol: str, cuts: list[int], bom: bool
) -> None:
    raw, expected = _serialize(events, eol)
    raw = (b"\xef\xbb\xbf" if bom else b"") + raw
    assert parse(raw) == expected
    assert parse(*cut_at(raw, cuts)) == expected
    assert parse(*[raw[i : i + 1] for i in range(len(raw))]) == expected


@_FUZZ
@given(words=st.lists(_LINE_TEXT, max_size=12), cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_fuzz_a_chat_stream_decodes_to_the_same_text_however_it_is_cut(words: list[str], cuts: list[int]) -> None:
    frames = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    frames.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    frames.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(words)}})
    raw = "".join(f"data: {json.dumps(f)}\n\n" for f in frames).encode() + b"data: [DONE]\n\n"
    parser, decoder = SSEParser(), decoder_for("chat/completions")
    chunks = [c for piece in cut_at(raw, cuts) for e in parser.feed(piece) if (c := decoder.event(e)) is not None]
    assert decoder.done
    assert "".join(c.text for c in chunks) == "".join(words)
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    assert [c for c in chunks[:-1] if c.finish_reason is not None] == []
