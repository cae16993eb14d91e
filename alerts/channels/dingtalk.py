"""DingTalk custom robot (自定义机器人) with 加签 signing.

The robot URL carries an access token, so it comes from the environment like the signing
secret. Signature: HMAC-SHA256 keyed by the secret over "<timestamp ms>\\n<secret>", base64,
URL-encoded, sent as `timestamp` and `sign` query parameters. The robot answers errcode 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from alerts.channels.base import (
    Channel,
    ChannelOptions,
    Notification,
    json_body,
    render_markdown,
    render_title,
)


class DingTalkOptions(ChannelOptions):
    url_env: str
    secret_env: str
    at_mobiles_env: str | None = None  # comma-separated phone numbers to @, kept out of files too


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


class DingTalkChannel(Channel[DingTalkOptions]):
    type_name = "dingtalk"
    options_model = DingTalkOptions
    default_rate_per_minute = 20

    def send(self, notification: Notification) -> None:
        url = str(self.secret(self.options.url_env, "DingTalk robot URL"))
        secret = str(self.secret(self.options.secret_env, "DingTalk signing secret"))
        mobiles = self.secret(self.options.at_mobiles_env, "DingTalk @ mobiles") or ""
        timestamp = str(int(time.time() * 1000))
        at_mobiles = [m.strip() for m in mobiles.split(",") if m.strip()]
        # The robot only notifies an @-ed member whose number also appears in the markdown text.
        text = render_markdown(notification) + "".join(f" @{mobile}" for mobile in at_mobiles)
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": render_title(notification), "text": text},
            "at": {"atMobiles": at_mobiles, "isAtAll": False},
        }
        separator = "&" if "?" in url else "?"
        signed_url = f"{url}{separator}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
        self.robot_result(self.post(signed_url, json_body(payload)), "errcode", "errmsg")
