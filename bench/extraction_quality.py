"""Extraction quality on the real saved pages: Yuqing's extractor against plain trafilatura defaults.

    .venv/bin/python -m bench.extraction_quality [--details]

Scored per field, against hand-checked truth (bench/data/extraction_truth.yaml):
- title: exact headline (whitespace ignored);
- date: publication day;
- body, the page with a full expected text (newspaper's sohu test page): character F1;
- body, every page: "lead found" (the body holds the page's meta description when that text is
  article text) and "link share" (share of body characters that are link texts: navigation
  and related-article lists; lower is better).
Neither extractor has seen these pages: Yuqing's rules are general, no per-site selectors.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml.html
import trafilatura
import yaml

from bench.real_pages import HTML_DIR, html_files
from spiders.extract import extract_article
from spiders.parsing import decode_page

TRUTH_FILE = Path(__file__).resolve().parent / "data" / "extraction_truth.yaml"
# Full expected bodies. (goose3's JSON keeps only a 150-character excerpt of its page: its lead
# is checked through the meta-description rule instead.)
EXPECTED_TEXT = {
    "newspaper_sohu/chinese_article.html": lambda: (HTML_DIR / "newspaper_sohu/chinese.expected.txt").read_text(
        encoding="utf-8"),
}


@dataclass
class Result:
    title: str | None
    date: str | None
    text: str
    seconds: float
    year_inferred: bool = False


@dataclass
class Score:
    counts: Counter[str] = field(default_factory=Counter)
    f1: list[float] = field(default_factory=list)
    link_share: list[float] = field(default_factory=list)
    seconds: float = 0.0


def squash(text: str | None) -> str:
    return "".join((text or "").split())


def char_f1(found: str, expected: str) -> float:
    found_chars, expected_chars = Counter(squash(found)), Counter(squash(expected))
    overlap = sum((found_chars & expected_chars).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(found_chars.values()), overlap / sum(expected_chars.values())
    return 2 * precision * recall / (precision + recall)


def ours(html: str) -> Result:
    started = time.perf_counter()
    article = extract_article(html)
    seconds = time.perf_counter() - started
    date = article.published_at.date().isoformat() if article.published_at else None
    return Result(article.title, date, article.text, seconds, article.published_year_inferred)


def plain_trafilatura(html: str) -> Result:
    started = time.perf_counter()
    document: Any = trafilatura.bare_extraction(html, with_metadata=True, as_dict=True) or {}
    seconds = time.perf_counter() - started
    return Result(document.get("title"), document.get("date"), document.get("text") or "", seconds)


def page_facts(html: str) -> tuple[str | None, set[str]]:
    """The meta description's lead when it is article text, and the page's link texts."""
    tree = lxml.html.document_fromstring(html)
    links = {squash(a.text_content()) for a in tree.iter("a")}
    links = {text for text in links if len(text) >= 4}
    description = next((m.get("content") for m in tree.iter("meta")
                        if (m.get("name") or "").lower() == "description" and m.get("content")), None)
    lead = squash(description)[:15] if description else None
    visible = squash(" ".join(tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]")))
    return (lead if lead and len(lead) >= 10 and lead in visible else None), links


def link_share(text: str, links: set[str]) -> float:
    lines = [squash(line) for line in text.splitlines() if squash(line)]
    total = sum(len(line) for line in lines)
    return sum(len(line) for line in lines if line in links) / total if total else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="print every page's misses")
    args = parser.parse_args()
    html_files()  # exits with a message when the shared pages are absent
    truth = yaml.safe_load(TRUTH_FILE.read_text(encoding="utf-8"))["pages"]
    scores = {"yuqing": Score(), "trafilatura defaults": Score()}
    for name, expected in truth.items():
        html, _ = decode_page((HTML_DIR / name).read_bytes())
        lead, links = page_facts(html)
        for label, extractor in (("yuqing", ours), ("trafilatura defaults", plain_trafilatura)):
            result, score = extractor(html), scores[label]
            score.seconds += result.seconds
            misses = []
            if expected.get("title"):
                score.counts["title_scored"] += 1
                if squash(result.title) == squash(expected["title"]):
                    score.counts["title_ok"] += 1
                else:
                    misses.append(f"title {result.title!r}")
            if expected.get("date"):
                score.counts["date_scored"] += 1
                score.counts["date_inferred"] += result.year_inferred
                if result.date == str(expected["date"]):
                    score.counts["date_ok"] += 1
                    score.counts["date_inferred_ok"] += result.year_inferred
                else:
                    misses.append(f"date {result.date}")
            if lead:
                score.counts["lead_scored"] += 1
                if lead in squash(result.text):
                    score.counts["lead_ok"] += 1
                else:
                    misses.append("lead missing")
            if name in EXPECTED_TEXT:
                score.f1.append(char_f1(result.text, EXPECTED_TEXT[name]()))
            score.link_share.append(link_share(result.text, links))
            if args.details and misses:
                print(f"{label:>20} {name}: {'; '.join(misses)}")

    pages = len(truth)
    print(f"{pages} real pages (../shared/data/html), truth in {TRUTH_FILE.relative_to(TRUTH_FILE.parents[2])}")
    print(f"{'extractor':<22} {'title':>9} {'date':>9} {'lead':>9} {'F1':>6} {'link%':>6} {'pages/s':>8}")
    for label, score in scores.items():
        c = score.counts
        print(f"{label:<22} {c['title_ok']:>3}/{c['title_scored']:<5} {c['date_ok']:>3}/{c['date_scored']:<5} "
              f"{c['lead_ok']:>3}/{c['lead_scored']:<5} {sum(score.f1) / len(score.f1):>6.3f} "
              f"{100 * sum(score.link_share) / pages:>5.1f}% {pages / score.seconds:>8.1f}")
    mine, base = scores["yuqing"], scores["trafilatura defaults"]
    c = mine.counts
    print(f"yuqing: publication day right on {100 * c['date_ok'] / c['date_scored']:.1f}% of the pages that state one; "
          f"year inferred on {c['date_inferred']} (right on {c['date_inferred_ok']})")
    print(f"speed ratio yuqing / trafilatura defaults: {base.seconds / mine.seconds:.2f}x")


if __name__ == "__main__":
    main()
