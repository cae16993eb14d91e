"""`yuqing search QUERY [--sort newest|relevance|reach] [--limit N] [--json]`: find posts.

The query language is `search.query`'s: words (AND), OR, "phrases", -exclusions, parentheses and
field filters such as platform:weibo place:牡丹区 since:7d.
"""

from __future__ import annotations

import argparse
import logging
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

from search import QueryError, SearchBackendError, SearchHit, SearchQuery, open_index
from search.base import reach
from yuqing.cli.common import print_json, settings_from
from yuqing.schema import SHANGHAI
from yuqing.schema.names import platform_name, sentiment_name

QUERY_HELP = ('words are ANDed; OR, "exact phrase", -exclusion, (parentheses); filters platform: source: '
              "author: sentiment: place: policy: department: event: since: until: (2026-11-30, 24h, 7d)")
SORT_NAMES = {"newest": "最新", "relevance": "相关度", "reach": "传播量"}
SNIPPET_CELLS = 60  # display cells of the snippet column
LEAD_CHARS = 8  # characters kept before the first match in the table
# Marks around matched words: 【】 is common in Chinese posts themselves, «» is not.
MARK = ("«", "»")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="search indexed posts with the query language",
                            description="Search the indexed posts. " + QUERY_HELP + ".")
    parser.add_argument("query", metavar="QUERY", help="e.g. '老旧小区 -表扬 platform:weibo since:7d'")
    parser.add_argument("--sort", choices=["newest", "relevance", "reach"], default="newest",
                        help="newest first (default), best match first, or most reposts+comments+likes first")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="hits to show (default 20, at most 10000)")
    parser.add_argument("--json", action="store_true", help='one JSON object: {"total": N, "hits": [...]}')
    parser.set_defaults(func=run)


def quiet_client(args: argparse.Namespace) -> None:
    """The Elasticsearch client logs each retry; the one line we print says it all (-v shows them)."""
    if not getattr(args, "verbose", 0):
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)


def user_error(exc: QueryError | SearchBackendError) -> int:
    """A malformed query or an unreachable index: one line on stderr, exit code 2."""
    if isinstance(exc, QueryError):
        print(str(exc), file=sys.stderr)
    else:
        print(f"检索服务不可用 (search index unavailable): {exc}", file=sys.stderr)
    return 2


def cells(text: str) -> int:
    """Terminal columns a string takes (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text: str, width: int) -> str:
    """`text` cut to `width` columns (with …) and padded to exactly that width."""
    if cells(text) > width:
        out = ""
        for ch in text:
            if cells(out + ch) > width - 1:
                break
            out += ch
        text = out + "…"
    return text + " " * (width - cells(text))


def marked(hit: SearchHit, lead: int | None = None) -> str:
    """The snippet with matches between «»; with `lead`, at most that many characters before the first."""
    text = ""
    for number, part in enumerate(hit.snippet):
        if part.match:
            text += MARK[0] + part.text + MARK[1]
        elif lead is not None and not any(p.match for p in hit.snippet[:number]) and len(part.text) > lead:
            text += "…" + part.text[-lead:]
        else:
            text += part.text
    return text


def hit_json(hit: SearchHit) -> dict[str, Any]:
    post = hit.post
    return {
        "id": post.id, "url": post.url, "time": post.when.astimezone(SHANGHAI).isoformat(),
        "platform": post.platform.value, "source": post.source, "author": post.author.name,
        "sentiment": post.sentiment.label.value if post.sentiment else None, "title": post.title,
        "snippet": marked(hit), "reach": reach(post), "places": post.places,
        "policies": [p.id for p in post.policies], "event_id": post.event_id, "score": hit.score,
    }


def table(hits: list[SearchHit], write: Callable[[str], None]) -> None:
    columns = [("时间", 11), ("平台", 8), ("来源/作者", 22), ("情感", 6), ("摘要（«»内为命中词）", SNIPPET_CELLS)]
    write("  ".join(fit(name, width) for name, width in columns) + "  链接")
    for hit in hits:
        post = hit.post
        who = post.source + (f"/{post.author.name}" if post.author.name else "")
        label = post.sentiment.label.value if post.sentiment else "unknown"
        row = [f"{post.when.astimezone(SHANGHAI):%m-%d %H:%M}", platform_name(post.platform.value), who,
               sentiment_name(label), marked(hit, LEAD_CHARS).lstrip("…，。、；：,.;: ")]
        write("  ".join(fit(value, width) for value, (_, width) in zip(row, columns, strict=True)) + f"  {post.url}")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.limit <= 10_000:
        print("--limit 须在 0 到 10000 之间", file=sys.stderr)
        return 2
    query = SearchQuery(text=args.query, sort=args.sort, limit=args.limit)
    quiet_client(args)
    try:
        query.parsed()  # a malformed query is refused before the index is opened
        with open_index(settings_from(args)) as index:
            result = index.search(query)
    except (QueryError, SearchBackendError) as exc:
        return user_error(exc)
    if args.json:
        print_json({"total": result.total, "hits": [hit_json(h) for h in result.results]})
        return 0
    shown = f"，显示前 {len(result.results)} 条" if len(result.results) < result.total else ""
    print(f"“{args.query}” 共 {result.total} 条，按{SORT_NAMES[args.sort]}排序{shown}")
    if result.results:
        table(result.results, print)
    return 0
