"""The self-healing monitor: checks on an interval, acts, logs and counts.

Every ``monitor.health_check_interval`` seconds it:

- checks each backend's health; a local model that is not loaded or fails
  its check is reloaded;
- reads the process's memory; above ``monitor.memory_threshold`` (a fraction
  of the machine's memory) it clears the response cache and the engines'
  caches;
- sets the time-to-first-token deadline from observed latency (four times
  the p95, between a quarter of the configured value and the configured
  value), so a slow period does not fail requests that would succeed and a
  fast one detects a stuck backend sooner;
- under stress (admission queue over 80 % full) degrades: local
  deployments are skipped where an alias has another deployment, until the
  pressure falls below 40 %.

``heal()`` runs the same actions on demand (``POST /api/heal``). Each
action is logged as a JSON line and counted in ``llm_heal_actions_total``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections import deque
from typing import Any

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.classify import classify
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import ChatRequest, Deployment

from .state import EdgeState

__all__ = ["Monitor", "memory_fraction"]

_log = jsonlog.get_logger("llm_runner_router.edge.monitor")
ACTIONS = ("reload_models", "clear_caches", "reset_breakers", "adjust_timeouts")


def memory_fraction() -> float | None:
    """This process's resident memory as a fraction of the machine's (Linux /proc); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        with open("/proc/meminfo") as f:
            total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / (total_kb * 1024)


class Monitor:
    def __init__(self, state: EdgeState) -> None:
        self.state = state
        self.base_stream = state.router.settings.stream
        self.degraded = False
        self.checks = 0
        self.last_check: dict[str, Any] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=100)
        registry = state.router.metrics.registry
        self._actions = registry.counter("llm_heal_actions_total", "Self-healing actions taken", ("action", "outcome"))
        self._backend_up = registry.gauge("llm_backend_up", "1 when the backend's last health check passed", ("backend",))
        self._queue = registry.gauge("llm_queue_depth", "Requests running and waiting", ("state",))
        self._memory = registry.gauge("llm_memory_fraction", "Resident memory as a fraction of the machine's")
        self._slots = registry.gauge(
            "llm_batch_slots", "A batching local model: slots generating, answers waiting, slots", ("backend", "state")
        )
        self._batch = registry.gauge("llm_batch_tokens", "Tokens in a batching local model's last decode step", ("backend",))
        self._task: asyncio.Task[None] | None = None
        state.router.add_filter(self._skip_local_when_degraded)

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        interval = self.state.router.settings.monitor.health_check_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception as exc:  # the monitor must outlive any one failed check
                self._record("check", "failed", error=classify(exc))

    # --- one round -------------------------------------------------------------------

    async def check(self) -> dict[str, Any]:
        self.checks += 1
        report: dict[str, Any] = {"at": time.time(), "backends": {}, "actions": []}
        for name, backend in self.state.backends.items():
            ok = await self._healthy(backend)
            report["backends"][name] = ok
            self._backend_up.labels(name).set(1 if ok else 0)
            if not ok and hasattr(backend, "reload"):
                report["actions"].append(await self._reload(name, backend, "health check failed"))
        fraction = memory_fraction()
        report["memory_fraction"] = fraction
        if fraction is not None:
            self._memory.set(fraction)
            if fraction > self.state.router.settings.monitor.memory_threshold:
                report["actions"].append(self._clear_caches(f"memory at {fraction:.0%}"))
        adjusted = self._adjust_timeouts()
        if adjusted:
            report["actions"].append(adjusted)
        degraded = self._update_degradation()
        if degraded:
            report["actions"].append(degraded)
        self.last_check = report
        self.history.append(report)
        return report

    async def heal(self, actions: list[str] | None, reason: str) -> dict[str, Any]:
        unknown = [a for a in actions or [] if a not in ACTIONS]
        if unknown:
            raise catalogue.VAL_UNSUPPORTED.error(f"actions: unknown {unknown}; known: {list(ACTIONS)}", field="actions")
        chosen = actions or list(ACTIONS)
        done: list[dict[str, Any]] = []
        if "reload_models" in chosen:
            for name, backend in self.state.backends.items():
                if hasattr(backend, "reload") and not await self._healthy(backend):
                    done.append(await self._reload(name, backend, reason))
        if "clear_caches" in chosen:
            done.append(self._clear_caches(reason))
        if "reset_breakers" in chosen:
            for breaker in self.state.router.breakers:
                if breaker.state.value != "closed":
                    breaker.reset(f"heal ({reason})")
                    done.append(self._record("reset_breaker", "ok", breaker=breaker.name))
        if "adjust_timeouts" in chosen:
            adjusted = self._adjust_timeouts()
            if adjusted:
                done.append(adjusted)
        return {"reason": reason, "actions": done}

    # --- actions -------------------------------------------------------------------------

    async def _healthy(self, backend: Any) -> bool:
        if getattr(backend, "loaded", True) is False:
            return False
        check = getattr(backend, "health", None)
        if check is None:
            return True
        try:
            return bool(await asyncio.wait_for(check(), timeout=30))
        except Exception:
            return False

    async def _reload(self, name: str, backend: Any, reason: str) -> dict[str, Any]:
        try:
            await backend.reload()
        except Exception as exc:
            return self._record("reload_model", "failed", backend=name, reason=reason, error=classify(exc))
        return self._record("reload_model", "ok", backend=name, reason=reason)

    def _clear_caches(self, reason: str) -> dict[str, Any]:
        entries = self.state.router.cache.clear()
        for backend in self.state.backends.values():
            clear = getattr(backend, "clear_cache", None)
            if callable(clear):
                clear()
        gc.collect()
        return self._record("clear_caches", "ok", reason=reason, cache_entries=entries)

    def _adjust_timeouts(self) -> dict[str, Any] | None:
        router = self.state.router
        base = self.base_stream.first_token_timeout
        samples = [s for s in self.state.router.metrics.recent_ttft() if s > 0]
        if len(samples) < 20:
            return None
        samples.sort()
        p95 = samples[int(0.95 * (len(samples) - 1))]
        target = min(base, max(base / 4, 4 * p95))
        current = router.settings.stream.first_token_timeout
        if abs(target - current) <= 0.2 * current:
            return None
        stream = router.tune_stream(first_token_timeout=round(target, 3))
        return self._record("adjust_timeouts", "ok", first_token_timeout=stream.first_token_timeout, p95_ttft_s=round(p95, 4))

    def _update_degradation(self) -> dict[str, Any] | None:
        pressure = self.state.admission.pressure
        if not self.degraded and pressure > 0.8:
            self.degraded = True
            return self._record("degrade", "ok", pressure=round(pressure, 3))
        if self.degraded and pressure < 0.4:
            self.degraded = False
            return self._record("recover", "ok", pressure=round(pressure, 3))
        return None

    def _skip_local_when_degraded(self, dep: Deployment, request: ChatRequest) -> LLMError | None:
        if not self.degraded:
            return None
        kind = self.state.router.settings.providers.get(dep.provider)
        if kind is None or kind.kind != "llamacpp":
            return None
        alias = self.state.router.settings.aliases.get(request.model)
        if alias is None or len(alias.deployments) < 2:
            return None  # nowhere else to go: the local model keeps serving
        return catalogue.RATE_NEAR_LIMIT.error("server under stress: local model reserved", deployment=dep.name)

    def _record(self, action: str, outcome: str, *, error: LLMError | None = None, **details: Any) -> dict[str, Any]:
        self._actions.labels(action, outcome).inc()
        entry = {"action": action, "outcome": outcome, **details}
        if error is not None:
            entry["code"] = error.code
            _log.error("self-healing action failed", error=error, action=action, **details)
        else:
            _log.info("self-healing action", action=action, **details)
        return entry

    # --- reporting --------------------------------------------------------------------------

    def update_gauges(self) -> None:
        self._queue.labels("active").set(self.state.admission.active)
        self._queue.labels("waiting").set(self.state.admission.waiting)
        for name, backend in self.state.backends.items():
            batch = backend.batch_status() if hasattr(backend, "batch_status") else None
            if batch is not None:
                for state in ("active", "waiting", "slots"):
                    self._slots.labels(name, state).set(batch[state])
                self._batch.labels(name).set(batch["batch_tokens"])

    def summary(self) -> dict[str, Any]:
        return {
            "checks": self.checks,
            "degraded": self.degraded,
            "first_token_timeout": self.state.router.settings.stream.first_token_timeout,
            "last_check": self.last_check,
        }

    def diagnostics(self) -> dict[str, Any]:
        return {**self.summary(), "history": list(self.history), "memory_fraction": memory_fraction()}
