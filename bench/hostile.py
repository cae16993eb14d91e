"""Hostile input, item by item: time and memory of the worst page and the worst line.

    python -m bench.hostile [--pages N] [--lines N]

1. N hostile pages (default 1,000, the 20 MB page and the 100k-attribute tag included) decoded
   and extracted as `yuqing extract` does (decode, extract, page problem, 政府信息公开 table).
2. N hostile lines (default 1,000, a 1 MB post and a 10 MB line included) read, enriched and
   written as `yuqing analyze` does, line by line.
3. 1 MB texts of each kind that made a masking pattern quadratic, masked, against masking 100 kB
   of the same: linear time keeps the time per byte about the same (ratio ~1; quadratic ~10).

Baseline, same run: one ordinary news page (the fixture) extracted, one ordinary post enriched.
Per item: wall time, and how far the process's peak memory (RSS) rose above its level before
the item. Targets (issue 9): no exception, and no item over 5 s or 500 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.hostile_inputs import hostile_lines, hostile_pages

REPO = Path(__file__).resolve().parent.parent
ORDINARY_PAGE = REPO / "tests" / "fixtures" / "news" / "news" / "202206" / "t20220601_1002.html"
TARGET_SECONDS = 5.0
TARGET_MB = 500


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(items: Iterable[tuple[str, bytes]], handle: Callable[[bytes], object]) -> list[tuple[str, float, float, str]]:
    """(kind, seconds, MB the peak rose by, exception or '') per item."""
    rows = []
    for kind, data in items:
        before = peak_mb()
        started = time.perf_counter()
        error = ""
        try:
            handle(data)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:120]
        rows.append((kind, time.perf_counter() - started, peak_mb() - before, error))
        del data
    return rows


def extract_page(body: bytes) -> None:
    """One page as `yuqing extract FILE` handles it."""
    from yuqing.cli.commands.extract import extract_page as extract

    extract(body, None, "http://x.cn/a.html")


def analyze_line(analyzer: object) -> Callable[[bytes], None]:
    from yuqing.cli.commands.analyze import MAX_LINE_BYTES, _output_line, post_from_line

    def handle(line: bytes) -> None:
        if len(line) > MAX_LINE_BYTES:  # what `bounded_lines` does: skipped unread
            return
        try:
            post, echoed = post_from_line(line)
            _output_line(analyzer.enrich(post), echoed)  # type: ignore[attr-defined]
        except (ValueError, RecursionError):  # a skipped line, as the command reports it
            pass

    return handle


def report(title: str, rows: list[tuple[str, float, float, str]], baseline: float) -> bool:
    times = sorted(seconds for _, seconds, _, _ in rows)
    slowest = max(rows, key=lambda row: row[1])
    hungriest = max(rows, key=lambda row: row[2])
    errors = [row for row in rows if row[3]]
    print(f"\n{title}: {len(rows)} items, baseline (an ordinary item) {baseline * 1000:.1f} ms")
    print(f"  exceptions: {len(errors)}")
    for kind, _, _, error in errors[:5]:
        print(f"    {kind}: {error}")
    print(f"  time per item: p50 {times[len(times) // 2] * 1000:.1f} ms, p99 {times[int(len(times) * 0.99)] * 1000:.1f} ms, "
          f"max {slowest[1]:.2f} s ({slowest[0]}) = {slowest[1] / baseline:.0f}x baseline; target < {TARGET_SECONDS:.0f} s")
    print(f"  largest rise of peak memory by one item: {hungriest[2]:.0f} MB ({hungriest[0]}); target < {TARGET_MB} MB")
    return not errors and slowest[1] < TARGET_SECONDS and hungriest[2] < TARGET_MB


def masking_linearity() -> bool:
    from analysis.privacy import mask_personal_data

    units = {"digits": "1", "local part without domain": "a", "dotted local part": "a.", "spaced digits": "1 ",
             "building numbers": "1号", "plates": "鲁A", "QQ labels": "QQ1"}
    print("\nmasking, time per byte at 1 MB against 100 kB (linear ~1, quadratic ~10):")
    worst = 0.0
    for name, unit in units.items():
        per_byte = []
        for size in (100_000, 1_000_000):
            text = unit * (size // len(unit)) + "@"
            started = time.process_time()
            mask_personal_data(text)
            per_byte.append((time.process_time() - started) / size)
        ratio = per_byte[1] / max(per_byte[0], 1e-12)
        worst = max(worst, ratio)
        print(f"  {name:28} {per_byte[1] * 1e9:7.1f} ns/byte at 1 MB, ratio {ratio:.2f}")
    return worst < 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=1000)
    args = parser.parse_args(argv)

    from analysis.enrich import Analyzer
    from workers.build import load_gazetteer, shipped_language
    from yuqing.config.settings import DEFAULT_DATA
    from yuqing.schema import Post

    ordinary = ORDINARY_PAGE.read_bytes()
    extract_page(ordinary)  # warm: imports, trafilatura's first-call set-up
    page_baseline = min(t for _, t, _, _ in measure([("ordinary", ordinary)] * 5, extract_page))
    pages_ok = report("pages through extract", measure(hostile_pages(args.pages), extract_page), page_baseline)

    language = shipped_language()
    analyzer = Analyzer(language, [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", language.segmenter))
    handle = analyze_line(analyzer)
    analyzer.enrich(Post(url="urn:warm", platform="other", source="bench", text="热身"))
    ordinary_lines = [("ordinary", json.dumps({"id": f"o{n}", "text": f"郓城县第{n}次停水了，物业不管"}).encode())
                      for n in range(5)]
    line_baseline = min(t for _, t, _, _ in measure(ordinary_lines, handle))
    with contextlib.redirect_stderr(io.StringIO()):
        lines_ok = report("lines through analyze", measure(hostile_lines(args.lines), handle), line_baseline)
    analyzer.close()

    masking_ok = masking_linearity()
    print(f"\npeak memory of this process: {peak_mb():.0f} MB")
    print("targets met" if pages_ok and lines_ok and masking_ok else "TARGETS MISSED")
    return 0 if pages_ok and lines_ok and masking_ok else 1


if __name__ == "__main__":
    sys.exit(main())
