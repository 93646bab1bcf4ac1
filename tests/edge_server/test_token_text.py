"""TokenText: whole characters only, and a stop string never sent, not even in part."""

from __future__ import annotations

from pathlib import Path

from llm_runner_router.edge.token_text import TokenText


def feed(pieces: list[bytes], stops: list[str]) -> tuple[list[str], bool, str]:
    text = TokenText(lambda token: pieces[token], stops)
    sent: list[str] = []
    for token in range(len(pieces)):
        out, stopped = text.push(token)
        sent.append(out)
        if stopped:
            return sent, True, ""
    return sent, False, text.flush()


def test_a_character_split_across_tokens_is_sent_whole() -> None:
    crab = "🦀".encode()
    sent, stopped, rest = feed([b"a ", crab[:2], crab[2:3], crab[3:], b"!"], [])
    assert sent == ["a ", "", "", "🦀", "!"] and not stopped and rest == ""


def test_a_stop_string_ends_the_answer_where_it_begins() -> None:
    sent, stopped, _ = feed([b"one ", b"two\n", b"\nthree"], ["\n\n"])
    assert "".join(sent) == "one two" and stopped


def test_a_possible_stop_is_held_then_released_when_it_does_not_complete() -> None:
    sent, stopped, rest = feed([b"say EN", b"D", b"LESS", b" now"], ["ENDX"])
    assert sent[0] == "say " and sent[1] == ""  # "END" may still become "ENDX"
    assert "".join(sent) + rest == "say ENDLESS now" and not stopped


def test_the_held_part_of_a_stop_is_given_back_at_the_end() -> None:
    sent, stopped, rest = feed([b"it ends with ST"], ["STOP"])
    assert sent == ["it ends with "] and rest == "ST" and not stopped


def test_an_incomplete_character_at_the_end_is_a_replacement_character() -> None:
    sent, _, rest = feed([b"x", "é".encode()[:1]], [])
    assert sent == ["x", ""] and rest == "\ufffd"


def test_the_real_vocabulary_token_by_token_gives_back_the_text(model_path: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), n_ctx=64, verbose=False, vocab_only=True)
    original = "Crabs 🦀 say «héllo» — 你好! Stop here."
    tokens = llm.tokenize(original.encode(), add_bos=False, special=False)
    text = TokenText(lambda t: llm.detokenize([t], special=False))
    out = "".join(text.push(t)[0] for t in tokens) + text.flush()
    assert out == original
    stopped = TokenText(lambda t: llm.detokenize([t], special=False), ["Stop"])
    shown = ""
    for t in tokens:
        piece, done = stopped.push(t)
        shown += piece
        if done:
            break
    assert shown == "Crabs 🦀 say «héllo» — 你好! "
