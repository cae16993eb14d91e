"""The language resources analysis reads text with, read from the files shipped in `analysis/data/`:
jieba with its dictionary and our user dictionary, the stopwords and IDF table, and the sentiment
model (SnowNLP-format Bayes table, the two regressions, the calibration).

Tables derived from them (jieba's prefix dictionary, the sentiment model's weights) go through a
`stores.tables.TableKeeper`, which may keep them between processes. `workers.build` loads them once
per process and hands them to analysis, which opens none of these files itself.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import marshal
import math
import sqlite3
import sys
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

import analysis
from analysis.keywords import KeywordTable
from analysis.segment import Segmenter, jieba
from analysis.sentiment import Calibration, LinearHeads, ModelTables, SentimentModel, model_tables
from stores.sqlite import connect
from stores.tables import BuildEachTime, TableKeeper, own_file, write_kept_file

if TYPE_CHECKING:
    from jieba import Tokenizer
    from rjieba import Jieba as RustJieba

DATA = Path(analysis.__file__).resolve().parent / "data"
USER_DICT = DATA / "user_dict.txt"
STOPWORDS_FILE = DATA / "stopwords.txt"
IDF_FILE = DATA / "idf.txt"
# SnowNLP's Bayes.save/load append ".3" to this name on Python 3.
MODEL_FILE = DATA / "sentiment.marshal"
LINEAR_FILE = DATA / "sentiment_linear.bin.gz"
CALIBRATION_FILE = DATA / "sentiment_calibration.json"

jieba.setLogLevel(logging.WARNING)


# -- jieba ------------------------------------------------------------------------------------

def dictionary_key() -> str:
    """What jieba's prefix dictionary is built from: an upgrade or another dictionary builds a new one."""
    source = Path(str(jieba.__file__)).resolve().parent / jieba.DEFAULT_DICT_NAME
    stat = source.stat()
    return f"{jieba.__version__}|{source}|{stat.st_size}|{stat.st_mtime_ns}"


def prefix_dictionary(keeper: TableKeeper) -> tuple[dict[str, int], int]:
    """jieba's prefix dictionary (word or prefix -> count) and total count, as `Tokenizer.initialize`
    builds them, but kept by the table keeper: jieba reads its own cache through `marshal.load(file)`,
    three times slower than `marshal.loads` of the file's bytes (about 0.7 s against 0.22 s per process).
    The workers look it up in place instead (`vocabulary`); this loads it whole, for a keeper that keeps no file."""
    return keeper.kept_table(
        "jieba", dictionary_key(),
        lambda: jieba.Tokenizer.gen_pfdict(jieba.Tokenizer().get_dict_file()),
        lambda value: isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict)
        and isinstance(value[1], int),
    )


class KeptCounts:
    """jieba's prefix dictionary (word or prefix -> count, a prefix counting 0) looked up in place in a kept SQLite
    file, with the words this process adds on top: a worker looks up the few thousand words the terms analysis
    adds need, instead of loading all 580,000 entries at start (0.3 s of CPU and tens of MB). jieba's tokenizer
    reads and writes its FREQ only through `in`, `[]`, `get` and `[]=`."""

    def __init__(self, connection: sqlite3.Connection, counted: int) -> None:
        self._db = connection
        self._stored_counted = counted  # the sum of the stored counts
        self._known: dict[str, int | None] = {}  # word -> its count now (None: not in the dictionary), as read or set
        self._stored_of_set: dict[str, int | None] = {}  # word set in this process -> its stored count

    def _read(self, word: str) -> int | None:
        row = self._db.execute("SELECT count FROM counts WHERE word = ?", (word,)).fetchone()
        count = self._known[word] = None if row is None else row[0]
        return count

    def get(self, word: str, default: int | None = None) -> int | None:
        known = self._known
        count = known[word] if word in known else self._read(word)
        return default if count is None else count

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        count = self.get(word)
        if count is None:
            raise KeyError(word)
        return count

    def __setitem__(self, word: str, count: int) -> None:
        if word not in self._stored_of_set:
            self._stored_of_set[word] = self._known[word] if word in self._known else self._read(word)
        self._known[word] = count

    def counted(self) -> int:
        """The sum of all counts, as `sum(FREQ.values())` of jieba's own dictionary."""
        return self._stored_counted + sum((self._known[word] or 0) - (stored or 0)
                                          for word, stored in self._stored_of_set.items())


def counted(freq: dict[str, int] | KeptCounts) -> int:
    """The sum of the counts of a prefix dictionary (prefixes count 0)."""
    return freq.counted() if isinstance(freq, KeptCounts) else sum(freq.values())


def _write_counts(path: Path, freq: dict[str, int], total: int) -> None:
    db = connect(path, synchronous="OFF")  # a temporary file, put in place only once complete
    with db:
        db.execute("CREATE TABLE counts (word TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID")
        db.executemany("INSERT INTO counts VALUES (?, ?)", freq.items())
        db.execute("CREATE TABLE totals (total INTEGER NOT NULL, counted INTEGER NOT NULL)")
        db.execute("INSERT INTO totals VALUES (?, ?)", (total, sum(freq.values())))
    db.execute("PRAGMA journal_mode = DELETE")  # one file, for readers that open it read-only
    db.close()


def _read_counts(path: Path) -> tuple[KeptCounts, int] | None:
    """The kept counts and jieba's total, or None when the file is missing, not this user's own or broken."""
    if not own_file(path):
        return None
    db = connect(path, read_only=True, shared_between_threads=True)
    try:
        row = db.execute("SELECT total, counted FROM totals").fetchone()
        db.execute("SELECT count FROM counts WHERE word = ''").fetchone()
    except sqlite3.DatabaseError:
        db.close()
        return None
    if row is None:
        db.close()
        return None
    return KeptCounts(db, row[1]), row[0]


def vocabulary(keeper: TableKeeper) -> tuple[dict[str, int] | KeptCounts, int]:
    """jieba's prefix dictionary and total: looked up in place in the file `keeper` keeps for it, written by the
    first process to need it; without such a file, as `prefix_dictionary` gives them."""
    path = keeper.file_for("jieba-counts", dictionary_key(), ".sqlite3")
    if path is None:
        return prefix_dictionary(keeper)
    kept = _read_counts(path)
    if kept is not None:
        return kept
    freq, total = prefix_dictionary(BuildEachTime())
    write_kept_file(path, lambda file: _write_counts(file, freq, total))
    return freq, total


def jieba_tokenizer(keeper: TableKeeper | None = None) -> Tokenizer:
    """A jieba tokenizer with jieba's dictionary and our user dictionary, with a dictionary of its own;
    the prefix dictionary through `keeper` (default: built)."""
    tok = jieba.Tokenizer()
    # What `initialize` sets, from the faster cache.
    tok.FREQ, tok.total = vocabulary(keeper or BuildEachTime())
    tok.initialized = True
    if USER_DICT.exists():
        tok.load_userdict(str(USER_DICT))
    return tok


def user_dictionary_terms(path: Path = USER_DICT) -> list[str]:
    """The terms of a jieba user dictionary (a term, then optionally its count and part of speech)."""
    if not path.exists():
        return []
    return [line.split(" ")[0] for line in path.read_text(encoding="utf-8").splitlines()]


# A word no block of text can contain (jieba cuts only runs of CJK, letters, digits and +#&._%-): its count
# makes up jieba-rs's total to jieba's, and it is never cut out of a text.
TOTAL_MAKEWEIGHT = "\x00"


def _rust_jieba_class() -> type[RustJieba]:
    """rjieba's `Jieba`, its compiled module loaded alone: the package's `__init__` builds a default Jieba that
    nothing here uses (0.15 s of start-up and 25 MB). Registered under its own name, so that a later
    `import rjieba` finds it loaded (a PyO3 module is initialised only once in a process)."""
    name = "rjieba.rjieba"
    if name not in sys.modules:
        package = importlib.util.find_spec("rjieba")
        folder = Path(package.origin).parent if package is not None and package.origin else None
        compiled = next((path for suffix in importlib.machinery.EXTENSION_SUFFIXES
                         if folder is not None and (path := folder / f"rjieba{suffix}").exists()), None)
        if compiled is None:
            raise ModuleNotFoundError("rjieba's compiled module is not installed", name=name)
        spec = importlib.util.spec_from_file_location(name, compiled)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    jieba_class: type[RustJieba] = sys.modules[name].Jieba
    return jieba_class


def rust_jieba(tok: Tokenizer, terms: list[str]) -> RustJieba:
    """jieba-rs with the words, counts and total of `tok`, whose user dictionary's `terms` it adds: its
    HMM-off cut of a block is then `tok`'s, word for word.

    jieba-rs embeds jieba's dictionary. Each word's score is log(count) - log(total), so the totals must agree
    to the unit: a tie between two routes of the same words in another order (太|太太 and 太太|太, in
    太太太...) is then broken the same way, float rounding and all. jieba-rs's total is the sum of its words'
    counts; jieba's is more: it counts the twice-listed line of its dictionary (B超 3) twice, and a user term
    it already had (上访) both with its old count and its new one. The difference goes to a word that never
    occurs in a block."""
    cutter = _rust_jieba_class()()  # 0.15 s: its dictionary is parsed in Rust
    for term in terms:
        cutter.add_word(term, tok.FREQ[term], None)
    cutter.add_word(TOTAL_MAKEWEIGHT, tok.total - counted(tok.FREQ), None)
    return cutter


def load_segmenter(keeper: TableKeeper | None = None) -> Segmenter:
    tok = jieba_tokenizer(keeper)
    terms = user_dictionary_terms()
    return Segmenter(tok, rust_jieba(tok, terms), terms)


# -- keywords ---------------------------------------------------------------------------------

def load_keyword_table(stopwords_file: Path = STOPWORDS_FILE, idf_file: Path = IDF_FILE) -> KeywordTable:
    """Stopwords (words split by whitespace, `#` comment lines) and the IDF file (`word idf` lines after a
    `# documents N` header; tools/build_idf.py writes it). Without an IDF file every word is unseen."""
    stopwords: set[str] = set()
    for line in stopwords_file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            stopwords.update(line.split())
    idf: dict[str, float] = {}
    documents = 1
    if idf_file.exists():
        for line in idf_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("# documents"):
                documents = int(line.split()[-1])
            elif line and not line.startswith("#"):
                word, value = line.rsplit(" ", 1)
                idf[word] = float(value)
    # A word the corpus never saw weighs as one of a single document.
    return KeywordTable(frozenset(stopwords), idf, math.log(documents))


# -- sentiment --------------------------------------------------------------------------------

def read_calibration(path: Path) -> Calibration:
    return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))


def write_linear_heads(heads: LinearHeads, path: Path) -> None:
    """Tokens and weights, weights as 16-bit integers of one scale: a tenth of the size of a pickle."""
    tokens = sorted(heads.polarity.keys() | heads.neutral.keys())
    largest = max((abs(w) for table in (heads.polarity, heads.neutral) for w in table.values()), default=1.0)
    scale = largest / 32767 or 1.0
    packed = {
        "tokens": "\n".join(tokens),
        "polarity": array("h", [round(heads.polarity.get(t, 0.0) / scale) for t in tokens]).tobytes(),
        "neutral": array("h", [round(heads.neutral.get(t, 0.0) / scale) for t in tokens]).tobytes(),
        "scale": scale,
        "bias": [heads.polarity_bias, heads.neutral_bias],
    }
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(marshal.dumps(packed))


def read_linear_heads(path: Path) -> LinearHeads:
    with gzip.open(path, "rb") as handle:
        packed = marshal.loads(handle.read())
    tokens = packed["tokens"].split("\n") if packed["tokens"] else []
    scale = packed["scale"]
    tables = []
    for name in ("polarity", "neutral"):
        weights = array("h")
        weights.frombytes(packed[name])
        tables.append({t: w * scale for t, w in zip(tokens, weights, strict=True) if w})
    return LinearHeads(tables[0], tables[1], *packed["bias"])


def read_bayes_classes(model_file: Path) -> dict[str, Any]:
    """The classes of a Bayes model in SnowNLP's Bayes.save format (gzip of marshal), read without
    importing the snownlp package, whose __init__ loads its own segmenter and tagger (~3 s CPU)."""
    with gzip.open(Path(f"{model_file}.3"), "rb") as handle:
        classes: dict[str, Any] = marshal.loads(handle.read())["d"]
    return classes


def table_key(model_file: Path, linear_file: Path | None, calibration: Calibration) -> str:
    """What the kept tables are derived from: the digest of the model files' bytes and the weights
    used to combine them."""
    digest = hashlib.sha1(Path(f"{model_file}.3").read_bytes())
    if linear_file is not None and linear_file.exists():
        digest.update(linear_file.read_bytes())
    return f"{digest.hexdigest()}|{calibration.emoticon_weight!r}|{calibration.nb_weight!r}"


def load_sentiment_model(model_file: Path = MODEL_FILE, calibration_file: Path = CALIBRATION_FILE,
                         linear_file: Path | None = LINEAR_FILE, keeper: TableKeeper | None = None) -> SentimentModel:
    """The Bayes table and the two regressions with their calibration. With a `keeper` (the shipped model)
    the combined table, about 0.3 s of work per process, may be kept between processes under `table_key`;
    without one (models being trained and measured, not worth keeping) it is built."""
    calibration = read_calibration(calibration_file)

    def build() -> ModelTables:
        heads = read_linear_heads(linear_file) if linear_file is not None and linear_file.exists() else None
        bayes = read_bayes_classes(model_file) if calibration.nb_weight else None
        return model_tables(calibration, heads, bayes)

    if keeper is None:
        return SentimentModel(calibration, build())
    return SentimentModel(calibration, keeper.kept_table(
        "sentiment", table_key(model_file, linear_file, calibration), build,
        lambda v: isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], dict)))
