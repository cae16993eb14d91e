"""Train and measure the sentiment model on shared/data/sentiment.

    python -m analysis.sentiment_training          # retrain, rewrite analysis/data/sentiment.*

Training uses SnowNLP's own API (`snownlp.sentiment.Sentiment().classifier.train` with words
already segmented by jieba, then `.save`). The calibration split then fits the score's slope
and the neutral band; the test split is never read here except by `evaluate`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from snownlp.sentiment import Sentiment as SnowSentiment

from analysis.segment import segment_post
from analysis.sentiment import CALIBRATION_FILE, MODEL_FILE, SentimentModel, tone_features
from analysis.sentiment_data import (
    DATA_SETS,
    DataSet,
    LabelledPost,
    Split,
    file_digest,
    load_data_set,
)

# Reposted words count half: the author's own words say more about the author's tone.
QUOTED_WEIGHT = 0.5
REPO_ROOT = Path(__file__).resolve().parent.parent


def _posts(directory: Path, split: Split, *, labelling_neutral: bool = False) -> list[LabelledPost]:
    """Posts of one split of every training file (only of files that label neutral posts, if asked)."""
    posts: list[LabelledPost] = []
    for data_set in DATA_SETS:
        if data_set.in_training:
            split_posts = load_data_set(directory, data_set)[split]
            if not labelling_neutral or any(p.polarity == "neutral" for p in split_posts):
                posts.extend(split_posts)
    return posts


def _neutral_band(model: SentimentModel, posts: Sequence[LabelledPost]) -> tuple[float, float]:
    """The symmetric band around 0.5 that gives the best three-way macro-F1 on the calibration posts."""
    scores = np.array([model.score(_log_odds(model, p.text)) for p in posts])
    truth = [p.polarity for p in posts]
    best = (0.0, 0.5)
    for half_width in np.arange(0.0, 0.46, 0.01):
        low, high = 0.5 - half_width, 0.5 + half_width
        predicted = np.where(scores < low, "neg", np.where(scores > high, "pos", "neutral"))
        f1 = f1_score(truth, predicted, average="macro", labels=["pos", "neg", "neutral"])
        if f1 > best[0]:
            best = (float(f1), float(half_width))
    return round(0.5 - best[1], 2), round(0.5 + best[1], 2)


def _log_odds(model: SentimentModel, text: str) -> float:
    segmented = segment_post(text)
    return model.log_odds(segmented.own, segmented.quoted)


def train(directory: Path, model_file: Path = MODEL_FILE, calibration_file: Path = CALIBRATION_FILE) -> dict:
    """Train the Bayes model on the train split, calibrate on the calibration split, save both."""
    documents = []
    for post in _posts(directory, "train"):
        if post.polarity == "neutral":
            continue
        segmented = segment_post(post.text)
        tokens = tone_features(segmented.own) + tone_features(segmented.quoted, char_bigrams=False)
        documents.append([tokens, post.polarity])
    snow = SnowSentiment()
    snow.classifier.train(documents)
    snow.save(str(model_file))

    # Provisional calibration so the model loads; the slope is then fitted on held-apart posts.
    calibration = {"slope": 1.0, "quoted_weight": QUOTED_WEIGHT, "neutral_band": [0.5, 0.5]}
    calibration_file.write_text(json.dumps(calibration), encoding="utf-8")
    model = SentimentModel(model_file, calibration_file)
    held_apart = _posts(directory, "calibration")
    polar = [p for p in held_apart if p.polarity != "neutral"]
    odds = np.array([[_log_odds(model, p.text)] for p in polar])
    platt = LogisticRegression(fit_intercept=False, class_weight="balanced", C=100.0)
    platt.fit(odds, [p.polarity == "pos" for p in polar])
    calibration["slope"] = round(float(platt.coef_[0][0]), 5)
    calibration_file.write_text(json.dumps(calibration), encoding="utf-8")

    model = SentimentModel(model_file, calibration_file)
    with_neutral = _posts(directory, "calibration", labelling_neutral=True)
    calibration["neutral_band"] = list(_neutral_band(model, with_neutral))
    calibration["trained_on"] = {
        d.file: file_digest(directory / d.file) for d in DATA_SETS if d.in_training
    }
    calibration["documents"] = len(documents)
    calibration_file.write_text(json.dumps(calibration, ensure_ascii=False, indent=1), encoding="utf-8")
    return calibration


@dataclass(frozen=True)
class Scores:
    """How one classifier did on one data set's held-out polar posts."""

    accuracy: float  # balanced accuracy: the accuracy on a set with as many positive as negative posts
    macro_f1: float
    positive_share: float  # share of posts called positive at 0.5
    posts_per_second: float


def measure(texts: Sequence[str], truth: Sequence[bool], score: Callable[[str], float]) -> Scores:
    """Score every text once (timed) and compare with the truth at threshold 0.5."""
    started = time.perf_counter()
    scores = [score(t) for t in texts]
    elapsed = time.perf_counter() - started
    predicted = np.array(scores) >= 0.5
    actual = np.array(truth, dtype=bool)
    recall_pos = float(predicted[actual].mean()) if actual.any() else 0.0
    recall_neg = float((~predicted[~actual]).mean()) if (~actual).any() else 0.0
    return Scores(
        accuracy=(recall_pos + recall_neg) / 2,
        macro_f1=float(f1_score(actual, predicted, average="macro")),
        positive_share=float(predicted.mean()),
        posts_per_second=len(texts) / elapsed if elapsed > 0 else math.inf,
    )


def held_out(directory: Path, data_set: DataSet) -> tuple[list[str], list[bool]]:
    """Texts and truth (True = positive) of a data set's test split, polar posts only."""
    posts = [p for p in load_data_set(directory, data_set)["test"] if p.polarity != "neutral"]
    return [p.text for p in posts], [p.polarity == "pos" for p in posts]


def main() -> None:
    from analysis.sentiment_data import shared_sentiment_dir

    directory = shared_sentiment_dir(REPO_ROOT)
    calibration = train(directory)
    print(json.dumps(calibration, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
