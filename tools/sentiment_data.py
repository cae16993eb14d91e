"""Labelled posts: our files in shared/data/sentiment (split once, for good) and any other labelled file.

Every file of ours is split by a hash of the post's text, so a post lands in the same split on
every machine and in every run: `train` and `calibration` (70% and 10%) train the model, whose
calibration curve and neutral band come from cross-fitted scores of those posts; `test` (20%) is
held out and only ever measured.

`read_rows` also reads files we have never seen (`yuqing eval sentiment --data DIR`): a JSON list
or JSON lines of objects with a text field (content, text or review) and a label, or a CSV/TSV file
with a header naming such columns (a .txt file holding either); labels 0/1, pos/neg,
positive/negative, 正面/负面 or emotions (English or Chinese names).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Sequence
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
LABEL_POLARITY: dict[str, Polarity] = {
    **EMOTION_POLARITY,
    "1": "pos", "pos": "pos", "positive": "pos", "正面": "pos", "积极": "pos",
    "0": "neg", "neg": "neg", "negative": "neg", "负面": "neg", "消极": "neg",
    "中性": "neutral",
    # SMP2020-EWECT's own release spells neutral "neural"; NLPCC-style Chinese emotion names.
    "neural": "neutral",
    "高兴": "pos", "喜悦": "pos", "喜好": "pos", "喜欢": "pos",
    "愤怒": "neg", "悲伤": "neg", "厌恶": "neg", "恐惧": "neg",
}
TEXT_FIELDS = ("content", "text", "review")
LABEL_FIELDS = ("label", "sentiment", "polarity")
WHOLE_NUMBER = re.compile(r"^([+-]?\d+)\.0+$")
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
LABELLED_SUFFIXES = frozenset({".json", ".jsonl", ".csv", ".tsv", ".txt"})


class DataFileError(ValueError):
    """A labelled file that cannot be read: which file, and what is wrong with it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class LabelledPost:
    text: str
    polarity: Polarity


@dataclass(frozen=True)
class DataSet:
    """One labelled file of ours: how to read it and whether it trains the shipped model."""

    name: str
    file: str
    # weibo_senti_100k was labelled from its emoticons: its split is decided by the text without them
    # (so a post and its emoticon-less twin never straddle train and test), and it is measured both
    # with its emoticons, as the file has them, and without.
    emoticon_labelled: bool = False
    in_training: bool = True


DATA_SETS: tuple[DataSet, ...] = (
    DataSet("smp2020_virus_train", "smp2020_virus_train.json"),
    DataSet("smp2020_usual_eval", "smp2020_usual_eval.json"),
    DataSet("smp2020_virus_eval", "smp2020_virus_eval.json"),
    DataSet("cluemotion2020_valid", "cluemotion2020_valid.jsonl"),
    DataSet("weibo_senti_100k_subset", "weibo_senti_100k_subset.csv", emoticon_labelled=True),
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


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataFileError(path, f"cannot be read ({error.strerror})") from error
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataFileError(path, "is neither UTF-8 nor GB18030 text")


def _field(names: Sequence[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {name.strip().lower(): name for name in names}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _object_row(path: Path, where: str, item: object) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise DataFileError(path, f"{where}: expected an object with a text and a label field")
    text_key, label_key = _field(list(item), TEXT_FIELDS), _field(list(item), LABEL_FIELDS)
    if text_key is None or label_key is None:
        raise DataFileError(path, f"{where}: fields {sorted(item)}; expected one of {'/'.join(TEXT_FIELDS)} "
                                  f"and one of {'/'.join(LABEL_FIELDS)}")
    return str(item[text_key] or ""), str(item[label_key])


def _json_rows(path: Path, content: str) -> list[tuple[str, str]]:
    if content.lstrip().startswith("["):
        try:
            items = json.loads(content)
        except json.JSONDecodeError as error:
            raise DataFileError(path, f"not valid JSON (line {error.lineno}: {error.msg})") from error
        return [_object_row(path, f"item {i}", item) for i, item in enumerate(items)]
    rows = []
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFileError(path, f"line {number} is not a JSON object ({error.msg})") from error
            rows.append(_object_row(path, f"line {number}", item))
    return rows


def _delimiter(path: Path, content: str) -> str:
    if path.suffix.lower() == ".csv":
        return ","
    if path.suffix.lower() == ".tsv":
        return "\t"
    return "\t" if "\t" in content.split("\n", 1)[0] else ","


def _table_rows(path: Path, content: str) -> list[tuple[str, str]]:
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=_delimiter(path, content))
    columns = reader.fieldnames or []
    text_key, label_key = _field(columns, TEXT_FIELDS), _field(columns, LABEL_FIELDS)
    if text_key is None or label_key is None:
        raise DataFileError(path, f"columns {columns}; expected a header with a text column "
                                  f"({'/'.join(TEXT_FIELDS)}) and a label column ({'/'.join(LABEL_FIELDS)})")
    return [(row[text_key] or "", row[label_key] or "") for row in reader]


def _looks_like_json(content: str) -> bool:
    return content.lstrip()[:1] in ("[", "{")


def looks_labelled(path: Path) -> bool:
    """Whether a file may hold labelled posts: any .json/.jsonl/.csv/.tsv file; a .txt file (the
    original SMP2020-EWECT and CLUEmotion2020 files are .txt) only if it holds JSON or starts with
    a header naming a text and a label column."""
    if path.suffix.lower() not in LABELLED_SUFFIXES:
        return False
    if path.suffix.lower() != ".txt":
        return True
    try:
        with path.open("rb") as handle:
            text = handle.read(65536).decode("utf-8-sig", errors="ignore")
    except OSError:
        return True  # read_rows will say what is wrong with it
    if _looks_like_json(text):
        return True
    header = next(csv.reader([text.split("\n", 1)[0].strip()], delimiter=_delimiter(path, text)), [])
    return _field(header, TEXT_FIELDS) is not None and _field(header, LABEL_FIELDS) is not None


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(text, raw label) pairs of a labelled JSON list, JSON-lines, CSV or TSV file (or such a .txt file)."""
    if path.suffix.lower() not in LABELLED_SUFFIXES:
        raise DataFileError(path, f"not a labelled data file (expected {', '.join(sorted(LABELLED_SUFFIXES))})")
    content = _decode(path)
    if path.suffix.lower() in (".csv", ".tsv") or (path.suffix.lower() == ".txt" and not _looks_like_json(content)):
        return _table_rows(path, content)
    return _json_rows(path, content)


def _normal_label(raw_label: str) -> str:
    label = raw_label.strip().lower()
    return WHOLE_NUMBER.sub(r"\1", label)  # "1.0" as spreadsheets write it is "1"


def polarity_of(raw_label: str) -> Polarity | None:
    """Polarity of a label as data sets write it; None for labels without one (surprise)."""
    return LABEL_POLARITY.get(_normal_label(raw_label))


def _keyed_posts(path: Path, *, split_key_without_emoticons: bool, emoticons: bool) -> list[tuple[str, LabelledPost]]:
    """(split key, post) of every row with a polarity; a text seen before (by its key) is kept once."""
    posts: list[tuple[str, LabelledPost]] = []
    seen: set[str] = set()
    rows = read_rows(path)
    # Star ratings (1-5) or three classes (0/1/2) would silently read 1 as positive and drop the rest.
    numeric = {label for label in map(_normal_label, (label for _, label in rows)) if NUMBER.fullmatch(label)}
    if numeric - {"0", "1"}:
        raise DataFileError(path, f"numeric labels other than 0/1 ({', '.join(sorted(numeric))}): which of "
                                  "them are positive is unknown; use 0/1, pos/neg or positive/negative")
    for raw_text, raw_label in rows:
        polarity = polarity_of(raw_label)
        text = raw_text.replace("\ufeff", "").strip()
        bare = EMOTICON.sub(" ", text).strip()
        key = bare if split_key_without_emoticons else text
        # A text is kept once; without emoticons, posts differing only in them are one text.
        distinct = key if emoticons else bare
        if polarity is None or not key or not distinct or distinct in seen:
            continue
        seen.add(distinct)
        posts.append((key, LabelledPost(text if emoticons else bare, polarity)))
    return posts


def load_data_set(directory: Path, data_set: DataSet, *, emoticons: bool = True) -> dict[Split, list[LabelledPost]]:
    """The posts of one file of ours by split; `emoticons=False` removes emoticon codes from the texts."""
    splits: dict[Split, list[LabelledPost]] = {"train": [], "calibration": [], "test": []}
    for key, post in _keyed_posts(directory / data_set.file, split_key_without_emoticons=data_set.emoticon_labelled,
                            emoticons=emoticons):
        splits[split_of(key)].append(post)
    return splits


def load_labelled_file(path: Path, *, emoticons: bool = True) -> list[LabelledPost]:
    """Every post of any labelled file that has a polarity label, each distinct text once."""
    return [post for _, post in _keyed_posts(path, split_key_without_emoticons=False, emoticons=emoticons)]


def text_key(text: str) -> str:
    """A short digest of a post's text without emoticons and whitespace: the same post, however
    copied (emoticons kept or not, spacing changed), gets the same key."""
    bare = "".join(EMOTICON.sub("", text).split())
    return hashlib.sha1(bare.encode("utf-8")).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """sha256 of a data file: floors measured on it are only valid for these exact bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shared_topics_dir(sentiment_dir: Path) -> Path:
    """shared/data/topics, beside shared/data/sentiment."""
    return sentiment_dir.parent / "topics"


NEWS_HEADLINES_FILE = "thucnews_titles_dev.txt"


def news_headlines(topics_dir: Path, split: Split) -> list[str]:
    """THUCNews headlines of one split (by the same hash as the posts), every class.

    They train the neutral part as what a factual report reads like; the test split is only measured.
    """
    path = topics_dir / NEWS_HEADLINES_FILE
    titles = [line.rsplit("\t", 1)[0].strip() for line in _decode(path).splitlines() if "\t" in line]
    return [t for t in dict.fromkeys(titles) if t and split_of(t) == split]


LABELS_DIR = Path(__file__).resolve().parent / "sentiment_labels"


@dataclass(frozen=True)
class LabelledNews:
    """A hand-labelled news headline or page (tools/sentiment_labels/README.md says how)."""

    name: str  # the headline, or the page's path under shared/data/html
    polarity: Polarity
    factual: bool  # a report of facts, not an opinion piece, a feature or an advertisement


def hand_labelled(file_name: str) -> list[LabelledNews]:
    """Rows of one of our hand-labelled files: name, label (positive/neutral/negative), factual yes/no, a note."""
    rows = []
    names = {"positive": "pos", "negative": "neg", "neutral": "neutral"}
    for line in (LABELS_DIR / file_name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, label, factual = line.split("\t")[:3]
            rows.append(LabelledNews(name, names[label], factual == "yes"))  # type: ignore[arg-type]
    return rows
