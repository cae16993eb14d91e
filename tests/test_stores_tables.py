"""Derived tables kept between processes: only the user's own files in the user's own directory are trusted."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stores.language import (
    CALIBRATION_FILE,
    LINEAR_FILE,
    MODEL_FILE,
    load_sentiment_model,
    read_calibration,
    table_key,
)
from stores.tables import PrivateTableCache

COMPLAINT = "小区停水三天了，物业不管，投诉也没人理，太气人了"
NOBODY = 65534


def _flipped_ratios() -> tuple:
    """What an attacker plants: the shipped model's tables with every word's tone reversed."""
    weights, polarity_bias, neutral_bias = load_sentiment_model().tables
    return {word: -w.conjugate() for word, w in weights.items()}, -polarity_bias, neutral_bias


def _sentiment_key() -> str:
    return table_key(MODEL_FILE, LINEAR_FILE, read_calibration(CALIBRATION_FILE))


def _plant(path: Path, value: object, *, mode: int = 0o644, owner: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps(value))
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, -1)


def _label_in_fresh_process(tmp_path: Path, env: dict[str, str]) -> str:
    source = tmp_path / "posts.jsonl"
    source.write_text(json.dumps({"id": "1", "text": COMPLAINT}, ensure_ascii=False) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "yuqing.cli.main", "analyze", "--no-progress", str(source)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=True,
    )
    return json.loads(done.stdout.splitlines()[0])["sentiment"]["label"]


def test_a_table_planted_under_a_predictable_name_in_the_shared_temp_folder_is_not_read(tmp_path: Path) -> None:
    """Issue 9 item 7: a file planted in /tmp under the name the cache would use flipped complaints to
    positive. The name was the model's digest, the Python version and the uid: all guessable."""
    shared_tmp = tmp_path / "shared-tmp"
    shared_tmp.mkdir(mode=0o1777)
    guessed = hashlib.sha1(f"{_sentiment_key()}|{sys.version_info[:2]}|{os.getuid()}".encode()).hexdigest()[:16]
    _plant(shared_tmp / f"yuqing-sentiment-{guessed}.marshal", _flipped_ratios(),
           owner=NOBODY if os.geteuid() == 0 else None)
    env = {**os.environ, "TMPDIR": str(shared_tmp), "XDG_CACHE_HOME": str(tmp_path / "home-cache")}
    assert _label_in_fresh_process(tmp_path, env) == "negative"
    assert _label_in_fresh_process(tmp_path, env) == "negative"  # and again, with the user's own cache warm
    assert stat_mode(tmp_path / "home-cache" / "yuqing") == 0o700


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def cache(tmp_path: Path) -> PrivateTableCache:
    return PrivateTableCache(tmp_path / "cache")


def test_a_table_others_could_write_is_rebuilt(cache: PrivateTableCache) -> None:
    path = cache.path_of("sentiment", _sentiment_key())
    assert path is not None
    _plant(path, _flipped_ratios(), mode=0o666)  # the user's own file, but writable by anyone
    computed = load_sentiment_model().tables
    assert load_sentiment_model(keeper=cache).tables == computed
    assert stat_mode(path) == 0o600  # replaced by a private file


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a file owned by another user needs root")
def test_a_table_owned_by_someone_else_is_rebuilt(cache: PrivateTableCache) -> None:
    path = cache.path_of("sentiment", _sentiment_key())
    assert path is not None
    _plant(path, _flipped_ratios(), mode=0o600, owner=NOBODY)
    assert load_sentiment_model(keeper=cache).tables == load_sentiment_model().tables


def test_a_symlink_to_a_planted_table_is_not_followed(cache: PrivateTableCache, tmp_path: Path) -> None:
    path = cache.path_of("sentiment", _sentiment_key())
    assert path is not None
    _plant(tmp_path / "elsewhere.marshal", _flipped_ratios(), mode=0o600)
    path.symlink_to(tmp_path / "elsewhere.marshal")
    assert load_sentiment_model(keeper=cache).tables == load_sentiment_model().tables


@pytest.mark.skipif(os.geteuid() != 0, reason="a directory owned by another user needs root")
def test_a_cache_directory_owned_by_someone_else_is_not_used(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o777)
    os.chown(foreign, NOBODY, -1)
    keeper = PrivateTableCache(foreign)
    assert keeper.path_of("sentiment", "key") is None
    assert keeper.kept_table("sentiment", "key", lambda: {"built": 1.0}, lambda v: True) == {"built": 1.0}
    assert list(foreign.iterdir()) == []


def test_a_cache_directory_open_to_others_is_closed(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    keeper = PrivateTableCache(directory)
    assert keeper.kept_table("t", "key", lambda: {"built": 1.0}, lambda v: True) == {"built": 1.0}
    assert stat_mode(directory) == 0o700
    assert keeper.kept_table("t", "key", lambda: {"rebuilt": 1.0}, lambda v: True) == {"built": 1.0}  # read back


def test_the_default_directory_is_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert PrivateTableCache().directory == tmp_path / "xdg" / "yuqing"
