"""Reports delivered by e-mail through the alerts' outbox: a mail server that is down delays the
briefing and loses nothing; `yuqing run` writes the daily report every morning and the weekly one
on Mondays."""

from __future__ import annotations

import socket
import sys
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from alerts.service import AlertService
from reports.daily import build_daily_report
from reports.figures import ReportError
from search.sqlite_fts import SqliteIndex
from workers.supervisor import Supervisor
from yuqing.cli.commands.report import queue_report
from yuqing.config import Settings
from yuqing.schema import SHANGHAI

DAY = date(2026, 11, 29)  # a Sunday
MONDAY_MORNING = datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(tmp_path: Path, port: int, channel: str | None = "office_mail") -> Settings:
    rules = tmp_path / "alert_rules.yaml"
    rules.write_text(
        "rules: []\nchannels:\n  - name: local_file\n    type: file\n  - name: office_mail\n    type: email\n"
        f"    options: {{host: 127.0.0.1, port: {port}, sender: yuqing@example.gov.cn, "
        "recipients: [duty@example.gov.cn], timeout: 2}\n", encoding="utf-8")
    return Settings(data_dir=tmp_path / "var", rules_file=rules,
                    report_delivery={"channel": channel, "recipients": ["leader@example.gov.cn"]})


@pytest.fixture
def written(tmp_path) -> Path:
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        return build_daily_report(ix, alerts=[], policies=[], health=[], day=DAY,
                                  now=MONDAY_MORNING, out_dir=tmp_path / "reports", formats=("docx", "pdf"))


def test_a_report_waits_in_the_outbox_while_the_mail_server_is_down(tmp_path, written):
    controller_module = pytest.importorskip("aiosmtpd.controller")
    port = free_port()
    settings = settings_for(tmp_path, port)
    queue_report(settings, written, now=MONDAY_MORNING)

    service = AlertService.from_settings(settings)
    try:
        assert service.deliver_pending(MONDAY_MORNING) == 0  # nobody listens on the port yet
        [waiting] = service.store.outbox(pending_only=True)
        assert waiting.alert_id == "report:yuqing-daily-2026-11-29" and "SMTP" in waiting.last_error

        received: list = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                received.append(envelope)
                return "250 OK"

        controller = controller_module.Controller(Handler(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert service.deliver_pending(MONDAY_MORNING + timedelta(minutes=6)) == 1
            assert service.deliver_pending(MONDAY_MORNING + timedelta(minutes=20)) == 0  # sent once
        finally:
            controller.stop()
        assert service.store.outbox(pending_only=True) == []
    finally:
        service.close()

    [envelope] = received
    assert envelope.rcpt_tos == ["leader@example.gov.cn"]  # the settings' recipients, not the alert duty list
    message = message_from_bytes(envelope.content, policy=default_policy)
    assert message["Subject"] == "[舆情报告]舆情日报 2026年11月29日"
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    folder = written.parent
    assert attachments == {"yuqing-daily-2026-11-29.docx": (folder / "yuqing-daily-2026-11-29.docx").read_bytes(),
                           "yuqing-daily-2026-11-29.pdf": (folder / "yuqing-daily-2026-11-29.pdf").read_bytes()}
    body = message.get_body(("plain",)).get_content()
    assert "未监测到相关信息" in body and "yuqing report verify" in body


def test_delivery_needs_an_email_channel(tmp_path, written):
    with pytest.raises(ReportError, match="report_delivery.channel"):
        queue_report(settings_for(tmp_path, free_port(), channel=None), written)
    with pytest.raises(ReportError, match="local_file"):
        queue_report(settings_for(tmp_path, free_port(), channel="local_file"), written)


def test_run_writes_the_daily_report_every_morning_and_the_weekly_one_on_monday(tmp_path):
    log = tmp_path / "reports.log"

    def command(*words: str) -> list[str]:
        return [sys.executable, "-c", f"open({str(log)!r}, 'a').write({' '.join(words)!r} + '\\n')"]

    supervisor = Supervisor({}, [sys.executable, "-c", "pass"], 1e9,
                            report=lambda day: command("daily", day.date().isoformat()),
                            weekly=lambda monday: command("weekly", monday.date().isoformat()))
    for moment in (MONDAY_MORNING - timedelta(days=1), MONDAY_MORNING, MONDAY_MORNING + timedelta(hours=1),
                   MONDAY_MORNING + timedelta(days=1)):
        for _ in range(50):
            supervisor.step(now=0.0, wall=moment)
            if not supervisor.running() and not supervisor._report_queue:
                break
            for process in supervisor.running():
                process.wait(timeout=30)
    supervisor.stop()
    assert log.read_text().split("\n")[:-1] == [
        "daily 2026-11-28", "daily 2026-11-29", "weekly 2026-11-30", "daily 2026-11-30"]


def test_the_report_command_queues_what_it_wrote(tmp_path, monkeypatch, capsys):
    import yuqing.cli.main

    monkeypatch.setattr(yuqing.cli.main, "command_modules", lambda: ["yuqing.cli.commands.report"])
    settings = settings_for(tmp_path, free_port())
    monkeypatch.setenv("YUQING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("YUQING_RULES_FILE", str(settings.rules_file))
    monkeypatch.setenv("YUQING_REPORT_DELIVERY__CHANNEL", "office_mail")
    out = tmp_path / "out"
    assert yuqing.cli.main.main(["report", "daily", "--date", DAY.isoformat(), "--format", "html,docx",
                                 "--out", str(out), "--send"]) == 0
    assert "queued for e-mail" in capsys.readouterr().out
    service = AlertService.from_settings(settings)
    try:
        [queued] = service.store.outbox(pending_only=True)
    finally:
        service.close()
    report = queued.message["report"]
    assert queued.channel == "office_mail" and report["title"] == "舆情日报 2026年11月29日"
    assert report["files"] == [str((out / "yuqing-daily-2026-11-29.docx").resolve())]  # pdf not written, html not attached
