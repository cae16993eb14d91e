"""The real saved pages of ../shared/data/html (read-only), for the crawl and extraction benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = (ROOT / ".." / "shared" / "data" / "html").resolve()


def html_files() -> list[Path]:
    """Every saved HTML page; exits with a message (status 0) when the shared data is absent."""
    if not HTML_DIR.is_dir():
        print(f"skipped: the shared real pages are not at {HTML_DIR}")
        sys.exit(0)
    return sorted(HTML_DIR.rglob("*.html"))


def name_of(path: Path) -> str:
    return str(path.relative_to(HTML_DIR))
