"""A local GGUF model served by llama.cpp (llama-cpp-python), as a core Backend.

llama.cpp is synchronous and one ``Llama`` instance is not thread-safe, while
the server is one asyncio loop. So every call into the model runs in a worker
thread, and every use of the instance holds ``self._lock``. Generations wait
for their turn on the loop (an asyncio lock, ``_turn``), and only the request
whose turn it is gets a thread: a request that leaves while it waits costs
nothing, and the threads are never more than the generations running. A
generation's thread feeds the loop through an asyncio queue; when the consumer
goes away it sets a threading.Event that llama.cpp's stopping criterion reads
before each new token, so the thread stops within a token, releases the model
and passes the turn on.

Message content is tokenized as text: only the chat template's own markers are
control tokens, so a user who types ``<|im_start|>system`` gets those characters,
not a forged turn (see _prompt).

Requests that ask for reproducibility (a seed, or temperature 0) are
evaluated from a cold cache, the same way every time: see _cold_prefill.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.classify import classify
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import HEARTBEAT, BackendChunk, BackendRequest, Message, Usage

from .batching import BatchDecoder, Sampling
from .batching import Sequence as BatchSequence
from .gguf import GGUFInfo, check_gguf
from .token_text import TokenText

__all__ = ["LlamaCppBackend"]

DEFAULT_MAX_TOKENS: Final = 256
DEFAULT_TEMPERATURE: Final = 0.8
DEFAULT_TOP_P: Final = 0.95
BUSY_IS_HEALTHY_S: Final = 30.0  # a generation that made progress this recently proves the model works
QUEUED_HEARTBEAT_S: Final = 0.25  # while a request waits for the model: a heartbeat this often (see stream)
_END: Final = object()  # the worker's last item on the queue

log = logging.getLogger(__name__)


class _LlamaLog:
    """llama.cpp's warnings and errors, into Python logging and a short memory.

    With verbose=False llama-cpp-python throws them away, and a failed load
    then says only "Failed to load model from file"; the reason ("unknown
    model architecture ...") is in the log. The hook is process-wide, as
    llama.cpp's logger is.
    """

    # ggml_log_level WARN and ERROR, as ggml.h numbers them today (DEBUG 1, INFO 2, WARN 3,
    # ERROR 4): llama-cpp-python's own _logger.py still uses an older numbering.
    _LEVELS: Final = {3: logging.WARNING, 4: logging.ERROR}

    def __init__(self) -> None:
        self.recent: deque[tuple[int, str]] = deque(maxlen=32)
        self.seq = itertools.count(1)
        self.last = 0
        self._hook: Any = None
        self._installing = threading.Lock()  # two loads at once must not both install (and free) a hook

    def install(self) -> None:
        with self._installing:
            if self._hook is None:
                self._install()

    def _install(self) -> None:
        import llama_cpp

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def hook(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if level in self._LEVELS:
                line = text.decode("utf-8", "replace").strip()
                self.last = next(self.seq)
                self.recent.append((self.last, line))
                log.log(self._LEVELS[level], "llama.cpp: %s", line)

        self._hook = hook  # kept alive: llama.cpp holds only a raw pointer to it
        llama_cpp.llama_log_set(hook, ctypes.c_void_p(0))

    def since(self, mark: int) -> str:
        return " | ".join(line for seq, line in list(self.recent) if seq > mark and line)


_llama_log = _LlamaLog()


class _Watch:
    """llama.cpp's stopping criterion: stops on cancel, and counts the tokens sampled.

    llama-cpp-python's stream carries no usage, and its chunks are not tokens
    (it holds text back around stop sequences and split UTF-8). The criterion
    runs once per sampled token and sees the sequence before that token, so
    the longest sequence seen gives the count -- the end-of-generation token
    included, as OpenAI and vLLM count it.
    """

    def __init__(self, cancelled: threading.Event, n_prompt: int) -> None:
        self.cancelled = cancelled
        self.n_prompt = n_prompt
        self.sampled = 0

    def __call__(self, input_ids: Any, logits: Any) -> bool:  # numpy arrays
        self.sampled = max(self.sampled, len(input_ids) - self.n_prompt + 1)
        return self.cancelled.is_set()


class LlamaCppBackend:
    """Streams answers from a GGUF model with llama.cpp. See the module docstring for the threading."""

    def __init__(
        self, model_path: str | os.PathLike[str], *, n_ctx: int = 2048, n_threads: int | None = None, seed: int = 0, slots: int = 1
    ) -> None:
        self.model_path = Path(model_path)
        self._n_ctx = n_ctx
        # slots > 1: answers decode together in one batch (batching.py, issue 15; not yet the default).
        self._slots = slots
        self._decoder: BatchDecoder | None = None
        # llama-cpp-python's default is half the CPUs (it assumes hyper-threads); on a
        # 2-vCPU VM that leaves one idle and decodes at about half speed.
        self._n_threads = n_threads or len(os.sched_getaffinity(0)) or 1
        self._seed = seed
        self._llm: Any = None  # llama_cpp.Llama once loaded
        self._info: GGUFInfo | None = None
        self._formatter: Any = None  # Jinja2ChatFormatter, or None when the GGUF has no template
        self._lock = threading.Lock()  # held for every use of self._llm that can run llama.cpp code
        self._load_lock = asyncio.Lock()  # load/unload/reload one at a time
        self._turn: asyncio.Lock | None = None  # one generation at a time, waited for on the loop (_turn_lock)
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        self._controls: tuple[dict[str, int], re.Pattern[str] | None] = ({}, None)  # control tokens by text (_control_tokens)
        self._clear_pending = False
        self._progress = 0.0  # time.monotonic() of the last generation start or chunk

    # --- state ---------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def batch_status(self) -> dict[str, int] | None:
        """Slots generating, answers waiting for one, slots in all, and the last step's tokens; None when not batching."""
        decoder = self._decoder
        if decoder is None:
            return None
        return {"active": decoder.active, "waiting": decoder.waiting, "slots": decoder.slots, "batch_tokens": decoder.last_batch_tokens}

    @property
    def context_window(self) -> int:
        llm = self._llm
        return int(llm.n_ctx()) if llm is not None else self._n_ctx

    @property
    def model_name(self) -> str:
        info = self._info
        return (info.name if info is not None else None) or self.model_path.stem

    @property
    def info(self) -> GGUFInfo | None:
        return self._info

    async def load(self) -> None:
        """Check the GGUF header, then load the model (in a thread: it takes a while)."""
        async with self._load_lock:
            if self._llm is None:
                await self._load()

    async def unload(self) -> None:
        """Drop the model once the generation in progress (if any) has finished."""
        async with self._load_lock:
            await asyncio.to_thread(self._unload)

    async def reload(self) -> None:
        async with self._load_lock:
            await asyncio.to_thread(self._unload)
            await self._load()

    async def _load(self) -> None:
        # A bad file is reported by its GGUF code: llama.cpp would only say "failed to load".
        info = await asyncio.to_thread(check_gguf, self.model_path)
        llm, formatter = await asyncio.to_thread(self._construct, info)
        self._controls = _control_tokens(llm)
        if self._slots > 1:
            self._decoder = await asyncio.to_thread(
                BatchDecoder, llm._model.model, slots=self._slots, n_ctx_per_slot=self._n_ctx, n_threads=self._n_threads
            )
        self._info, self._formatter, self._llm = info, formatter, llm

    def _construct(self, info: GGUFInfo) -> tuple[Any, Any]:
        mark = _llama_log.last
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            _llama_log.install()
            llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                seed=self._seed,
                verbose=False,
            )
            template = info.chat_template or llm.metadata.get("tokenizer.chat_template")
            formatter = None
            if template:
                eos, bos = llm.token_eos(), llm.token_bos()
                formatter = Jinja2ChatFormatter(
                    template=template,
                    eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                    bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
                    add_generation_prompt=True,
                )
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            said = _llama_log.since(mark)
            if said:
                cause += f" (llama.cpp: {said})"
            raise cat.MODEL_LOAD_FAILED.error(
                f"{cat.MODEL_LOAD_FAILED.message} {self.model_path}: {cause}", path=str(self.model_path), cause=cause
            ) from exc
        return llm, formatter

    def _unload(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()  # its answers end; it frees its context before the model goes
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            # Not llm.close(): count_prompt_tokens may still be tokenizing with its own
            # reference. The last reference to go frees the model.
            del llm

    @contextmanager
    def _using(self) -> Iterator[Any]:
        """The loaded model, held exclusively; blocks, so only ever entered in a worker thread."""
        with self._lock:
            llm = self._llm
            if llm is None:
                raise cat.MODEL_NOT_LOADED.error(model=self.model_name, path=str(self.model_path))
            try:
                yield llm
            finally:
                if self._clear_pending:
                    self._clear_pending = False
                    _clear(llm)

    # --- prompts -------------------------------------------------------------------------

    def _prompt(self, llm: Any, messages: Sequence[Message], prefix: str, endpoint: str) -> tuple[list[int], int, list[str]]:
        """The prompt's tokens (the assistant prefix included), how many come before the prefix, and the
        stop strings the chat template implies."""
        if endpoint == "completions" or self._formatter is None:
            # The raw prompt is the client's own text: BOS when the model asks for one, no control tokens.
            spans: list[tuple[str, bool]] = [("".join(m.content for m in messages), False)]
            add_bos, stop = True, list[str]()
        else:
            spans, add_bos, stop = self._chat_spans(messages)
        head = llm.tokenize(b"", add_bos=True, special=False) if add_bos else []  # [BOS], or [] when the model takes none
        tokens = head + self._tokenize_spans(llm, spans + [(prefix, False)])
        if not prefix:
            return tokens, len(tokens), stop
        before = head + self._tokenize_spans(llm, spans)
        n_before = len(before) if tokens[: len(before)] == before else len(tokens)  # else no clean boundary
        return tokens, n_before, stop

    def _chat_spans(self, messages: Sequence[Message]) -> tuple[list[tuple[str, bool]], bool, list[str]]:
        """The chat template's text as (text, is_template) spans: message contents are the client's,
        the rest the template's. Found by rendering the template with a marker for each content."""
        marks = [f"\ue000{i}\ue001" for i in range(len(messages))]
        marked = self._formatter(messages=[{"role": m.role, "content": mark} for m, mark in zip(messages, marks, strict=True)])
        real = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        stop = [s for s in (real.stop if isinstance(real.stop, list) else [real.stop]) if s]
        add_bos = not real.added_special  # as llama-cpp-python's chat handler: the template wrote any BOS itself
        spans: list[tuple[str, bool]] = []
        rest = marked.prompt
        for mark, message in zip(marks, messages, strict=True):
            before, found, rest = rest.partition(mark)
            if not found:
                break
            spans += [(before, True), (message.content, False)]
        spans.append((rest, True))
        if "".join(text for text, _ in spans) != real.prompt:
            # The template changes contents (trims them, say): no marker tells where a content
            # is. Everything is text then -- the template's markers too, which costs quality,
            # never lets a client's text act as a control token.
            log.warning("chat template rewrites message content: prompt tokenized without control tokens")
            spans = [(real.prompt, False)]
        return spans, add_bos, stop

    def _tokenize_spans(self, llm: Any, spans: Sequence[tuple[str, bool]]) -> list[int]:
        """Token ids of the spans in order: a control token's text in a template span is that token;
        everything between control tokens is tokenized as one text, as llama.cpp would."""
        by_text, pattern = self._controls
        ids: list[int] = []
        text: list[str] = []

        def flush() -> None:
            if text:
                ids.extend(llm.tokenize("".join(text).encode("utf-8"), add_bos=False, special=False))
                text.clear()

        for span, is_template in spans:
            if not is_template or pattern is None:
                text.append(span)
                continue
            at = 0
            for m in pattern.finditer(span):
                text.append(span[at : m.start()])
                flush()
                ids.append(by_text[m.group()])
                at = m.end()
            text.append(span[at:])
        flush()
        return ids

    def count_prompt_tokens(self, messages: Sequence[Message], *, prefix: str = "", endpoint: str = "chat/completions") -> int:
        """Tokens the prompt takes, as stream() will build it. Fast enough to call on the loop."""
        llm = self._llm
        if llm is None:
            raise cat.MODEL_NOT_LOADED.error(model=self.model_name, path=str(self.model_path))
        # Tokenizing reads only the vocabulary, so it needs no lock; the local reference
        # keeps the model alive even if it is unloaded meanwhile.
        return len(self._prompt(llm, messages, prefix, endpoint)[0])

    # --- generation ----------------------------------------------------------------------

    def _turn_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one loop; a backend outlives a loop only in tests, and then idle.
        loop = asyncio.get_running_loop()
        if self._turn is None or self._turn_loop is not loop:
            self._turn, self._turn_loop = asyncio.Lock(), loop
        return self._turn

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        if self._llm is None:
            raise cat.MODEL_NOT_LOADED.error(model=self.model_name, path=str(self.model_path))
        if self._decoder is not None:
            async for chunk in self._stream_batched(self._decoder, request):
                yield chunk
            return
        loop = asyncio.get_running_loop()
        turn = self._turn_lock()
        # The model serves one request at a time; the others wait here for it, and the router's
        # first-token timeout is already running. So while this request waits behind a
        # generation that is moving, it says so (HEARTBEAT: alive, nothing yet), and the wait
        # for its first token starts when its own turn does -- not a timeout, a breaker trip
        # or a cached answer for what is only a queue.
        waiting = asyncio.ensure_future(turn.acquire())
        waited = False
        try:
            while not (await asyncio.wait({waiting}, timeout=QUEUED_HEARTBEAT_S))[0]:
                if time.monotonic() - self._progress < BUSY_IS_HEALTHY_S:
                    waited = True
                    yield HEARTBEAT
        except BaseException:  # gave up while waiting: no thread was started
            if waiting.done() and not waiting.cancelled():
                turn.release()
            else:
                waiting.cancel()
            raise

        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancelled.set()

        def work() -> None:
            try:
                self._generate(request, cancelled, emit)
            finally:
                # The turn passes on when this thread is done with the model, not when its
                # consumer leaves: a thread still finishing a token must not meet the next one.
                with suppress(RuntimeError):
                    loop.call_soon_threadsafe(turn.release)

        try:
            threading.Thread(target=work, name="llamacpp-generate", daemon=True).start()
        except BaseException:
            turn.release()
            raise
        try:
            if waited:
                yield HEARTBEAT  # the wait for the first token starts now
            async for item in _items(queue):
                yield item
        finally:
            cancelled.set()  # consumer done, failed or cancelled: the worker stops at its next token

    def _generate(self, request: BackendRequest, cancelled: threading.Event, emit: Callable[[Any], None]) -> None:
        try:
            with self._using() as llm:
                if cancelled.is_set():  # gave up before the model was free
                    return
                self._progress = time.monotonic()
                # A raw text prompt (the completions API) skips the chat template.
                endpoint = "completions" if request.kind == "text" else request.endpoint
                tokens, n_before_prefix, template_stops = self._prompt(llm, request.messages, request.prefix, endpoint)
                n_ctx = int(llm.n_ctx())
                if len(tokens) >= n_ctx:
                    raise cat.RUNTIME_CONTEXT_LENGTH.error(requested_tokens=len(tokens), context_window=n_ctx)
                if _reproducible(request.params):
                    _cold_prefill(llm, tokens, n_before_prefix, cancelled)
                    if cancelled.is_set():
                        return
                watch = _Watch(cancelled, len(tokens))
                chunks = llm.create_completion(
                    tokens, stream=True, stopping_criteria=_criteria(watch), **_sampling(request.params, template_stops)
                )
                try:
                    for chunk in chunks:
                        if cancelled.is_set():
                            return
                        self._progress = time.monotonic()
                        choice = chunk["choices"][0]
                        text, finish = choice.get("text") or "", choice.get("finish_reason")
                        if finish is not None:
                            emit(BackendChunk(text, finish, Usage(len(tokens), watch.sampled)))
                        elif text:
                            emit(BackendChunk(text))
                finally:
                    chunks.close()  # runs llama-cpp-python's own clean-up now, under the lock
        except BaseException as exc:
            emit(_coded(exc))
        finally:
            emit(_END)

    async def _stream_batched(self, decoder: BatchDecoder, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        """One answer through the batched decoder: it joins the running batch at the next step.
        While every slot is busy it waits in the decoder's queue, sending HEARTBEATs (as stream does)."""
        llm = self._llm
        if llm is None:
            raise cat.MODEL_NOT_LOADED.error(model=self.model_name, path=str(self.model_path))
        endpoint = "completions" if request.kind == "text" else request.endpoint
        tokens, n_before_prefix, template_stops = self._prompt(llm, request.messages, request.prefix, endpoint)
        if len(tokens) >= decoder.n_ctx_per_slot:
            raise cat.RUNTIME_CONTEXT_LENGTH.error(requested_tokens=len(tokens), context_window=decoder.n_ctx_per_slot)
        kw = _sampling(request.params, template_stops)
        sampling = Sampling(
            temperature=kw["temperature"],
            top_p=kw["top_p"],
            seed=self._seed if kw["seed"] is None else kw["seed"],
            max_tokens=kw["max_tokens"],
            presence_penalty=kw["presence_penalty"],
            frequency_penalty=kw["frequency_penalty"],
        )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        text = TokenText(lambda token: llm.detokenize([token], special=False), kw["stop"])
        sampled = 0
        stopped_by_text = False

        def emit(item: Any) -> None:
            with suppress(RuntimeError):  # the loop is closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def on_token(token: int) -> bool:
            nonlocal sampled, stopped_by_text
            sampled += 1
            self._progress = time.monotonic()
            piece, stopped_by_text = text.push(token)
            if piece:
                emit(BackendChunk(piece))
            return not stopped_by_text

        def on_end(reason: str | BaseException) -> None:
            if isinstance(reason, BaseException):
                emit(_coded(reason))
            elif reason != "cancelled":
                # A stop string's token is not part of the answer; an end-of-generation token is not counted.
                rest = "" if stopped_by_text else text.flush()
                emit(BackendChunk(rest, reason, Usage(len(tokens), sampled)))
            emit(_END)

        job = BatchSequence(tokens, sampling, on_token, on_end, n_batched=n_before_prefix)
        decoder.submit(job)
        try:
            # Waiting for a slot or for its first token: alive, say the heartbeats.
            async for item in _items(queue, heartbeat=lambda: sampled == 0):
                yield item
        finally:
            job.cancel()  # consumer done, failed or gone: the slot frees at the next step

    # --- upkeep --------------------------------------------------------------------------

    async def health(self) -> bool:
        """Whether the model produces a token (a one-token greedy generation, off the loop)."""
        if self._llm is None:
            return False
        if self._lock.locked() and time.monotonic() - self._progress < BUSY_IS_HEALTHY_S:
            return True  # busy generating, and tokens are coming: probing would only wait in line
        try:
            # A throwaway thread, not asyncio.to_thread: llama.cpp's OpenMP keeps worker
            # threads per calling thread, and a long-lived pool thread that once decoded
            # halves later decode speed here (bench/edge_throughput.py, finding 1).
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            loop = asyncio.get_running_loop()

            def settle(exc: BaseException | None) -> None:
                if not done.done():
                    if exc is None:
                        done.set_result(None)
                    else:
                        done.set_exception(exc)

            def probe() -> None:
                try:
                    self._probe()
                except BaseException as exc:
                    loop.call_soon_threadsafe(settle, exc)
                else:
                    loop.call_soon_threadsafe(settle, None)

            threading.Thread(target=probe, name="llamacpp-probe", daemon=True).start()
            await done
        except Exception:
            return False
        return True

    def _probe(self) -> None:
        with self._using() as llm:
            llm.create_completion(llm.tokenize(b"Hello", add_bos=True), max_tokens=1, temperature=0.0)

    def clear_cache(self) -> None:
        """Forget the KV cache and cached prompt. Never blocks: during a generation it happens right after it."""
        if not self._lock.acquire(blocking=False):
            self._clear_pending = True
            return
        try:
            if self._llm is not None:
                _clear(self._llm)
        finally:
            self._lock.release()


async def _items(queue: asyncio.Queue[Any], heartbeat: Callable[[], bool] | None = None) -> AsyncIterator[Any]:
    """What a generation put on its queue, up to its _END; an exception it put is raised here. With
    ``heartbeat``: a HEARTBEAT after every QUEUED_HEARTBEAT_S of silence while ``heartbeat()`` says so
    (once it says no, a plain wait: no timer per token)."""
    while True:
        if heartbeat is None or not heartbeat():
            item = await queue.get()
        else:
            try:
                item = await asyncio.wait_for(queue.get(), QUEUED_HEARTBEAT_S)
            except TimeoutError:
                if heartbeat():
                    yield HEARTBEAT
                continue
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _control_tokens(llm: Any) -> tuple[dict[str, int], re.Pattern[str] | None]:
    """The vocabulary's control tokens (``<|im_start|>`` and the like) by their text, and a
    pattern that finds them, longest first (what llama.cpp's special-token parsing matches)."""
    import llama_cpp

    model = llm._model
    by_text: dict[str, int] = {}
    for token in range(int(llm.n_vocab())):
        if llama_cpp.llama_vocab_get_attr(model.vocab, token) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            text = model.token_get_text(token)
            if text:
                by_text.setdefault(text, token)
    if not by_text:
        return by_text, None
    return by_text, re.compile("|".join(re.escape(t) for t in sorted(by_text, key=len, reverse=True)))


def _cold_prefill(llm: Any, tokens: list[int], n_batched: int, cancelled: threading.Event) -> None:
    """Evaluate the prompt afresh: in batches, then the assistant prefix one token at a time.

    llama.cpp's logits depend slightly on how tokens were batched, and near-ties
    flip greedy answers. llama-cpp-python's KV reuse (the longest prefix shared
    with the previous generation) makes the batching depend on what ran before:
    "Name a colour." answers one way cold and another warm. A request that asks
    for reproducibility (a seed, or greedy) is evaluated the same way every time,
    and its prefix token by token, as generation evaluated it: the continuation
    after a prefix of an earlier answer is then exactly the rest of that answer.
    """
    llm.reset()
    llm.eval(tokens[:n_batched])
    for token in tokens[n_batched:]:
        if cancelled.is_set():
            return
        llm.eval([token])


def _clear(llm: Any) -> None:
    llm.reset()  # forget the evaluated tokens, so nothing is reused as a cached prefix
    ctx = getattr(llm, "_ctx", None)
    if ctx is not None:
        ctx.kv_cache_clear()
    if getattr(llm, "cache", None) is not None:
        llm.set_cache(None)


def _criteria(watch: _Watch) -> Any:
    from llama_cpp import StoppingCriteriaList

    return StoppingCriteriaList([watch])


def _sampling(params: Mapping[str, Any], template_stops: list[str]) -> dict[str, Any]:
    """create_completion's keyword arguments from the request's OpenAI-style parameters."""

    def get(name: str, default: Any) -> Any:
        value = params.get(name)
        return default if value is None else value

    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        max_tokens = get("max_completion_tokens", DEFAULT_MAX_TOKENS)
    stop = params.get("stop") or []
    stops = [s for s in ([stop] if isinstance(stop, str) else stop) if isinstance(s, str) and s]  # "" would stop at once
    seed = params.get("seed")
    return {
        "presence_penalty": float(get("presence_penalty", 0.0)),
        "frequency_penalty": float(get("frequency_penalty", 0.0)),
        "max_tokens": int(max_tokens),
        "temperature": float(get("temperature", DEFAULT_TEMPERATURE)),
        "top_p": float(get("top_p", DEFAULT_TOP_P)),
        # None: llama-cpp-python derives the seed from the instance's, so it is still reproducible.
        "seed": None if seed is None else int(seed),
        "stop": stops + template_stops,
    }


def _reproducible(params: Mapping[str, Any]) -> bool:
    """A seed, or greedy decoding: the caller expects the same answer every time."""
    if params.get("seed") is not None:
        return True
    temperature = params.get("temperature")
    return temperature is not None and float(temperature) <= 0.0


def _coded(exc: BaseException) -> LLMError:
    err = classify(exc)
    if err.spec is cat.CORE_INTERNAL:
        # An engine failure no rule recognises is the engine's, not the router's.
        coded = cat.RUNTIME_INFERENCE_FAILED.error(**err.context)
        coded.__cause__ = exc
        return coded
    return err
