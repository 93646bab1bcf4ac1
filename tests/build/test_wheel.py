"""The package as a user installs it: a wheel in a fresh virtual environment, run outside the checkout.

Builds the wheel, installs it with the `server` extra into a new virtual
environment in a temporary folder (llama-cpp-python from the wheel `make`
built with safe CPU flags, the rest from PyPI), then from an empty folder:
``llm-runner-router --version``, and ``serve --data-dir`` with no
configuration, which fetches the embedded model into the data folder and
answers the official `openai` client; then ``web-bundle --no-model``, after
which ``/`` serves the demo pages. Nothing may be written anywhere else:
not the current folder, not site-packages, not the user's home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai

from llm_runner_router.edge import browser_vendor, model_fetch, paths
from llm_runner_router.edge.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _llama_wheels() -> Path:
    """Where `make` keeps the llama-cpp-python wheel it built (LLM_ROUTER_LLAMA_WHEELS, set by the Makefile)."""
    given = os.environ.get("LLM_ROUTER_LLAMA_WHEELS")
    if given:
        return Path(given)
    found = sorted((Path.home() / ".cache" / "llm-runner-router" / "wheels").glob("llama-cpp-python-*/llama_cpp_python-*.whl"))
    assert found, "no llama-cpp-python wheel built by make (run `make setup`)"
    return found[-1].parent


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def test_the_wheel_installs_and_serves_outside_the_checkout(tmp_path: Path) -> None:
    dist, venv, empty, data, home = (tmp_path / name for name in ("dist", "venv", "empty", "data", "home"))
    for folder in (empty, home):
        folder.mkdir()
    # The model's wheel and the npm tarballs in the checkout's download cache: no 140 MB of downloads here.
    model_fetch.ensure_model(progress=False)
    for package in browser_vendor.PACKAGES:
        browser_vendor.fetch_tarball(package, progress=False)

    # Built from a copy of the sources: setuptools writes build/lib and *.egg-info where it builds.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        source.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    # As laid out in the checkout: llm_runner_router/ with its links to the parts' folders.
    for folder in ("llm_runner_router", "core", "edge_server", "web/python/llm_web", "web/lib", "web/demo"):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "web" / "sw.js", source / "web" / "sw.js")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(dist)], check=True, timeout=600)
    [wheel] = dist.glob("llm_runner_router-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, f"{wheel}[server]", "--find-links", str(_llama_wheels())], check=True, timeout=900)

    command = str(venv / "bin" / "llm-runner-router")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # a user's folders: the XDG defaults would land here, and must not be used
        "LLM_ROUTER_CACHE_DIR": str(paths.cache_dir()),  # read only: the model's wheel and the npm tarballs are there
    }
    version = subprocess.run([command, "--version"], cwd=empty, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == "llm-runner-router 0.1.0", version.stderr

    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # One import package: nothing else at the top of site-packages (dist-info and the venv's own tools aside).
    ours = {p.name for p in site.iterdir() if not p.name.endswith((".dist-info", ".pth")) and p.name != "__pycache__"}
    assert "llm_runner_router" in ours and not ours & {"core", "edge_server", "llm_web", "build", "edge", "web"}, sorted(ours)
    assert {"core", "edge", "web"} <= {p.name for p in (site / "llm_runner_router").iterdir()}
    # The browser model's build comes with the package (its steps and requirements), its folders the user's;
    # the vendor fetch imports (no node_modules needed).
    steps = {p.name for p in (site / "llm_runner_router" / "edge" / "browser_model").iterdir()}
    assert {"__init__.py", "model-requirements.txt", "gguf_to_hf.py", "onnx_variants.py", "wasm_weights.py"} <= steps, sorted(steps)
    probe = "from llm_runner_router.edge import browser_model as b, browser_vendor; print(b.default_out_dir(), b.venv_dir())"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=empty,
        env={**env, "LLM_ROUTER_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = [str(data / "web" / "models" / "smollm2-135m-instruct"), str(paths.cache_dir() / "model-venv")]
    assert where.stdout.split() == expected, where.stderr
    by_module = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "llm_runner_router", "--version"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_module.stdout.strip() == version.stdout.strip(), by_module.stderr
    site_before = _files(site)
    port = free_port()
    server = subprocess.Popen(
        [command, "serve", "--port", str(port), "--data-dir", str(data)],
        cwd=empty,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the installed server did not come up"
            time.sleep(0.5)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        answer = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0, seed=1
        )
        assert answer.choices[0].message.content and answer.usage is not None and answer.usage.completion_tokens > 0
        # No browser bundle is installed: "/" says how to get one, in a page, not a stack trace.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            raise AssertionError("/ answered 200 with no bundle")
        except urllib.error.HTTPError as e:
            assert e.code == 503 and b"llm-runner-router web-bundle" in e.read()
        # The one command it names (the browser model left out: its build environment is ~2 GB).
        bundle = subprocess.run(
            [command, "web-bundle", "--no-model", "--data-dir", str(data)], cwd=empty, env=env, capture_output=True, text=True, timeout=600
        )
        assert bundle.returncode == 0, bundle.stdout + bundle.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<title>llm-runner-router</title>" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lib/llm_chat.js", timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/build.json", timeout=5) as r:
            manifest = json.loads(r.read())
        assert {"vendor/pyodide/pyodide.asm.wasm", "vendor/ort/ort.wasm.min.mjs"} <= set(manifest["files"])
        assert [w.split("/")[1].split("-")[0] for w in manifest["wheels"]] == ["llm_runner_router_core", "llm_runner_router_web"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert _files(empty) == set() and _files(home) == set()
    assert _files(site) == site_before  # nothing written into the installed package
    written = _files(data)
    assert {f"models/{model_fetch.MODEL_FILE}", "router.db", "web/build.json", "web/index.html", "web/sw.js"} <= written
