"""Pure parsing of Weibo's mobile JSON API (m.weibo.cn container API) into `Post`s.

No I/O here: the spider fetches, these functions judge and convert. A response that is not a
usable API answer raises `WeiboResponseError` with a short machine reason (counted in crawl
health) and a human detail (logged).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import lxml.html
from pydantic import ValidationError

from spiders.html_text import element_text
from spiders.social_time import is_year_less, parse_social_time
from yuqing.schema import Author, Metrics, Platform, Post, post_id_for

# Search containers: type 1 is 综合 (popular first), type 61 is 实时 (newest first). The
# containerid is sent percent-encoded as one parameter.
SEARCH_CONTAINER = "100103type={search_type}&q={keyword}"
TIMELINE_CONTAINER = "107603{uid}"
READ_MORE = "全文"

# Post.extra keys of a weibo.
WEIBO_BID = "bid"
WEIBO_VERIFIED_TYPE = "verified_type"
WEIBO_REGION = "ip_region"  # 发布于 山东: where the platform says the author posted from
WEIBO_RETWEET_OF = "retweet_of"  # id of the original post this one forwards
WEIBO_TRUNCATED = "truncated"  # True when the full text could not be fetched


class WeiboResponseError(Exception):
    """The API did not give a usable answer. `reason` is the counted crawl-health key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class ContainerPage:
    """One page of a search or timeline: the raw mblogs plus how to ask for the next page."""

    mblogs: list[dict[str, Any]] = field(default_factory=list)
    since_id: str | None = None  # newer timelines page by since_id, searches by page number
    next_page: int | None = None  # the page number the API says comes next, when it says
    end: bool = False  # the API said there is nothing (more) to show


def search_url(api_base: str, keyword: str, page: int = 1, search_type: int = 1) -> str:
    container = SEARCH_CONTAINER.format(search_type=search_type, keyword=keyword)
    query = urlencode({"containerid": container, "page_type": "searchall", "page": page}, quote_via=quote)
    return urljoin(api_base, "/api/container/getIndex?" + query)


def timeline_url(api_base: str, uid: str, since_id: str | None = None, page: int | None = None) -> str:
    params = {"containerid": TIMELINE_CONTAINER.format(uid=uid)}
    if since_id:
        params["since_id"] = since_id
    elif page and page > 1:
        params["page"] = str(page)
    return urljoin(api_base, "/api/container/getIndex?" + urlencode(params))


def long_text_url(api_base: str, weibo_id: str) -> str:
    return urljoin(api_base, "/statuses/extend?" + urlencode({"id": weibo_id}))


def post_url(api_base: str, weibo_id: str) -> str:
    """The post's page on the mobile site (m.weibo.cn/status/<id>), also what the seen-store keys."""
    return urljoin(api_base, f"/status/{weibo_id}")


def is_login_wall(url: str) -> bool:
    """Weibo answers anonymous requests it will not serve with a redirect to its passport site."""
    parts = urlsplit(url)
    return parts.hostname == "passport.weibo.cn" or parts.path.rstrip("/").endswith(("/signin/login", "/login"))


def decode_api_json(body: bytes, url: str = "") -> dict[str, Any]:
    """The JSON object of an API answer; HTML, broken JSON and login walls raise WeiboResponseError."""
    if url and is_login_wall(url):
        raise WeiboResponseError("login_wall", f"redirected to login page {url}")
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if text.startswith("<"):
        lowered = text[:4000].lower()
        if "passport.weibo" in lowered or "登录" in lowered:
            raise WeiboResponseError("login_wall", "HTML login page instead of JSON")
        if "captcha" in lowered or "验证码" in lowered:
            raise WeiboResponseError("captcha", "HTML captcha page instead of JSON")
        raise WeiboResponseError("not_json", f"HTML instead of JSON ({len(body)} bytes)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WeiboResponseError("broken_json", f"{exc.msg} at char {exc.pos}") from exc
    except RecursionError as exc:
        raise WeiboResponseError("broken_json", "nested too deeply") from exc
    if not isinstance(data, dict):
        raise WeiboResponseError("broken_json", f"expected a JSON object, got {type(data).__name__}")
    # Asked for JSON without a login it insists on, the API answers {"ok": -100, "url": <passport>}.
    if data.get("ok") == -100 or is_login_wall(str(data.get("url") or "")):
        raise WeiboResponseError("login_wall", f"ok={data.get('ok')!r} url={data.get('url')!r}")
    return data


def parse_container(data: dict[str, Any]) -> ContainerPage:
    """The mblogs of a getIndex answer, including those nested in card groups."""
    if data.get("ok") != 1:
        message = str(data.get("msg") or data.get("errmsg") or "")
        # An exhausted search or an empty timeline is ok:0 with this message: an end, not a fault.
        if "没有内容" in message:
            return ContainerPage(end=True)
        raise WeiboResponseError("api_not_ok", f"ok={data.get('ok')!r} msg={message!r}")
    payload = data.get("data")
    if not isinstance(payload, dict):
        raise WeiboResponseError("unexpected_shape", "no 'data' object in the answer")
    cards = payload.get("cards") or []
    if not isinstance(cards, list):
        raise WeiboResponseError("unexpected_shape", f"'cards' is a {type(cards).__name__}, not a list")
    page = ContainerPage()
    for card in cards:
        group = card.get("card_group") if isinstance(card, dict) else None
        for inner in [card, *(group if isinstance(group, list) else [])]:
            mblog = inner.get("mblog") if isinstance(inner, dict) else None
            if isinstance(mblog, dict):
                page.mblogs.append(mblog)
    info = payload.get("cardlistInfo")
    if not isinstance(info, dict):
        info = {}
    page.since_id = str(info["since_id"]) if info.get("since_id") else None
    page.next_page = info["page"] if isinstance(info.get("page"), int) else None
    # cardlistInfo.page is the next page's number, null on the last page.
    page.end = not page.mblogs or ("page" in info and page.next_page is None and page.since_id is None)
    return page


def parse_long_text(data: dict[str, Any]) -> str:
    """The full text (HTML stripped) of a /statuses/extend answer."""
    payload = data.get("data") if data.get("ok") == 1 else None
    content = payload.get("longTextContent") if isinstance(payload, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise WeiboResponseError("long_text_missing", f"no longTextContent (ok={data.get('ok')!r})")
    return strip_weibo_html(content)


_COUNT = re.compile(r"^([\d.]+)\s*(万|亿|w|W)?\+?$")
_UNITS = {None: 1, "万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000}


def parse_count(value: Any) -> int | None:
    """A count as Weibo shows it: 1234, "1,234", "12.3万", "1.2亿", "100万+"; None when absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(int(value), 0)
    match = _COUNT.match(str(value).replace(",", "").strip())
    if not match:
        return None
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def strip_weibo_html(html: str) -> str:
    """Plain text of a weibo: emoticons kept as their alt text ([怒]), line breaks kept, 全文 link dropped."""
    if not html or not html.strip():
        return ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for link in list(root.iter("a")):
        if link.text_content().strip() == READ_MORE:
            link.drop_tree()
    return element_text(root)


def is_truncated(mblog: dict[str, Any]) -> bool:
    """True when the list shows only the start of the post and the rest needs /statuses/extend."""
    if mblog.get("isLongText"):
        return True
    text = str(mblog.get("text") or "")
    return bool(re.search(r">\s*" + READ_MORE + r"\s*</a>", text))


def weibo_id(mblog: dict[str, Any]) -> str:
    return str(mblog.get("id") or mblog.get("mid") or "")


def mblog_to_post(
    mblog: dict[str, Any],
    *,
    source: str,
    api_base: str,
    now: datetime,
    full_text: str | None = None,
) -> Post:
    """One mblog as a Post. `full_text` replaces the list's truncated text when it was fetched."""
    ident = weibo_id(mblog)
    if not ident:
        raise WeiboResponseError("unexpected_shape", "mblog without id")
    user = mblog.get("user")
    if not isinstance(user, dict):
        user = {}
    retweeted = mblog.get("retweeted_status")
    extra: dict[str, Any] = {}
    if mblog.get("bid"):
        extra[WEIBO_BID] = mblog["bid"]
    if user.get("verified_type") is not None:
        extra[WEIBO_VERIFIED_TYPE] = user["verified_type"]
    if region := str(mblog.get("region_name") or "").removeprefix("发布于").strip():
        extra[WEIBO_REGION] = region
    reply_to = None
    if isinstance(retweeted, dict) and weibo_id(retweeted):
        reply_to = post_id_for(Platform.WEIBO.value, "", weibo_id(retweeted))
        extra[WEIBO_RETWEET_OF] = reply_to
    text = full_text if full_text is not None else strip_weibo_html(str(mblog.get("text") or ""))
    if full_text is None and is_truncated(mblog):
        extra[WEIBO_TRUNCATED] = True
    url = post_url(api_base, ident)
    try:
        return Post(
            id=post_id_for(Platform.WEIBO.value, url, ident),
            url=url,
            platform=Platform.WEIBO,
            source=source,
            author=Author(
                name=user.get("screen_name"),
                id=str(user["id"]) if user.get("id") is not None else None,
                followers=parse_count(user.get("followers_count")),
                verified=bool(user.get("verified")),
                verified_reason=user.get("verified_reason") or None,
            ),
            text=text,
            published_at=parse_social_time(str(mblog.get("created_at") or ""), now),
            published_year_inferred=is_year_less(str(mblog.get("created_at") or "")),
            fetched_at=now,
            metrics=Metrics(
                reposts=parse_count(mblog.get("reposts_count")) or 0,
                comments=parse_count(mblog.get("comments_count")) or 0,
                likes=parse_count(mblog.get("attitudes_count")) or 0,
            ),
            reply_to=reply_to,
            extra=extra,
        )
    except ValidationError as exc:
        # A field of an unforeseen type: this post is reported, the rest of the page goes on.
        raise WeiboResponseError("unexpected_shape", f"mblog {ident}: {exc.errors()[0]['msg']}") from exc


def retweeted_original(mblog: dict[str, Any]) -> dict[str, Any] | None:
    """The forwarded original when it is still visible (a deleted one comes back without a user)."""
    original = mblog.get("retweeted_status")
    if isinstance(original, dict) and weibo_id(original) and isinstance(original.get("user"), dict):
        return original
    return None
