"""The enrich step's outputs stay what they were while it is made faster.

Two pins, both on real text from ../shared/data (skipped without it):
- every field of every annotated post of a fixed stream (tests/enrich_golden.py) equals what the code wrote to
  tests/data/enrich_golden.jsonl.gz when it was generated;
- the sentiment model's quick path (`SentimentModel.logits`) gives, on every text of the shared sentiment and
  headline data, the logits of the definition the model is trained on: `token_counts(weighted_tokens(...))`
  dotted with the weights.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from analysis.events import reprint_simhashes
from analysis.sentiment import SentimentModel, token_counts, weighted_tokens
from tests import enrich_golden
from workers.build import shipped_language

needs_shared = pytest.mark.skipif(not enrich_golden.SHARED.is_dir(),
                                  reason=f"shared data not found at {enrich_golden.SHARED}")
# Named beside the office in some posts, so the clause-weighted path is taken too.
STANCE_TARGETS = ("市住建局", "老旧小区改造")


@needs_shared
def test_annotated_posts_are_what_they_were() -> None:
    expected = enrich_golden.read_golden()
    for golden in expected:  # written when the clues held the words hashed: the hashes are sent now
        clues = golden["clues"]
        clues["simhash"], clues["lead_simhash"] = reprint_simhashes(clues.pop("features"), clues.pop("lead"))
    found = list(enrich_golden.annotated_lines())
    assert len(found) == len(expected)
    wrong = {line["post"]["id"]: differences for line, golden in zip(found, expected, strict=True)
             if (differences := list(enrich_golden.differences(golden, line)))}
    assert not wrong, f"{len(wrong)} posts differ, e.g. {next(iter(wrong.items()))}"


def _sentiment_texts(shared: Path) -> list[str]:
    sentiment = shared / "sentiment"
    texts: list[str] = []
    for name in ("smp2020_usual_eval.json", "smp2020_virus_eval.json", "smp2020_virus_train.json"):
        texts += [item["content"] for item in json.loads((sentiment / name).read_text(encoding="utf-8"))]
    with (sentiment / "cluemotion2020_valid.jsonl").open(encoding="utf-8") as lines:
        texts += [json.loads(line)["content"] for line in lines if line.strip()]
    for name in ("weibo_senti_100k_subset.csv", "waimai_10k.csv"):
        with (sentiment / name).open(encoding="utf-8-sig", newline="") as rows:
            texts += [row["review"] for row in csv.DictReader(rows)]
    lines = (shared / "topics" / "thucnews_titles_dev.txt").read_text(encoding="utf-8").splitlines()
    return texts + [line.split("\t")[0] for line in lines]


def _defined_logits(model: SentimentModel, own: list[str], quoted: list[str],
                    targets: tuple[str, ...]) -> tuple[float, float]:
    counts, squares = token_counts(weighted_tokens(own, quoted, targets, quoted_weight=model.calibration.quoted_weight))
    linear = sum((weight * model.weights.get(token, 0j) for token, weight in counts.items()), 0j)
    return model.polarity_bias + linear.real, model.neutral_bias + linear.imag / (math.sqrt(squares) or 1.0)


@needs_shared
def test_a_batch_started_one_by_one_and_finished_together_is_annotated_as_posts_one_at_a_time() -> None:
    alone = [annotated.to_json() for annotated in map(enrich_golden.fresh_enricher().annotate, enrich_golden.stream())]
    enricher = enrich_golden.fresh_enricher()
    posts = list(enrich_golden.stream())
    together = [annotated.to_json() for first in range(0, len(posts), 300)
                for annotated in enricher.finish([enricher.start(post) for post in posts[first : first + 300]])]
    assert together == alone


@needs_shared
def test_sentiment_logits_are_the_trained_definitions_on_all_shared_text() -> None:
    language = shipped_language()
    model = language.sentiment
    texts = _sentiment_texts(enrich_golden.SHARED)
    assert len(texts) > 35_000
    mismatched = []
    for text in texts:
        segmented = language.segmenter.segment_post(text)
        for targets in ((), STANCE_TARGETS):
            found = model.logits(segmented.own, segmented.quoted, targets)
            defined = _defined_logits(model, segmented.own, segmented.quoted, targets)
            if not all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(found, defined, strict=True)):
                mismatched.append((text, targets, found, defined))
    assert not mismatched, f"{len(mismatched)} texts differ, e.g. {mismatched[0]}"


def test_the_enriched_post_is_built_as_model_construct_builds_it() -> None:
    from analysis.enrich import LEFT_TO_EVENTS, _enriched_post
    from yuqing.schema import EnrichedPost, Post, Sentiment, SentimentLabel

    post = Post(url="https://weibo.example.cn/1", platform="weibo", source="weibo", title="标题", text="正文",
                extra={"地点": "曹县"})
    analysis = {"masked_text": "正文", "sentiment": Sentiment(score=0.5, label=SentimentLabel.NEUTRAL),
                "keywords": ["正文"], "places": ["曹县"], "author_places": [], "policies": [], "departments": []}
    # Every field is named or left to the events step: a field added to the schema must be added here too.
    assert set(EnrichedPost.model_fields) == set(Post.model_fields) | set(analysis) | set(LEFT_TO_EVENTS)
    built = _enriched_post(dict(post.__dict__), **analysis)
    constructed = EnrichedPost.model_construct(**dict(iter(post)), **analysis)
    assert built == constructed
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump_json() == constructed.model_dump_json()
    assert list(built.__dict__) == list(constructed.__dict__)
