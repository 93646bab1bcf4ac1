"""The npm package ``llm-runner-router`` (``make npm-pack``): the page's library with its types, packed by ``npm pack``.

    python build/npm_package.py          # → dist/npm/llm-runner-router-<version>.tgz (its path on stdout)

What the package holds (npm/package.json describes it; npm/README.md is its README):

- ``lib/``: web/lib/ as it is (the runtime, the ``<llm-chat>`` widget, the loader, the engine, the
  generated catalogue.js and deployments.js), the same files the bundle serves at ``/lib/``;
- beside each ``.js`` its ``.d.ts``, which tsc writes from the JSDoc (tsconfig.npm.json: declaration,
  emitDeclarationOnly). They are generated here, into the package, and never committed: ``make lint``
  type-checks the same JSDoc, and declarations in git would go stale with every edit of web/lib/;
- README.md and LICENSE.

The package holds no Pyodide, onnxruntime-web, wheels or model: the runtime loads those at run time from
``base`` (the browser bundle, as ``llm-runner-router serve`` serves it or ``llm-runner-router web-bundle``
writes it), hundreds of megabytes that must match the wheels anyway. So the package has no dependencies.

npm/package.json's version must be llm_runner_router.__version__ (the library and the bundle's wheels are
released together); this script refuses to pack otherwise, and tests/build/test_npm_package.py checks it.

Incremental: when no input changed since the last pack (a digest in dist/npm/.inputs) and the tarball is
there, it only prints the tarball's path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.__version__ import __version__  # noqa: E402

MANIFEST = ROOT / "npm" / "package.json"
README = ROOT / "npm" / "README.md"
LICENSE = ROOT / "LICENSE"
LIB = ROOT / "web" / "lib"
TSCONFIG = ROOT / "tsconfig.npm.json"
TSC = ROOT / "node_modules" / ".bin" / "tsc"
TYPESCRIPT = ROOT / "node_modules" / "typescript" / "package.json"  # its version is an input
OUT = ROOT / "dist" / "npm"

# Appended to the widget's generated declarations: document.createElement('llm-chat') and
# querySelector('llm-chat') are typed as the element (JSDoc cannot say this).
TAG_MAP = """
declare global {
    interface HTMLElementTagNameMap {
        'llm-chat': LlmChat;
    }
}
"""


def manifest() -> dict[str, object]:
    data: dict[str, object] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def check_version(data: dict[str, object]) -> None:
    if data.get("version") != __version__:
        found = data.get("version")
        raise SystemExit(f"npm/package.json has version {found!r}, llm_runner_router/__version__.py {__version__!r}: make them equal")


def export_targets(data: dict[str, object]) -> list[str]:
    """Every file the manifest points at (exports, main, types), relative to the package's root."""
    targets: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            targets.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(data.get("exports"))
    for key in ("main", "types"):
        walk(data.get(key))
    return sorted({t.removeprefix("./") for t in targets})


def lib_files() -> list[Path]:
    return sorted(p for p in LIB.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(LIB).parts))


def inputs() -> list[Path]:
    """What the package is made of: a change to any of them packs it again."""
    return [MANIFEST, README, LICENSE, TSCONFIG, ROOT / "tsconfig.json", TYPESCRIPT, Path(__file__), *lib_files()]


def digest(files: list[Path], root: Path = ROOT) -> str:
    h = hashlib.sha256(__version__.encode())
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"(missing)")
    return h.hexdigest()


def stage(folder: Path) -> None:
    """Lays the package out in `folder`: lib/ with its .d.ts, package.json, README.md, LICENSE."""
    data = manifest()
    check_version(data)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(LIB, folder / "lib", ignore=shutil.ignore_patterns(".*"))
    shutil.copy2(MANIFEST, folder / "package.json")
    shutil.copy2(README, folder / "README.md")
    shutil.copy2(LICENSE, folder / "LICENSE")
    if not TSC.is_file():
        raise SystemExit(f"{TSC} is missing: run `npm ci` (make node-deps)")
    tsc = subprocess.run([str(TSC), "-p", str(TSCONFIG), "--outDir", str(folder / "lib")], cwd=ROOT, check=False)
    if tsc.returncode != 0:
        # The declarations are made only from JSDoc that type-checks (make lint checks the same).
        raise SystemExit(f"tsc -p {TSCONFIG.name} failed (exit {tsc.returncode}; its errors above): no package is packed")
    widget = folder / "lib" / "llm_chat.d.ts"
    widget.write_text(widget.read_text(encoding="utf-8") + TAG_MAP, encoding="utf-8")
    missing = [t for t in export_targets(data) if not (folder / t).is_file()]
    if missing:
        raise SystemExit(f"npm/package.json points at files the package does not have: {', '.join(missing)}")


def pack(folder: Path, out: Path) -> Path:
    """`npm pack` of the staged folder into `out`; → the tarball."""
    result = subprocess.run(
        ["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(out)],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    return out / report[0]["filename"]


def build(out: Path = OUT, *, force: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    name = f"llm-runner-router-{__version__}.tgz"
    tarball = out / name
    stamp = out / ".inputs"
    current = digest(inputs())
    if not force and tarball.is_file() and stamp.is_file() and stamp.read_text().strip() == current:
        return tarball
    stamp.unlink(missing_ok=True)
    for old in out.glob("llm-runner-router-*.tgz"):
        old.unlink()
    folder = out / "package"
    stage(folder)
    packed = pack(folder, out)
    if packed != tarball:
        raise SystemExit(f"npm pack wrote {packed.name}, expected {name}")
    stamp.write_text(current + "\n")
    return tarball


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help="where the tarball goes (default dist/npm/)")
    parser.add_argument("--force", action="store_true", help="pack even when nothing changed")
    args = parser.parse_args(argv)
    print(build(args.out, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
