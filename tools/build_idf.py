"""Build analysis/data/idf.txt, the document frequencies keywords are weighed by.

    python -m tools.build_idf [--extra FILE ...]

The corpus is real text: the THUCNews headlines and the Weibo posts in shared/data (their text
only, labels unused), the article text of the saved news and government pages, and any extra
plain-text files of our own crawl (one document per line). jieba's bundled IDF comes from a
general corpus; ours knows what is common in news, Weibo and government writing.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import lxml.html

from stores.language import IDF_FILE
from tools.sentiment_data import DATA_SETS, read_rows
from workers.build import shipped_language

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = (REPO_ROOT / ".." / "shared" / "data").resolve()
# A word must occur in this many documents to get its own IDF; rarer ones get the maximum.
MIN_DOCUMENTS = 2


def documents(shared: Path, extra: list[Path]) -> Iterator[str]:
    for line in (shared / "topics" / "thucnews_titles_dev.txt").read_text(encoding="utf-8").splitlines():
        yield line.split("\t")[0]
    for data_set in DATA_SETS:
        for text, _label in read_rows(shared / "sentiment" / data_set.file):
            yield text
    for page in sorted((shared / "html").rglob("*.htm*")):
        raw = page.read_bytes()
        try:
            html = raw.decode("utf-8")
        except UnicodeDecodeError:  # some saved pages are GB2312 whatever they declare
            html = raw.decode("gb18030", errors="replace")
        # Paragraph text is enough for document frequencies; no article extraction needed.
        for paragraph in lxml.html.fromstring(html).xpath("//p"):
            text = paragraph.text_content().strip()
            if len(text) > 20:
                yield text
    for path in extra:
        yield from (line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def build(shared: Path, extra: list[Path], out: Path = IDF_FILE) -> int:
    frequency: Counter[str] = Counter()
    count = 0
    language = shipped_language()
    for text in documents(shared, extra):
        count += 1
        frequency.update(set(language.keywords.candidate_words(language.segmenter.segment_post(text).all_words)))
    lines = [f"# documents {count}"]
    for word, df in sorted(frequency.items(), key=lambda item: (-item[1], item[0])):
        if df >= MIN_DOCUMENTS:
            lines.append(f"{word} {math.log(count / df):.4f}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="plain-text files, one document a line")
    args = parser.parse_args()
    count = build(SHARED, args.extra)
    print(f"{count} documents -> {IDF_FILE}")


if __name__ == "__main__":
    main()
