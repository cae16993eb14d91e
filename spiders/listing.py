"""Reading list pages: which links are articles, and where the next page is.

Chinese portals put their lists in plain <ul><li><a>, in tables, or (Hanweb JCMS, the platform
of many Shandong government sites, heze.gov.cn among them) inside
<script type="text/xml"><datastore><recordset><record><![CDATA[<li>…</li>]]></record>, which a
browser renders by script. Links in those records count like any other link.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from spiders.parsing import absolute, clean_inline, same_site, url_allowed

_RECORD = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S | re.I)
NEXT_PAGE_TEXTS = ("下一页", "下页", "后一页", "下一頁", "next", "›", "»", ">")
# Article URLs carry a date or a long number; section and index pages rarely do.
_ARTICLE_PATH = re.compile(r"(?:19|20)\d{2}[-/_]?\d{1,2}|\d{4,}|art_\d+|/t\d{8}_|content_\d+", re.I)
_NOT_ARTICLE = re.compile(r"\.(?:jpg|jpeg|png|gif|css|js|zip|rar|pdf|docx?|xlsx?|wps|ofd|exe)(?:\?|$)|"
                          r"/(?:index|list|default)(?:_\d+)?\.s?html?$|/col/|/search|login|javascript", re.I)
_MIN_TITLE_CHARS = 5


def parse_tree(html: str) -> lxml.html.HtmlElement | None:
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def _anchors(tree: lxml.html.HtmlElement, css: str | None) -> list[lxml.html.HtmlElement]:
    roots = [tree]
    if css:
        try:
            roots = tree.cssselect(css) or []
        except Exception:  # a bad selector: use the whole page rather than nothing
            roots = [tree]
    return [a for root in roots for a in root.iter("a")]


def links(html: str, base_url: str, css: str | None = None) -> list[tuple[str, str]]:
    """(absolute URL, anchor text) of every link in the page or in its `css` region, JCMS records included."""
    found: list[tuple[str, str]] = []
    tree = parse_tree(html)
    if tree is not None:
        found += [(a.get("href"), clean_inline(a.text_content()) or clean_inline(a.get("title")))
                  for a in _anchors(tree, css)]
    for record in _RECORD.findall(html):
        fragment = parse_tree(f"<html><body>{record}</body></html>")
        if fragment is not None:
            found += [(a.get("href"), clean_inline(a.get("title")) or clean_inline(a.text_content()))
                      for a in fragment.iter("a")]
    result = []
    for href, text in found:
        url = absolute(base_url, href)
        if url:
            result.append((url, text))
    return result


def looks_like_article(url: str, text: str, in_list_region: bool = False) -> bool:
    """The default rule when a source gives no URL pattern: a titled link to a dated or numbered
    page; inside the list region a source named, any titled link that is not a file or a list."""
    if len(text) < _MIN_TITLE_CHARS or _NOT_ARTICLE.search(url):
        return False
    return in_list_region or bool(_ARTICLE_PATH.search(urlsplit(url).path))


def item_links(html: str, base_url: str, allow: list[str], deny: list[str], css: str | None = None,
               only_same_site: bool = True) -> list[str]:
    """Article links of a list page, in page order, without repeats."""
    chosen: dict[str, None] = {}
    for url, text in links(html, base_url, css):
        if only_same_site and not same_site(url, base_url):
            continue
        if allow or deny:
            if url_allowed(url, allow, deny) and (allow or looks_like_article(url, text, bool(css))):
                chosen[url] = None
        elif looks_like_article(url, text, bool(css)):
            chosen[url] = None
    return list(chosen)


def next_page(html: str, base_url: str) -> str | None:
    """The URL of the list's next page, from a 下一页-style link."""
    for url, text in links(html, base_url):
        if text.lower() in NEXT_PAGE_TEXTS and url.split("#")[0] != base_url.split("#")[0]:
            return url
    return None


def template_pages(template: str, first: int, count: int) -> list[str]:
    """Numbered list pages: 'https://x/list_{page}.html' with first=2, count=3 → pages 2, 3, 4."""
    return [template.format(page=number) for number in range(first, first + count)]
