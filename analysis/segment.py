"""Word segmentation, done once per text with jieba and our user dictionary.

Every stage that needs words (sentiment, keywords, the full-text index) takes them from here so
that a term in the user dictionary is one token everywhere.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import jieba

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


def words(text: str) -> list[str]:
    """Words of `text` in order, without whitespace tokens."""
    return [w for w in tokenizer().lcut(text) if w.strip()]


@lru_cache(maxsize=1)
def _plain_tokenizer() -> jieba.Tokenizer:
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def search_terms(text: str) -> list[str]:
    """What the full-text index stores: words, their shorter parts (jieba's search mode), and the
    words jieba finds without our user dictionary, so that a query for 老旧小区 still matches a
    text where the dictionary made 老旧小区改造 one word."""
    terms = [w for w in tokenizer().lcut_for_search(text) if w.strip()]
    known = set(terms)
    terms.extend(w for w in _plain_tokenizer().lcut(text) if w.strip() and w not in known)
    return terms
