"""llm_runner_router.edge.browser_vendor: Pyodide and onnxruntime-web from the npm registry or node_modules.

Nothing here downloads: the registry is a folder of tarballs built by the test (a file:// address),
and the real tarballs are used only when a run of from_registry already left them in the cache.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge import browser_vendor as bv
from llm_runner_router.edge import paths
from tests.build import ROOT

NPM_MTIME = 499162500  # 1985-10-26, the date npm gives every file in a tarball


def test_the_pins_are_package_lock_jsons() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    declared = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert {p.name for p in bv.PACKAGES} == set(declared)
    for package in bv.PACKAGES:
        entry = lock[f"node_modules/{package.name}"]
        assert (package.version, package.integrity) == (entry["version"], entry["integrity"]), package.name
        assert declared[package.name] == package.version
        if "resolved" in entry:
            assert entry["resolved"] == package.url()
    assert bv.PYODIDE.url() == "https://registry.npmjs.org/pyodide/-/pyodide-314.0.7.tgz"


def test_the_file_lists_are_the_bundles() -> None:
    assert bv.bundle_files()[0] == "vendor/pyodide/pyodide.mjs" and "vendor/ort/ort.all.min.mjs" in bv.bundle_files()


# --- a registry of our own ---------------------------------------------------------------


def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), NPM_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


FILES = {
    "package/dist/a.mjs": b"export {}",
    "package/dist/b.wasm": b"\0asm" * 1000,
    "package/dist/skip.map": b"{}",
    "package/README.md": b"#",
}


def _publish(tmp_path: Path, members: dict[str, bytes] = FILES, *, integrity: str | None = None) -> tuple[bv.NpmPackage, str]:
    """A package in a file:// registry under tmp_path: (the package as pinned, the registry's address)."""
    data = _tarball(members)
    package = bv.NpmPackage("fake-web", "1.2.3", integrity or _integrity(data), "fake", "dist", ("a.mjs", "b.wasm"))
    target = tmp_path / "registry" / package.name / "-" / package.tarball
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return package, (tmp_path / "registry").as_uri()


def test_from_the_registry_only_the_listed_files_are_extracted_and_the_tarball_is_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package, registry = _publish(tmp_path)
    vendor, cache = tmp_path / "web" / "vendor", tmp_path / "cache"
    written = bv.from_registry(vendor, packages=[package], cache_dir=cache, registry=registry)
    assert written == [vendor / "fake" / "a.mjs", vendor / "fake" / "b.wasm"]
    assert {str(p.relative_to(vendor)) for p in vendor.rglob("*")} == {"fake", "fake/a.mjs", "fake/b.wasm"}
    assert (vendor / "fake" / "b.wasm").read_bytes() == FILES["package/dist/b.wasm"]
    assert int((vendor / "fake" / "a.mjs").stat().st_mtime) == NPM_MTIME
    assert os.listdir(cache / "npm") == ["fake-web-1.2.3.tgz"]
    assert "downloading fake-web 1.2.3" in capsys.readouterr().err

    # Again, with the registry gone: the cached tarball serves, and files already in place stay as they are.
    (tmp_path / "registry" / package.name / "-" / package.tarball).unlink()
    before = (vendor / "fake" / "b.wasm").stat().st_ino
    assert bv.from_registry(vendor, packages=[package], cache_dir=cache, registry=registry) == written
    assert (vendor / "fake" / "b.wasm").stat().st_ino == before
    assert "downloading" not in capsys.readouterr().err
    # A file changed in place (other size) is extracted again.
    (vendor / "fake" / "a.mjs").write_bytes(b"edited by hand")
    bv.from_registry(vendor, packages=[package], cache_dir=cache, registry=registry, progress=False)
    assert (vendor / "fake" / "a.mjs").read_bytes() == FILES["package/dist/a.mjs"]


def test_a_tarball_that_fails_its_integrity_is_refused_and_not_kept(tmp_path: Path) -> None:
    package, registry = _publish(tmp_path, integrity=_integrity(b"what was pinned"))
    with pytest.raises(LLMError) as raised:
        bv.fetch_tarball(package, cache_dir=tmp_path / "cache", registry=registry, progress=False)
    assert raised.value.spec is cat.NET_DOWNLOAD_FAILED and "pinned integrity" in str(raised.value)
    assert raised.value.context["expected"] == package.integrity
    assert os.listdir(tmp_path / "cache" / "npm") == []  # neither the tarball nor a partial file


def test_a_damaged_cached_tarball_is_downloaded_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package, registry = _publish(tmp_path)
    cached = tmp_path / "cache" / "npm" / package.tarball
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cut short")
    assert bv.fetch_tarball(package, cache_dir=tmp_path / "cache", registry=registry) == cached
    assert cached.read_bytes() == (tmp_path / "registry" / package.name / "-" / package.tarball).read_bytes()
    assert "fails its pinned integrity: downloading it again" in capsys.readouterr().err


def test_an_unreachable_registry_is_a_coded_error(tmp_path: Path) -> None:
    package, _ = _publish(tmp_path)
    with pytest.raises(LLMError) as raised:
        bv.fetch_tarball(package, cache_dir=tmp_path / "cache", registry=(tmp_path / "nowhere").as_uri(), progress=False)
    assert raised.value.spec is cat.NET_DOWNLOAD_FAILED and raised.value.context["url"].endswith("fake-web-1.2.3.tgz")


def test_a_tarball_without_a_listed_file_or_not_a_tarball_is_a_coded_error(tmp_path: Path) -> None:
    package, _ = _publish(tmp_path, {"package/dist/a.mjs": b"x"})
    with pytest.raises(LLMError) as raised:
        bv.extract(package, tmp_path / "registry" / package.name / "-" / package.tarball, tmp_path / "vendor")
    assert raised.value.spec is cat.NET_DOWNLOAD_FAILED and raised.value.context["missing"] == ["package/dist/b.wasm"]
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(LLMError) as raised:
        bv.extract(package, junk, tmp_path / "vendor")
    assert raised.value.spec is cat.NET_DOWNLOAD_FAILED and "damaged" in str(raised.value)


# --- node_modules ------------------------------------------------------------------------


def _node_modules(tmp_path: Path, version: str = "1.2.3") -> tuple[bv.NpmPackage, Path]:
    package, _ = _publish(tmp_path)
    folder = tmp_path / "node_modules"
    (folder / package.name / "dist").mkdir(parents=True)
    (folder / package.name / "package.json").write_text(json.dumps({"name": package.name, "version": version}))
    for name, data in FILES.items():
        (folder / package.name / name.removeprefix("package/")).write_bytes(data)
    return package, folder


def test_from_node_modules_copies_the_same_files_without_a_download(tmp_path: Path) -> None:
    package, folder = _node_modules(tmp_path)
    assert bv.node_modules_files(folder, [package]) == {
        "vendor/fake/a.mjs": folder / "fake-web" / "dist" / "a.mjs",
        "vendor/fake/b.wasm": folder / "fake-web" / "dist" / "b.wasm",
    }
    vendor = tmp_path / "vendor"
    assert bv.from_node_modules(vendor, folder, [package]) == [vendor / "fake" / "a.mjs", vendor / "fake" / "b.wasm"]
    assert (vendor / "fake" / "b.wasm").read_bytes() == FILES["package/dist/b.wasm"]
    assert not (vendor / "fake" / "skip.map").exists()


def test_node_modules_with_another_version_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    package, folder = _node_modules(tmp_path, version="1.2.4")
    with pytest.raises(LLMError) as raised:
        bv.from_node_modules(tmp_path / "vendor", folder, [package])
    assert raised.value.spec is cat.CONFIG_ENVIRONMENT_MISMATCH and "npm ci" in str(raised.value)
    (folder / package.name / "package.json").write_text(json.dumps({"version": "1.2.3"}))
    (folder / package.name / "dist" / "b.wasm").unlink()
    with pytest.raises(LLMError, match=r"b\.wasm is missing"):
        bv.from_node_modules(tmp_path / "vendor", folder, [package])


def test_ensure_vendor_refuses_a_given_node_modules_that_does_not_match(tmp_path: Path) -> None:
    (tmp_path / "node_modules").mkdir()
    with pytest.raises(LLMError) as raised:
        bv.ensure_vendor(tmp_path / "vendor", node_modules=tmp_path / "node_modules", progress=False)
    assert raised.value.spec is cat.CONFIG_ENVIRONMENT_MISMATCH


def test_installed_ensure_vendor_goes_to_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(bv, "from_registry", lambda vendor_dir, **kw: calls.append(kw) or [])
    assert bv.ensure_vendor(tmp_path / "vendor", cache_dir=tmp_path / "cache", progress=False) == []
    assert calls == [{"cache_dir": tmp_path / "cache", "registry": bv.REGISTRY, "progress": False}]
    with pytest.raises(LLMError, match="not a checkout"):
        bv.node_modules_files()


# --- the real packages -------------------------------------------------------------------


def test_the_checkouts_node_modules_has_the_pinned_files() -> None:
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.skip("no node_modules (npm ci)")
    files = bv.node_modules_files()
    assert list(files) == bv.bundle_files()
    assert all(p.is_file() for p in files.values())


def test_the_cached_tarballs_hold_what_node_modules_holds(tmp_path: Path) -> None:
    """Both sources give the bundle the same bytes (when a from_registry run left the real tarballs in the cache)."""
    cached = [paths.cache_dir() / "npm" / p.tarball for p in bv.PACKAGES]
    if not all(p.is_file() for p in cached) or not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.skip("the real tarballs are not in the download cache (browser_vendor.fetch_tarball fetches them)")
    written = bv.from_registry(tmp_path / "vendor", progress=False)  # no download: both are cached
    assert [str(p.relative_to(tmp_path)) for p in written] == bv.bundle_files()
    for rel, src in bv.node_modules_files().items():
        assert (tmp_path / rel).read_bytes() == src.read_bytes(), rel
