"""The sentiment model's batched sums (`SentimentModel.logits_many`) read each post's words as `tone_features` does.

The batch walks negation with array operations over all its posts' words at once; these posts put a negator, a clause
end, an emoticon or a blank token where a walk that carried its state from one post or clause group to the next, or
counted the wrong words against a negator's reach, would weigh them otherwise.
"""

from __future__ import annotations

import math

from analysis import sentiment
from analysis.sentiment import NEGATED, Calibration, SentimentModel, tone_features

# A weight per feature, far apart (powers of two), so that any feature read otherwise changes the sums.
FEATURES = ["好", "满意", "服务", "!", "[赞]", "不", "没有", "很", *(NEGATED + word for word in ("好", "满意", "服务", "很"))]
WEIGHTS = {feature: complex(2.0 ** n, 2.0 ** -n) for n, feature in enumerate(FEATURES)}
WEIGHTS.update({"不好": 0.5 + 0.25j, "好满": 0.375 - 0.125j})  # two character bigrams


def _model() -> SentimentModel:
    return SentimentModel(Calibration(curve_x=(), curve_y=(), quoted_weight=0.5), (dict(WEIGHTS), 0.0, 0.0))


def _defined(own: list[str], quoted: list[str]) -> tuple[float, float]:
    """The logits of `tone_features`' tokens, added one by one."""
    linear, count = 0j, 0
    for token in tone_features(own):
        linear += WEIGHTS.get(token, 0j)
        count += 1
    chain, chain_count = 0j, 0
    for token in tone_features(quoted, char_bigrams=False) if quoted else ():
        chain += WEIGHTS.get(token, 0j)
        chain_count += 1
    linear += 0.5 * chain
    squares = count + 0.25 * chain_count
    return linear.real, linear.imag / (math.sqrt(squares) or 1.0)


POSTS: list[tuple[list[str], list[str]]] = [
    (["服务", "很", "不"], []),  # a negator last: the next post's first words are not negated
    (["好", "满意", "服务"], ["不"]),  # nor those of its repost chain, read apart
    (["不", "很", "好", "满意"], []),  # a negator first: the next two plain words are negated, not the third
    (["没有", "[赞]", "很", "，", "好"], []),  # an emoticon takes nothing of the reach; a clause end stops it
    (["不", " ", "好", "!", "满意"], []),  # a blank token is nothing; "!" ends the clause and is a word
    (["不", "的", "满意", "服务", "不", "好"], ["不", "很", "好", "满意"]),  # a toneless word takes nothing either
    ([], ["不", "满意"]),
    ([], []),
]


def test_a_batch_weighs_each_posts_words_as_tone_features_reads_them() -> None:
    model = _model()
    together = model.logits_many([model.word_sums(own, quoted) for own, quoted in POSTS])
    for (own, quoted), logits in zip(POSTS, together, strict=True):
        assert logits == _defined(own, quoted), (own, quoted)


def test_posts_read_in_another_order_or_alone_get_the_same_logits() -> None:
    model = _model()
    forward = model.logits_many([model.word_sums(own, quoted) for own, quoted in POSTS])
    backward = model.logits_many([model.word_sums(own, quoted) for own, quoted in reversed(POSTS)])
    assert backward[::-1] == forward
    assert [model.logits(own, quoted) for own, quoted in POSTS] == forward


def test_the_token_table_starts_again_rather_than_grow_past_its_bound(monkeypatch) -> None:
    monkeypatch.setattr(sentiment, "KNOWN_TOKENS_SIZE", 100)
    model = _model()
    for batch in range(10):
        posts = [[f"新词{batch}-{n}", "不", "好"] for n in range(30)]
        assert model.logits_many([model.word_sums(own) for own in posts]) == [_defined(own, []) for own in posts]
        assert len(model._tokens.numbers) <= 100
