"""edge_server/paths.py: the checkout's folders in a checkout, the user's (XDG) folders when installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_runner_router.edge import paths

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_keeps_its_files_in_the_checkout() -> None:
    env: dict[str, str] = {}
    assert paths.checkout_root() == ROOT
    assert paths.data_dir(env) == ROOT / "data"
    assert paths.models_dir(env) == ROOT / "models"
    assert paths.cache_dir(env) == ROOT / ".cache" / "models"
    assert paths.build_cache_dir(env) == ROOT / ".cache"
    assert paths.web_dir(env) == ROOT / "dist" / "web"


def test_installed_the_files_go_to_the_users_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    data, cache = tmp_path / "share" / paths.APP_NAME, tmp_path / "cache" / paths.APP_NAME
    assert (paths.data_dir(env), paths.models_dir(env), paths.web_dir(env)) == (data, data / "models", data / "web")
    assert paths.cache_dir(env) == paths.build_cache_dir(env) == cache
    # No XDG variables (or relative ones, which the spec says to ignore): the home folder's defaults.
    for bare in ({}, {"XDG_CACHE_HOME": "relative", "XDG_DATA_HOME": "relative"}):
        assert paths.build_cache_dir(bare) == tmp_path / ".cache" / paths.APP_NAME
        assert paths.data_dir(bare) == tmp_path / ".local" / "share" / paths.APP_NAME


@pytest.mark.parametrize("installed", [False, True])
def test_the_variables_move_each_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, installed: bool) -> None:
    if installed:
        monkeypatch.setattr(paths, "checkout_root", lambda: None)
    env = {"LLM_ROUTER_DATA_DIR": str(tmp_path / "d"), "LLM_ROUTER_CACHE_DIR": str(tmp_path / "c")}
    assert paths.data_dir(env) == tmp_path / "d"
    assert paths.cache_dir(env) == paths.build_cache_dir(env) == tmp_path / "c"
    assert paths.models_dir({**env, "LLM_ROUTER_MODELS_DIR": str(tmp_path / "m")}) == tmp_path / "m"
    assert paths.web_dir({**env, "LLM_ROUTER_WEB_DIR": str(tmp_path / "w")}) == tmp_path / "w"
