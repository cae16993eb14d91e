"""A batch's keywords ranked at once (`KeywordTable.rank_many`) are each post's tf-idf ranking as a Counter gives it.

The reference below is the ranking as the enrich step made it post by post: count each candidate, score it count /
total * idf, sort best first with ties in order of first mention, keep the top few. Random batches with many ties
(few distinct idf values, repeated words) and posts without candidates check the batched sorts keep that order.
"""

from __future__ import annotations

import random
from collections import Counter
from operator import itemgetter

from analysis.keywords import KeywordTable


def _ranked_alone(table: KeywordTable, candidates: list[str], top_k: int) -> list[tuple[str, float]]:
    counts = Counter(candidates)
    scored = [(word, count / len(candidates) * table.idf_of(word)) for word, count in counts.items()]
    scored.sort(key=itemgetter(1), reverse=True)
    return scored[:top_k]


def test_a_batch_ranks_each_posts_candidates_as_one_post_alone() -> None:
    chance = random.Random(15)
    for _ in range(200):
        idf = {f"词{n}": chance.choice([1.0, 2.5, 7.25, 0.1 * chance.randint(1, 90)]) for n in range(chance.randint(1, 60))}
        table = KeywordTable(frozenset(), idf, unseen_idf=chance.choice([3.0, 9.9]))
        posts = [[f"词{chance.randint(0, 80)}" for _ in range(chance.choice([0, 1, 2, 5, 30, 100]))]
                 for _ in range(chance.randint(1, 12))]
        top_k = chance.choice([1, 3, 8])
        assert table.rank_many(posts, top_k) == [_ranked_alone(table, post, top_k) for post in posts]


def test_ties_keep_the_order_of_first_mention_and_nothing_is_ranked_from_nothing() -> None:
    table = KeywordTable(frozenset(), {"甲": 2.0, "乙": 2.0, "丙": 1.0}, unseen_idf=2.0)
    assert table.rank_many([["丙", "乙", "甲", "丁"], [], ["甲", "乙", "乙", "甲"]], 8) == [
        [("乙", 0.5), ("甲", 0.5), ("丁", 0.5), ("丙", 0.25)], [], [("甲", 1.0), ("乙", 1.0)]]
    assert table.rank_many([], 8) == []
    assert table.rank_candidates([], 8) == []
