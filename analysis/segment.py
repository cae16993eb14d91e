"""Word segmentation, done once per text with jieba and our user dictionary.

Every stage that needs words (sentiment, keywords, places, events, the full-text index) takes
them from here so that a term in the user dictionary is one token everywhere. The analysis
path segments with jieba's HMM off: unknown words then fall apart into known pieces, which
costs little accuracy and makes segmentation several times faster.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba

from analysis.text import split_weibo

USER_DICT = Path(__file__).resolve().parent / "data" / "user_dict.txt"

jieba.setLogLevel(logging.WARNING)


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """A jieba tokenizer with our user dictionary, loaded lazily once per process."""
    tok = jieba.Tokenizer()
    tok.initialize()
    if USER_DICT.exists():
        tok.load_userdict(str(USER_DICT))
    return tok


@lru_cache(maxsize=1)
def analysis_tokenizer() -> jieba.Tokenizer:
    """The analysis path's own tokenizer: our user dictionary plus the terms analysis adds at run
    time (place and department names, watched terms, policy keywords). It is kept apart from
    `tokenizer()` so the full-text index segments texts and queries the same way whatever data
    files are loaded."""
    tok = jieba.Tokenizer()
    tok.initialize()
    if USER_DICT.exists():
        tok.load_userdict(str(USER_DICT))
    return tok


def add_terms(terms: Iterable[str]) -> None:
    """Make each term one analysis token from now on: names of places, departments, policies."""
    tok = analysis_tokenizer()
    added = False
    for term in terms:
        term = term.strip()
        if term and term not in tok.FREQ:
            tok.add_word(term)
            added = True
    if added:
        _piece_words.cache_clear()


@lru_cache(maxsize=300_000)
def _piece_words(piece: str) -> tuple[str, ...]:
    return tuple(w for w in analysis_tokenizer().lcut(piece, HMM=False) if w.strip())


def fast_words(text: str) -> list[str]:
    """Analysis words of a text (HMM off, with the analysis vocabulary), cached piece by piece.

    jieba segments each run of CJK/alphanumeric characters on its own, so the text is split the
    way jieba splits it and each run's words are cached: reposts, hashtags and stock phrases
    (转发微博, 武汉加油) are segmented once.
    """
    found: list[str] = []
    for piece in jieba.re_han_default.split(text):
        if piece:
            found.extend(_piece_words(piece))
    return found


@lru_cache(maxsize=1)
def _punctuated_phrases() -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """Dictionary terms with inner punctuation (双随机、一公开): jieba never keeps those whole, so the
    text is rewritten to the compact dictionary form first. Returns the pattern and compact → display."""
    display: dict[str, str] = {}
    if USER_DICT.exists():
        for line in USER_DICT.read_text(encoding="utf-8").splitlines():
            term = line.split(" ")[0]
            compact = re.sub(r"[、，·\s]", "", term)
            if term and compact != term:
                display[compact] = term
    if not display:
        return None, display
    pattern = re.compile("|".join(re.escape(term) for term in display.values()))
    return pattern, display


def join_phrases(text: str) -> str:
    """Rewrite punctuated dictionary phrases to their one-token form."""
    pattern, _ = _punctuated_phrases()
    if pattern is None:
        return text
    return pattern.sub(lambda m: re.sub(r"[、，·\s]", "", m.group(0)), text)


def display_form(word: str) -> str:
    """The written form of a token (双随机一公开 → 双随机、一公开)."""
    return _punctuated_phrases()[1].get(word, word)


def words(text: str, *, hmm: bool = True) -> list[str]:
    """Words of `text` in order, without whitespace tokens."""
    return [w for w in tokenizer().lcut(text, HMM=hmm) if w.strip()]


@lru_cache(maxsize=1)
def _plain_tokenizer() -> jieba.Tokenizer:
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def plain_words(text: str) -> list[str]:
    """Words as jieba finds them without our dictionary or added terms: the same in every process,
    so the index matches queries with them."""
    return [w for w in _plain_tokenizer().lcut(text) if w.strip()]


def search_terms(text: str) -> list[str]:
    """What the full-text index stores: words, their shorter parts (jieba's search mode), and the
    words jieba finds without our user dictionary, so that a query for 老旧小区 still matches a
    text where the dictionary made 老旧小区改造 one word."""
    terms = [w for w in tokenizer().lcut_for_search(text) if w.strip()]
    known = set(terms)
    terms.extend(w for w in plain_words(text) if w not in known)
    return terms


@dataclass(frozen=True)
class SegmentedPost:
    """A post segmented once: the author's words and the words it quotes from its repost chain.

    Emoticon codes ([怒], [赞]) are whole tokens at the end of each list.
    """

    own: list[str]
    quoted: list[str]

    @property
    def all_words(self) -> list[str]:
        return self.own + self.quoted


def segment_post(text: str) -> SegmentedPost:
    """Split a post at its repost chain and segment both parts (HMM off)."""
    parts = split_weibo(join_phrases(text))
    own = fast_words(parts.own) + parts.own_emoticons
    quoted = fast_words(parts.chain) + parts.chain_emoticons if parts.chain else list(parts.chain_emoticons)
    return SegmentedPost(own=own, quoted=quoted)
