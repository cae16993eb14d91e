"""What channels share: the notification they deliver, its rendering, and HTTP posting with retries.

A channel only formats and sends one notification; queueing, rate limits and re-sending after a
failure belong to the outbox, so a channel can be tested with one local server and one call.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import requests
from pydantic import BaseModel, ConfigDict, Field
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from yuqing.redact import redact, remember_secret
from yuqing.schema import SHANGHAI, Alert
from yuqing.schema.names import STATUS_NAMES

log = logging.getLogger(__name__)

# Notification kinds, with the words a press officer reads first.
KIND_LABELS = {
    "fired": "新预警",
    "updated": "预警更新",
    "level_raised": "预警升级",
    "deadline_warning": "回应时限将至",
    "deadline_missed": "回应已超时",
}


class ChannelError(Exception):
    """A delivery failed; the outbox keeps the notification and tries again later."""


class ChannelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")


Options = TypeVar("Options", bound=ChannelOptions)


@dataclass(frozen=True)
class Notification:
    """One message about one alert: what happened (`kind`) and the alert as it was then. `delivery`, as it is sent: the
    outbox id of the newest queued notification it carries (see `alerts.delivery`), the same if it is sent again."""

    kind: str
    alert: Alert
    note: str = ""
    delivery: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "note": self.note, "alert": self.alert.model_dump(mode="json")}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(kind=data["kind"], note=data.get("note", ""), alert=Alert.model_validate(data["alert"]))


@dataclass(frozen=True)
class ReportMail:
    """A written report to send (the daily or weekly briefing): subject, a few lines of text, the files to
    attach, and the addresses to send it to (none: the channel's own recipients). It waits in the same
    outbox as alert notifications, so a mail server that is down delays it and loses nothing."""

    KIND: ClassVar[str] = "report"

    title: str
    text: str
    files: list[str]
    recipients: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "report": {"title": self.title, "text": self.text, "files": self.files,
                                              "recipients": self.recipients}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportMail:
        report = data["report"]
        return cls(title=report["title"], text=report["text"], files=list(report["files"]),
                   recipients=list(report.get("recipients", [])))


@dataclass
class ChannelContext:
    """What channels may need from outside: where files go, the environment for secrets, HTTP."""

    data_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    session: requests.Session | None = None


def _local(value: Any) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else "—"


def render_title(notification: Notification) -> str:
    alert = notification.alert
    return f"【{KIND_LABELS.get(notification.kind, notification.kind)}·{alert.level.value}】{alert.title}"


def render_lines(notification: Notification) -> list[tuple[str, str]]:
    """(label, value) pairs every channel shows, in order."""
    alert = notification.alert
    lines = [("级别", alert.level.value), ("规则", alert.rule), ("首次发现", _local(alert.fired_at))]
    if alert.subject_id:
        lines.append(("对象", f"{alert.subject_kind}:{alert.subject_id}"))
    if alert.updates:
        lines.append(("更新次数", str(alert.updates)))
    for deadline in alert.deadlines:
        state = f"已于{_local(deadline.met_at)}完成" if deadline.met_at else f"截止{_local(deadline.due_at)}"
        lines.append((deadline.name, state))
    lines.append(("状态", STATUS_NAMES[alert.status]))
    lines.append(("编号", alert.id))
    return lines


def render_markdown(notification: Notification) -> str:
    alert = notification.alert
    blocks = [f"### {render_title(notification)}"]
    if notification.note:
        blocks.append(f"**{notification.note}**")
    if alert.summary:
        blocks.append(alert.summary)
    blocks.append("\n".join(f"- {label}：{value}" for label, value in render_lines(notification)))
    return "\n\n".join(blocks)


def render_plain(notification: Notification) -> str:
    alert = notification.alert
    parts = [render_title(notification)]
    if notification.note:
        parts.append(notification.note)
    if alert.summary:
        parts.append(alert.summary)
    parts += [f"{label}：{value}" for label, value in render_lines(notification)]
    return "\n".join(parts)


def json_body(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON with Chinese kept readable; the exact bytes are what signatures cover."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def secret_from_env(environ: Mapping[str, str], variable: str | None, what: str) -> str | None:
    """The value of the environment variable the rules file names; a clear error when it is unset."""
    if variable is None:
        return None
    value = environ.get(variable)
    if not value:
        raise ChannelError(f"环境变量 {variable} 未设置（{what}）: set it in the environment, not in a file")
    return value


def http_session(retries: int = 2, backoff: float = 0.3) -> requests.Session:
    """A session that retries refused connections and 429/5xx answers a few times, quickly, before failing."""
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None, raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Channel(Generic[Options]):
    """Base of the channel types. Subclasses set `type_name` and `options_model` and implement `send`."""

    type_name: ClassVar[str]
    options_model: ClassVar[type[ChannelOptions]]
    # Messages per minute the service accepts (DingTalk and WeCom robots allow 20); None: no limit.
    default_rate_per_minute: ClassVar[int | None] = None

    def __init__(self, name: str, options: Options, context: ChannelContext) -> None:
        self.name = name
        self.options = options
        self.context = context
        self._session = context.session

    def secret(self, variable: str | None, what: str) -> str | None:
        """A secret from the environment (see `secret_from_env`), remembered so that no error or
        log line ever shows it (`yuqing.redact`)."""
        value = secret_from_env(self.context.environ, variable, what)
        if value:
            remember_secret(value)
        return value

    def deliver(self, message: Notification | ReportMail) -> None:
        """`send` (or `send_report`), with every failure a ChannelError whose message is redacted: what
        the outbox stores and the log shows can never carry a token. The original exception is not
        chained, since a logged traceback would print its message."""
        try:
            if isinstance(message, ReportMail):
                self.send_report(message)
            else:
                self.send(message)
        except ChannelError as exc:
            raise ChannelError(redact(str(exc))) from None
        except Exception as exc:  # a bug in rendering: the notification stays queued, the bug is logged
            log.error("channel %s crashed:\n%s", self.name, redact("".join(traceback.format_exception(exc))))
            raise ChannelError(redact(f"{self.name}: {type(exc).__name__}: {exc}")) from None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = http_session()
        return self._session

    def send(self, notification: Notification) -> None:
        """Deliver one notification or raise ChannelError. Callers use `deliver`, which redacts."""
        raise NotImplementedError

    def send_report(self, report: ReportMail) -> None:
        """Send a written report with its files; only channels that can carry attachments can."""
        raise ChannelError(f"{self.name}: a {self.type_name} channel cannot send report files; name an e-mail "
                           "channel in the settings' report_delivery.channel")

    def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        """POST a JSON body; any transport error or non-2xx answer is a ChannelError."""
        try:
            response = self.session.post(
                url, data=body, timeout=self.options.timeout,
                headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            )
        except requests.RequestException as exc:
            raise ChannelError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise ChannelError(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")
        return response

    @staticmethod
    def robot_result(response: requests.Response, code_key: str, message_key: str) -> None:
        """Robots answer HTTP 200 with an error code in the body; anything but 0 is a failure."""
        try:
            body = response.json()
        except ValueError as exc:
            raise ChannelError(f"unexpected answer (not JSON): {response.text[:200]}") from exc
        code = body.get(code_key, body.get("StatusCode", 0))
        if code != 0:
            raise ChannelError(f"robot refused the message: {code_key}={code} {body.get(message_key, '')}")
