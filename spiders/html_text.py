"""Readable text of an HTML element: line breaks where the page breaks lines, emoticons as their alt text.

Social pages put meaning in markup that plain `text_content()` loses: `<br>` and paragraphs
separate thoughts, and emoticons are `<img alt="[怒]">`, which carry sentiment.
"""

from __future__ import annotations

import copy
import re

from lxml import html as lxml_html

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


def fragment_text(html: str) -> str:
    """`element_text` of an HTML fragment given as a string."""
    if not html or not html.strip():
        return ""
    return element_text(lxml_html.fragment_fromstring(html, create_parent="div"))
