"""A report as a plain sequence of blocks, written once and rendered as HTML (for the browser and the
PDF) and as a Word document, so the three formats say the same words.

Text is split into runs: plain strings, or `Run`s marked strong or negative (red), which every
renderer shows in its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Run:
    text: str
    strong: bool = True
    negative: bool = False


Text = str | Run


def strong(value: object) -> Run:
    return Run(str(value))


def red(value: object) -> Run:
    return Run(str(value), negative=True)


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 1: 一、 sections; 2: (一) items inside one


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Text, ...]
    note: bool = False  # small print: explanations, data caveats

    @property
    def text(self) -> str:
        return "".join(r if isinstance(r, str) else r.text for r in self.runs)


@dataclass(frozen=True)
class Table:
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[int, ...] = ()  # columns aligned right
    flagged: tuple[int, ...] = ()  # rows shown as warnings


@dataclass(frozen=True)
class Chart:
    caption: str
    svg: str  # for HTML and PDF
    png: bytes  # for Word
    legend: bool = True  # the blue-all / red-negative key under volume and bar charts
    narrow: bool = False  # a small chart (bars of a few rows) drawn at part of the page width


@dataclass(frozen=True)
class Quote:
    """A stored post, quoted: the masked excerpt, where and when it appeared, and its link."""

    post_id: str
    label: str  # e.g. 负面 / 媒体 / 官方
    title: str | None
    excerpt: str
    source: str
    when: str
    url: str
    negative: bool = False


Block = Heading | Paragraph | Table | Chart | Quote


@dataclass
class Document:
    kind: str  # daily, weekly, event
    title: str  # the masthead: 舆情日报, 舆情周报, 舆情专报
    subtitle: str  # what it covers: a date, a week, an event's headline
    meta: list[str]  # period, generated at
    lead: tuple[Text, ...]
    blocks: list[Block] = field(default_factory=list)
    footer: str = ("说明：本报告由舆情监测系统依据监测数据自动生成，文中数字均可用 yuqing report verify 复核。"
                   "情感倾向为机器研判结果，仅供参考；文中个人信息已作脱敏处理。")
    generated_at: datetime | None = None

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def para(self, *runs: Text, note: bool = False) -> None:
        self.blocks.append(Paragraph(tuple(runs), note=note))

    def table(self, head: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = (),
              flagged: Sequence[int] = ()) -> None:
        self.blocks.append(Table(tuple(head), tuple(tuple(str(c) for c in row) for row in rows), tuple(numeric),
                                 tuple(flagged)))

    def text(self) -> str:
        """Every word of the document, for tests and search."""
        parts = [self.title, self.subtitle, *self.meta, Paragraph(self.lead).text]
        for block in self.blocks:
            if isinstance(block, Heading | Paragraph):
                parts.append(block.text)
            elif isinstance(block, Table):
                parts.extend(" ".join(row) for row in (block.head, *block.rows))
            elif isinstance(block, Chart):
                parts.append(block.caption)
            else:
                parts.append(f"{block.title or ''} {block.excerpt} {block.source} {block.url}")
        return "\n".join(parts)
