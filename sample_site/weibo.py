"""The m.weibo.cn imitation: mblog JSON, the API's relative times, its text HTML and truncation.

Posts are written in light markup (`#话题#`, `@名字`, `[怒]`, new lines) and rendered the way the
mobile API renders them: topic and mention links, emoticon `<span class="url-icon">` images and
`<br />`. Long posts are cut at 140 characters and end in `...<a href="/status/ID">全文</a>`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sample_site.content import SiteContent, WeiboPost, WeiboUser
from yuqing.schema import SHANGHAI

PAGE_SIZE = 10
LONG_TEXT_LIMIT = 140
NO_CONTENT = {"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}
DELETED_NOTICE = "抱歉，此微博已被作者删除。查看帮助："
SEARCH_PREFIX = "100103"
TIMELINE_PREFIX = "107603"

# Emoticon names of the Weibo default set mapped to their image file stems.
EMOTICONS = {
    "怒": "d_nu",
    "泪": "d_lei",
    "哭": "d_ku",
    "允悲": "d_yunbei",
    "微笑": "d_weixiao",
    "赞": "d_zan",
    "心": "l_xin",
    "抓狂": "d_zhuakuang",
    "吃瓜": "d_chigua",
    "费解": "d_feijie",
    "鼓掌": "d_guzhang",
    "哈哈": "d_haha",
    "doge": "d_doge",
    "拜拜": "d_baibai",
    "生病": "d_shengbing",
    "失望": "d_shiwang",
    "摊手": "d_tanshou",
    "酷": "d_ku2",
    "太开心": "d_taikaixin",
    "good": "h_good",
    "加油": "d_jiayou",
    "馋嘴": "d_chanzui",
    "可怜": "d_kelian",
    "委屈": "d_weiqu",
    "怒骂": "d_numa",
    "伤心": "l_shangxin",
}

_TOKEN = re.compile(r"#[^#\n]{1,40}#|@[\w\-·]{2,30}|\[[^\[\]\n]{1,6}\]|\n|.", re.S)


def relative_time(moment: datetime, now: datetime) -> str:
    """`created_at` as m.weibo.cn shows it: 刚刚, N分钟前, N小时前, 昨天 HH:MM, MM-DD, YYYY-MM-DD."""
    local, today = moment.astimezone(SHANGHAI), now.astimezone(SHANGHAI)
    seconds = (today - local).total_seconds()
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{int(seconds // 60)}分钟前"
    if seconds < 86400:
        return f"{int(seconds // 3600)}小时前"
    if (today.date() - local.date()).days == 1:
        return f"昨天 {local:%H:%M}"
    if local.year == today.year:
        return f"{local:%m-%d}"
    return f"{local:%Y-%m-%d}"


def followers_count(count: int) -> int | str:
    """The API gives small counts as numbers and large ones as strings such as "1.2万"."""
    if count < 10_000:
        return count
    if count < 100_000_000:
        return f"{count / 10_000:.1f}".rstrip("0").rstrip(".") + "万"
    return f"{count / 100_000_000:.1f}".rstrip("0").rstrip(".") + "亿"


def _token_html(token: str) -> str:
    if token == "\n":
        return "<br />"
    if token.startswith("#") and token.endswith("#") and len(token) > 2:
        query = quote(f"100103type=1&q={token}", safe="")
        return (
            f'<a  href="/search?containerid={query}&isnewpage=1" data-hide="">'
            f'<span class="surl-text">{token}</span></a>'
        )
    if token.startswith("@") and len(token) > 1:
        return f"<a href='/n/{token[1:]}'>{token}</a>"
    if token.startswith("[") and token.endswith("]") and token[1:-1] in EMOTICONS:
        stem = EMOTICONS[token[1:-1]]
        return (
            f'<span class="url-icon"><img alt={token} src="/static/emoticon/{stem}.png" '
            f'style="width:1em; height:1em;" /></span>'
        )
    return {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(token, token)


def _tokens(markup: str) -> list[str]:
    return _TOKEN.findall(markup.strip())


def _display_length(token: str) -> int:
    return 1 if token.startswith("[") and token[1:-1] in EMOTICONS else len(token)


def render_text(markup: str) -> str:
    """The full post as API HTML."""
    return "".join(_token_html(token) for token in _tokens(markup))


def is_long(markup: str) -> bool:
    return sum(_display_length(t) for t in _tokens(markup)) > LONG_TEXT_LIMIT


def truncated_text(markup: str, post_id: str) -> str:
    """The first 140 characters (never cutting a link or emoticon) and the 全文 link."""
    kept: list[str] = []
    length = 0
    for token in _tokens(markup):
        length += _display_length(token)
        if length > LONG_TEXT_LIMIT:
            break
        kept.append(token)
    return "".join(_token_html(t) for t in kept) + f'...<a href="/status/{post_id}">全文</a>'


def bid_for(mid: str) -> str:
    """Weibo's base62 `bid` for a numeric mid: 7-digit groups from the right, 4 base62 digits each."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    groups = []
    digits = mid
    while digits:
        digits, chunk = digits[:-7], digits[-7:]
        value, code = int(chunk), ""
        while value:
            value, rest = divmod(value, 62)
            code = alphabet[rest] + code
        groups.append(code.rjust(4, "0") if digits else code)
    return "".join(reversed(groups))


def user_json(user: WeiboUser) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.uid,
        "screen_name": user.screen_name,
        "profile_image_url": f"/static/avatar/{user.uid}.jpg",
        "profile_url": f"/u/{user.uid}?uid={user.uid}&luicode=10000011",
        "statuses_count": user.statuses,
        "verified": user.verified,
        "verified_type": user.verified_type,
        "description": user.description,
        "gender": user.gender,
        "followers_count": followers_count(user.followers),
        "follow_count": user.follows,
        "close_blue_v": False,
        "urank": 12,
        "mbrank": 0,
    }
    if user.verified:
        data["verified_reason"] = user.verified_reason or ""
    return data


def deleted_mblog_json(post: WeiboPost, created_at: str) -> dict[str, Any]:
    """What a repost carries once its original was deleted: the id, a notice, no user."""
    return {
        "visible": {"type": 0, "list_id": 0},
        "created_at": created_at,
        "id": post.id,
        "idstr": post.id,
        "mid": post.id,
        "can_edit": False,
        "deleted": "1",
        "text": f'{DELETED_NOTICE}<a href="/help/deleted" data-hide=""><span class="surl-text">网页链接</span></a>',
        "user": None,
        "reposts_count": 0,
        "comments_count": 0,
        "attitudes_count": 0,
        "isLongText": False,
    }


def mblog_json(content: SiteContent, post: WeiboPost, now: datetime, nested: bool = False) -> dict[str, Any]:
    """One mblog object as the getIndex API returns it."""
    if post.deleted:
        return deleted_mblog_json(post, relative_time(post.at(content.start), now))
    long = is_long(post.text)
    mblog: dict[str, Any] = {
        "visible": {"type": 0, "list_id": 0},
        "created_at": relative_time(post.at(content.start), now),
        "id": post.id,
        "idstr": post.id,
        "mid": post.id,
        "bid": bid_for(post.id),
        "can_edit": False,
        "text": truncated_text(post.text, post.id) if long else render_text(post.text),
        "textLength": len(post.text.strip().encode("gbk", errors="replace")),
        "source": post.client,
        "favorited": False,
        "pic_ids": [],
        "pic_num": 0,
        "is_paid": False,
        "user": user_json(content.users[post.user]),
        "reposts_count": post.reposts,
        "comments_count": post.comments,
        "reprint_cmt_count": 0,
        "attitudes_count": post.likes,
        "pending_approval_count": 0,
        "isLongText": long,
        "region_name": f"发布于 {post.region}",
    }
    if post.retweet_of and not nested:
        mblog["retweeted_status"] = mblog_json(content, content.post(post.retweet_of), now, nested=True)
        mblog["raw_text"] = post.text.strip()
    return mblog


def _card(content: SiteContent, post: WeiboPost, now: datetime) -> dict[str, Any]:
    bid = bid_for(post.id)
    return {
        "card_type": 9,
        "itemid": f"seqid:{post.id}",
        "scheme": f"/status/{bid}?mblogid={bid}&luicode=10000011",
        "mblog": mblog_json(content, post, now),
    }


def search(content: SiteContent, query: str) -> list[WeiboPost]:
    """Posts holding every space-separated word of the query in their text or in the text they
    repost (a repost of a matching post is a result too), newest first."""
    words = [w for w in query.split() if w]

    def searchable(post: WeiboPost) -> str:
        original = content.post(post.retweet_of) if post.retweet_of else None
        return post.text + (original.text if original and not original.deleted else "")

    return [p for p in content.posts if words and not p.deleted and all(w in searchable(p) for w in words)]


def timeline(content: SiteContent, uid: int) -> list[WeiboPost] | None:
    user = next((u for u in content.users.values() if u.uid == uid), None)
    if user is None:
        return None
    return [p for p in content.posts if p.user == user.screen_name and not p.deleted]


def get_index(
    content: SiteContent, containerid: str, page: int, now: datetime, since_id: str | None = None
) -> dict[str, Any]:
    """`/api/container/getIndex`: a page of cards for a search or a user timeline.

    Searches page by number (`cardlistInfo.page` is the next page, null on the last one);
    timelines page by `since_id` as the real API does (the id the next page starts at, absent on
    the last page), and also accept a page number.
    """
    info: dict[str, Any] = {"containerid": containerid, "v_p": 42, "show_style": 1}
    if containerid.startswith(SEARCH_PREFIX):
        params = dict(
            part.split("=", 1) for part in containerid[len(SEARCH_PREFIX) :].split("&") if "=" in part
        )
        posts = search(content, params.get("q", ""))
        chunk = posts[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if page >= 1 else []
        info["page"] = page + 1 if page * PAGE_SIZE < len(posts) else None
    elif containerid.startswith(TIMELINE_PREFIX) and containerid[len(TIMELINE_PREFIX) :].isdigit():
        found = timeline(content, int(containerid[len(TIMELINE_PREFIX) :]))
        if found is None:
            return {"ok": 0, "msg": "用户不存在", "data": {"cards": []}}
        posts = found
        first = (
            next((i for i, p in enumerate(posts) if p.id == since_id), len(posts))
            if since_id
            else ((page - 1) * PAGE_SIZE if page >= 1 else len(posts))
        )
        chunk = posts[first : first + PAGE_SIZE]
        if first + PAGE_SIZE < len(posts):
            info["since_id"] = int(posts[first + PAGE_SIZE].id)
    else:
        return {"ok": 0, "msg": "参数错误", "data": {"cards": []}}
    if not chunk:
        return NO_CONTENT
    info["total"] = len(posts)
    return {
        "ok": 1,
        "data": {
            "cardlistInfo": info,
            "cards": [_card(content, post, now) for post in chunk],
            "scheme": f"sinaweibo://cardlist?containerid={quote(containerid, safe='')}",
            "showAppTips": 0,
        },
    }


def extend(content: SiteContent, post_id: str) -> dict[str, Any]:
    """`/statuses/extend?id=ID`: the full text of a long post."""
    post = next((p for p in content.posts if p.id == post_id and not p.deleted), None)
    if post is None:
        return {"ok": 0, "msg": "微博不存在或暂无查看权限!", "data": {}}
    return {
        "ok": 1,
        "data": {
            "ok": 1,
            "longTextContent": render_text(post.text),
            "reposts_count": post.reposts,
            "comments_count": post.comments,
            "attitudes_count": post.likes,
        },
    }


def find(content: SiteContent, id_or_bid: str) -> WeiboPost | None:
    return next((p for p in content.posts if id_or_bid in (p.id, bid_for(p.id)) and not p.deleted), None)
