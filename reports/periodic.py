"""Pieces the weekly and special reports share: a chart in both forms and how the response clocks of
their alerts went."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reports import charts
from reports.briefing import AlertSummary
from reports.document import Chart

CLOCK_STATES = {"met": "按时完成", "met_late": "超时完成", "overdue": "超时未完成", "pending": "进行中"}


def chart(caption: str, draw: Callable[..., str | bytes], *, narrow: bool = False, **kwargs: object) -> Chart:
    """A chart drawn as SVG (HTML, PDF) and as PNG (Word)."""
    svg = draw(**kwargs)
    png = draw(**kwargs, png=True)
    assert isinstance(svg, str) and isinstance(png, bytes)
    return Chart(caption, svg, png, narrow=narrow)


def bars(caption: str, rows: Sequence[tuple[str, int, int]], key: str) -> Chart:
    return chart(caption, charts.bar_chart, narrow=True, rows=rows, key=key, name=caption)


@dataclass(frozen=True)
class ClockTally:
    """How the response clocks of a set of alerts stood at the cutoff."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def words(self) -> str:
        if not self.total:
            return "无处置时限"
        parts = "、".join(f"{CLOCK_STATES[state]}{n}项" for state, n in self.counts.items() if n)
        return f"处置时限{self.total}项：{parts}"


def clock_tally(summaries: Sequence[AlertSummary]) -> ClockTally:
    counts: Counter[str] = Counter({state: 0 for state in CLOCK_STATES})
    for summary in summaries:
        counts.update(d.state for d in summary.deadlines)
    return ClockTally(dict(counts))
