"""`yuqing alerts ...` end to end on a temporary data directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from alerts.service import AlertService
from alerts.testing import T0, make_signal
from yuqing.cli.commands import alerts as alerts_command
from yuqing.config import ConfigError, load_settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


def run(argv: list[str]) -> int:
    """The `yuqing` parser with only this command module, so the test does not depend on the others."""
    parser = argparse.ArgumentParser(prog="yuqing")
    parser.add_argument("--config")
    alerts_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def fired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUQING_CONFIG", raising=False)
    monkeypatch.delenv("YUQING_RULES_FILE", raising=False)
    service = AlertService.from_settings(load_settings())
    [alert] = service.process([], [make_signal("P-heat", label="城区供暖管理办法", count=150, negative=100)], now=T0)
    service.close()
    return alert.id


def test_list_json_gives_level_in_chinese_deadline_and_status(fired: str, capsys: pytest.CaptureFixture):
    assert run(["alerts", "list", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["id"] == fired
    assert entry["level"] == "重大" and entry["status"] == "fired" and entry["status_label"] == "已触发"
    assert entry["deadline"] == {"name": "发布权威信息", "due_at": "2026-11-02T14:00:00+08:00"}
    assert [d["name"] for d in entry["deadlines"]] == ["发布权威信息", "新闻发布会"]


def test_ack_assign_respond_close_and_show(fired: str, capsys: pytest.CaptureFixture):
    assert run(["alerts", "ack", fired, "--by", "张敏"]) == 0
    assert run(["alerts", "ack", fired, "--by", "王伟"]) == 1
    assert "已由 张敏" in capsys.readouterr().err
    assert run(["alerts", "assign", fired, "--to", "市住建局", "--by", "张敏"]) == 0
    assert run(["alerts", "respond", fired, "--kind", "新闻发布会", "--link", "https://gov.example.cn/fbh/1",
                "--by", "李强", "--at", "2026-11-02T12:00"]) == 0
    capsys.readouterr()
    assert run(["alerts", "show", fired, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "responded" and shown["assigned_to"] == "市住建局"
    assert [d["met_at"] for d in shown["deadlines"]] == ["2026-11-02T12:00:00+08:00"] * 2
    assert [h["action"] for h in shown["history"]] == ["fired", "acknowledged", "assigned", "responded"]
    assert shown["effect"]["verdict"] == "暂无数据"  # nothing indexed in this data directory
    assert run(["alerts", "close", fired, "--by", "张敏", "--reason", "已平息"]) == 0
    capsys.readouterr()
    assert run(["alerts", "list"]) == 0
    assert "没有预警" in capsys.readouterr().out
    assert run(["alerts", "list", "--all"]) == 0
    assert "已办结" in capsys.readouterr().out
    assert run(["alerts", "show", "20991231-nothere"]) == 1


def test_show_prints_deadlines_and_history(fired: str, capsys: pytest.CaptureFixture):
    assert run(["alerts", "show", fired]) == 0
    out = capsys.readouterr().out
    assert "时限 发布权威信息: 2026-11-02 14:00  进行中" in out
    assert "触发 政策负面舆情上升 [重大]: " in out
    assert "yuqing: fired (— → fired)" in out


def test_show_folds_repeated_updates_into_one_history_line(fired: str, capsys: pytest.CaptureFixture):
    service = AlertService.from_settings(load_settings())
    for count in (160, 170, 180):  # the surge keeps growing within the minute: each signal updates the alert
        service.process([], [make_signal("P-heat", label="城区供暖管理办法", count=count, negative=count - 50)], now=T0)
    service.close()
    assert run(["alerts", "show", fired]) == 0
    history = capsys.readouterr().out.split("处置记录 history:")[1].splitlines()
    assert [line.split(": ", 1)[1] for line in history if line.strip()] == [
        "fired (— → fired)", "updated (fired → fired) ×3"]


def test_deliver_sends_to_the_file_channel(fired: str, tmp_path: Path, capsys: pytest.CaptureFixture):
    assert run(["alerts", "deliver"]) == 0
    assert "已发送 sent: " in capsys.readouterr().out
    lines = (tmp_path / "var" / "outbox" / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["alert"]["id"] == fired


def test_test_rule_prints_what_would_fire_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture):
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("YUQING_TEST_WEBHOOK_URL", "http://127.0.0.1:9/must-not-be-called")
    rules, data = FIXTURES / "demolition_rule.yaml", FIXTURES / "demolition_posts.jsonl"
    assert run(["alerts", "test-rule", str(rules), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "rules file OK: 1 rule(s): 拆迁征收维权" in out
    assert "replayed 9 item(s)" in out and "nothing was sent" in out
    assert "[较大] 拆迁征收维权 · place:东关村  (5 posts" in out
    assert run(["alerts", "test-rule", str(rules), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(a["level"], a["subject"]) for a in result["alerts"]] == [("较大", "place:东关村")]
    assert result["would_send"] == {"duty_webhook:fired": 1, "duty_webhook:level_raised": 1}
    assert not (tmp_path / "var" / "alerts.sqlite3").exists()  # the real store is untouched


def test_test_rule_rejects_a_bad_rules_file(tmp_path: Path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: x, type: keyword_context, options: {terms: [拆迁], windw: 2h}}\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules\[0\] \(x\)\.options\.windw"):
        run(["alerts", "test-rule", str(bad), "--data", str(FIXTURES / "demolition_posts.jsonl")])
