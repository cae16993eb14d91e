"""Sending a written report: queued in the alert store's outbox for the e-mail channel the settings
name (`report_delivery`), with its Word and PDF files attached. The alert worker sends it with
the alert notifications, retrying while the mail server is down, so nothing is lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from reports.figures import ReportError, load_manifest
from yuqing.config import Settings
from yuqing.schema import SHANGHAI


def queue_delivery(settings: Settings, files: Sequence[Path], *, title: str, text: str,
                   now: datetime | None = None) -> int:
    """Queue the report for sending; returns the outbox id. A clear error when delivery is not set up."""
    from alerts.channels import ReportMail
    from alerts.config import load_alert_config
    from alerts.service import open_alert_store

    delivery = settings.report_delivery
    if not delivery.channel:
        raise ReportError("报告投递未配置：请在设置中填写 report_delivery.channel（规则文件中的邮件渠道名）"
                          " (report delivery is not configured: set report_delivery.channel)")
    channels = {c.name: c.type for c in load_alert_config(settings.rules_file).channels}
    if channels.get(delivery.channel) != "email":
        raise ReportError(f"report_delivery.channel {delivery.channel!r} 不是规则文件 {settings.rules_file} 中的邮件渠道 "
                          f"(not an e-mail channel of the rules file; e-mail channels: "
                          f"{', '.join(n for n, t in channels.items() if t == 'email') or 'none'})")
    attached = [str(p.resolve()) for p in files if p.suffix.lstrip(".") in delivery.attach]
    mail = ReportMail(title=title, text=text, files=attached, recipients=list(delivery.recipients))
    store = open_alert_store(settings)
    try:
        return store.enqueue(f"report:{Path(files[0]).name.split('.', 1)[0]}", delivery.channel, mail.to_json(),
                             now or datetime.now(SHANGHAI))
    finally:
        store.close()


def send_report(settings: Settings, report: Path, now: datetime | None = None) -> int:
    """Queue a written report (any of its files) with the files its manifest lists, its title and its lead."""
    manifest_file, manifest = load_manifest(report)
    files = [manifest_file.with_name(name) for name in manifest["files"]]
    text = (f"{manifest.get('lead', '')}\n\n附件：{'、'.join(p.name for p in files if p.suffix.lstrip('.') in settings.report_delivery.attach)}"
            "\n\n本邮件由舆情监测系统自动发送；文中数字可用 yuqing report verify 复核。")
    return queue_delivery(settings, files, title=manifest["title"], text=text, now=now)
