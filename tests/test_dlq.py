"""`yuqing dlq list|show|replay TOPIC` on the embedded log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from transport import RAW_POSTS, dead_letter
from transport.sqlite_log import SqliteTransport
from workers.runner import ERROR_HEADER, RETRY_HEADER
from yuqing.cli.commands import dlq
from yuqing.config import ConfigError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="yuqing")
    parser.add_argument("--config")
    dlq.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    for name in ("YUQING_CONFIG", "YUQING_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    transport = SqliteTransport(tmp_path / "var" / "transport.sqlite3")
    transport.publish(dead_letter(RAW_POSTS), {"id": "weibo:1", "text": "日期9999年"}, key="weibo:1",
                      headers={ERROR_HEADER: "ValueError: published_at out of range", RETRY_HEADER: "3"})
    transport.publish(dead_letter(RAW_POSTS), {"item": {"url": "x"}, "error": "url: invalid", "source": "s"},
                      key="s")  # what the crawl refused as invalid
    yield transport
    transport.close()


def test_list_shows_position_key_and_reason(log, capsys):
    assert run(["dlq", "list", "posts.raw", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    assert [(letter["key"], letter["reason"]) for letter in letters] == [
        ("weibo:1", "ValueError: published_at out of range"), ("s", "url: invalid")]
    assert run(["dlq", "show", "posts.raw.dlq", letters[0]["position"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["value"] == {"id": "weibo:1", "text": "日期9999年"} and shown["headers"][RETRY_HEADER] == "3"


def test_replay_sends_each_quarantined_message_back_once(log, capsys):
    assert run(["dlq", "replay", "posts.raw"]) == 0
    assert "replayed 1 message(s) to posts.raw; 1 not replayable" in capsys.readouterr().out
    assert run(["dlq", "replay", "posts.raw"]) == 0  # already sent back: nothing goes twice
    [back] = log.read(RAW_POSTS)
    assert back.value["id"] == "weibo:1"
    assert RETRY_HEADER not in back.headers and ERROR_HEADER not in back.headers  # a fresh retry budget
    assert back.headers[dlq.REPLAYED_HEADER].startswith("posts.raw.dlq@")


def test_unknown_topic_and_position_are_clear_errors(log):
    with pytest.raises(ConfigError, match="unknown topic"):
        run(["dlq", "list", "posts"])
    with pytest.raises(ConfigError, match="no dead letter 3:99"):
        run(["dlq", "show", "posts.raw", "3:99"])
