"""Each channel against a local server on 127.0.0.1: the exact payload and signature, the robots'
error answers, and the outbox: a failed delivery is kept, retried later with backoff, rate-limited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
import requests

from alerts.channels import CHANNEL_TYPES, ChannelContext, ChannelError, Notification
from alerts.channels.base import http_session
from alerts.config import SENT_KEPT, build_channels, parse_alert_config
from alerts.service import AlertService
from alerts.store import SqliteAlertStore
from alerts.testing import T0, make_post
from yuqing.redact import RedactingFilter
from yuqing.schema import Alert, AlertLevel, AlertStatus, Deadline


class Recorder:
    """A loopback HTTP server that records requests and answers from a script, then with `default`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict]] = []
        self.default: tuple[int, dict] = (200, {"errcode": 0, "errmsg": "ok"})
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer = recorder.script.pop(0) if recorder.script else recorder.default
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def json(self, number: int = -1) -> dict:
        return json.loads(self.requests[number]["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def sample_notification(kind: str = "fired") -> Notification:
    alert = Alert(id="20261102-abcd1234", rule="拆迁征收维权", rule_type="keyword_context",
                  group_key="拆迁征收维权|place:东关村", title="东关村：“拆迁”与“上访”相关信息5条",
                  summary="24小时内5条信息", level=AlertLevel.MAJOR, subject_kind="place", subject_id="东关村",
                  fired_at=T0, updated_at=T0,
                  deadlines=[Deadline(name="发布权威信息", due_at=T0 + timedelta(hours=5), started_at=T0)])
    return Notification(kind, alert, "测试")


def channel(type_name: str, options: dict, tmp_path: Path, environ: dict[str, str]):
    channel_class = CHANNEL_TYPES[type_name]
    context = ChannelContext(tmp_path, environ=environ, session=requests.Session())
    return channel_class("test", channel_class.options_model.model_validate(options), context)


def test_webhook_posts_the_notification_signed_with_hmac(server: Recorder, tmp_path: Path):
    hook = channel("webhook", {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}, tmp_path,
                   {"HOOK_URL": server.url + "/hook", "HOOK_SECRET": "s3cret"})
    hook.send(sample_notification())
    request = server.requests[0]
    payload = json.loads(request["body"])
    assert request["path"] == "/hook"
    assert payload["kind"] == "fired" and payload["alert"]["id"] == "20261102-abcd1234"
    assert payload["alert"]["level"] == "重大" and payload["title"].startswith("【新预警·重大】")
    assert "发布权威信息：截止2026-11-02 14:00" in payload["text"]
    timestamp = request["headers"]["X-Yuqing-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Yuqing-Signature"] == "sha256=" + expected
    assert abs(int(timestamp) - time.time()) < 60


def test_webhook_without_secret_sends_no_signature_and_reports_http_errors(server: Recorder, tmp_path: Path):
    hook = channel("webhook", {"url": server.url + "/hook"}, tmp_path, {})
    hook.send(sample_notification())
    assert "X-Yuqing-Signature" not in server.requests[0]["headers"]
    server.script = [(500, {"error": "down"})]
    with pytest.raises(ChannelError, match="HTTP 500"):
        hook.send(sample_notification())


def test_dingtalk_signs_the_url_and_sends_markdown(server: Recorder, tmp_path: Path):
    robot = channel("dingtalk", {"url_env": "DD_URL", "secret_env": "DD_SECRET", "at_mobiles_env": "DD_AT"},
                    tmp_path, {"DD_URL": server.url + "/robot/send?access_token=tok", "DD_SECRET": "SECabc",
                               "DD_AT": "13800000000"})
    robot.send(sample_notification())
    request = server.requests[0]
    query = parse_qs(urlsplit(request["path"]).query)
    assert query["access_token"] == ["tok"]
    timestamp = query["timestamp"][0]
    # DingTalk's documented scheme: base64(HMAC-SHA256(key=secret, msg="<ms>\n<secret>")), URL-encoded.
    digest = hmac.new(b"SECabc", f"{timestamp}\nSECabc".encode(), hashlib.sha256).digest()
    raw_sign = urlsplit(request["path"]).query.split("sign=")[1]
    assert unquote_plus(raw_sign) == base64.b64encode(digest).decode()
    assert abs(int(timestamp) / 1000 - time.time()) < 60
    payload = server.json()
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == "【新预警·重大】东关村：“拆迁”与“上访”相关信息5条"
    assert payload["markdown"]["text"].startswith("### 【新预警·重大】")
    assert "- 发布权威信息：截止2026-11-02 14:00" in payload["markdown"]["text"]
    assert payload["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert payload["markdown"]["text"].endswith(" @13800000000")


def test_dingtalk_error_code_is_a_failure(server: Recorder, tmp_path: Path):
    robot = channel("dingtalk", {"url_env": "DD_URL", "secret_env": "DD_SECRET"}, tmp_path,
                    {"DD_URL": server.url + "/robot/send?access_token=tok", "DD_SECRET": "SECabc"})
    server.script = [(200, {"errcode": 310000, "errmsg": "sign not match"})]
    with pytest.raises(ChannelError, match="310000"):
        robot.send(sample_notification())


def test_wecom_sends_markdown_content(server: Recorder, tmp_path: Path):
    robot = channel("wecom", {"url_env": "WECOM_URL"}, tmp_path,
                    {"WECOM_URL": server.url + "/cgi-bin/webhook/send?key=k1"})
    robot.send(sample_notification("deadline_warning"))
    assert server.requests[0]["path"] == "/cgi-bin/webhook/send?key=k1"
    payload = server.json()
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["content"].startswith("### 【回应时限将至·重大】")
    server.script = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    with pytest.raises(ChannelError, match="45009"):
        robot.send(sample_notification())


def test_feishu_signs_the_body(server: Recorder, tmp_path: Path):
    server.default = (200, {"code": 0, "msg": "success"})
    bot = channel("feishu", {"url_env": "FS_URL", "secret_env": "FS_SECRET"}, tmp_path,
                  {"FS_URL": server.url + "/open-apis/bot/v2/hook/xyz", "FS_SECRET": "fsk"})
    bot.send(sample_notification())
    payload = server.json()
    # Feishu's documented scheme: base64(HMAC-SHA256(key="<s>\n<secret>", msg=b"")).
    digest = hmac.new(f"{payload['timestamp']}\nfsk".encode(), b"", hashlib.sha256).digest()
    assert payload["sign"] == base64.b64encode(digest).decode()
    assert payload["msg_type"] == "text"
    assert payload["content"]["text"].startswith("【新预警·重大】东关村")
    server.script = [(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})]
    with pytest.raises(ChannelError, match="19021"):
        bot.send(sample_notification())


def test_email_sends_html_and_text_to_a_local_smtp_server(tmp_path: Path):
    controller_module = pytest.importorskip("aiosmtpd.controller")
    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:  # a free loopback port for the SMTP server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = controller_module.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = channel("email", {"host": "127.0.0.1", "port": port,
                                 "sender": "yuqing@example.gov.cn", "recipients": ["duty@example.gov.cn"],
                                 "recipients_env": "MAIL_TO"}, tmp_path, {"MAIL_TO": "leader@example.gov.cn"})
        mail.send(sample_notification())
    finally:
        controller.stop()
    [envelope] = received
    assert envelope.rcpt_tos == ["duty@example.gov.cn", "leader@example.gov.cn"]
    message = message_from_bytes(envelope.content, policy=default_policy)
    assert message["Subject"] == "[舆情预警]【新预警·重大】东关村：“拆迁”与“上访”相关信息5条"
    assert message["X-Yuqing-Alert"] == "20261102-abcd1234"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<th align=\"left\">发布权威信息</th><td>截止2026-11-02 14:00</td>" in html
    assert "#db6d28" in html  # the 重大 colour
    assert "发布权威信息：截止2026-11-02 14:00" in text


def test_email_to_a_closed_port_is_a_channel_error(tmp_path: Path):
    mail = channel("email", {"host": "127.0.0.1", "port": 9, "sender": "a@example.gov.cn", "recipients": ["b@x"],
                             "timeout": 2}, tmp_path, {})
    with pytest.raises(ChannelError, match="SMTP"):
        mail.send(sample_notification())


def test_missing_secret_names_the_variable(tmp_path: Path):
    robot = channel("dingtalk", {"url_env": "DD_URL", "secret_env": "DD_SECRET"}, tmp_path, {"DD_URL": "http://x"})
    with pytest.raises(ChannelError, match="DD_SECRET"):
        robot.send(sample_notification())


def test_file_channel_writes_one_json_line_per_notification(tmp_path: Path):
    log = channel("file", {}, tmp_path, {})
    log.send(sample_notification())
    log.send(sample_notification("updated"))
    lines = (tmp_path / "outbox" / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["fired", "updated"]
    assert Notification.from_json(json.loads(lines[0])).alert.id == "20261102-abcd1234"


def test_session_retries_a_5xx_quickly_before_giving_up(server: Recorder, tmp_path: Path):
    hook = channel("webhook", {"url": server.url}, tmp_path, {})
    hook._session = http_session(retries=2, backoff=0.01)
    server.script = [(503, {}), (200, {})]
    hook.send(sample_notification())
    assert len(server.requests) == 2


# --- the outbox ----------------------------------------------------------------------------------

def service_with_webhook(tmp_path: Path, url: str, rate: int | None = None) -> AlertService:
    channel_spec = {"name": "duty", "type": "webhook", "options": {"url": url, "timeout": 2}}
    if rate:
        channel_spec["rate_per_minute"] = rate
    config = parse_alert_config({
        "defaults": {"channels": ["duty"]},
        "retry": {"first": "10s", "max": "2m"},
        "delivery": {"settle": "0s", "min_interval": "0s"},  # these tests are about retries and rates
        "channels": [channel_spec],
        "rules": [{"name": "拆迁", "type": "keyword_context",
                   "options": {"terms": ["拆迁"], "context": ["上访"], "min_posts": 1}}],
    })
    context = ChannelContext(tmp_path, environ={}, session=requests.Session())
    return AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"), build_channels(config, context))


def fire(service: AlertService, places: list[str]) -> None:
    service.process([make_post("拆迁户上访", places=[place]) for place in places], now=T0)


def test_failed_delivery_stays_in_outbox_and_is_retried_with_backoff(server: Recorder, tmp_path: Path):
    service = service_with_webhook(tmp_path, server.url)
    fire(service, ["东关村"])
    server.script = [(500, {}), (502, {})]
    assert service.deliver_pending(T0) == 0
    [item] = service.store.outbox(pending_only=True)
    assert item.attempts == 1 and "HTTP 500" in item.last_error
    assert item.next_attempt_at == T0 + timedelta(seconds=10)
    assert service.deliver_pending(T0 + timedelta(seconds=5)) == 0  # not due yet: no request made
    assert len(server.requests) == 1
    assert service.deliver_pending(T0 + timedelta(seconds=10)) == 0
    assert service.store.outbox(pending_only=True)[0].next_attempt_at == T0 + timedelta(seconds=30)  # doubled
    assert service.deliver_pending(T0 + timedelta(seconds=30)) == 1
    assert service.store.outbox(pending_only=True) == []
    assert [server.json(n)["kind"] for n in range(3)] == ["fired"] * 3
    [alert] = service.store.alerts()
    assert alert.status == AlertStatus.NOTIFIED


def test_delivered_notifications_are_dropped_after_the_retention_the_audit_keeps_them(server: Recorder,
                                                                                       tmp_path: Path):
    service = service_with_webhook(tmp_path, server.url)
    fire(service, ["东关村"])
    assert service.deliver_pending(T0) == 1
    fire(service, ["西关村"])  # a month later another alert is delivered: the first message is dropped
    assert service.deliver_pending(T0 + SENT_KEPT + timedelta(minutes=1)) == 1
    assert [item.message["alert"]["subject_id"] for item in service.store.outbox()] == ["西关村"]
    first = next(a for a in service.store.alerts() if a.subject_id == "东关村")
    assert service.store.history(first.id)[0].details["notified"] == ["duty"]


def test_channel_down_for_minutes_loses_nothing(tmp_path: Path):
    service = service_with_webhook(tmp_path, "http://127.0.0.1:9/unreachable")
    fire(service, [f"村{n}" for n in range(5)])
    minutes = 0
    while minutes < 10:  # the receiver is down for ten minutes
        assert service.deliver_pending(T0 + timedelta(minutes=minutes)) == 0
        minutes += 1
    recorder = Recorder()
    try:
        for channel_ in service.channels.values():
            channel_.options = channel_.options.model_copy(update={"url": recorder.url})
        sent = sum(service.deliver_pending(T0 + timedelta(minutes=m)) for m in range(10, 14))
    finally:
        recorder.close()
    assert sent == 5
    assert sorted(recorder.json(n)["alert"]["subject_id"] for n in range(5)) == [f"村{n}" for n in range(5)]
    assert service.store.outbox(pending_only=True) == []


def test_rate_limit_holds_the_excess_until_the_next_minute(server: Recorder, tmp_path: Path):
    service = service_with_webhook(tmp_path, server.url, rate=3)
    fire(service, [f"村{n}" for n in range(5)])
    assert service.deliver_pending(T0) == 3
    assert service.deliver_pending(T0 + timedelta(seconds=30)) == 0
    assert service.deliver_pending(T0 + timedelta(seconds=61)) == 2
    assert len(server.requests) == 5


def test_a_failing_channel_is_tried_once_per_round(server: Recorder, tmp_path: Path):
    service = service_with_webhook(tmp_path, server.url)
    fire(service, [f"村{n}" for n in range(5)])
    server.default = (503, {})
    assert service.deliver_pending(T0) == 0
    assert len(server.requests) == 1  # the other four wait for the next round instead of timing out in turn
    assert sorted(item.attempts for item in service.store.outbox(pending_only=True)) == [0, 0, 0, 0, 1]


# --- secrets never reach a log or the alert database ------------------------------------------------

SECRETS = {"DD_TOKEN": "dd0token0a1b2c3d4e5f", "DD_SECRET": "SECdd0signing0secret", "WX_KEY": "wx0key0693axxx6-7aoc",
           "FS_HOOK": "fs0hook0token0aaaa0bbbb", "FS_SECRET": "fs0signing0secret", "HOOK_KEY": "hook0key0zzzz9999"}


class EchoingServer(Recorder):
    """A receiver that fails and, as some do, echoes the request line (tokens included) in its error."""

    def __init__(self) -> None:
        super().__init__()
        handler = self.server.RequestHandlerClass

        def do_post(handler_self) -> None:
            handler_self.rfile.read(int(handler_self.headers.get("Content-Length", 0)))
            data = json.dumps({"error": f"bad request {handler_self.path}"}).encode()
            handler_self.send_response(500)
            handler_self.send_header("Content-Length", str(len(data)))
            handler_self.end_headers()
            handler_self.wfile.write(data)

        handler.do_POST = do_post


@pytest.mark.parametrize("reachable", [True, False])
def test_failed_deliveries_write_no_secret_to_the_log_or_the_database(tmp_path: Path, caplog, reachable: bool):
    server = EchoingServer()
    base = server.url if reachable else "http://127.0.0.1:9"
    environ = {
        "DD_URL": f"{base}/robot/send?access_token={SECRETS['DD_TOKEN']}", "DD_SECRET": SECRETS["DD_SECRET"],
        "WX_URL": f"{base}/cgi-bin/webhook/send?key={SECRETS['WX_KEY']}",
        "FS_URL": f"{base}/open-apis/bot/v2/hook/{SECRETS['FS_HOOK']}", "FS_SECRET": SECRETS["FS_SECRET"],
        "HOOK_URL": f"{base}/hook?key={SECRETS['HOOK_KEY']}",
    }
    channels = [{"name": "dd", "type": "dingtalk", "options": {"url_env": "DD_URL", "secret_env": "DD_SECRET"}},
                {"name": "wx", "type": "wecom", "options": {"url_env": "WX_URL"}},
                {"name": "fs", "type": "feishu", "options": {"url_env": "FS_URL", "secret_env": "FS_SECRET"}},
                {"name": "hook", "type": "webhook", "options": {"url_env": "HOOK_URL", "timeout": 2}}]
    config = parse_alert_config({
        "defaults": {"channels": [c["name"] for c in channels]}, "channels": channels,
        "delivery": {"settle": "0s", "min_interval": "0s"},
        "rules": [{"name": "拆迁", "type": "keyword_context",
                   "options": {"terms": ["拆迁"], "context": ["上访"], "min_posts": 1}}],
    })
    context = ChannelContext(tmp_path, environ=environ, session=requests.Session())
    service = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"), build_channels(config, context))
    try:
        fire(service, ["东关村"])
        caplog.handler.addFilter(RedactingFilter())  # as `yuqing` puts on its log handlers
        with caplog.at_level("DEBUG"):  # urllib3 logs each request line at DEBUG
            assert service.deliver_pending(T0) == 0
        written = caplog.text + (tmp_path / "alerts.sqlite3").read_bytes().decode("utf-8", "replace")
        errors = [item.last_error for item in service.store.outbox(pending_only=True)]
        assert len(errors) == 4 and all(errors)
        for name, secret in SECRETS.items():
            assert secret not in written, f"{name} leaked"
        assert "sign=" not in written or "sign=***" in written
    finally:
        server.close()


def test_file_channel_rotates_at_max_mb_and_keeps_backups_files(tmp_path: Path):
    log = channel("file", {"max_mb": 0.01, "backups": 2}, tmp_path, {})  # rotated at 10,000 bytes
    line_size = 0
    for _ in range(40):
        log.send(sample_notification("updated"))  # lines of one size
        line_size = line_size or (tmp_path / "outbox" / "notifications.jsonl").stat().st_size
    outbox = tmp_path / "outbox"
    assert sorted(path.name for path in outbox.iterdir()) == [
        "notifications.jsonl", "notifications.jsonl.1", "notifications.jsonl.2"]
    per_file = 10_000 // line_size
    sizes = {path.name: path.stat().st_size for path in outbox.iterdir()}
    assert sizes["notifications.jsonl.1"] == sizes["notifications.jsonl.2"] == per_file * line_size
    assert sizes["notifications.jsonl"] == (40 % per_file or per_file) * line_size  # the newest lines
    for path in outbox.iterdir():  # whole lines only: each file reads on its own
        assert all(json.loads(line)["kind"] == "updated" for line in path.read_text(encoding="utf-8").splitlines())
