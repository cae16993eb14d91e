"""The briefing's charts as inline SVG, drawn by matplotlib.

Each chart is SVG for HTML and PDF, or PNG (`png=True`) for Word, which cannot show SVG everywhere.
In SVG, text stays text (`svg.fonttype: none`): no CJK font ships with matplotlib and none may be
downloaded, so the reader's browser draws the Chinese labels with its own fonts (the family list
below names the usual ones on Windows, macOS and Linux desktops). Matplotlib lays the labels out
with DejaVu metrics, which lack CJK glyphs, so Chinese labels are only ever anchored by their end
or middle (`text-anchor`) and margins are reserved from their length, never measured. Legends are
drawn in HTML beside the chart for the same reason. A PNG is drawn here, with the CJK face the
machine has (Debian's fonts-noto-cjk or WenQuanYi; boxes where it has none).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports are written headless; never open a window

from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.briefing import TrendPoint

BLUE = "#2f5d9e"
RED = "#c0392b"
GREY = "#9aa5b1"
GREEN = "#2e8b57"
SENTIMENT_COLOURS = {"positive": GREEN, "neutral": GREY, "negative": RED, "unknown": "#d5dbe1"}
# A .ttc collection is read at its first face: Debian's Noto Sans CJK file shows as "Noto Sans CJK JP".
CJK_FONTS = ["Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC",
             "WenQuanYi Micro Hei", "SimHei", "Noto Sans CJK JP", "DejaVu Sans"]
CJK_FILE_MARKS = ("cjk", "wqy", "wenquanyi", "sourcehan", "droidsansfallback", "simhei", "msyh")
FONT_SIZE = 9.0
WIDTH_INCHES = 6.8
PNG_DPI = 160


@contextmanager
def _style(name: str) -> Iterator[None]:
    rc: dict[Any, Any] = {  # matplotlib types the keys as a Literal of every rc name
        "svg.fonttype": "none",
        # Element ids derive from the salt: one salt per chart keeps ids unique within the page
        # and the output the same from run to run.
        "svg.hashsalt": f"yuqing-{name}",
        "font.family": "sans-serif",
        "font.sans-serif": CJK_FONTS,
        "font.size": FONT_SIZE,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#b0b8c1",
        "xtick.color": "#4a5560",
        "ytick.color": "#4a5560",
    }
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font")
        yield


@cache
def _register_cjk_faces() -> None:
    """Matplotlib keeps its list of fonts in a per-user cache and misses faces installed after it was
    built (fonts-noto-cjk installed by `make report-deps` on a machine that drew charts before)."""
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known and any(mark in path.lower() for mark in CJK_FILE_MARKS):
            with suppress(OSError, RuntimeError):  # an unreadable font file is skipped, not fatal
                font_manager.fontManager.addfont(path)


def _output(figure: Figure, key: str, name: str, png: bool) -> str | bytes:
    if not png:
        return _svg(figure, key, name)
    _register_cjk_faces()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _svg(figure: Figure, key: str, name: str) -> str:
    """The figure as an `<svg>` element to paste into HTML (no XML prolog, no fixed pixel size).

    Matplotlib numbers its element ids per figure (`figure_1`, `axes_1`...), so several charts in
    one page would repeat them: every id and reference to one gets the chart's key as a prefix.
    """
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    markup = buffer.getvalue()
    markup = markup[markup.index("<svg"):]
    markup = re.sub(r'(\sid="|href="#|url\(#)', lambda m: f"{m.group(1)}{key}-", markup)
    # Scale with the page (and the A4 printout) instead of a fixed point size.
    markup = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r"<svg\1", markup, count=1)
    # Bar links narrow the page they are on; matplotlib would open each in a new window.
    markup = markup.replace(' target="_blank"', "")
    return markup.replace("<svg", f'<svg class="chart" role="img" aria-label="{escape(name)}"', 1)


def _link(bars: Iterable[Artist], urls: Sequence[str] | None) -> None:
    """Make each bar a link (the console narrows its search to what a bar counts)."""
    for bar, url in zip(bars, urls or (), strict=False):
        bar.set_url(url)


def volume_chart(points: Sequence[TrendPoint], *, interval: str, key: str, name: str, png: bool = False,
                 urls: Sequence[str] | None = None) -> str | bytes:
    """Bars of all posts per hour or day with the negative ones overlaid in red; `urls`, one per point, make
    the bars links (SVG only)."""
    with _style(key):
        figure = Figure(figsize=(WIDTH_INCHES, 2.3))
        axes = figure.add_subplot()
        xs = range(len(points))
        _link(axes.bar(xs, [p.total for p in points], color=BLUE, width=0.75), urls)
        _link(axes.bar(xs, [p.negative for p in points], color=RED, width=0.75), urls)
        step = 3 if interval == "hour" else 1
        axes.set_xticks(list(xs)[::step])
        axes.set_xticklabels([_tick(p, interval) for p in points][::step])
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.set_xlim(-0.6, len(points) - 0.4)
        # Counts start at zero; an empty span still shows a plain 0-1 axis rather than ±0.05.
        axes.set_ylim(0, max((p.total for p in points), default=0) * 1.08 or 1)
        axes.grid(axis="y", color="#e3e7eb", linewidth=0.6)
        axes.set_axisbelow(True)
        figure.subplots_adjust(left=0.07, right=0.99, top=0.95, bottom=0.14)
        return _output(figure, key, name, png)


def _tick(point: TrendPoint, interval: str) -> str:
    return f"{point.start:%H}:00" if interval == "hour" else f"{point.start.month}/{point.start.day}"


def sentiment_chart(counts: dict[str, int], labels: dict[str, str], *, key: str, name: str, png: bool = False
                    ) -> str | bytes:
    """A ring of positive, neutral and negative shares, each labelled with its name and percentage."""
    order = [k for k in ("positive", "neutral", "negative", "unknown") if counts.get(k)]
    total = sum(counts[k] for k in order)
    with _style(key):
        figure = Figure(figsize=(3.4, 2.6))
        axes = figure.add_subplot()
        axes.pie(
            [counts[k] for k in order], colors=[SENTIMENT_COLOURS[k] for k in order], startangle=90,
            counterclock=False, wedgeprops={"width": 0.42, "edgecolor": "white"},
            labels=[f"{labels.get(k, k)} {counts[k] / total:.0%}" for k in order], labeldistance=1.12,
        )
        axes.text(0, 0, str(total), ha="center", va="center", fontsize=13, color="#2b333b")
        axes.set_aspect("equal")
        figure.subplots_adjust(left=0.2, right=0.8, top=0.9, bottom=0.1)
        return _output(figure, key, name, png)


def bar_chart(rows: Sequence[tuple[str, int, int]], *, key: str, name: str, png: bool = False,
              urls: Sequence[str] | None = None) -> str | bytes:
    """Horizontal bars (label, total, negative), largest on top, negative part in red; `urls`, one per row,
    make the bars links (SVG only)."""
    rows = list(rows)[::-1]
    urls = list(urls)[::-1] if urls else None
    longest = max((len(label) for label, _, _ in rows), default=1)
    height = 0.55 + 0.28 * len(rows)
    with _style(key):
        figure = Figure(figsize=(WIDTH_INCHES / 2, height))
        axes = figure.add_subplot()
        ys = range(len(rows))
        totals = [total for _, total, _ in rows]
        _link(axes.barh(ys, totals, color=BLUE, height=0.62), urls)
        _link(axes.barh(ys, [negative for _, _, negative in rows], color=RED, height=0.62), urls)
        axes.set_yticks(list(ys))
        axes.set_yticklabels([label for label, _, _ in rows])
        peak = max(totals, default=0) or 1
        for y, total in zip(ys, totals, strict=True):
            axes.text(total + peak * 0.02, y, str(total), va="center", fontsize=FONT_SIZE - 1, color="#2b333b")
        axes.set_xlim(0, peak * 1.18)
        axes.xaxis.set_visible(False)
        axes.spines["bottom"].set_visible(False)
        axes.tick_params(axis="y", length=0)
        # Reserve one em per character (CJK glyphs are square) since the labels cannot be measured.
        label_inches = longest * FONT_SIZE / 72 + 0.12
        figure.subplots_adjust(left=min(0.5, label_inches / (WIDTH_INCHES / 2)), right=0.98,
                               top=1 - 0.1 / height, bottom=0.1 / height)
        return _output(figure, key, name, png)


def sparkline(values: Sequence[int], *, key: str, name: str) -> str:
    """A small line of daily counts, the last day marked, for a table cell."""
    with _style(key):
        figure = Figure(figsize=(1.4, 0.35))
        axes = figure.add_axes((0.02, 0.1, 0.96, 0.8))
        xs = range(len(values))
        axes.plot(xs, values, color=BLUE, linewidth=1.1)
        if values:
            axes.plot([len(values) - 1], [values[-1]], "o", color=RED, markersize=2.5)
        axes.set_ylim(-0.05 * (max(values, default=0) or 1), (max(values, default=0) or 1) * 1.1)
        axes.axis("off")
        return _svg(figure, key, name)
