"""Readable text of HTML: line breaks where the page breaks lines, emoticons as their alt text.

Social pages put meaning in markup that plain `text_content()` loses: `<br>` and paragraphs
separate thoughts, and emoticons are `<img alt="[怒]">`, which carry sentiment. Also the reading
of per-site CSS selectors from source params.
"""

from __future__ import annotations

import copy
import re
from typing import overload

from cssselect import SelectorError
from lxml import html as lxml_html
from parsel import Selector
from parsel.csstranslator import HTMLTranslator

_BLOCKS = {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "blockquote", "table"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def element_text(element: lxml_html.HtmlElement) -> str:
    """Text of `element` and its descendants, one line per paragraph or <br>, blank lines dropped."""
    root = copy.deepcopy(element)
    for node in list(root.iter("script", "style")):
        node.drop_tree()
    for node in root.iter():
        if not isinstance(node.tag, str):  # comments and processing instructions
            continue
        if node.tag == "img":
            node.tail = (node.get("alt") or "") + (node.tail or "")
        elif node.tag == "br" or (node.tag in _BLOCKS and node is not root):
            node.tail = "\n" + (node.tail or "")
            if node.tag != "br":
                node.text = "\n" + (node.text or "")
    lines = (_SPACES.sub(" ", line).strip() for line in root.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


# ---- CSS selectors given in source params ---------------------------------------------------
# A selector either picks elements (their readable text, or for links their href, is used) or
# ends in a parsel pseudo-element (::text, ::attr(href)) and picks the strings themselves.

_CSS = HTMLTranslator()


@overload
def check_css(value: str) -> str: ...
@overload
def check_css(value: str | None) -> str | None: ...
def check_css(value: str | None) -> str | None:
    """`value` unchanged when it is a valid CSS selector (parsel pseudo-elements allowed)."""
    if value is not None:
        try:
            _CSS.css_to_xpath(value)
        except SelectorError as exc:
            raise ValueError(f"not a valid CSS selector: {value!r} ({exc})") from exc
    return value


def _picks_strings(css: str) -> bool:
    return "::text" in css or "::attr(" in css


def selected_text(page: Selector, css: str | None, *, keep_lines: bool = False) -> str:
    """Text of what `css` selects, one line per paragraph when `keep_lines`, else on one line."""
    if not css:
        return ""
    if _picks_strings(css):
        parts = [part.strip() for part in page.css(css).getall()]
    else:
        parts = [element_text(element.root) for element in page.css(css)]
    text = "\n".join(part for part in parts if part)
    return text if keep_lines else _SPACES.sub(" ", text.replace("\n", " ")).strip()


def selected_hrefs(page: Selector, css: str) -> list[str]:
    """Link targets `css` selects: hrefs of selected elements, or the strings of an ::attr(href) selector."""
    if _picks_strings(css):
        return [value.strip() for value in page.css(css).getall() if value.strip()]
    hrefs = [element.attrib.get("href") or element.css("a::attr(href)").get() for element in page.css(css)]
    return [href.strip() for href in hrefs if href and href.strip()]
