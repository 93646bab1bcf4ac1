"""Continuous batching on llama.cpp: several sequences decode in one ``llama_decode``.

Issue 15's building block, not yet what the server runs (edge_server/llamacpp.py
still generates one answer at a time): it turns token ids into token ids;
text, stop strings and the asyncio side come on top of it.

One thread owns the llama context, since llama.cpp is not thread-safe. Callers
:meth:`BatchDecoder.submit` a :class:`Sequence` from any thread. At the next step
the thread gives it a free slot, one of ``slots`` sequence ids. Every step is one
batch: for each slot, its next prompt chunk, its next assistant-prefix token, or
its last sampled token. A sequence leaves when it ends (end of generation,
``max_tokens``, its ``on_token`` says stop) or is cancelled, and its slot's KV is
cleared at once for the next.

Each slot has its own KV stream (``kv_unified = False``). A sequence's logits
then do not depend on what else is in the batch: greedy answers in a batch of
four equal the same prompts alone (shared/reference/llamacpp-batching, and
tests/edge_server/test_batching.py). The prompt is read in chunks cut at the same
places whatever else runs. Its assistant prefix goes in one token per step, as
generation made it, so that a continuation after a prefix of an earlier greedy
answer is the rest of that answer (see llamacpp._cold_prefill).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["BatchDecoder", "Sampling", "Sequence"]

log = logging.getLogger(__name__)

PROMPT_CHUNK: Final = 256  # prompt tokens a slot reads per step: a step stays short for the others decoding


@dataclass(frozen=True)
class Sampling:
    """One request's sampling. ``temperature <= 0`` is greedy; a ``seed`` makes sampling reproducible."""

    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    max_tokens: int = 256
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


@dataclass(eq=False)
class Sequence:
    """One generation: ``tokens`` (the prompt; its last ``len(tokens) - n_batched`` are an assistant prefix,
    read one per step), ``on_token(id) -> bool`` for each sampled token (False: stop here), and
    ``on_end(reason)`` once: ``"stop"`` (end of generation or on_token), ``"length"``, ``"cancelled"``,
    or the exception that ended it. Both are called on the decoder's thread: hand off, do not block."""

    tokens: Seq[int]
    sampling: Sampling
    on_token: Callable[[int], bool]
    on_end: Callable[[str | BaseException], None]
    n_batched: int | None = None  # default: all of the prompt is read in chunks
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Stop at the next step; the slot is freed then, and on_end gets ``"cancelled"``."""
        self.cancelled.set()


class _Slot:
    __slots__ = ("seq_id", "job", "fed", "sampled", "last", "sampler", "wants_logits")

    def __init__(self, seq_id: int) -> None:
        self.seq_id = seq_id
        self.job: Sequence | None = None
        self.fed = 0  # prompt tokens in the KV
        self.sampled = 0
        self.last = -1  # the token to feed next once the prompt is in
        self.sampler: Any = None
        self.wants_logits = False  # this step's last token of the slot has its logits computed


class BatchDecoder:
    """Decodes up to ``slots`` sequences at once on one llama.cpp context (see the module's docstring)."""

    def __init__(self, model: Any, *, slots: int = 4, n_ctx_per_slot: int = 2048, n_threads: int = 2) -> None:
        import llama_cpp as L

        self._L = L
        self._vocab = L.llama_model_get_vocab(model)
        self._n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        params = L.llama_context_default_params()
        params.n_ctx = n_ctx_per_slot * slots
        params.n_batch = params.n_ubatch = max(512, PROMPT_CHUNK + slots)  # one step is one ubatch
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = n_threads
        params.kv_unified = False  # a KV stream per slot: see the module's docstring
        ctx = L.llama_init_from_model(model, params)
        if not ctx:
            raise RuntimeError("llama.cpp could not make a context for batching")
        self._ctx = ctx
        self._memory = L.llama_get_memory(ctx)
        self.n_ctx_per_slot = n_ctx_per_slot
        self._batch = L.llama_batch_init(params.n_batch, 0, 1)
        self._slots = [_Slot(i) for i in range(slots)]
        self._queue: deque[Sequence] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.steps = 0
        self.last_batch_tokens = 0
        self._thread = threading.Thread(target=self._run, name="llamacpp-batch", daemon=True)
        self._thread.start()

    # --- the callers' side ---------------------------------------------------------------

    def submit(self, job: Sequence) -> None:
        if len(job.tokens) >= self.n_ctx_per_slot:
            raise ValueError(f"the prompt has {len(job.tokens)} tokens; a slot holds {self.n_ctx_per_slot}")
        with self._wake:
            if self._closed:
                raise RuntimeError("the decoder is closed")
            self._queue.append(job)
            self._wake.notify()

    @property
    def active(self) -> int:
        """Slots generating now."""
        return sum(1 for s in self._slots if s.job is not None)

    @property
    def waiting(self) -> int:
        """Sequences submitted that wait for a slot."""
        return len(self._queue)

    @property
    def slots(self) -> int:
        return len(self._slots)

    def close(self) -> None:
        """Cancel everything, stop the thread, free the context."""
        with self._wake:
            self._closed = True
            for job in self._queue:
                job.cancel()
            self._wake.notify()
        self._thread.join()

    # --- the decoder's thread ------------------------------------------------------------

    def _run(self) -> None:
        L = self._L
        try:
            while self._step():
                pass
        finally:
            for slot in self._slots:
                if slot.job is not None:
                    self._end(slot, "cancelled")
            while self._queue:
                self._queue.popleft().on_end("cancelled")
            L.llama_batch_free(self._batch)
            L.llama_free(self._ctx)

    def _step(self) -> bool:
        with self._wake:
            while not self._closed and not self._queue and all(s.job is None for s in self._slots):
                self._wake.wait()
            if self._closed:
                return False
            for slot in self._slots:
                if slot.job is None and self._queue:
                    self._start(slot, self._queue.popleft())
        for slot in self._slots:
            if slot.job is not None and slot.job.cancelled.is_set():
                self._end(slot, "cancelled")
        if not self._fill():
            return True
        if self._L.llama_decode(self._ctx, self._batch) != 0:
            error = RuntimeError("llama_decode failed")
            for slot in self._slots:
                if slot.job is not None:
                    self._end(slot, error)
            return True
        self.steps += 1
        self._sample()
        return True

    def _start(self, slot: _Slot, job: Sequence) -> None:
        L = self._L
        L.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        slot.job, slot.fed, slot.sampled, slot.last = job, 0, 0, -1
        slot.sampler = _sampler_chain(L, job.sampling)

    def _fill(self) -> int:
        """This step's batch: per slot, a prompt chunk, one prefix token, or its last sampled token."""
        batch = self._batch
        batch.n_tokens = 0
        for slot in self._slots:
            job = slot.job
            slot.wants_logits = False
            if job is None:
                continue
            tokens = job.tokens
            n_batched = len(tokens) if job.n_batched is None else job.n_batched
            if slot.fed < len(tokens):
                # Chunks cut at the same places whatever else runs; the prefix one token a step.
                end = min(slot.fed + PROMPT_CHUNK, n_batched) if slot.fed < n_batched else slot.fed + 1
                for pos in range(slot.fed, end):
                    self._add(tokens[pos], pos, slot.seq_id, pos == len(tokens) - 1)
                slot.fed = end
                slot.wants_logits = end == len(tokens)
            else:
                self._add(slot.last, len(tokens) + slot.sampled - 1, slot.seq_id, True)
                slot.wants_logits = True
        self.last_batch_tokens = batch.n_tokens
        return int(batch.n_tokens)

    def _add(self, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch, k = self._batch, self._batch.n_tokens
        batch.token[k] = token
        batch.pos[k] = pos
        batch.n_seq_id[k] = 1
        batch.seq_id[k][0] = seq_id
        batch.logits[k] = logits
        batch.n_tokens = k + 1

    def _sample(self) -> None:
        L = self._L
        row = -1
        for slot in self._slots:
            if slot.job is None:
                continue
            # Rows with logits come in batch order, one per slot that asked.
            if not slot.wants_logits:
                continue
            row = self._logits_row(slot, row)
            token = int(L.llama_sampler_sample(slot.sampler, self._ctx, row))
            slot.sampled += 1
            slot.last = token
            job = slot.job
            if L.llama_vocab_is_eog(self._vocab, token):
                self._end(slot, "stop")
                continue
            try:
                more = job.on_token(token)
            except Exception as exc:  # the consumer's failure ends its sequence, not the decoder
                self._end(slot, exc)
                continue
            if not more:
                self._end(slot, "stop")
            elif slot.sampled >= job.sampling.max_tokens or len(job.tokens) + slot.sampled >= self.n_ctx_per_slot:
                self._end(slot, "length")

    def _logits_row(self, slot: _Slot, after: int) -> int:
        """The batch index of the slot's last token this step (the one with logits)."""
        batch = self._batch
        for k in range(after + 1, batch.n_tokens):
            if batch.seq_id[k][0] == slot.seq_id and batch.logits[k]:
                return k
        raise RuntimeError(f"slot {slot.seq_id} asked for logits it has no row for")

    def _end(self, slot: _Slot, reason: str | BaseException) -> None:
        L = self._L
        job = slot.job
        slot.job = None
        if slot.sampler is not None:
            L.llama_sampler_free(slot.sampler)
            slot.sampler = None
        L.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)  # its KV, free for the next at once
        if job is not None:
            try:
                job.on_end(reason)
            except Exception:
                log.exception("a sequence's on_end failed")


def _sampler_chain(L: Any, s: Sampling) -> Any:
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    if s.presence_penalty or s.frequency_penalty:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(64, 1.0, s.frequency_penalty, s.presence_penalty))
    if s.temperature <= 0.0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        return chain
    # The rest of the chain as llama-cpp-python's create_completion samples by default (top_k 40,
    # min_p 0.05): what the server's answers have been sampled with so far.
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(40))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(s.top_p, 1))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_min_p(0.05, 1))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(s.temperature))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(ctypes.c_uint32(s.seed).value))
    return chain
