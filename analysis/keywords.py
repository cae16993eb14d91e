"""Keywords of a post: TF-IDF over the words jieba already produced, with our own IDF table.

The IDF comes from real news, Weibo and government text (tools/build_idf.py); a word that
corpus never saw counts as rare. Stopwords drop function words and the set phrases of
government writing (加强, 推进, 落实) that would otherwise top every list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from pathlib import Path

from analysis.segment import display_form

DATA = Path(__file__).resolve().parent / "data"
IDF_FILE = DATA / "idf.txt"
STOPWORDS_FILE = DATA / "stopwords.txt"


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    found: set[str] = set()
    for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            found.update(line.split())
    return frozenset(found)


@lru_cache(maxsize=1)
def idf_table() -> tuple[dict[str, float], float]:
    """Word → IDF, and the IDF of a word the corpus never saw (that of a single document)."""
    table: dict[str, float] = {}
    documents = 1
    if IDF_FILE.exists():
        for line in IDF_FILE.read_text(encoding="utf-8").splitlines():
            if line.startswith("# documents"):
                documents = int(line.split()[-1])
            elif line and not line.startswith("#"):
                word, value = line.rsplit(" ", 1)
                table[word] = float(value)
    return table, math.log(documents)


def _is_candidate(word: str, stop: frozenset[str]) -> bool:
    # One character says little in Chinese; numbers, punctuation and emoticons are no topic.
    if len(word) < 2 or word.lower() in stop or word.startswith("[") or len(set(word)) == 1:
        return False  # a repeated character (哈哈哈哈, 啊啊啊) is an exclamation, not a topic
    if word.isascii():
        return len(word) >= 3 and word.isalnum() and not word.isdigit()
    return any(ch.isalpha() for ch in word)


# Word -> whether it may be a keyword, for the words already judged: a post's words are looked up
# and filtered with C-level map() and compress(), no Python loop once its words are known.
_judged: dict[str, bool] = {}
JUDGED_WORDS_SIZE = 1_000_000


def candidate_words(words: Iterable[str]) -> list[str]:
    """The words that may be keywords, in order."""
    words = words if isinstance(words, (list, tuple)) else list(words)
    if len(_judged) >= JUDGED_WORDS_SIZE:
        _judged.clear()
    verdicts = list(map(_judged.get, words))
    if None in verdicts:
        stop = stopwords()
        for position, word in enumerate(words):
            if verdicts[position] is None:
                verdicts[position] = _judged[word] = _is_candidate(word, stop)
    return list(compress(words, verdicts))


def weighted_keywords(words: Sequence[str], top_k: int = 8) -> list[tuple[str, float]]:
    """(word, tf-idf) of the best `top_k` keywords, highest first; ties keep first mention first."""
    return rank_candidates(candidate_words(words), top_k)


def rank_candidates(candidates: Sequence[str], top_k: int = 8) -> list[tuple[str, float]]:
    """`weighted_keywords` for words already filtered by `candidate_words`."""
    if not candidates:
        return []
    table, unseen = idf_table()
    counts = Counter(candidates)
    total = len(candidates)
    scored = [(word, count / total * table.get(word, unseen)) for word, count in counts.items()]
    scored.sort(key=itemgetter(1), reverse=True)  # stable: ties keep first mention first
    return scored[:top_k]


def keywords(words: Sequence[str], top_k: int = 8) -> list[str]:
    """The best `top_k` keywords of a post's words, in their written form."""
    return [display_form(word) for word, _ in weighted_keywords(words, top_k)]
