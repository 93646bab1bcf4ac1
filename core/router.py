"""The router: one request, many deployments, one answer.

``Router.stream(request)`` resolves the model alias to deployments, ranks
them with the alias's strategy, and tries them in turn. For each attempt it
asks the deployment's breaker and hints first, watches the time to the
first token and the gaps between tokens, and on failure classifies the
error and does what the catalogue says: retry after a backoff, adjust and
retry at once (endpoint, parameter, prefix learned), go to the next
deployment (or only to those with a larger context window), or stop.

A failure after text has reached the caller continues on the next attempt
with that text as an assistant prefix, so nothing is repeated or lost
(:class:`Switch`). A deployment that cannot continue starts again, after a
:class:`Restart` event that tells the caller to discard what it has. When
nothing can finish, the stream ends with ``Done(status="incomplete")`` —
never a truncated answer marked complete. When every deployment failed
before any text, a cached answer is served if there is one
(``Done(status="cached")``), else the error is raised.

The per-chunk path is kept short on purpose (one generator layer, one
timer per attempt, no task per token): see bench/router_overhead.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from . import catalogue, jsonlog
from .breaker import Breakers, BreakerState, CircuitBreaker, Transition
from .cache import ResponseCache, cache_key
from .classify import classify
from .clock import Clock, SystemClock
from .config import AliasConfig, Settings, StreamConfig
from .errors import LLMError, Recovery
from .hints import CompatibilityHints
from .recovery import decide
from .retry import RetryPolicy, RetryState
from .store import Store
from .strategies import DeploymentStats, RankContext, get_strategy
from .telemetry import RouterMetrics
from .types import (
    HEARTBEAT,
    Backend,
    BackendChunk,
    BackendRequest,
    ChatRequest,
    Completion,
    Delta,
    Deployment,
    Done,
    Restart,
    StreamEvent,
    Switch,
)
from .watchdog import Watchdogs

__all__ = ["Filter", "Router"]

# A capability check: the reason a deployment cannot serve a request, or None.
Filter = Callable[[Deployment, ChatRequest], LLMError | None]

_log = jsonlog.get_logger("llm_runner_router.core.router")
# The cache answers only for failures of the backends, not for a request's own fault.
_CACHE_COVERS = (catalogue.RETRY_ALL_FAILED, catalogue.RETRY_NO_CANDIDATE, catalogue.TIMEOUT_DEADLINE)


class Router:
    def __init__(
        self,
        settings: Settings,
        backends: Mapping[str, Backend],
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        metrics: RouterMetrics | None = None,
        rng: random.Random | None = None,
        filters: Sequence[Filter] = (),
    ) -> None:
        self.settings = settings
        self.backends = dict(backends)
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or RouterMetrics(self.clock)
        self.breakers = Breakers(settings.breaker, self.clock, store, self._on_transition)
        self.hints = CompatibilityHints(settings.hints, self.clock, store)
        self.retry = RetryPolicy(settings.retry, rng)
        self.cache = ResponseCache(settings.cache, self.clock)
        self._filters = list(filters)
        self.stats: dict[str, DeploymentStats] = {name: DeploymentStats() for name in settings.deployments}
        self._turns: dict[str, int] = {}
        self._watchdogs: Watchdogs | None = None
        for alias in settings.aliases.values():
            get_strategy(alias.strategy)  # unknown names fail now, not on the first request

    # --- hooks for the shells (the edge server's monitor) --------------------------

    def add_filter(self, check: Filter) -> None:
        """Add a rule that can rule a deployment out for a request: it returns why (an error), or None."""
        self._filters.append(check)

    def tune_stream(self, **changes: Any) -> StreamConfig:
        """Change the stream timeouts from now on (the monitor adapts them to load); returns the new section.

        The values are checked as the configuration's are (a bad one raises ConfigError).
        """
        stream = dataclasses.replace(self.settings.stream, **changes)
        self.settings = dataclasses.replace(self.settings, stream=stream)
        return stream

    # --- planning ---------------------------------------------------------------

    def alias(self, model: str) -> AliasConfig:
        """The alias for a model name; a bare deployment name is an alias of itself."""
        alias = self.settings.aliases.get(model)
        if alias is not None:
            return alias
        if model in self.settings.deployments:
            return AliasConfig(name=model, deployments=(model,), strategy="priority")
        raise catalogue.MODEL_NOT_FOUND.error(f"unknown model {model!r}", model=model, known=sorted(self.settings.aliases))

    def plan(self, request: ChatRequest, alias: AliasConfig | None = None) -> list[Deployment]:
        """The deployments for a request, in the order they will be tried."""
        alias = alias or self.alias(request.model)
        deps = [self.settings.deployments[name] for name in alias.deployments]
        turn = self._turns.get(alias.name, 0)
        self._turns[alias.name] = turn + 1
        return get_strategy(alias.strategy)(deps, RankContext(request, self.stats, turn))

    def _larger_context(self, alias: AliasConfig, failed: Deployment, tried: set[str]) -> list[Deployment]:
        names = alias.context_window_fallbacks or tuple(
            sorted(
                (n for n in alias.deployments if self.settings.deployments[n].context_window > failed.context_window),
                key=lambda n: self.settings.deployments[n].context_window,
            )
        )
        return [self.settings.deployments[n] for n in names if n not in tried]

    def _ineligible(self, dep: Deployment, request: ChatRequest) -> LLMError | None:
        if dep.provider not in self.backends:
            return catalogue.CONFIG_INVALID.error(f"no backend for provider {dep.provider!r}", deployment=dep.name)
        if request.prompt_tokens is not None and request.prompt_tokens >= dep.context_window:
            return catalogue.RUNTIME_CONTEXT_LENGTH.error(
                f"the prompt has {request.prompt_tokens} tokens; {dep.name}'s context window is {dep.context_window}",
                deployment=dep.name,
                context_window=dep.context_window,
                requested_tokens=request.prompt_tokens,
            )
        if request.prefix and not self._may_continue(dep):
            return catalogue.API_PREFILL_UNSUPPORTED.error(
                "the request continues an assistant prefix, which this deployment cannot", deployment=dep.name
            )
        for check in self._filters:
            reason = check(dep, request)
            if reason is not None:
                return reason
        return self.hints.blocked(dep.key)

    def _may_continue(self, dep: Deployment) -> bool:
        learned = self.hints.accepts_prefix(dep.key)
        if learned is not None:
            return learned
        return dep.accepts_prefix is not False

    # --- streaming ----------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream the answer as events: Delta…, maybe Switch/Restart, then one Done."""
        alias = self.alias(request.model)
        queue = deque(self.plan(request, alias))
        loop = asyncio.get_running_loop()
        now = _loop_clock(loop)
        current_task = asyncio.current_task
        watchdogs = self._watchdogs
        if watchdogs is None or watchdogs.loop is not loop:
            watchdogs = self._watchdogs = Watchdogs(loop)
        task = asyncio.current_task()
        assert task is not None
        cfg = self.settings
        budget = request.deadline if request.deadline is not None else cfg.retry.deadline
        deadline = loop.time() + budget if budget is not None else None
        started = self.clock.now()
        ckey = cache_key(request) if cfg.cache.enabled else None
        op = alias.name
        parts: list[str] = []  # text the caller holds since the last restart
        attempts = restarts = 0
        tried: set[str] = set()
        failures: list[tuple[str, LLMError]] = []
        skipped: list[LLMError] = []
        last: tuple[Deployment, LLMError] | None = None
        hedge_after = alias.hedge_after

        while queue:
            dep = queue.popleft()
            why_not = self._ineligible(dep, request)
            if why_not is not None:
                skipped.append(why_not)
                continue
            tried.add(dep.name)
            breaker = self.breakers.get(dep.key)
            backend = self.backends[dep.provider]
            retry = RetryState(started)
            adjustments = 0
            while True:
                refused = breaker.allow()
                if refused is not None:
                    skipped.append(refused)
                    break
                prefix = request.prefix
                if parts:
                    if self._may_continue(dep):
                        prefix += "".join(parts)
                        if last is not None and last[0].name != dep.name:
                            self.metrics.record_fallback(op, "switch", last[0].name, dep.name)
                            yield Switch(last[0].name, dep.name, last[1])
                    else:
                        # A caller that holds a prefix of its own cannot take a restart, and
                        # restarts are bounded: this deployment is passed over, and the next
                        # one, which may well continue the answer, gets its turn.
                        if restarts >= cfg.stream.max_restarts or request.prefix:
                            breaker.release()
                            break
                        restarts += 1
                        discarded = "".join(parts)
                        parts.clear()
                        src = last[0].name if last is not None else dep.name
                        self.metrics.record_fallback(op, "restart", src, dep.name)
                        yield Restart(src, dep.name, discarded, last[1] if last is not None else catalogue.STREAM_CUT.error())
                attempts += 1
                retry.attempts += 1
                endpoint = self.hints.endpoint_for(dep.key)
                params = self.hints.strip_params(dep.key, request.params)
                breq = BackendRequest(dep, request.messages, params, endpoint, prefix, request.request_id, request.kind)
                served = dep
                hedge: _Hedge | None = None
                if hedge_after is not None and not parts and attempts == 1 and queue:
                    hedge = _Hedge(self, request, breq, backend, queue, hedge_after, tried)
                    gen: AsyncIterator[BackendChunk] = hedge
                else:
                    gen = backend.stream(breq)
                stats = self.stats.get(dep.name) or self.stats.setdefault(dep.name, DeploymentStats())
                stats.inflight += 1
                t0 = now()
                first_at = 0.0
                finish: str | None = None
                usage = None
                tokens = 0
                error: LLMError | None = None
                done = False
                watch = watchdogs.watch(current_task() or task, cfg.stream.first_token_timeout, cfg.stream.stall_timeout, deadline)
                try:
                    # The per-token path: locals only, no lookups that can be hoisted.
                    append = parts.append
                    name = served.name
                    async for chunk in gen:
                        if chunk is HEARTBEAT:  # alive, nothing yet (waiting its turn): the wait starts again
                            watch.since = now()
                            continue
                        watch.since = -1.0
                        if watch.first:
                            watch.first_token()
                            first_at = now()
                            if hedge is not None:
                                served = hedge.winner
                                name = served.name
                        tokens += 1
                        if chunk.finish_reason is not None:
                            finish = chunk.finish_reason
                            usage = chunk.usage
                        text = chunk.text
                        if text:
                            append(text)
                            yield Delta(text, name)
                            # The caller may go on iterating from another task (a web
                            # framework's response task): the watch cancels that one.
                            watch.task = current_task()  # type: ignore[assignment]
                        watch.since = now()
                    done = True
                except asyncio.CancelledError:
                    if watch.fired is None or watch.task.uncancel() > 0:
                        raise
                    error = watch.fired
                except Exception as exc:  # classified below; nothing escapes unnamed
                    error = classify(exc)
                finally:
                    watch.stop()
                    stats.inflight -= 1
                    if hedge is not None:
                        served = hedge.winner
                        await hedge.aclose()
                    elif not done:
                        await _aclose(gen)
                    if not done and error is None:
                        breaker.release()  # the caller went away: no verdict on the backend
                elapsed = now() - t0
                if error is None:
                    self._succeeded(op, served, endpoint, bool(prefix), elapsed, first_at - t0 if first_at else None, tokens)
                    if ckey is not None:
                        self.cache.put(ckey, parts, finish, served.name)
                    if attempts > 1:
                        self.metrics.record_retry_outcome(op, attempts, True)
                    yield Done("complete", served.name, finish or "stop", usage, attempts)
                    return
                if hedge is not None and hedge.failed_as is not None:
                    served = hedge.failed_as
                    endpoint = self.hints.endpoint_for(served.key)
                self._failed(op, served, self.breakers.get(served.key), endpoint, error, elapsed)
                failures.append((served.name, error))
                last = (served, error)
                time_left = None if deadline is None else deadline - loop.time()
                decision = decide(error, adjustments=adjustments, policy=self.retry, state=retry, now=self.clock.now(), time_left=time_left)
                if decision.action == "abort":
                    queue.clear()
                    break
                if decision.action == "adjust":
                    adjustments += 1
                    retry.attempts -= 1  # a learned change is not a retry
                    continue
                if decision.action == "larger_context":
                    queue = deque(self._larger_context(alias, served, tried))
                    break
                if decision.action == "retry":
                    self.metrics.record_retry(op, served.name, retry.attempts, decision.delay)
                    await self.clock.sleep(decision.delay)
                    continue
                break  # "next"

        # Nothing could finish the answer.
        final = self._final_error(failures, skipped)
        if attempts > 1:
            self.metrics.record_retry_outcome(op, attempts, False)
        if ckey is not None and final.spec in _CACHE_COVERS:
            cached = self.cache.get(ckey)
            if cached is not None:
                self.metrics.record_fallback(op, "cache_hit", last[0].name if last else "", "cache")
                if parts:
                    yield Restart(last[0].name if last else "", "cache", "".join(parts), final)
                yield Delta("".join(cached.parts), "cache")
                yield Done("cached", cached.deployment, cached.finish_reason, None, attempts, final)
                return
            self.metrics.record_fallback(op, "cache_miss")
        if parts:
            self.metrics.record_fallback(op, "incomplete", last[0].name if last else "")
            _log.warning("answer incomplete", error=final, operation=op, attempts=attempts)
            yield Done("incomplete", last[0].name if last else "", None, None, attempts, final)
            return
        self.metrics.record_fallback(op, "none_available")
        raise final

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once. Raises only when no text at all could be produced."""
        parts: list[str] = []
        events: list[StreamEvent] = []
        async for ev in self.stream(request):
            if isinstance(ev, Delta):
                parts.append(ev.text)
            elif isinstance(ev, Restart):
                parts.clear()
                events.append(ev)
            elif isinstance(ev, Switch):
                events.append(ev)
            else:
                return Completion("".join(parts), ev.status, ev.deployment, ev.finish_reason, ev.usage, ev.attempts, ev.error, events)
        raise catalogue.CORE_INTERNAL.error("stream ended without a Done event")  # pragma: no cover

    # --- bookkeeping -----------------------------------------------------------------

    def _succeeded(
        self, op: str, dep: Deployment, endpoint: str, used_prefix: bool, elapsed: float, ttft: float | None, tokens: int
    ) -> None:
        self.breakers.get(dep.key).record_success(elapsed)
        self.hints.record_success(dep.key, endpoint, used_prefix)
        decode = elapsed - (ttft or 0.0)
        stats = self.stats.get(dep.name) or self.stats.setdefault(dep.name, DeploymentStats())
        stats.observe(True, ttft, tokens / decode if decode > 0 and tokens > 1 else None)
        self.metrics.record_success(op, dep.name, elapsed, ttft, tokens)

    def _failed(self, op: str, dep: Deployment, breaker: CircuitBreaker, endpoint: str, error: LLMError, elapsed: float) -> None:
        if error.spec.blames_backend and error.recovery is not Recovery.ADJUST:
            breaker.record_failure(elapsed, error.code)
            self.stats.setdefault(dep.name, DeploymentStats()).observe(False)
        else:
            breaker.release()
        self.hints.record_error(dep.key, error, endpoint)
        self.metrics.record_error(error, op, dep.name)
        _log.warning("attempt failed", error=error, operation=op, deployment=dep.name)

    def _final_error(self, failures: list[tuple[str, LLMError]], skipped: list[LLMError]) -> LLMError:
        if failures:
            last = failures[-1][1]
            if not last.spec.blames_backend:
                return last  # the request's own fault (content filter, context length, deadline): say so
            waits = [e.retry_after for _, e in failures if e.retry_after is not None]
            err = catalogue.RETRY_ALL_FAILED.error(
                retry_after=min(waits) if waits else None,
                errors=[{"deployment": name, "code": e.code, "message": e.message} for name, e in failures],
                skipped=[e.code for e in skipped],
            )
            err.__cause__ = last
            return err
        if len(skipped) == 1 and not skipped[0].spec.blames_backend and skipped[0].category != "CB":
            return skipped[0]
        if skipped and all(e.spec is catalogue.RUNTIME_CONTEXT_LENGTH for e in skipped):
            # The prompt fits no deployment of the alias: the request's own fault, said
            # as the one with the largest window says it.
            return max(skipped, key=lambda e: e.context.get("context_window") or 0)
        waits = [e.retry_after for e in skipped if e.retry_after is not None]
        retry_after = min(waits) if waits else None
        return catalogue.RETRY_NO_CANDIDATE.error(retry_after=retry_after, skipped=[e.code for e in skipped])

    def _on_transition(self, breaker: CircuitBreaker, t: Transition) -> None:
        self.metrics.record_breaker_transition(breaker.name, t.old.value, t.new.value, t.reason)
        level = _log.warning if t.new is BreakerState.OPEN else _log.info
        level("breaker transition", breaker=breaker.name, old=t.old.value, new=t.new.value, reason=t.reason)

    # --- operations --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Breakers, hints and live stats, JSON-ready (for /api/status and the demo page)."""
        return {
            "deployments": {
                name: {
                    "provider": d.provider,
                    "model": d.model,
                    "endpoint": d.endpoint,
                    "breaker": self.breakers.get(d.key).state.value,
                    "inflight": self.stats[name].inflight if name in self.stats else 0,
                    "success_rate": round(self.stats[name].success_rate, 4) if name in self.stats else None,
                }
                for name, d in self.settings.deployments.items()
            },
            "aliases": {n: {"deployments": list(a.deployments), "strategy": a.strategy} for n, a in self.settings.aliases.items()},
            "breakers": self.breakers.snapshot(),
            "hints": [h.to_dict() for h in self.hints],
            "cache_entries": len(self.cache),
        }


def _loop_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The loop's time function, as cheap as possible to call once per token.

    asyncio's default loops read time.monotonic through a Python method;
    calling the C function directly saves most of that on the hot path.
    Other loops (the virtual-time test loop, Pyodide's) keep their own.
    """
    return time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time


async def _aclose(gen: AsyncIterator[Any]) -> None:
    close = getattr(gen, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):  # a backend failing while being closed has already failed
            await close()


class _Hedge:
    """Races the first token of a second deployment against a slow first one.

    The primary starts at once; if it has not produced its first chunk after
    ``delay`` seconds, the next eligible deployment in the queue starts too.
    Whichever yields first wins and is read from then on; the other is
    cancelled. A side that fails while the other is still running is
    recorded and the race goes on with the survivor.
    """

    def __init__(
        self,
        router: Router,
        request: ChatRequest,
        breq: BackendRequest,
        backend: Backend,
        queue: deque[Deployment],
        delay: float,
        tried: set[str],
    ) -> None:
        self._router = router
        self._request = request
        self._queue = queue
        self._delay = delay
        self._tried = tried
        self.winner: Deployment = breq.deployment
        self.failed_as: Deployment | None = None
        self._sides: dict[asyncio.Task[BackendChunk], tuple[Deployment, AsyncIterator[BackendChunk], str]] = {}
        self._gen: AsyncIterator[BackendChunk] | None = None
        self._start(breq.deployment, backend.stream(breq), breq.endpoint)

    def _start(self, dep: Deployment, gen: AsyncIterator[BackendChunk], endpoint: str) -> None:
        task = asyncio.ensure_future(_first(gen))
        self._sides[task] = (dep, gen, endpoint)

    def _start_second(self) -> bool:
        r = self._router
        while self._queue:
            dep = self._queue.popleft()
            if r._ineligible(dep, self._request) is not None or r.breakers.get(dep.key).allow() is not None:
                continue
            self._tried.add(dep.name)
            endpoint = r.hints.endpoint_for(dep.key)
            breq = BackendRequest(
                dep,
                self._request.messages,
                r.hints.strip_params(dep.key, self._request.params),
                endpoint,
                "",
                self._request.request_id,
                self._request.kind,
            )
            self._start(dep, r.backends[dep.provider].stream(breq), endpoint)
            r.metrics.record_fallback(self._request.model, "hedge", self.winner.name, dep.name)
            return True
        return False

    def __aiter__(self) -> _Hedge:
        return self

    async def __anext__(self) -> BackendChunk:
        if self._gen is not None:
            return await self._gen.__anext__()
        hedged = False
        try:
            while True:
                timeout = None if hedged else self._delay
                done, _ = await asyncio.wait(self._sides, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    hedged = True
                    if not self._start_second():
                        timeout = None
                    continue
                for task in done:
                    dep, gen, endpoint = self._sides.pop(task)
                    exc = task.exception()
                    if exc is None:
                        self.winner = dep
                        self._gen = gen
                        await self._cancel_rest()
                        return task.result()
                    if not self._sides:
                        # The last runner failed: this attempt fails as that deployment.
                        self.failed_as = dep
                        self.winner = dep
                        raise exc
                    err = exc if isinstance(exc, LLMError) else classify(exc)
                    r = self._router
                    r._failed(self._request.model, dep, r.breakers.get(dep.key), endpoint, err, 0.0)
                    await _aclose(gen)
                hedged = True
        except asyncio.CancelledError:
            await self._cancel_rest()
            raise

    async def _cancel_rest(self) -> None:
        sides = list(self._sides.items())
        self._sides.clear()
        for task, _ in sides:
            task.cancel()
        if sides:
            # wait(), not await task: our own cancellation must still get through.
            await asyncio.wait([task for task, _ in sides])
        for task, (dep, gen, _) in sides:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not warn of it
            await _aclose(gen)
            if dep is not self.winner:
                self._router.breakers.get(dep.key).release()

    async def aclose(self) -> None:
        await self._cancel_rest()
        if self._gen is not None:
            await _aclose(self._gen)


async def _first(gen: AsyncIterator[BackendChunk]) -> BackendChunk:
    try:
        while (chunk := await gen.__anext__()) is HEARTBEAT:  # a heartbeat does not win a race
            pass
        return chunk
    except StopAsyncIteration:
        return BackendChunk("", "stop")  # an empty answer is still an answer
