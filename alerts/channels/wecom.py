"""WeCom (企业微信) group robot: markdown message to the robot's webhook URL (its key is the secret)."""

from __future__ import annotations

from alerts.channels.base import (
    Channel,
    ChannelOptions,
    Notification,
    json_body,
    render_markdown,
)

WECOM_MARKDOWN_LIMIT = 4096  # bytes the robot accepts in markdown.content


class WeComOptions(ChannelOptions):
    url_env: str


def _fit(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "…"


class WeComChannel(Channel[WeComOptions]):
    type_name = "wecom"
    options_model = WeComOptions
    default_rate_per_minute = 20

    def send(self, notification: Notification) -> None:
        url = str(self.secret(self.options.url_env, "WeCom robot URL"))
        payload = {"msgtype": "markdown",
                   "markdown": {"content": _fit(render_markdown(notification), WECOM_MARKDOWN_LIMIT)}}
        self.robot_result(self.post(url, json_body(payload)), "errcode", "errmsg")
