"""The query language analysts type, parsed once and compiled by each index backend.

    老旧小区 -表扬 platform:weibo since:7d
    (停水 OR 停电) place:牡丹区 "供水 公司"
    policy:hz-lxxq sentiment:负面 until:2026-11-30

Words are ANDed; `OR` (upper case) joins alternatives and binds looser than AND; `"..."` (or
“...”) is an exact phrase; `-` excludes a word, phrase, filter or group; parentheses group (full-
width （） too). Field filters: platform source author sentiment place policy department event
since until. `since:`/`until:` take a date (`2026-11-30`, `2026-11-30T08:00`) or a span back from
now (`30m`, `24h`, `7d`); a date-only `until:` includes that whole day. Platforms and sentiments
may be written in English or in their Chinese names (微博, 负面).

A malformed query raises `QueryError` with the 0-based character position and a Chinese message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, cast

from search.ngrams import query_tokens
from yuqing.schema import SHANGHAI, Platform, SentimentLabel
from yuqing.schema import now as current_time
from yuqing.schema.names import PLATFORM_NAMES, SENTIMENT_NAMES

FieldName = Literal["platform", "source", "author", "sentiment", "place", "policy", "department", "event",
                    "since", "until"]
FIELDS: tuple[FieldName, ...] = ("platform", "source", "author", "sentiment", "place", "policy", "department",
                                 "event", "since", "until")


class QueryError(ValueError):
    """A malformed query: `position` is the 0-based character where it goes wrong."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(f"查询语句第 {position + 1} 个字符处有误：{message}")


# -- the syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Words that must occur in the title or text. `phrase` keeps them in order and adjacent;
    otherwise the string is one word as typed (matched as a substring, see `search.ngrams`)."""

    value: str
    phrase: bool = False


@dataclass(frozen=True)
class Filter:
    """`field:value` for a keyword field. Platform and sentiment values are normalised to their
    English codes; the others are compared exactly."""

    name: FieldName
    value: str


@dataclass(frozen=True)
class TimeRange:
    """A `since:` or `until:` bound (since inclusive, until exclusive)."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Text | Filter | TimeRange | Not | And | Or


@dataclass(frozen=True)
class Query:
    """A parsed query: `root` is None for an empty query (everything matches)."""

    text: str
    root: Node | None
    now: datetime = field(default_factory=current_time)

    def texts(self) -> list[Text]:
        """The words and phrases the query asks for (not the excluded ones): what snippets mark."""
        return list(_positive_texts(self.root, negated=False))

    def time_range(self) -> TimeRange:
        """The tightest since/until the query imposes on every match (top-level bounds only)."""
        since: datetime | None = None
        until: datetime | None = None
        nodes = self.root.children if isinstance(self.root, And) else (self.root,) if self.root else ()
        for node in nodes:
            if isinstance(node, TimeRange):
                if node.since and (since is None or node.since > since):
                    since = node.since
                if node.until and (until is None or node.until < until):
                    until = node.until
        return TimeRange(since, until)


def _positive_texts(node: Node | None, *, negated: bool) -> Iterator[Text]:
    if isinstance(node, Text) and not negated:
        yield node
    elif isinstance(node, Not):
        yield from _positive_texts(node.child, negated=not negated)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _positive_texts(child, negated=negated)


# -- the parser --------------------------------------------------------------------------------

_OPEN = "(（"
_CLOSE = ")）"
_QUOTES = {'"': '"', "“": "”", "”": "”"}
_COLONS = ":："
_SPACE = re.compile(r"\s")
_FIELD_NAME = re.compile(r"[A-Za-z_]+")
_RELATIVE = re.compile(r"(\d+)\s*(m|min|h|d|w)", re.IGNORECASE)
_SPAN_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")

_PLATFORMS = {p.value: p.value for p in Platform} | {name: str(code) for code, name in PLATFORM_NAMES.items()}
_SENTIMENTS = {s.value: s.value for s in SentimentLabel} | {
    name: str(code) for code, name in SENTIMENT_NAMES.items() if code in set(SentimentLabel)}


@dataclass
class _Token:
    kind: Literal["word", "phrase", "field", "or", "open", "close", "minus"]
    position: int
    value: str = ""
    name: str = ""  # field name for kind == "field"
    quoted: bool = False  # a field value given in quotes


class _Parser:
    def __init__(self, text: str, moment: datetime) -> None:
        self.text = text
        self.now = moment
        self.tokens = list(self._tokenize())
        self.at = 0

    def error(self, position: int, message: str) -> QueryError:
        return QueryError(self.text, position, message)

    # tokens -------------------------------------------------------------------------------

    def _quoted(self, start: int) -> tuple[str, int]:
        """The text inside the quote at `start` and the index after the closing quote."""
        close = _QUOTES[self.text[start]]
        end = self.text.find(close, start + 1)
        if end < 0:
            raise self.error(start, "引号没有闭合")
        return self.text[start + 1:end], end + 1

    def _bare(self, start: int) -> int:
        """The end of an unquoted word: up to whitespace, a parenthesis or a quote."""
        end = start
        while end < len(self.text) and not (_SPACE.match(self.text[end]) or self.text[end] in _OPEN + _CLOSE
                                            or self.text[end] in _QUOTES):
            end += 1
        return end

    def _tokenize(self) -> Iterator[_Token]:
        text = self.text
        i = 0
        while i < len(text):
            ch = text[i]
            if _SPACE.match(ch):
                i += 1
            elif ch in _OPEN:
                yield _Token("open", i)
                i += 1
            elif ch in _CLOSE:
                yield _Token("close", i)
                i += 1
            elif ch in _QUOTES:
                value, end = self._quoted(i)
                yield _Token("phrase", i, value)
                i = end
            elif ch == "-" and i + 1 < len(text) and not _SPACE.match(text[i + 1]):
                yield _Token("minus", i)
                i += 1
            elif ch == "-":
                raise self.error(i, "减号后面缺少要排除的词")
            else:
                end = self._bare(i)
                word = text[i:end]
                colon = next((k for k, c in enumerate(word) if c in _COLONS), -1)
                if word == "OR":
                    yield _Token("or", i)
                elif colon > 0 and _FIELD_NAME.fullmatch(word[:colon]):
                    name = word[:colon].lower()
                    if name not in FIELDS:
                        raise self.error(i, f"没有“{word[:colon]}”这个字段（可用：{'、'.join(FIELDS)}）")
                    value_at = i + colon + 1
                    if value_at < len(text) and text[value_at] in _QUOTES and value_at == end:
                        value, end = self._quoted(value_at)
                        yield _Token("field", i, value.strip(), name, quoted=True)
                    else:
                        value = word[colon + 1:]
                        if not value:
                            raise self.error(value_at, f"“{name}:”后面缺少取值")
                        yield _Token("field", i, value, name)
                else:
                    yield _Token("word", i, word)
                i = end

    # grammar: or := and ('OR' and)* ; and := unary+ ; unary := '-' unary | primary -------------

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.parse_or()
        extra = self.peek()
        if extra is not None:  # only a stray closing parenthesis stops parse_or early
            raise self.error(extra.position, "多了一个右括号")
        return node

    def parse_or(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "or":
            raise self.error(first.position, "OR 前面缺少内容")
        alternatives = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.at += 1
            following = self.peek()
            if following is None or following.kind in ("or", "close"):
                raise self.error(token.position, "OR 后面缺少内容")
            alternatives.append(self.parse_and())
        return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))

    def parse_and(self) -> Node:
        parts: list[Node] = []
        while (token := self.peek()) is not None and token.kind not in ("or", "close"):
            parts.append(self.parse_unary())
        if not parts:
            token = self.peek()
            raise self.error(token.position if token else len(self.text), "缺少查询内容")
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self) -> Node:
        token = self.tokens[self.at]
        if token.kind == "minus":
            self.at += 1
            following = self.peek()
            if following is None or following.kind in ("or", "close", "minus"):
                raise self.error(token.position, "减号后面缺少要排除的词")
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.tokens[self.at]
        self.at += 1
        if token.kind == "open":
            following = self.peek()
            if following is None:
                raise self.error(token.position, "左括号没有闭合")
            if following.kind == "close":
                raise self.error(token.position, "括号里是空的")
            node = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != "close":
                raise self.error(token.position, "左括号没有闭合")
            self.at += 1
            return node
        if token.kind == "phrase":
            value = " ".join(token.value.split())
            if not value:
                raise self.error(token.position, "引号里是空的")
            return self.searchable(Text(value, phrase=True), token)
        if token.kind == "field":
            return self.field(token)
        if token.kind == "word":
            return self.searchable(Text(token.value), token)
        raise self.error(token.position, "多了一个右括号")  # kind == "close"

    def searchable(self, node: Text, token: _Token) -> Text:
        if not query_tokens(node.value).tokens:
            raise self.error(token.position, f"“{node.value}”里没有可检索的文字或数字")
        return node

    # field values ----------------------------------------------------------------------------

    def field(self, token: _Token) -> Node:
        name, value = token.name, token.value
        if not value:
            raise self.error(token.position, f"“{name}:”后面缺少取值")
        if name == "platform":
            code = _PLATFORMS.get(value.lower(), _PLATFORMS.get(value))
            if code is None:
                raise self.error(token.position, f"没有“{value}”这个平台（可用：{'、'.join(_PLATFORMS)}）")
            return Filter("platform", code)
        if name == "sentiment":
            code = _SENTIMENTS.get(value.lower(), _SENTIMENTS.get(value))
            if code is None:
                raise self.error(token.position, f"没有“{value}”这种情感倾向（可用：{'、'.join(_SENTIMENTS)}）")
            return Filter("sentiment", code)
        if name in ("since", "until"):
            moment = self.moment(token, exclusive_day=name == "until")
            return TimeRange(since=moment) if name == "since" else TimeRange(until=moment)
        return Filter(cast(FieldName, name), value)  # the tokenizer let only FIELDS through

    def moment(self, token: _Token, *, exclusive_day: bool) -> datetime:
        value = token.value.strip()
        if span := _RELATIVE.fullmatch(value):
            amount, unit = int(span.group(1)), span.group(2).lower()
            return self.now - timedelta(**{_SPAN_UNITS[unit]: amount})
        for fmt in _DATETIME_FORMATS:
            try:
                return datetime.strptime(value, fmt).replace(tzinfo=SHANGHAI)
            except ValueError:
                pass
        for fmt in _DATE_FORMATS:
            try:
                day = datetime.strptime(value, fmt).replace(tzinfo=SHANGHAI)
            except ValueError:
                continue
            return day + timedelta(days=1) if exclusive_day else day
        raise self.error(token.position, f"无法识别的时间“{value}”（例如 2026-11-30、2026-11-30T08:00、24h、7d）")


def parse_query(text: str | None, *, now: datetime | None = None) -> Query:
    """Parse what an analyst typed. Relative times (`since:7d`) count back from `now` (default:
    the current time). Raises `QueryError` (position, Chinese message) for a malformed query."""
    moment = now or current_time()
    text = text or ""
    return Query(text=text, root=_Parser(text, moment).parse(), now=moment)
