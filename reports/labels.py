"""Chinese wording a leader reads in the briefing: subjects, crawl problems, times and durations.

The names of platforms, tones, alert states and source kinds are the project's own
(`yuqing.schema.names`), re-exported here for the templates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from yuqing.schema import SHANGHAI
from yuqing.schema.names import platform_name as platform_name
from yuqing.schema.names import sentiment_name as sentiment_name
from yuqing.schema.names import source_kind_name as source_kind_name
from yuqing.schema.names import status_name as status_name

SUBJECT_NAMES: dict[str, str] = {
    "policy": "政策",
    "event": "事件",
    "place": "地域",
    "keyword": "关键词",
    "source": "信息源",
    "department": "部门",
    "document": "政策文件",
    "author": "作者",
    "platform": "平台",
    "sentiment": "情感倾向",
}

# Reasons the spiders count in CrawlHealth.problems; http_<status> is worded generically.
CRAWL_PROBLEM_NAMES: dict[str, str] = {
    "robots_disallowed": "robots 协议禁止采集",
    "timeout": "访问超时",
    "network": "网络故障",
    "forbidden": "被拒绝访问",
    "login_wall": "需要登录",
    "captcha": "遇到验证码",
    "empty_page": "页面为空",
    "no_text": "未提取到正文",
    "no_items_on_list": "列表页无条目",
    "no_metadata_table": "缺少公开信息元数据",
    "huge_page_truncated": "页面过大已截断",
    "extract_timeout": "正文提取超时",
    "too_deeply_nested": "页面嵌套过深",
    "bad_feed": "订阅源格式错误",
    "bad_json": "接口数据格式错误",
    "unexpected_shape": "接口数据结构异常",
    "unexpected_redirect": "被重定向到其他页面",
    "rate_limited": "访问过于频繁被限制",
    "request_failed": "请求失败",
    "too_large": "页面过大未下载",
    "http_5xx": "网站服务器错误",
    "retweet_original_unavailable": "转发的原微博已删除或不可见",
    "no_message_text": "留言无正文",
    "no_first_post": "帖子缺少首楼",
    "parse_error": "页面解析出错",
    "pipeline_error": "入库处理出错",
    "api_not_ok": "接口返回失败",
    "not_json": "接口未返回 JSON",
    "broken_json": "接口数据不完整",
    "long_text_missing": "长微博全文缺失",
}


def subject_name(kind: str | None) -> str:
    return SUBJECT_NAMES.get(kind or "", kind or "")


def problem_name(reason: str) -> str:
    if reason in CRAWL_PROBLEM_NAMES:
        return CRAWL_PROBLEM_NAMES[reason]
    if reason.startswith("http_"):
        return f"网站返回 {reason.removeprefix('http_')} 错误"
    if reason.startswith("closed_"):  # Scrapy's close reason other than finished
        return f"采集中止（{reason.removeprefix('closed_')}）"
    return reason


def local(moment: datetime) -> datetime:
    """The moment on Beijing time, which is what every reader of the briefing uses."""
    return moment.astimezone(SHANGHAI)


def clock(moment: datetime | None, *, with_date: bool = True) -> str:
    """`11月26日 14:05` (or `14:05`), Beijing time; a dash when there is no moment."""
    if moment is None:
        return "—"
    moment = local(moment)
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}" if with_date else f"{moment:%H:%M}"


def chinese_date(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def duration(span: timedelta) -> str:
    """`2天3小时`, `5小时20分钟`, `40分钟`: the coarsest two units, never negative."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{minutes}分钟"


def percent(share: float | None, digits: int = 1) -> str:
    return "—" if share is None else f"{share * 100:.{digits}f}%"


def change(ratio: float | None) -> str:
    """Relative change in the wording of briefings: `增加35.2%`, `减少10.0%`, `持平`."""
    if ratio is None:
        return "无可比数据"
    if abs(ratio) < 0.0005:
        return "持平"
    return f"{'增加' if ratio > 0 else '减少'}{abs(ratio) * 100:.1f}%"


CHINESE_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 -> 一, 12 -> 十二, 20 -> 二十: the numbering of （一）（二） items, up to 99."""
    tens, units = divmod(n, 10)
    if not tens:
        return CHINESE_DIGITS[units]
    return f"{CHINESE_DIGITS[tens] if tens > 1 else ''}十{CHINESE_DIGITS[units] if units else ''}"


def source_state(source: Any) -> str:
    """A source's crawl state in words (`reports.briefing.SourceHealth`)."""
    health = source.health
    if health.blind:
        return f"盲区（连续{health.silent_runs}次无数据）"
    if source.stale:
        return "超过24小时未采集"
    if health.silent_runs:
        return f"连续{health.silent_runs}次无数据"
    return "正常"
