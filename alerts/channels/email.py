"""SMTP e-mail: an HTML message with a plain-text alternative, to the listed recipients; reports go
as plain text with their Word and PDF files attached.

The password comes from the environment (`password_env`); recipients' addresses may too
(`recipients_env`, comma-separated) when they should stay out of the repository.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import Environment
from pydantic import Field, model_validator

from alerts.channels.base import (
    Channel,
    ChannelError,
    ChannelOptions,
    Notification,
    ReportMail,
    render_lines,
    render_plain,
    render_title,
)

_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif">
<h2 style="color: {{ colour }}">{{ title }}</h2>
{% if note %}<p><strong>{{ note }}</strong></p>{% endif %}
{% if summary %}<p>{{ summary }}</p>{% endif %}
<table cellpadding="4" style="border-collapse: collapse">
{% for label, value in lines %}<tr><th align="left">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
</body></html>
""")

# Heavier incidents in stronger colours, as printed 舆情专报 do.
LEVEL_COLOURS = {"一般": "#1f6feb", "较大": "#d29922", "重大": "#db6d28", "特别重大": "#cf222e"}


class EmailOptions(ChannelOptions):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(default_factory=list)
    recipients_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = False
    ssl: bool = False

    @model_validator(mode="after")
    def _someone_to_tell(self) -> EmailOptions:
        if not self.recipients and not self.recipients_env:
            raise ValueError("give recipients or recipients_env")
        return self


def render_html(notification: Notification) -> str:
    alert = notification.alert
    return _HTML.render(title=render_title(notification), note=notification.note, summary=alert.summary,
                        lines=render_lines(notification), colour=LEVEL_COLOURS.get(alert.level.value, "#000"))


class EmailChannel(Channel[EmailOptions]):
    type_name = "email"
    options_model = EmailOptions

    def _headers(self, subject: str, recipients: list[str]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.options.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.options.sender.rsplit("@", 1)[-1])
        return message

    def message(self, notification: Notification, recipients: list[str]) -> EmailMessage:
        message = self._headers("[舆情预警]" + render_title(notification), recipients)
        message["X-Yuqing-Alert"] = notification.alert.id
        message.set_content(render_plain(notification))
        message.add_alternative(render_html(notification), subtype="html")
        return message

    def report_message(self, report: ReportMail, recipients: list[str]) -> EmailMessage:
        message = self._headers("[舆情报告]" + report.title, recipients)
        message.set_content(report.text)
        for name in report.files:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ChannelError(f"{self.name}: cannot attach {path}: {exc}") from exc
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            main, sub = kind.split("/", 1)
            message.add_attachment(data, maintype=main, subtype=sub, filename=path.name)
        return message

    def _recipients(self) -> list[str]:
        extra = self.secret(self.options.recipients_env, "e-mail recipients") or ""
        return self.options.recipients + [r.strip() for r in extra.split(",") if r.strip()]

    def send(self, notification: Notification) -> None:
        recipients = self._recipients()
        self._deliver(self.message(notification, recipients))

    def send_report(self, report: ReportMail) -> None:
        recipients = report.recipients or self._recipients()
        self._deliver(self.report_message(report, recipients))

    def _deliver(self, message: EmailMessage) -> None:
        opts = self.options
        username = self.secret(opts.username_env, "SMTP user")
        password = self.secret(opts.password_env, "SMTP password")
        try:
            smtp_class = smtplib.SMTP_SSL if opts.ssl else smtplib.SMTP
            with smtp_class(opts.host, opts.port, timeout=opts.timeout) as smtp:
                if opts.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if username and password:
                    smtp.login(username, password)
                refused = smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"{self.name}: SMTP {opts.host}:{opts.port}: {exc}") from exc
        if refused:
            raise ChannelError(f"{self.name}: recipients refused: {', '.join(refused)}")
