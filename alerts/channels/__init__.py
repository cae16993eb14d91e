"""Channel types, registered by the name the rules file uses in `type:`."""

from __future__ import annotations

from alerts.channels.base import Channel, ChannelContext, ChannelError, Notification, ReportMail
from alerts.channels.dingtalk import DingTalkChannel
from alerts.channels.email import EmailChannel
from alerts.channels.feishu import FeishuChannel
from alerts.channels.file import FileChannel
from alerts.channels.webhook import WebhookChannel
from alerts.channels.wecom import WeComChannel

CHANNEL_TYPES: dict[str, type[Channel]] = {
    channel.type_name: channel
    for channel in (WebhookChannel, DingTalkChannel, WeComChannel, FeishuChannel, EmailChannel, FileChannel)
}

__all__ = ["CHANNEL_TYPES", "Channel", "ChannelContext", "ChannelError", "Notification", "ReportMail"]
