"""Keywords of a post: TF-IDF over the words jieba already produced, with our own IDF table.

The IDF comes from real news, Weibo and government text (tools/build_idf.py); a word that
corpus never saw counts as rare. Stopwords drop function words and the set phrases of
government writing (加强, 推进, 落实) that would otherwise top every list. Both are read from the
shipped files at the edge (`stores.language`) and handed in as a `KeywordTable`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import compress
from operator import itemgetter

# Words judged kept at most: new words never stop coming. As many as the sentiment model keeps: a million took 40 MB,
# and up to 120 MB more for the words' strings it alone kept alive.
JUDGED_WORDS_SIZE = 200_000


def _is_candidate(word: str, stop: frozenset[str]) -> bool:
    # One character says little in Chinese; numbers, punctuation and emoticons are no topic.
    if len(word) < 2 or word.lower() in stop or word.startswith("[") or len(set(word)) == 1:
        return False  # a repeated character (哈哈哈哈, 啊啊啊) is an exclamation, not a topic
    if word.isascii():
        return len(word) >= 3 and word.isalnum() and not word.isdigit()
    return any(ch.isalpha() for ch in word)


class KeywordTable:
    """Which words may be keywords (`stopwords` never), and how rare each is (`idf`; `unseen_idf` for a
    word the corpus never saw: that of a single document)."""

    def __init__(self, stopwords: frozenset[str], idf: dict[str, float], unseen_idf: float) -> None:
        self.stopwords = stopwords
        self.idf = idf
        self.unseen_idf = unseen_idf
        # Word -> whether it may be a keyword, for the words already judged: a post's words are looked up
        # and filtered with C-level map() and compress(), no Python loop once its words are known.
        self._judged: dict[str, bool] = {}

    def idf_of(self, word: str) -> float:
        return self.idf.get(word, self.unseen_idf)

    def candidate_words(self, words: Iterable[str]) -> list[str]:
        """The words that may be keywords, in order."""
        words = words if isinstance(words, (list, tuple)) else list(words)
        judged = self._judged
        if len(judged) >= JUDGED_WORDS_SIZE:
            judged.clear()
        try:
            return list(compress(words, map(judged.__getitem__, words)))
        except KeyError:  # some words are new: only those are judged (most posts bring one or two)
            stop = self.stopwords
            for word in set(words).difference(judged):
                judged[word] = _is_candidate(word, stop)
            return list(compress(words, map(judged.__getitem__, words)))

    def weighted_keywords(self, words: Sequence[str], top_k: int = 8) -> list[tuple[str, float]]:
        """(word, tf-idf) of the best `top_k` keywords, highest first; ties keep first mention first."""
        return self.rank_candidates(self.candidate_words(words), top_k)

    def rank_candidates(self, candidates: Sequence[str], top_k: int = 8) -> list[tuple[str, float]]:
        """`weighted_keywords` for words already filtered by `candidate_words`."""
        if not candidates:
            return []
        table, unseen = self.idf, self.unseen_idf
        counts = Counter(candidates)
        total = len(candidates)
        scored = [(word, count / total * table.get(word, unseen)) for word, count in counts.items()]
        scored.sort(key=itemgetter(1), reverse=True)  # stable: ties keep first mention first
        return scored[:top_k]
