"""Generic JSON webhook: the notification as JSON, optionally signed with HMAC-SHA256.

Signature: header `X-Yuqing-Signature: sha256=<hex>` over `<X-Yuqing-Timestamp>.<body>`, the
scheme GitHub-style receivers verify; the timestamp lets them refuse replays. `delivery` (and header
`X-Yuqing-Delivery`): the same number when a message is sent again, which a receiver drops as one it has (see
`alerts.delivery`: delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from pydantic import model_validator

from alerts.channels.base import (
    Channel,
    ChannelOptions,
    Notification,
    json_body,
    render_plain,
    render_title,
)


class WebhookOptions(ChannelOptions):
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> WebhookOptions:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url or url_env")
        return self


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookChannel(Channel[WebhookOptions]):
    type_name = "webhook"
    options_model = WebhookOptions

    @staticmethod
    def payload(notification: Notification) -> dict[str, Any]:
        return {
            "kind": notification.kind,
            "title": render_title(notification),
            "text": render_plain(notification),
            "note": notification.note,
            "alert": notification.alert.model_dump(mode="json"),
            "delivery": notification.delivery,
        }

    def send(self, notification: Notification) -> None:
        url = self.options.url or self.secret(self.options.url_env, "webhook URL")
        body = json_body(self.payload(notification))
        headers = {"X-Yuqing-Event": notification.kind}
        if notification.delivery is not None:
            headers["X-Yuqing-Delivery"] = str(notification.delivery)
        secret = self.secret(self.options.secret_env, "webhook signing secret")
        if secret:
            timestamp = str(int(time.time()))
            headers["X-Yuqing-Timestamp"] = timestamp
            headers["X-Yuqing-Signature"] = webhook_signature(secret, timestamp, body)
        self.post(str(url), body, headers)
