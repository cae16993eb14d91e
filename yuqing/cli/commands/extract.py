"""`yuqing extract FILE_OR_URL [--url URL] [--json]`: what Yuqing reads from one page.

Users run it to see whether a new site's pages extract well before adding the site as a source;
it uses exactly the extraction the spiders use (and, for 政府信息公开 pages, the metadata table).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from yuqing.cli.common import print_json, settings_from
from yuqing.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "extract", help="show the title, time, author/source and text Yuqing extracts from one page",
        description="Extract one page as the spiders do: title, published time, author and 来源, main text "
                    "(and a 政府信息公开 metadata table when the page has one). Local files have their "
                    "encoding detected (GBK pages included).",
    )
    parser.add_argument("page", metavar="FILE_OR_URL", help="a saved HTML file, or an http(s) URL to fetch")
    parser.add_argument("--url", help="the page's URL, for a local file (resolves relative links)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--allow-private", action="store_true",
                        help="also fetch loopback and intranet addresses (a local test site); refused by default")
    parser.set_defaults(func=run)


def read_page(page: str, args: argparse.Namespace) -> tuple[bytes, str | None, str | None]:
    """(body, content type, URL) of a local file or a URL fetched under the crawler's limits."""
    if page.startswith(("http://", "https://")):
        from spiders.fetch import FetchError, fetch_page
        from spiders.runner import user_agent

        try:
            fetched = fetch_page(page, user_agent=user_agent(settings_from(args)), allow_internal=args.allow_private)
        except FetchError as exc:
            raise ConfigError(page, "", str(exc)) from exc
        return fetched.body, fetched.content_type, fetched.url
    path = Path(page)
    if not path.is_file():
        raise ConfigError(path, "", "file not found (give a saved HTML file or an http(s) URL)")
    return path.read_bytes(), None, args.url


def run(args: argparse.Namespace) -> int:
    body, content_type, url = read_page(args.page, args)
    result = extract_page(body, content_type, url)
    if args.json:
        print_json(result)
    else:
        print_article(result)
    return 0 if result["text"] and result["problem"] in (None, "huge_page_truncated") else 1


def extract_page(body: bytes, content_type: str | None, url: str | None) -> dict[str, Any]:
    """What the command shows for one page: decoded, cut to the page limits before any parse,
    extracted, checked for walls, and read for a 政府信息公开 metadata table."""
    from spiders.extract import bounded_html, extract_article
    from spiders.gov_policy import policy_document
    from spiders.parsing import decode_page, page_problem

    html, encoding = decode_page(body, content_type)
    html, truncated = bounded_html(html)  # every parse below sees the page within the limits
    article = extract_article(html, url)
    if truncated and not article.problem:
        article.problem = "huge_page_truncated"
    result: dict[str, Any] = {"url": url, "encoding": encoding, **article.as_dict(),
                              "problem": page_problem(html) or article.problem}
    document = policy_document(html, url or "", article)
    if document["extra"]:
        # A 政府信息公开 page: its metadata table is what the gov_policy kind stores.
        result["metadata"] = document["extra"]
        published = document["published_at"]
        result["published_at"] = published.isoformat() if published else None
        result["author"] = result["author"] or document["author"]["name"]
    return result


def print_article(result: dict[str, Any]) -> None:
    labels = (("标题 title", "title"), ("发布时间 published", "published_at"), ("作者 author", "author"),
              ("来源 source", "source_name"), ("编码 encoding", "encoding"))
    for label, key in labels:
        print(f"{label}: {result.get(key) or '-'}")
    if result.get("problem"):
        print(f"问题 problem: {result['problem']}")
    for key, value in (result.get("metadata") or {}).items():
        print(f"{key}: {value}")
    text = result.get("text") or ""
    print(f"正文 text ({len(text)} 字):")
    print(text or "(未提取到正文 no main text found)")
