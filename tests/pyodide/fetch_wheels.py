"""Download the wheels that the core's test suite needs inside Pyodide.

The npm ``pyodide`` package ships the interpreter and the standard library
only (no micropip, no packages), so run_core_tests.mjs installs pytest and
hypothesis itself, from wheels kept in ``.cache/pyodide-wheels/``. This
script puts them there:

    python tests/pyodide/fetch_wheels.py        # prints the wheel paths, one a line

The dependency set is resolved here, explicitly and pinned, and checked: each
wheel's Requires-Dist, evaluated for Pyodide (emscripten, the Python version
of node_modules/pyodide), must be met by the set. Wheels already in the cache
are not downloaded again; with all of them there this does nothing but print.

Pure-Python wheels (``--platform any``) are used wherever the package has
them. hypothesis has shipped only compiled wheels since 6.156, among them an
official Pyodide wheel (``cp314-cp314-pyemscripten_<abi>_wasm32``); that one
is used, so both interpreters run the same hypothesis version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:  # pip vendors packaging; either will do
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - depends on the interpreter running this
    from pip._vendor.packaging.markers import Marker  # type: ignore[assignment]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "pyodide-wheels"
PYODIDE_LOCK = REPO / "node_modules" / "pyodide" / "pyodide-lock.json"

# (requirement, where the wheel comes from): "any" = pure Python,
# "pyodide" = the wheel built for this Pyodide's ABI.
WHEELS: list[tuple[str, str]] = [
    ("pytest==9.2.0", "any"),
    ("pluggy==1.7.0", "any"),
    ("iniconfig==2.3.1", "any"),
    ("packaging==26.3", "any"),
    ("pygments==2.21.0", "any"),
    ("hypothesis==6.170.15", "pyodide"),
    ("sortedcontainers==2.4.0", "any"),
]

# Used when node_modules/pyodide is not installed yet (pyodide 314.0.7).
DEFAULT_PYTHON = "3.14.2"
DEFAULT_ABI = "2026_0"


def log(message: str) -> None:
    print(f"fetch_wheels: {message}", file=sys.stderr, flush=True)


def pyodide_target() -> tuple[str, str]:
    """(full Python version, ABI version) of the installed Pyodide."""
    if PYODIDE_LOCK.exists():
        info = json.loads(PYODIDE_LOCK.read_text())["info"]
        return str(info["python"]), str(info["abi_version"])
    return DEFAULT_PYTHON, DEFAULT_ABI


def wheel_glob(req: Requirement, kind: str, py_tag: str, abi: str) -> str:
    (spec,) = req.specifier
    name = re.sub(r"[-_.]+", "_", req.name).lower()
    if kind == "any":
        return f"{name}-{spec.version}-*-none-any.whl"
    return f"{name}-{spec.version}-{py_tag}-{py_tag}-pyemscripten_{abi}_wasm32.whl"


def find_cached(pattern: str) -> Path | None:
    # Wheel file names may keep the project's capitals (Pygments-...), so compare folded.
    matches = sorted(p for p in CACHE.glob("*.whl") if Path(p.name.lower()).match(pattern.lower()))
    return matches[-1] if matches else None


def download(reqs: list[str], kind: str, python_version: str, py_tag: str, abi: str) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
        cmd += ["--only-binary=:all:", "--no-deps", "--python-version", python_version, "--dest", tmp]
        if kind == "any":
            cmd += ["--platform", "any"]
        else:
            cmd += ["--platform", f"pyemscripten_{abi}_wasm32", "--implementation", "cp", "--abi", py_tag]
        log(" ".join(cmd[3:] + reqs))
        subprocess.run(cmd + reqs, check=True)
        # Move complete files only, so an interrupted run never leaves half a wheel in the cache.
        for wheel in Path(tmp).glob("*.whl"):
            wheel.replace(CACHE / wheel.name)


def metadata(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(name).decode("utf-8"))
    return msg["Name"], msg.get_all("Requires-Dist") or []


def check_closed(wheels: list[Path], full_python: str) -> None:
    """Every requirement that applies in Pyodide must be met within the set."""
    env = {
        "python_version": ".".join(full_python.split(".")[:2]),
        "python_full_version": full_python,
        "sys_platform": "emscripten",
        "platform_system": "Emscripten",
        "platform_machine": "wasm32",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    versions = {}
    for wheel in wheels:
        version = wheel.name.split("-")[1]
        versions[canonicalize_name(wheel.name.split("-")[0])] = version
    problems = []
    for wheel in wheels:
        name, requires = metadata(wheel)
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
                continue
            have = versions.get(canonicalize_name(req.name))
            if have is None:
                problems.append(f"{name} needs {req}, which is not in the set")
            elif not req.specifier.contains(have, prereleases=True):
                problems.append(f"{name} needs {req}, the set has {req.name} {have}")
    if problems:
        raise SystemExit("fetch_wheels: the pinned set in tests/pyodide/fetch_wheels.py is not closed:\n  " + "\n  ".join(problems))


def main() -> int:
    full_python, abi = pyodide_target()
    python_version = ".".join(full_python.split(".")[:2])
    py_tag = "cp" + python_version.replace(".", "")
    CACHE.mkdir(parents=True, exist_ok=True)

    wanted = [(Requirement(r), kind) for r, kind in WHEELS]
    missing: dict[str, list[str]] = {}
    for req, kind in wanted:
        if find_cached(wheel_glob(req, kind, py_tag, abi)) is None:
            missing.setdefault(kind, []).append(str(req))
    for kind, reqs in missing.items():
        download(reqs, kind, python_version, py_tag, abi)

    wheels = []
    for req, kind in wanted:
        found = find_cached(wheel_glob(req, kind, py_tag, abi))
        if found is None:
            raise SystemExit(f"fetch_wheels: no {kind} wheel for {req} after download")
        wheels.append(found)
    check_closed(wheels, full_python)
    if missing:
        log(f"{len(wheels)} wheels in {CACHE.relative_to(REPO)}")
    for wheel in wheels:
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
