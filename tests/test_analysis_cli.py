"""`yuqing analyze` streams JSON lines and skips bad ones by number; `yuqing eval sentiment` compares."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from yuqing.cli.main import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data" / "sentiment"
FIELDS = {"sentiment", "keywords", "places", "policies", "departments", "event_id", "masked_text"}


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_analyze_file_writes_enriched_lines_and_reports_bad_ones(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    source = write_lines(tmp_path / "posts.jsonl", [
        json.dumps({"id": "a1", "text": "曹县老旧小区改造漏水，电话13812345678，市住建局没人管[怒]"}, ensure_ascii=False).encode(),
        b"not json",
        b'{"id": "a2"}',
        b"",
        json.dumps({"id": "a3", "text": "点赞放管服改革，一网通办真方便[赞]", "platform": "weibo",
                    "published_at": "2026-11-20 10:00:00"}, ensure_ascii=False).encode(),
        '{"id": "g1", "text": "测试"}'.encode("gbk"),
        b'{"id": "a4", "text": "ok", "platform": "fax"}',
    ])
    assert main(["analyze", str(source)]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row["id"] for row in rows] == ["a1", "a3"]
    for row in rows:
        assert row.keys() >= FIELDS
        assert set(row["sentiment"]) == {"score", "label", "probability"}
        assert row["text"] == row["masked_text"]
    assert "13812345678" not in captured.out
    assert rows[0]["places"] == ["曹县"] and rows[0]["sentiment"]["label"] == "negative"
    assert rows[1]["published_at"].startswith("2026-11-20T10:00:00")
    for number in (2, 3, 6, 7):  # bad JSON, no text, not UTF-8, an unknown platform
        assert f"line {number} skipped" in captured.err
    assert "line 4" not in captured.err  # blank lines are no error
    assert "analysed 2, skipped 4" in captured.err


def test_analyze_reads_stdin(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    lines = "".join(json.dumps({"id": f"s{i}", "text": f"郓城县第{i}次停水了"}, ensure_ascii=False) + "\n"
                    for i in range(3))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode("utf-8")), encoding="utf-8"))
    assert main(["analyze"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == ["s0", "s1", "s2"]
    assert len({row["event_id"] for row in rows}) == 1  # the same complaint: one event


def test_analyze_takes_labelled_rows_as_data_sets_write_them(tmp_path: Path, capsys, monkeypatch) -> None:
    """Numeric ids, "content" for text and a label column: the id comes back as given, the label passes through."""
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    source = write_lines(tmp_path / "labelled.jsonl", [
        json.dumps({"id": 7, "content": "郓城县停水三天了，太气人了[怒]", "label": "angry"}, ensure_ascii=False).encode(),
        json.dumps({"id": "w2", "text": "单县的牡丹开得真好[赞]", "label": 1}, ensure_ascii=False).encode(),
        b'{"id": true, "text": "a boolean is no id"}',
    ])
    assert main(["analyze", "--no-progress", str(source)]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [(row["id"], row["label"]) for row in rows] == [(7, "angry"), ("w2", 1)]
    assert rows[0]["text"].startswith("郓城县停水") and "content" not in rows[0]
    assert rows[0]["sentiment"]["label"] == "negative" and rows[1]["sentiment"]["score"] > 0.5
    assert rows[1].keys() >= FIELDS
    assert "line 3 skipped" in captured.err


def test_analyze_missing_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["analyze", str(tmp_path / "nope.jsonl")]) == 2
    assert "input file not found" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data/sentiment is not beside the repository")
def test_eval_sentiment_prints_ours_beside_snownlp(capsys) -> None:
    assert main(["eval", "sentiment", "--sets", "smp2020_usual_eval", "--limit", "40", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["sets"][0]
    assert row["set"] == "smp2020_usual_eval" and row["posts"] == 40
    for model in ("ours", "snownlp"):
        assert {"accuracy", "macro_f1", "positive_share", "posts_per_second"} <= row[model].keys()
    # The summary's speed-up is the two models' CPU on the same posts (what it is on 40 posts, warm-up included,
    # depends on the machine: bench figures, not a test's).
    assert report["summary"]["speedup"] == pytest.approx(
        row["ours"]["posts_per_second"] / row["snownlp"]["posts_per_second"], rel=1e-6)


def test_eval_sentiment_without_data_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["eval", "sentiment", "--data", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_analyze_restores_the_collector_thresholds(tmp_path: Path, capsys, monkeypatch) -> None:
    import gc

    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    source = write_lines(tmp_path / "posts.jsonl", [json.dumps({"id": "t1", "text": "停水了"}, ensure_ascii=False).encode()])
    before = gc.get_threshold()
    assert main(["analyze", "--no-progress", str(source)]) == 0
    assert gc.get_threshold() == before  # raised while enriching only: a caller's process is left as it was
    assert "analysed 1, skipped 0" in capsys.readouterr().err


def test_analyze_on_stdin_writes_each_line_as_soon_as_it_is_done(tmp_path: Path) -> None:
    """`tail -f posts.jsonl | yuqing analyze`: a line comes out while the input is still open."""
    import os
    import select
    import subprocess

    env = {**os.environ, "YUQING_DATA_DIR": str(tmp_path / "var")}
    process = subprocess.Popen([sys.executable, "-m", "yuqing.cli.main", "analyze"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    try:
        process.stdin.write(json.dumps({"id": "live-1", "text": "郓城县又停水了"}, ensure_ascii=False).encode() + b"\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "no output while stdin stays open"
        assert json.loads(process.stdout.readline())["id"] == "live-1"
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def test_analyze_skips_hostile_lines_by_number_and_goes_on(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    good = [json.dumps({"id": f"ok{i}", "text": f"郓城县第{i}次停水了"}, ensure_ascii=False).encode() for i in range(4)]
    hostile = {
        2: b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any parser's stack
        3: b'{"id": "s", "text": "\\ud800 lone surrogate"}',
        5: b'{"id": "d0", "text": "x", "published_at": "0001-01-01T00:00:00"}',
        6: b'{"id": "d9", "text": "x", "published_at": "9999-12-31T23:59:59"}',
        7: b'{"id": "deep", "text": "x", "extra": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        8: b"{bad",
        10: json.dumps({"id": "big", "text": "长" * 2_000_000}).encode(),
    }
    lines = [good[0], hostile[2], hostile[3], good[1], hostile[5], hostile[6], hostile[7], hostile[8], good[2],
             hostile[10], good[3]]
    source = write_lines(tmp_path / "hostile.jsonl", lines)
    assert main(["analyze", "--no-progress", str(source)]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["ok0", "ok1", "ok2", "ok3"]
    for number in hostile:
        assert f"line {number} skipped" in captured.err
    assert "Traceback" not in captured.err
    assert "date_out_of_range" in captured.err
    assert "analysed 4, skipped 7" in captured.err
