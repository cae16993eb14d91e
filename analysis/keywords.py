"""Keywords of a post: TF-IDF over the words jieba already produced, with our own IDF table.

The IDF comes from real news, Weibo and government text (tools/build_idf.py); a word that
corpus never saw counts as rare. Stopwords drop function words and the set phrases of
government writing (加强, 推进, 落实) that would otherwise top every list. Both are read from the
shipped files at the edge (`stores.language`) and handed in as a `KeywordTable`. The enrich step ranks a batch's
posts at once (`KeywordTable.rank_many`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import accumulate, chain, compress, repeat

import numpy as np

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
        return self.rank_many([candidates], top_k)[0]

    def rank_many(self, posts: Sequence[Sequence[str]], top_k: int = 8) -> list[list[tuple[str, float]]]:
        """`rank_candidates` of each post's candidates, all ranked at once: each distinct word of the batch numbered
        and weighed once, each post's (word, count) pairs found by one sort of the batch's, and their scores (count /
        total * idf, the same arithmetic in float64) ordered by one stable sort, ties in order of first mention."""
        lengths = np.fromiter(map(len, posts), dtype=np.intp, count=len(posts))
        words = list(chain.from_iterable(posts))
        if not words:
            return [[] for _ in posts]
        distinct = list(dict.fromkeys(words))
        numbers = dict(zip(distinct, range(len(distinct)), strict=True))
        word_numbers = np.fromiter(map(numbers.__getitem__, words), dtype=np.intp, count=len(words))
        idf = np.fromiter(map(self.idf.get, distinct, repeat(self.unseen_idf)), dtype=np.float64, count=len(distinct))
        post_of = np.repeat(np.arange(len(posts)), lengths)
        # One entry per (post, word), in order of first mention (within a post, as a Counter of its words has them).
        _, first, counts = np.unique(post_of * len(distinct) + word_numbers, return_index=True, return_counts=True)
        mention_order = np.argsort(first, kind="stable")
        first, counts = first[mention_order], counts[mention_order]
        entry_posts, entry_words = post_of[first], word_numbers[first]
        scores = counts / lengths[entry_posts] * idf[entry_words]
        # Best first within each post; lexsort is stable, so equal scores keep the order of first mention.
        ranked = np.lexsort((-scores, entry_posts))
        entry_posts = entry_posts[ranked]
        post_starts = np.searchsorted(entry_posts, np.arange(len(posts)))
        kept = ranked[np.arange(len(ranked)) - post_starts[entry_posts] < top_k]
        pairs = list(zip(map(distinct.__getitem__, entry_words[kept].tolist()), scores[kept].tolist(), strict=True))
        kept_per_post = np.minimum(np.bincount(entry_posts, minlength=len(posts)), top_k).tolist()
        ends = list(accumulate(kept_per_post))
        return [pairs[end - size : end] for size, end in zip(kept_per_post, ends, strict=True)]
