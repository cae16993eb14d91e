"""The e-mail that carries a written report: its title, its lead, its Word and PDF files, for the
e-mail channel the settings name (`report_delivery`). The command that writes the report queues it
in the alert store's outbox, and the alert worker sends it with the alert notifications, retrying
while the mail server is down, so nothing is lost."""

from __future__ import annotations

from pathlib import Path

from alerts.channels import ReportMail
from alerts.config import load_alert_config
from reports.figures import ReportError, load_manifest
from yuqing.config import Settings


def report_mail(settings: Settings, report: Path) -> tuple[str, str, ReportMail]:
    """(channel, outbox key, mail) for a written report (any of its files); a clear error when delivery is
    not set up or names no e-mail channel of the rules file."""
    delivery = settings.report_delivery
    if not delivery.channel:
        raise ReportError("报告投递未配置：请在设置中填写 report_delivery.channel（规则文件中的邮件渠道名）"
                          " (report delivery is not configured: set report_delivery.channel)")
    channels = {c.name: c.type for c in load_alert_config(settings.rules_file).channels}
    if channels.get(delivery.channel) != "email":
        raise ReportError(f"report_delivery.channel {delivery.channel!r} 不是规则文件 {settings.rules_file} 中的邮件渠道 "
                          f"(not an e-mail channel of the rules file; e-mail channels: "
                          f"{', '.join(n for n, t in channels.items() if t == 'email') or 'none'})")
    manifest_file, manifest = load_manifest(report)
    files = [manifest_file.with_name(name) for name in manifest["files"]]
    attached = [p for p in files if p.suffix.lstrip(".") in delivery.attach]
    text = (f"{manifest.get('lead', '')}\n\n附件：{'、'.join(p.name for p in attached)}"
            "\n\n本邮件由舆情监测系统自动发送；文中数字可用 yuqing report verify 复核。")
    mail = ReportMail(title=manifest["title"], text=text, files=[str(p.resolve()) for p in attached],
                      recipients=list(delivery.recipients))
    return delivery.channel, f"report:{manifest_file.name.removesuffix('.manifest.json')}", mail
