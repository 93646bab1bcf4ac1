#!/usr/bin/env python3
"""The reliability suite, one command: chaos, load, crash durability, security, the browser path -- in that order.

Each part is a script of its own (``bench/reliability_<part>.py``) with
``run(quick) -> dict`` (its figures and a ``targets`` dict of name ->
{target, value, met}) and ``render(result) -> str`` (its section of
docs/reliability.md). This command runs the parts asked for, writes each
one's JSON, prints a summary of every target, and exits non-zero when a
target is missed or a part fails -- so CI notices.

Usage::

    python -m bench.reliability                   # full form: writes bench/results/reliability_*.json and docs/reliability.md
    python -m bench.reliability --quick           # the short form CI runs (make reliability): figures to .cache/reliability/
    python -m bench.reliability --only chaos,crash
    python -m bench.reliability --docs-only       # rewrite docs/reliability.md from the JSON already in bench/results/

The docs page is rewritten by a full run (or with ``--docs``): an
introduction, how to run it, a summary of the targets, then one section per
part from its ``render()`` -- for the parts not run this time, from the
figures already in bench/results/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import _reliability as rel

HERE = Path(__file__).resolve().parent

# The order they run in. "browser" (bench/reliability_browser.py) is chaos through the page: the widget in
# headless Chromium, the router in Pyodide, the edge server behind it.
PARTS = ("chaos", "load", "crash", "security", "browser")
DOC = rel.ROOT / "docs" / "reliability.md"

INTRO = """# Reliability

What this page claims, with the numbers and the command that produced each: the router keeps answering while its
upstreams fail in every way we know how to make them fail, it loses no text and repeats none when it moves an answer
from one upstream to another, it refuses what it cannot take with a 429 and a `Retry-After` instead of dropping
connections, the state it learns survives `kill -9`, and it lets no one in where they do not belong.

Everything here is reproducible from the repository: real processes on 127.0.0.1 (the edge server as
`python -m llm_runner_router`, upstreams that misbehave on purpose from `edge_server/testing/fault_provider.py`, the embedded
model on llama.cpp), driven by the scripts in [bench/](../bench/). The figures below come from full runs of the suite,
each section naming its command, date and machine (and how busy the machine was: it is a shared 2-CPU VM); the raw
numbers are in `bench/results/reliability_*.json`. A target that was not met says so, with its cause.
"""

HOW_TO_RUN = """## How to run it

```
python -m bench.reliability                 # the full suite: writes bench/results/reliability_*.json and this page
python -m bench.reliability --quick         # the short form (about 3 minutes): what `make test` runs, as `make reliability`
python -m bench.reliability --only chaos,crash
python -m bench.reliability_chaos [--quick] # one part on its own (also bench.reliability_load, _crash, _security, _browser)
```

Run from the checkout's root (the benches are the modules of the `bench` package). It needs the project's set-up (`make
setup model`: the virtual environment and the embedded model), `wrk` for the load part (`make wrk` installs Debian's)
and, for the browser part, what the end-to-end tests need (`make browser-model web pyodide-wheels chromium`); `make
reliability` sees to all of it. The command prints a summary of every target and exits with status 1 when one is
missed, so CI fails on it; quick runs write their figures to `.cache/reliability/`, never over the committed ones. The
full form takes about {minutes} minutes here. The quick form runs the same code on smaller sizes; the sizes the targets
are stated for (10,000 chaos requests, 100 kills) are the full form's.
"""

FOUND = """## What the suite found

Defects found while building and running these scripts, each fixed with a regression test:

- **A client that left was still served.** A non-streamed request (and a streamed one still waiting for its first
  token) went on generating after its client disconnected, holding its admission slot and the local model: after a
  load run the model's queue took many seconds to drain. The edge now cancels the work as soon as the client goes
  (`edge_server/api.py`, `tests/edge_server/test_client_disconnect.py`).
- **Waiting in line was taken for failing.** The local model answers one request at a time, and the requests behind it
  waited inside the backend, where the router's first-token timeout was already running (and the monitor lowers that
  timeout to a quarter once answers come fast): in a burst of long answers, admitted requests timed out, were answered
  from the fallback cache, or opened the model's breaker (then 503 for everyone). The backend now sends a heartbeat
  (`core.HEARTBEAT`) while it waits behind a generation that is moving, and the router starts the wait again
  (`tests/core/test_heartbeat.py`, `tests/edge_server/test_llamacpp_queue.py`).
- **Out of restarts, out of options.** When an answer had used its `stream.max_restarts` on a deployment that cannot
  continue a prefix, the router dropped every deployment still queued and ended the answer incomplete, though the next
  one could have continued it; it now passes over that one deployment (`tests/core/test_router_restarts.py`).

A review that attacked the server as a hostile client found more, which the security part now measures itself (slow
clients, long inputs, the thread and file-descriptor census, special-token injection), each fixed with a regression test
in `tests/edge_server/test_hostile_clients.py` unless named otherwise:

- **One request froze the server.** The log scrubber's key=value pattern was quadratic on a long run of word characters,
  and it ran on the event loop for the access line: `GET /` and 16,000 characters held `/health` for 15.8 s. Every
  pattern is linear now (`tests/core/test_jsonlog.py` checks it on adversarial input) and logged paths are clipped.
- **Connections were free.** Half a header, a trickled one, a body that stopped or a client that stopped reading held
  its connection indefinitely, and nothing capped how many: at the file-descriptor limit `/health` stopped answering
  and asyncio logged thousands of identical stack traces a second. The server now runs uvicorn's HTTP protocol with a
  header clock, a send clock and a connection cap (`edge_server/protocol.py`), reads bodies on a clock, and logs a
  repeating failure a few times per period with a count of the rest.
- **Readers held slots.** The admission slot was held until the client had read the whole answer; four clients that
  stopped reading kept every slot. Answers are now generated into a buffer and the slot is freed when generation ends
  (`edge_server/answer.py`).
- **Waiting requests held threads.** The local backend started a thread per request, which waited for the model before
  it could see that its client had left: 400 passing requests left 153 threads. A request now waits for its turn on the
  loop and gets a thread only then (`tests/edge_server/test_llamacpp_queue.py`).
- **Retry-After could be talked down.** Requests for unknown models took a slot and fed the estimate with their 1 ms;
  they are now refused before a slot, and only answers generated to the end feed it.
- **A typed `<|im_start|>` was a control token**, so a user could forge a system turn; content is now tokenized as
  text, on the server and in the page (`tests/edge_server/test_llamacpp.py`, `tests/web_js/`).
- Smaller: configuration values out of any sane range or of the wrong type (`tests/core/test_config.py`), an aborted
  upload logged as a 500, dotfiles and symlink loops in the web folder, a 405 without `Allow` (`test_web.py`), and
  request fields accepted and silently ignored (`test_validation.py`).
"""

ModuleLoader = Callable[[str], ModuleType | None]


def _shown(path: Path) -> str:
    return str(path.relative_to(rel.ROOT)) if path.is_relative_to(rel.ROOT) else str(path)


def load_part(name: str) -> ModuleType | None:
    """``bench/reliability_<name>.py``, or None when that file is not there."""
    if not (HERE / f"reliability_{name}.py").exists():
        return None
    return importlib.import_module(f"bench.reliability_{name}")


def summary_rows(results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(part, target, wanted, measured, met) for every target of every part (pure)."""
    rows = []
    for part, result in results.items():
        if "error" in result and "targets" not in result:
            rows.append((part, "(the part failed)", "", str(result["error"]).splitlines()[-1][:120], "no"))
            continue
        for name, t in result.get("targets", {}).items():
            rows.append((part, name, str(t["target"]), rel.fmt_num(t["value"]), "yes" if t["met"] else "NO"))
    return rows


def print_summary(results: Mapping[str, Mapping[str, Any]], out: Any = None) -> None:
    out = out or sys.stdout
    rows = summary_rows(results)
    headers = ("part", "target", "wanted", "measured", "met")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)


def passed(results: Mapping[str, Mapping[str, Any]]) -> bool:
    return all("targets" in r and rel.all_met(r["targets"]) for r in results.values())


def render_doc(sections: Mapping[str, str], results: Mapping[str, Mapping[str, Any]], minutes: int = 15) -> str:
    """The whole page: introduction, how to run it, the summary, one section per part (pure)."""
    rows = summary_rows(results)
    summary = rel.md_table(
        ["part", "target", "wanted", "measured", ""],
        [(p, n, w, m, "met" if ok == "yes" else "**not met**") for p, n, w, m, ok in rows],
        align="lllrl",
    )
    parts = [INTRO, HOW_TO_RUN.format(minutes=minutes), "## Summary\n\n" + summary + "\n", FOUND]
    parts += [sections[name] for name in PARTS if name in sections]
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


def run_parts(
    names: Sequence[str], quick: bool, loader: ModuleLoader = load_part, say: Callable[[str], None] = print
) -> tuple[dict[str, dict[str, Any]], dict[str, ModuleType]]:
    """Run each part, write its JSON; a part that raises is recorded as failed and the others still run."""
    results: dict[str, dict[str, Any]] = {}
    modules: dict[str, ModuleType] = {}
    for name in names:
        module = loader(name)
        if module is None:
            say(f"[reliability] {name}: bench/reliability_{name}.py is not there; skipped")
            continue
        modules[name] = module
        say(f"[reliability] {name}{' (quick)' if quick else ''} ...")
        began = time.monotonic()
        try:
            result = module.run(quick)
        except Exception as exc:  # reported, and the exit status says so; the next part still runs
            results[name] = {"error": "".join(traceback.format_exception(exc))}
            say(f"[reliability] {name} failed: {type(exc).__name__}: {exc}")
            continue
        results[name] = result
        path = rel.write_result(name, result, rel.result_path(name, quick))
        say(f"[reliability] {name}: {time.monotonic() - began:.1f} s, wrote {_shown(path)}")
    return results, modules


def write_doc(
    results: Mapping[str, Mapping[str, Any]], modules: Mapping[str, ModuleType], loader: ModuleLoader = load_part, doc: Path | None = None
) -> Path:
    """docs/reliability.md from this run's results, and the committed figures of the parts not run."""
    doc = doc or DOC
    sections: dict[str, str] = {}
    shown: dict[str, Mapping[str, Any]] = {}
    for name in PARTS:
        result = results.get(name)
        if result is None or "targets" not in result:
            stored = rel.result_path(name, quick=False)
            if not stored.exists():
                continue
            result = json.loads(stored.read_text(encoding="utf-8"))
        module = modules.get(name) or loader(name)
        if module is None:
            continue
        sections[name] = module.render(dict(result))
        shown[name] = result
    minutes = round(sum(float(r.get("meta", {}).get("duration_s", 0)) for r in shown.values()) / 60) or 1
    doc.write_text(render_doc(sections, shown, minutes=minutes), encoding="utf-8")
    return doc


def main(argv: Sequence[str] | None = None, loader: ModuleLoader = load_part) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the short form (CI): smaller sizes, figures to .cache/reliability/")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts, in any order (run as {', '.join(PARTS)})")
    ap.add_argument("--docs", action=argparse.BooleanOptionalAction, default=None, help="rewrite docs/reliability.md (default: full runs)")
    ap.add_argument("--docs-only", action="store_true", help="rewrite docs/reliability.md from bench/results/ and exit")
    args = ap.parse_args(argv)
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    if args.docs_only:
        print(f"wrote {_shown(write_doc({}, {}, loader))}")
        return 0
    names = [p for p in PARTS if p in wanted]
    results, modules = run_parts(names, args.quick, loader)
    print()
    print_summary(results)
    if args.docs if args.docs is not None else not args.quick:
        print(f"wrote {_shown(write_doc(results, modules, loader))}")
    ok = passed(results)
    print(f"\nreliability: {'every target met' if ok else 'TARGETS MISSED (see above)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
