"""Write the files generated from Python: docs/errors.md and web/lib/catalogue.js from the error
catalogue (core/catalogue.py), web/lib/deployments.js from the page's deployment names
(web/python/llm_web/deployments.py).

python build/gen_error_docs.py           # (re)write them
python build/gen_error_docs.py --check   # exit 1 when one is stale (make lint, make test)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.core.errors_doc import render_javascript, render_markdown  # noqa: E402
from llm_runner_router.web import deployments  # noqa: E402

# Each generated file and what renders it.
OUTPUTS: dict[Path, Callable[[], str]] = {
    ROOT / "docs" / "errors.md": render_markdown,
    ROOT / "web" / "lib" / "catalogue.js": render_javascript,
    ROOT / "web" / "lib" / "deployments.js": deployments.render_javascript,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, render in OUTPUTS.items():
        shown = path.relative_to(ROOT)
        text = render()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            print(f"{shown} is up to date")
        elif args.check:
            print(f"{shown} is stale: run `python build/gen_error_docs.py`", file=sys.stderr)
            stale += 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            print(f"wrote {shown}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
