"""Feishu / Lark custom bot (自定义机器人) with 签名校验.

Signature: HMAC-SHA256 keyed by "<timestamp s>\\n<secret>" over an empty message, base64; sent in
the JSON body as `timestamp` and `sign`. The bot answers code 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from alerts.channels.base import (
    Channel,
    ChannelOptions,
    Notification,
    json_body,
    render_plain,
)


class FeishuOptions(ChannelOptions):
    url_env: str
    secret_env: str


def feishu_sign(secret: str, timestamp_s: str) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuChannel(Channel[FeishuOptions]):
    type_name = "feishu"
    options_model = FeishuOptions
    default_rate_per_minute = 100

    def send(self, notification: Notification) -> None:
        url = str(self.secret(self.options.url_env, "Feishu bot URL"))
        secret = str(self.secret(self.options.secret_env, "Feishu signing secret"))
        timestamp = str(int(time.time()))
        payload = {
            "timestamp": timestamp,
            "sign": feishu_sign(secret, timestamp),
            "msg_type": "text",
            "content": {"text": render_plain(notification)},
        }
        self.robot_result(self.post(url, json_body(payload)), "code", "msg")
