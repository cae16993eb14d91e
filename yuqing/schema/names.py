"""The one Chinese name of each value people read: alert statuses, platforms, tones, source kinds.

The schema keeps stable English values; every command, message and report words them from here.
`SOURCE_KIND_NAMES` is also the register of source kinds: `sources.yaml` accepts exactly these,
and the spider of kind `k` lives in `spiders/<k>.py`.
"""

from __future__ import annotations

from yuqing.schema import AlertStatus, Platform, SentimentLabel

STATUS_NAMES: dict[str, str] = {
    AlertStatus.FIRED: "已触发",
    AlertStatus.NOTIFIED: "已通知",
    AlertStatus.ACKNOWLEDGED: "已签收",
    AlertStatus.ASSIGNED: "已交办",
    AlertStatus.RESPONDED: "已回应",
    AlertStatus.CLOSED: "已办结",
}

PLATFORM_NAMES: dict[str, str] = {
    Platform.NEWS: "新闻网站",
    Platform.GOV: "政府网站",
    Platform.WEIBO: "微博",
    Platform.BOARD: "留言板",
    Platform.FORUM: "论坛",
    Platform.OTHER: "其他",
}

SENTIMENT_NAMES: dict[str, str] = {
    SentimentLabel.POSITIVE: "正面",
    SentimentLabel.NEUTRAL: "中性",
    SentimentLabel.NEGATIVE: "负面",
    "unknown": "未研判",
}

SOURCE_KIND_NAMES: dict[str, str] = {
    "rss": "订阅源",
    "news": "新闻网站",
    "gov_policy": "政府信息公开",
    "weibo": "微博",
    "board": "留言板",
    "forum": "论坛",
}


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def sentiment_name(label: str) -> str:
    return SENTIMENT_NAMES.get(label, label)


def source_kind_name(kind: str) -> str:
    return SOURCE_KIND_NAMES.get(kind, kind)
