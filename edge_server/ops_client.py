"""Operations commands against a running server (docs/edge-server.md, "Operations").

    llm-runner-router status             breakers, queue, models, uptime
    llm-runner-router check              health checks; exit 1 when something is unhealthy
    llm-runner-router recover            POST /api/heal: reload failed models, clear caches, reset breakers
    llm-runner-router clean              POST /api/heal with only clear_caches
    llm-runner-router monitor            a status line every --interval seconds until Ctrl-C

The admin key comes from --api-key or LLM_ROUTER_API_KEY. Plain urllib:
these commands must work when the server's own dependencies are broken.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["add_commands", "run"]

COMMANDS = ("status", "check", "recover", "clean", "monitor")


class OpsError(Exception):
    pass


def add_commands(sub: Any) -> None:
    helps = {
        "status": "show a running server's status",
        "check": "health-check a running server (exit 1 if unhealthy)",
        "recover": "ask a running server to heal itself",
        "clean": "ask a running server to clear its caches",
        "monitor": "print a running server's status periodically",
    }
    for name in COMMANDS:
        p = sub.add_parser(name, help=helps[name])
        p.add_argument("--url", default=os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8000"), help="server base URL")
        p.add_argument("--api-key", default=None, help="admin key (default: $LLM_ROUTER_API_KEY)")
        p.add_argument("--timeout", type=float, default=10.0)
        if name == "monitor":
            p.add_argument("--interval", type=float, default=5.0)
            p.add_argument("--count", type=int, default=0, help="stop after this many lines (0: never)")


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None, admin: bool = False) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if admin:
        key = args.api_key or os.environ.get("LLM_ROUTER_API_KEY")
        if not key:
            raise OpsError("an admin key is needed: --api-key or LLM_ROUTER_API_KEY")
        headers["x-api-key"] = key
    req = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            payload: dict[str, Any] = json.loads(resp.read() or b"{}")
            return payload
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read()).get("error", {})
            raise OpsError(f"{exc.code} {err.get('code', '')}: {err.get('message', exc.reason)}") from None
        except ValueError:
            raise OpsError(f"{exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise OpsError(f"cannot reach {args.url}: {getattr(exc, 'reason', exc)}") from None


def _status_lines(s: dict[str, Any]) -> list[str]:
    q = s.get("queue", {})
    lines = [
        f"uptime {s.get('uptime_s', 0):.0f}s  queue {q.get('active', 0)} running / {q.get('waiting', 0)} waiting "
        f"(max {q.get('max_concurrency')} + {q.get('queue_size')}), rejected {q.get('rejected', 0)}",
        f"models: {', '.join(s.get('models', []))}",
    ]
    for name, d in s.get("deployments", {}).items():
        lines.append(f"  {name:24} {d.get('breaker', '?'):10} inflight {d.get('inflight', 0)}  success {d.get('success_rate')}")
    for name, b in s.get("backends", {}).items():
        loaded = b.get("loaded")
        lines.append(f"  backend {name:16} {b.get('kind')}" + ("" if loaded is None else f"  loaded={loaded}"))
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "status":
            print("\n".join(_status_lines(_call(args, "GET", "/api/status"))))
            return 0
        if args.command == "check":
            return _check(args)
        if args.command in ("recover", "clean"):
            body = {"actions": ["clear_caches"]} if args.command == "clean" else {}
            report = _call(args, "POST", "/api/heal", body, admin=True)
            for action in report.get("actions", []):
                print(
                    f"{action.get('action')}: {action.get('outcome')}  "
                    + json.dumps({k: v for k, v in action.items() if k not in ("action", "outcome")})
                )
            if not report.get("actions"):
                print("nothing to do")
            return 0
        if args.command == "monitor":
            n = 0
            while True:
                try:
                    s = _call(args, "GET", "/api/status")
                    open_breakers = [k for k, d in s.get("deployments", {}).items() if d.get("breaker") != "closed"]
                    q = s.get("queue", {})
                    line = f"{time.strftime('%H:%M:%S')} ok  queue {q.get('active', 0)}/{q.get('waiting', 0)}"
                    print(f"{line}  open breakers: {open_breakers or 'none'}", flush=True)
                except OpsError as exc:
                    print(f"{time.strftime('%H:%M:%S')} DOWN  {exc}", flush=True)
                n += 1
                if args.count and n >= args.count:
                    return 0
                time.sleep(args.interval)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 2


def _check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    health = _call(args, "GET", "/health")
    if health.get("status") != "ok":
        problems.append("liveness check failed")
    status = _call(args, "GET", "/api/status")
    for name, backend in status.get("backends", {}).items():
        if backend.get("loaded") is False:
            problems.append(f"backend {name} is not loaded")
    for name, d in status.get("deployments", {}).items():
        if d.get("breaker") not in ("closed", None):
            problems.append(f"deployment {name}: breaker {d.get('breaker')}")
    if problems:
        print("UNHEALTHY\n  " + "\n  ".join(problems))
        return 1
    print(f"healthy: {len(status.get('deployments', {}))} deployments, uptime {status.get('uptime_s', 0):.0f}s")
    return 0
