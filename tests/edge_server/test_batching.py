"""BatchDecoder on the real model: sequences decoded together give what each gives alone.

Greedy answers in a batch equal the same prompts alone; a sequence that ends
(max_tokens, its consumer) or is cancelled leaves while the others go on, and
its slot takes the next sequence at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_runner_router.edge.batching import BatchDecoder, Sampling, Sequence

PROMPTS = ["Name a colour.", "Write one sentence about the sea.", "What is 12 times 7?", "Tell me a joke about cats."]
TEMPLATE = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def model(model_path: Path) -> Iterator[Any]:
    import llama_cpp as L

    L.llama_backend_init()
    params = L.llama_model_default_params()
    m = L.llama_model_load_from_file(str(model_path).encode(), params)
    assert m
    yield m
    L.llama_model_free(m)


@pytest.fixture(scope="module")
def decoder(model: Any) -> Iterator[BatchDecoder]:
    d = BatchDecoder(model, slots=4, n_ctx_per_slot=1024, n_threads=2)
    yield d
    d.close()


def tokenize(model: Any, text: str) -> list[int]:
    import llama_cpp as L

    vocab = L.llama_model_get_vocab(model)
    buf = (L.llama_token * 2048)()
    n = L.llama_tokenize(vocab, text.encode(), len(text.encode()), buf, 2048, False, True)
    return list(buf[:n])


class Run:
    """A Sequence and what came of it."""

    def __init__(self, tokens: list[int], sampling: Sampling, *, n_batched: int | None = None, stop_after: int | None = None) -> None:
        self.out: list[int] = []
        self.end: str | BaseException | None = None
        self.done = threading.Event()
        self.started = threading.Event()

        def on_token(token: int) -> bool:
            self.started.set()
            self.out.append(token)
            return stop_after is None or len(self.out) < stop_after

        def on_end(reason: str | BaseException) -> None:
            self.end = reason
            self.done.set()

        self.seq = Sequence(tokens, sampling, on_token, on_end, n_batched=n_batched)

    def wait(self) -> list[int]:
        assert self.done.wait(TIMEOUT_S), "the sequence did not end"
        return self.out


def greedy(n: int) -> Sampling:
    return Sampling(temperature=0.0, max_tokens=n)


def test_four_greedy_sequences_at_once_equal_each_alone(decoder: BatchDecoder, model: Any) -> None:
    prompts = [tokenize(model, TEMPLATE.format(p)) for p in PROMPTS]
    alone = []
    for tokens in prompts:
        run = Run(tokens, greedy(32))
        decoder.submit(run.seq)
        alone.append(run.wait())
    together = [Run(tokens, greedy(32)) for tokens in prompts]
    for run in together:
        decoder.submit(run.seq)
    assert [run.wait() for run in together] == alone
    assert all(len(out) > 4 for out in alone)
    assert decoder.active == 0 and decoder.waiting == 0


def test_max_tokens_and_a_stopping_consumer_end_one_sequence_while_the_others_go_on(decoder: BatchDecoder, model: Any) -> None:
    tokens = [tokenize(model, TEMPLATE.format(p)) for p in PROMPTS]
    long_run = Run(tokens[1], greedy(40))
    short = Run(tokens[2], greedy(3))
    stopped = Run(tokens[3], greedy(40), stop_after=5)
    for run in (long_run, short, stopped):
        decoder.submit(run.seq)
    assert len(short.wait()) == 3 and short.end == "length"
    assert len(stopped.wait()) == 5 and stopped.end == "stop"
    long_out = long_run.wait()
    assert len(long_out) > 5 and long_run.end in ("stop", "length")
    alone = Run(tokens[1], greedy(40))
    decoder.submit(alone.seq)
    assert alone.wait() == long_out


def test_a_cancelled_sequence_frees_its_slot_for_the_next(model: Any) -> None:
    one_slot = BatchDecoder(model, slots=1, n_ctx_per_slot=512, n_threads=2)
    try:
        tokens = tokenize(model, TEMPLATE.format(PROMPTS[1]))
        first = Run(tokens, greedy(400))
        second = Run(tokens, greedy(4))
        one_slot.submit(first.seq)
        one_slot.submit(second.seq)
        assert first.started.wait(TIMEOUT_S)
        assert not second.done.is_set() and one_slot.waiting == 1  # one slot: the second waits
        first.seq.cancel()
        assert first.done.wait(TIMEOUT_S) and first.end == "cancelled"
        assert len(second.wait()) == 4 and second.end == "length"
    finally:
        one_slot.close()


def test_a_prefix_read_token_by_token_continues_an_earlier_greedy_answer(decoder: BatchDecoder, model: Any) -> None:
    tokens = tokenize(model, TEMPLATE.format(PROMPTS[1]))
    whole = Run(tokens, greedy(24))
    decoder.submit(whole.seq)
    answer = whole.wait()
    cut = len(answer) // 2
    rest = Run(tokens + answer[:cut], greedy(24 - cut), n_batched=len(tokens))
    other = Run(tokens, greedy(24))  # in the same batch
    decoder.submit(rest.seq)
    decoder.submit(other.seq)
    assert rest.wait() == answer[cut:]
    assert other.wait() == answer


def test_a_seeded_sample_is_the_same_alone_and_in_a_batch(decoder: BatchDecoder, model: Any) -> None:
    tokens = [tokenize(model, TEMPLATE.format(p)) for p in PROMPTS]
    sampling = Sampling(temperature=0.9, top_p=0.95, seed=7, max_tokens=24)
    alone = Run(tokens[0], sampling)
    decoder.submit(alone.seq)
    expected = alone.wait()
    runs = [Run(tokens[0], sampling), Run(tokens[1], greedy(24)), Run(tokens[2], Sampling(temperature=0.9, seed=8, max_tokens=24))]
    for run in runs:
        decoder.submit(run.seq)
    assert runs[0].wait() == expected
    for run in runs[1:]:
        run.wait()


def test_a_consumer_that_fails_ends_its_sequence_and_not_the_others(decoder: BatchDecoder, model: Any) -> None:
    tokens = tokenize(model, TEMPLATE.format(PROMPTS[0]))
    failing = Sequence(tokens, greedy(8), lambda t: 1 / 0 > 0, lambda r: ended.append(r) or done.set())
    ended: list[str | BaseException] = []
    done = threading.Event()
    fine = Run(tokens, greedy(8))
    decoder.submit(failing)
    decoder.submit(fine.seq)
    assert done.wait(TIMEOUT_S) and isinstance(ended[0], ZeroDivisionError)
    assert len(fine.wait()) > 0 and fine.end in ("stop", "length")


def test_a_prompt_longer_than_a_slot_is_refused(decoder: BatchDecoder) -> None:
    with pytest.raises(ValueError, match="a slot holds 1024"):
        decoder.submit(Sequence([1] * 1024, greedy(4), lambda t: True, lambda r: None))
