"""`yuqing status`: lag is read against the log's end, even before a worker has joined its group."""

from __future__ import annotations

from pathlib import Path

import pytest

from transport import RAW_POSTS
from transport.sqlite_log import SqliteTransport
from yuqing.cli.commands import status as status_command
from yuqing.config import load_settings


def test_status_counts_waiting_posts_before_any_worker_joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("YUQING_CONFIG", "YUQING_TRANSPORT", "YUQING_SEARCH_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(None, data_dir=tmp_path / "var")
    transport = SqliteTransport(settings.path("transport.sqlite3"))
    for n in range(26):
        transport.publish(RAW_POSTS, {"n": n}, key=f"k{n}")
    transport.close()
    data = status_command.collect(settings)
    assert data["lag"]["posts.raw"] == {"yuqing-enrich": 26}  # nobody has joined: all 26 wait, not 0


def test_status_reads_the_alert_store_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Not the alert service: its rules, channels and policies are not needed to read what is open (nor their
    imports, half of the command's time), and a rules file being edited does not take the status down."""
    for name in ("YUQING_CONFIG", "YUQING_TRANSPORT", "YUQING_SEARCH_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [unfinished\n", encoding="utf-8")
    settings = load_settings(None, data_dir=tmp_path / "var").model_copy(update={"rules_file": rules})
    data = status_command.collect(settings)
    assert data["counts"]["open_alerts"] == 0 and data["open_alerts"] == []
