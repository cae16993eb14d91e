"""`yuqing trends [QUERY] [--by hour|day] [--facet NAME ...] [--json] [--chart FILE.svg|png]`:
how many posts match per hour or day with their sentiment mix, and the top values of each facet."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from reports.labels import subject_name
from search import FACET_NAMES, Bucket, Facets, QueryError, SearchBackendError, SearchQuery, open_index
from search.base import FACET_KINDS
from yuqing.cli.commands.search import QUERY_HELP, fit, quiet_client, user_error
from yuqing.cli.common import print_json, settings_from
from yuqing.schema import SHANGHAI
from yuqing.schema.names import SENTIMENT_NAMES, platform_name, sentiment_name

SENTIMENTS = ("positive", "neutral", "negative", "unknown")
EMERGING_TITLE = "新兴关键词（当日对比前 7 日）"
EVENT_LOOKUP = 10_000  # events read to name the top ones
EMPTY_RUN = 3  # consecutive empty buckets shown as one line
CHART_BUCKETS = 60  # the chart shows the latest buckets only
CJK_FILE_MARKS = ("wqy", "cjk", "yahei", "simhei", "pingfang", "hiragino", "sourcehan")


def facet_title(name: str) -> str:
    return EMERGING_TITLE if name == "emerging" else subject_name(FACET_KINDS[name])


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("trends", help="volume and sentiment over time, top places/keywords/events...",
                            description="Counts per hour or day with the sentiment mix, and facets, for any "
                                        "query (or everything). " + QUERY_HELP + ".")
    parser.add_argument("query", metavar="QUERY", nargs="?", default="", help="e.g. 老旧小区 (default: all posts)")
    parser.add_argument("--by", choices=["hour", "day"], default="day", help="bucket size (default day)")
    parser.add_argument("--facet", action="append", choices=FACET_NAMES, metavar="NAME",
                        help="facet to show, repeatable: " + ", ".join(FACET_NAMES) + " (default: all)")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="values per facet (default 10)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--chart", metavar="FILE", type=Path,
                        help=f"write the sentiment chart of the latest {CHART_BUCKETS} buckets to FILE.svg or FILE.png")
    parser.set_defaults(func=run)


def display(name: str, value: str, events: dict[str, str]) -> str:
    if name == "platforms":
        return platform_name(value)
    if name == "sentiments":
        return sentiment_name(value)
    if name == "events" and value in events:
        return f"{events[value]}（{value}）"
    return value


def as_json(facets: Facets, events: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "total": facets.total, "by": facets.by,
        "buckets": [{"start": b.start.astimezone(SHANGHAI).isoformat(), "count": b.count,
                     "sentiment": {label: b.sentiment.get(label, 0) for label in SENTIMENTS}}
                    for b in facets.buckets],
        "facets": {name: [{"value": v.value, "count": v.count,
                           **({"label": events[v.value]} if name == "events" and v.value in events else {})}
                          for v in values]
                   for name, values in facets.values.items()},
    }
    if facets.day is not None:
        out["emerging"] = {"day": facets.day.astimezone(SHANGHAI).date().isoformat(),
                           "keywords": [e.model_dump() for e in facets.emerging]}
    return out


def print_text(query: str, facets: Facets, events: dict[str, str]) -> None:
    unit = "小时" if facets.by == "hour" else "天"
    print(f"“{query or '全部'}” 共 {facets.total} 条（按{unit}）")
    stamp = "%Y-%m-%d %H:00" if facets.by == "hour" else "%Y-%m-%d"
    width = 17 if facets.by == "hour" else 11
    print(fit("时间", width) + "  " + "  ".join(fit(h, 6) for h in ["总数", *(SENTIMENT_NAMES[s] for s in SENTIMENTS)]))
    empty: list[Bucket] = []

    def close_gap() -> None:
        """Runs of empty buckets take one line (a trend over years would be pages of zeros)."""
        if len(empty) >= EMPTY_RUN:
            print(f"（{empty[0].start.astimezone(SHANGHAI):{stamp}} 至 "
                  f"{empty[-1].start.astimezone(SHANGHAI):{stamp}} 无）")
        else:
            for bucket in empty:
                row(bucket)
        empty.clear()

    def row(bucket: Bucket) -> None:
        numbers = [bucket.count, *(bucket.sentiment.get(s, 0) for s in SENTIMENTS)]
        print(fit(f"{bucket.start.astimezone(SHANGHAI):{stamp}}", width) + "  "
              + "  ".join(fit(str(n), 6) for n in numbers).rstrip())

    for bucket in facets.buckets:
        if bucket.count:
            close_gap()
            row(bucket)
        else:
            empty.append(bucket)
    for name, values in facets.values.items():
        shown = "、".join(f"{display(name, v.value, events)} {v.count}" for v in values) or "无"
        print(f"{facet_title(name)}：{shown}")
    if facets.day is not None:
        shown = "、".join(f"{e.value} {e.count}（前 7 日日均 {e.baseline:g}）" for e in facets.emerging) or "无"
        print(f"{EMERGING_TITLE}（{facets.day.astimezone(SHANGHAI):%Y-%m-%d}）：{shown}")


def _chinese_font(font_manager: Any, families: list[str]) -> bool:
    """Whether matplotlib can draw Chinese; registers installed CJK font files its cache missed."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    if known & set(families):
        return True
    for path in font_manager.findSystemFonts():
        if any(mark in Path(path).name.lower() for mark in CJK_FILE_MARKS):
            font_manager.fontManager.addfont(path)
    return bool({f.name for f in font_manager.fontManager.ttflist} & set(families))


def write_chart(facets: Facets, path: Path, title: str) -> None:
    """Stacked bars of the sentiment mix of the latest buckets, as SVG or PNG (by the suffix).
    SVG keeps its text as text (the viewer's fonts draw the Chinese); PNG needs a CJK font here."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    from reports.charts import CJK_FONTS, SENTIMENT_COLOURS

    png = path.suffix.lower() == ".png"
    if png and not _chinese_font(font_manager, CJK_FONTS[:-1]):
        print("未找到中文字体，PNG 图中的中文可能显示为方框；可改用 .svg（或安装 fonts-wqy-microhei）", file=sys.stderr)
    shown = facets.buckets[-CHART_BUCKETS:]
    stamp = "%m-%d %H时" if facets.by == "hour" else "%m-%d"
    labels = [f"{b.start.astimezone(SHANGHAI):{stamp}}" for b in shown]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": CJK_FONTS, "svg.fonttype": "none",
                                "axes.spines.top": False, "axes.spines.right": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font")
        figure = Figure(figsize=(max(6.0, min(10.0, 0.16 * len(labels) + 2)), 3.4))
        axes = figure.add_subplot()
        bottom = [0] * len(labels)
        for label in SENTIMENTS:
            heights = [b.sentiment.get(label, 0) for b in shown]
            axes.bar(range(len(labels)), heights, bottom=bottom, color=SENTIMENT_COLOURS[label],
                     label=SENTIMENT_NAMES[label], width=0.8)
            bottom = [x + h for x, h in zip(bottom, heights, strict=True)]
        step = max(1, len(labels) // 16)
        axes.set_xticks(list(range(len(labels)))[::step])
        axes.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)
        axes.set_title(title, fontsize=10)
        axes.legend(fontsize=8, frameon=False, ncols=4)
        figure.tight_layout()
        figure.savefig(path, format="png" if png else "svg", metadata=None if png else {"Date": None})


def run(args: argparse.Namespace) -> int:
    if args.chart is not None and args.chart.suffix.lower() not in (".svg", ".png"):
        print(f"--chart 需要 .svg 或 .png 文件：{args.chart}", file=sys.stderr)
        return 2
    names = args.facet or list(FACET_NAMES)
    query = SearchQuery(text=args.query)
    quiet_client(args)
    try:
        query.parsed()
        with open_index(settings_from(args)) as index:
            facets = index.facets(query, names, by=args.by, size=args.top)
            events = ({e.id: e.headline for e in index.events(limit=EVENT_LOOKUP)} if "events" in names else {})
    except (QueryError, SearchBackendError) as exc:
        return user_error(exc)
    if args.chart is not None:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        write_chart(facets, args.chart, f"“{args.query or '全部'}” 情感走势（共 {facets.total} 条）")
    if args.json:
        print_json(as_json(facets, events))
    else:
        print_text(args.query, facets, events)
        if args.chart is not None:
            print(f"图表 chart: {args.chart}")
    return 0
