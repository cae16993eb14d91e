"""Weibo-aware text clean-up shared by every analysis step.

A weibo carries its author's words, a repost chain (`//@someone: earlier words`), mentions,
links and emoticon codes such as [怒] or [赞]. Sentiment wants the author's own words first and
the emoticons as whole tokens; jieba would cut "[怒]" into three pieces, so emoticons are taken
out before segmentation and kept as tokens of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# An emoticon code: a short run of CJK, Latin letters or digits in square brackets ([心], [good], [笑cry]).
EMOTICON = re.compile(r"\[[\u4e00-\u9fffA-Za-z0-9]{1,8}\]")
# The same, captured: splitting on it alternates text and emoticons, which are found and taken out in one scan.
_EMOTICON_SPLIT = re.compile(f"({EMOTICON.pattern})")
URL = re.compile(r"https?://[^\s\u4e00-\u9fff，。！？、]+|www\.[^\s\u4e00-\u9fff，。！？、]+")
# "//@name:" opens the next (older) link of a repost chain.
REPOST_MARK = re.compile(r"//\s*@[^:：\s]{1,30}\s*[:：]")
# A mention runs to the next space or punctuation; "回复@name:" is a reply prefix. Written as two branches that each
# start with a literal, not as an optional (?:回复) group: `re` then skips to a 回 or an @ instead of trying the
# pattern at every character (three times faster on posts).
_MENTION_NAME = r"@[\w\u4e00-\u9fff\-]{1,30}[:：]?"
MENTION = re.compile(f"回复{_MENTION_NAME}|{_MENTION_NAME}")


@dataclass(frozen=True)
class WeiboText:
    """A post split into what its author wrote and what it quotes, with emoticons set apart."""

    own: str
    chain: str = ""
    own_emoticons: list[str] = field(default_factory=list)
    chain_emoticons: list[str] = field(default_factory=list)


def _clean(text: str, tidy_spaces: bool = True) -> tuple[str, list[str]]:
    # Each pattern needs a character most posts lack ("[", "@", a link's start): a substring test
    # is far cheaper than the pattern's scan of the whole post.
    emoticons: list[str] = []
    if "[" in text:
        pieces = _EMOTICON_SPLIT.split(text)  # text, emoticon, text, ...: findall's and sub(" ", text)'s in one scan
        emoticons = pieces[1::2]
        text = " ".join(pieces[0::2])
    if "http" in text or "www." in text:
        text = URL.sub(" ", text)
    if "@" in text:
        text = MENTION.sub(" ", text)
    if tidy_spaces:
        text = " ".join(text.split())  # whitespace runs as one space, none at either end
    return text, emoticons


def split_weibo(text: str, tidy_spaces: bool = True) -> WeiboText:
    """Split a post at its first repost mark: the author's words come before it. Without `tidy_spaces`, both parts
    keep the whitespace of the text and of what was taken out (for a reader that drops whitespace anyway)."""
    parts = REPOST_MARK.split(text, maxsplit=1) if "@" in text else [text]
    own, own_emo = _clean(parts[0], tidy_spaces)
    if len(parts) == 1:
        return WeiboText(own=own, own_emoticons=own_emo)
    chain, chain_emo = _clean(REPOST_MARK.sub(" ", parts[1]), tidy_spaces)
    return WeiboText(own=own, chain=chain, own_emoticons=own_emo, chain_emoticons=chain_emo)


def strip_markup(text: str) -> str:
    """The text without repost marks, mentions, links and emoticon codes: what keywords and events read."""
    cleaned, _ = _clean(REPOST_MARK.sub(" ", text) if "@" in text else text)
    return cleaned
