"""The labelled posts in shared/data/sentiment, mapped to polarity and split once, for good.

Every file is split by a hash of the post's text, so a post lands in the same split on every
machine and in every run: `train` and `calibration` (70% and 10%) train the model, whose
calibration curve and neutral band come from cross-fitted scores of those posts; `test` (20%) is
held out and only ever measured.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from analysis.text import EMOTICON

Split = Literal["train", "calibration", "test"]
Polarity = Literal["pos", "neg", "neutral"]

# Emotion labels to polarity, as in shared/data/README.md; surprise is no polarity and is dropped.
EMOTION_POLARITY: dict[str, Polarity] = {
    "happy": "pos",
    "like": "pos",
    "happiness": "pos",
    "optimism": "pos",
    "gratitude": "pos",
    "angry": "neg",
    "sad": "neg",
    "fear": "neg",
    "disgust": "neg",
    "anger": "neg",
    "sadness": "neg",
    "neutral": "neutral",
}


@dataclass(frozen=True)
class LabelledPost:
    text: str
    polarity: Polarity


@dataclass(frozen=True)
class DataSet:
    """One labelled file: how to read it and whether it trains the shipped model."""

    name: str
    file: str
    # weibo_senti_100k was labelled from its emoticons: they are removed so the model cannot learn the labels.
    strip_emoticons: bool = False
    in_training: bool = True


DATA_SETS: tuple[DataSet, ...] = (
    DataSet("smp2020_virus_train", "smp2020_virus_train.json"),
    DataSet("smp2020_usual_eval", "smp2020_usual_eval.json"),
    DataSet("smp2020_virus_eval", "smp2020_virus_eval.json"),
    DataSet("cluemotion2020_valid", "cluemotion2020_valid.jsonl"),
    DataSet("weibo_senti_100k_subset", "weibo_senti_100k_subset.csv", strip_emoticons=True),
    # Food-delivery reviews are not Weibo: measured only, never trained on.
    DataSet("waimai_10k", "waimai_10k.csv", in_training=False),
)


def shared_sentiment_dir(repo_root: Path) -> Path:
    """shared/data/sentiment beside the repository (the project's read-only data folder)."""
    return (repo_root / ".." / "shared" / "data" / "sentiment").resolve()


def split_of(text: str) -> Split:
    """20% test, 10% calibration, 70% train, decided by the text alone."""
    bucket = int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) % 10
    if bucket < 2:
        return "test"
    if bucket == 2:
        return "calibration"
    return "train"


def read_rows(path: Path) -> Iterator[tuple[str, str]]:
    """(text, raw label) pairs of a JSON list, JSON-lines or label,review CSV file."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                yield row["review"], row["label"]
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    item = json.loads(line)
                    yield item["content"], item["label"]
    else:
        for item in json.loads(path.read_text(encoding="utf-8")):
            yield item["content"], item["label"]


def _polarity(raw: str) -> Polarity | None:
    if raw in ("0", "1"):
        return "pos" if raw == "1" else "neg"
    return EMOTION_POLARITY.get(raw)


def load_data_set(directory: Path, data_set: DataSet) -> dict[Split, list[LabelledPost]]:
    """The posts of one file by split; duplicates of a text are kept once."""
    splits: dict[Split, list[LabelledPost]] = {"train": [], "calibration": [], "test": []}
    seen: set[str] = set()
    for text, raw in read_rows(directory / data_set.file):
        polarity = _polarity(raw.strip())
        text = text.replace("\ufeff", "").strip()
        if data_set.strip_emoticons:
            text = EMOTICON.sub(" ", text).strip()
        if polarity is None or not text or text in seen:
            continue
        seen.add(text)
        splits[split_of(text)].append(LabelledPost(text, polarity))
    return splits


def file_digest(path: Path) -> str:
    """sha256 of a data file: floors measured on it are only valid for these exact bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
