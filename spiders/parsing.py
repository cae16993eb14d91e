"""Pure parsing helpers every kind uses: page decoding, Chinese dates, URL rules, page checks.

Government portals often serve GBK/GB2312 pages that declare UTF-8 (or nothing at all), so
decoding never trusts a declaration that the bytes contradict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding

from yuqing.schema import SHANGHAI

# ---------------------------------------------------------------------------------------------
# Encodings

# GB2312 and GBK are subsets of GB18030: decoding with the superset never loses a character
# that a page declaring the subset actually uses.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "gb_2312-80", "x-gbk", "csgb2312", "euc-cn", "hz-gb-2312"}


def _normal_encoding(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("'\"").lower().replace("_", "-")
    if name in _GB_FAMILY or name.startswith("gb"):
        return "gb18030"
    if name in {"utf8", "utf-8", "unicode-1-1-utf-8"}:
        return "utf-8"
    return name


def declared_encoding(body: bytes, content_type: str | None = None) -> str | None:
    """The encoding the HTTP header or the page's <meta> claims, normalised (GB* → gb18030)."""
    return _normal_encoding(http_content_type_encoding(content_type or "")) or _normal_encoding(
        html_body_declared_encoding(body)
    )


# One replacement character per this many is "a stray bad byte", not "another encoding".
_MAX_BAD_CHAR_RATIO = 1000


def decode_page(body: bytes, content_type: str | None = None, override: str | None = None) -> tuple[str, str]:
    """Decode an HTML page; returns (text, encoding used).

    Order: an explicit override; a BOM; the declaration if the bytes decode cleanly with it;
    UTF-8 if they decode cleanly, or nearly (a stray bad byte); GB18030 (most Chinese pages that
    are not UTF-8); else the declaration or UTF-8 with replacement characters, so a page is never
    lost to one bad byte.
    """
    if override:
        encoding = _normal_encoding(override) or override
        return body.decode(encoding, errors="replace"), encoding
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace"), encoding
    declared = declared_encoding(body, content_type)
    if declared:
        try:
            return body.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # A UTF-8 page with a stray bad byte also "decodes" as GB18030, into nonsense: UTF-8 wins
    # when its errors are rare.
    text = body.decode("utf-8", errors="replace")
    if text.count("\ufffd") * _MAX_BAD_CHAR_RATIO <= len(text) and declared in (None, "utf-8"):
        return text, "utf-8"
    try:
        return body.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    fallback = declared or "utf-8"
    try:
        return body.decode(fallback, errors="replace"), fallback
    except LookupError:
        return body.decode("utf-8", errors="replace"), "utf-8"


# ---------------------------------------------------------------------------------------------
# Dates

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

_SEP = r"\s*[-/.年]\s*"
_FULL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})" + _SEP + r"(?P<m>1[0-2]|0?[1-9])" + r"\s*[-/.月]\s*"
    + r"(?P<d>3[01]|[12]\d|0?[1-9])(?!\d)\s*[日号]?"
    + r"(?:\s*(?:T|\s)?\s*(?P<H>[01]?\d|2[0-3])\s*[:：时]\s*(?P<M>[0-5]\d)\s*分?"
    + r"(?:\s*[:：]\s*(?P<S>[0-5]\d)\s*秒?)?)?"
)
# "18-03-08 23:16": a two-digit year, only believed when a time follows.
_TWO_DIGIT_YEAR = re.compile(
    r"(?<![\d-])(?P<y>\d{2})-(?P<m>1[0-2]|0[1-9])-(?P<d>3[01]|[12]\d|0[1-9])\s+(?P<H>[01]?\d|2[0-3])[:：](?P<M>[0-5]\d)"
)
# Not inside an identifier: "B2-20181004" is a licence number.
_COMPACT_DATE = re.compile(r"(?<![\dA-Za-z-])(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?!\d)")
_CN_NUMERAL_DATE = re.compile(r"([〇零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,2})月([一二三四五六七八九十]{1,3})日")
_SHORT_DATE = re.compile(
    r"(?<![\d-])(?P<m>1[0-2]|0?[1-9])\s*[-/月]\s*(?P<d>3[01]|[12]\d|0?[1-9])\s*日?\s+(?P<H>[01]?\d|2[0-3])[:：](?P<M>[0-5]\d)"
)
# A labelled day without a year or a time: "发布时间：10-08".
_LABELLED_MONTH_DAY = re.compile(r"^\s*(?P<m>1[0-2]|0?[1-9])\s*[-/月]\s*(?P<d>3[01]|[12]\d|0?[1-9])(?![\d:：])\s*日?")
_RELATIVE = re.compile(r"(\d+)\s*(秒|分钟|小时|天)前")
_DAY_WORDS = re.compile(r"(今天|昨天|前天)\s*(?:(\d{1,2})[:：](\d{2}))?")

# Labels that introduce a publication time on Chinese pages, strongest first.
PUBLISHED_LABELS = ("发布时间", "发布日期", "发表时间", "发稿时间", "发布于", "发表于", "更新时间", "时间", "日期")
_LABELLED = re.compile(
    r"(?:" + "|".join(PUBLISHED_LABELS) + r")\s*[:：]?\s*(?:</?[^>]{0,80}>\s*){0,4}"
    r"(?P<value>[0-9〇零一二三四五六七八九十年月日号\-/.:：\s]{6,40})"
)


def _cn_number(text: str) -> int:
    """一九 → 19 digit by digit; 十二/二十三 → 12/23 as a count."""
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return int("".join(str(_CN_DIGITS[c]) for c in text))


def _build(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)
    except ValueError:
        return None


@dataclass(frozen=True)
class DateHints:
    """What a page says about the year of a date it shows without one ("10-08 12:00"): the full
    dates in its metadata and scripts (dateUpdate, "time": ...) and the years in its URL."""

    dates: tuple[datetime, ...] = ()
    url_years: tuple[int, ...] = ()


@dataclass(frozen=True)
class ParsedDate:
    moment: datetime
    year_inferred: bool = False  # the text gave no year: it was resolved (see `year_for`)
    relative: bool = False  # 3小时前, 昨天: counted from `now`, right only when read when it was shown


_URL_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?:[-/_]?(?:0[1-9]|1[0-2]))?(?:[-/_]?(?:0[1-9]|[12]\d|3[01]))?(?!\d)")


def url_years(url: str | None) -> tuple[int, ...]:
    """Years a URL's path names (/2019/10/08/, /201910/t20191008_1.html, art_2019-10-08): the host is left out."""
    if not url:
        return ()
    path = urlsplit(url).path
    return tuple(dict.fromkeys(int(m.group(1)) for m in _URL_YEAR.finditer(path)))


# A page's own full date this close after a day it shows without a year (its metadata's update
# time, the server's clock) gives that day its year.
NEAR_DATE = timedelta(days=7)


def year_for(month: int, day: int, now: datetime, hints: DateHints | None = None) -> int:
    """The year of a month and day shown without one, never after `now` (the crawl time).

    A full date of the page on that day or within a week after it gives the year (its metadata
    often repeats the day with its year, or the time it was served); else a year in its URL; else
    the latest such day not after `now`. Older dates on the page (related articles) say nothing:
    a page shows them whatever its own year."""
    hints = hints or DateHints()
    latest = now + timedelta(days=1)  # a page's clock may run a little ahead of ours
    near = []
    for known in (d.astimezone(SHANGHAI) for d in hints.dates if d <= latest):
        for year in (known.year, known.year - 1):
            shown = _build(year, month, day, 0, 0)
            if shown is not None and shown - timedelta(days=1) <= known <= shown + NEAR_DATE:
                near.append(year)
    if near:
        return max(near)
    for year in sorted(hints.url_years, reverse=True):
        candidate = _build(year, month, day)
        if candidate is not None and candidate <= latest:
            return year
    year = now.year
    candidate = _build(year, month, day)
    while year > now.year - 4 and (candidate is None or candidate > latest):
        year -= 1  # 12-31 read on 1 January is last year's; 02-29 waits for a leap year
        candidate = _build(year, month, day)
    return year


def parse_date(text: str, now: datetime | None = None, hints: DateHints | None = None) -> ParsedDate | None:
    """The first date (and time) in `text`, in any common Chinese form, as Asia/Shanghai time.

    Handles 2022年06月02日, 2022-06-02 10:31(:05), 2022/6/2, 2022.06.02, 20220602,
    二〇二二年六月二日, 18-03-08 23:16, 06-02 10:31 (year from `year_for`), 3分钟前, 昨天 10:31.
    """
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text)
    match = _FULL_DATE.search(text)
    if match:
        parts = match.groupdict()
        return _parsed(_build(int(parts["y"]), int(parts["m"]), int(parts["d"]),
                              int(parts["H"] or 0), int(parts["M"] or 0), int(parts["S"] or 0)))
    match = _CN_NUMERAL_DATE.search(text)
    if match:
        return _parsed(_build(_cn_number(match.group(1)), _cn_number(match.group(2)), _cn_number(match.group(3))))
    match = _COMPACT_DATE.search(text)
    if match:
        return _parsed(_build(int(match.group("y")), int(match.group("m")), int(match.group("d"))))
    match = _TWO_DIGIT_YEAR.search(text)
    if match:
        return _parsed(_build(2000 + int(match.group("y")), int(match.group("m")), int(match.group("d")),
                              int(match.group("H")), int(match.group("M"))))
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    match = _SHORT_DATE.search(text)
    if match:
        month, day = int(match.group("m")), int(match.group("d"))
        return _parsed(_build(year_for(month, day, now, hints), month, day,
                              int(match.group("H")), int(match.group("M"))), year_inferred=True)
    match = _RELATIVE.search(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        step = {"秒": timedelta(seconds=1), "分钟": timedelta(minutes=1), "小时": timedelta(hours=1),
                "天": timedelta(days=1)}[unit]
        return ParsedDate((now - amount * step).replace(microsecond=0), relative=True)
    match = _DAY_WORDS.search(text)
    if match:
        back = {"今天": 0, "昨天": 1, "前天": 2}[match.group(1)]
        shown = now - timedelta(days=back)
        hour, minute = int(match.group(2) or 0), int(match.group(3) or 0)
        moment = _build(shown.year, shown.month, shown.day, hour, minute)
        return ParsedDate(moment, relative=True) if moment else None
    return None


def _parsed(moment: datetime | None, year_inferred: bool = False) -> ParsedDate | None:
    return ParsedDate(moment, year_inferred) if moment is not None else None


def parse_datetime(text: str, now: datetime | None = None, hints: DateHints | None = None) -> datetime | None:
    """`parse_date`'s moment alone."""
    parsed = parse_date(text, now, hints)
    return parsed.moment if parsed else None


def find_published(text: str, now: datetime | None = None, hints: DateHints | None = None) -> ParsedDate | None:
    """The publication time a page states: a labelled one (发布时间：…, even a bare 10-08) first,
    else the first date."""
    if not text:
        return None
    for match in _LABELLED.finditer(text):
        value = match.group("value")
        found = parse_date(value, now, hints)
        if found is None and (bare := _LABELLED_MONTH_DAY.match(value)):
            month, day = int(bare.group("m")), int(bare.group("d"))
            reference = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
            found = _parsed(_build(year_for(month, day, reference, hints), month, day), year_inferred=True)
        if found:
            return found
    return parse_date(text, now, hints)


def find_published_at(text: str, now: datetime | None = None, hints: DateHints | None = None) -> datetime | None:
    """`find_published`'s moment alone."""
    found = find_published(text, now, hints)
    return found.moment if found else None


# ---------------------------------------------------------------------------------------------
# Text

_FULLWIDTH_ALNUM = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF5B) if chr(code).isalnum()}
_FULLWIDTH_ALNUM[0x3000] = 0x20  # ideographic space


# Runs of the characters to convert: str.translate alone looks every character of a long text up
# in the table, five times slower than finding the few runs that need it.
_FULLWIDTH_RUNS = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_FULLWIDTH_ALNUM)) + "]+")


def to_halfwidth_alnum(text: str) -> str:
    """Full-width letters, digits and spaces to ASCII; Chinese punctuation (，。：) stays as written."""
    return _FULLWIDTH_RUNS.sub(lambda run: run.group().translate(_FULLWIDTH_ALNUM), text)


_SPACES = re.compile(r"[ \t\u00a0\u2002-\u200b\u3000\ufeff]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean_text(text: str) -> str:
    """Collapse runs of spaces, strip every line, keep at most one blank line between paragraphs."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_inline(text: str | None) -> str:
    """One line of text: all whitespace collapsed to single spaces."""
    return " ".join((text or "").split())


# ---------------------------------------------------------------------------------------------
# URLs


def absolute(base: str, href: str | None) -> str | None:
    """`href` resolved against `base`; None for javascript:, mailto:, anchors and blanks."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
        return None
    url = urljoin(base, href)
    return url if urlsplit(url).scheme in {"http", "https"} else None


def url_allowed(url: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> bool:
    """True when `url` matches one `allow` regex (or there are none) and no `deny` regex."""
    allow, deny = list(allow), list(deny)
    if any(re.search(pattern, url) for pattern in deny):
        return False
    return not allow or any(re.search(pattern, url) for pattern in allow)


def same_site(url: str, other: str) -> bool:
    """Same registrable-ish host: www.heze.gov.cn and heze.gov.cn count as one site."""
    def host(value: str) -> str:
        name = (urlsplit(value).hostname or "").lower()
        return name[4:] if name.startswith("www.") else name
    return host(url) == host(other)


# ---------------------------------------------------------------------------------------------
# Page checks

_LOGIN_WALL = re.compile(r"请(?:先)?登录|登录后(?:查看|浏览|阅读|访问)|您(?:还)?未登录|用户登录|会员登录|sign in to continue", re.I)
_CAPTCHA = re.compile(r"验证码|captcha|滑动验证|安全验证|人机验证|访问验证|拖动滑块", re.I)
_PASSWORD_INPUT = re.compile(r"<input[^>]+type=[\"']?password", re.I)
_FORMS = re.compile(r"<form\b.*?</form\s*>", re.S | re.I)
# Fewer visible characters than this outside forms, and the page may be a wall.
_WALL_MAX_CHARS = 300
# A script or style element whole, else any one tag. The element bodies are matched as runs of
# non-'<' characters ("unrolled loop") rather than a lazy '.*?', which re steps through one
# character at a time: this runs on every fetched page, in the crawl's only thread.
_TAGS = re.compile(r"<(?:script\b[^<]*(?:<(?!/script\s*>)[^<]*)*</script\s*"
                   r"|style\b[^<]*(?:<(?!/style\s*>)[^<]*)*</style\s*|[^>]+)>", re.I)


def visible_text(html: str) -> str:
    """A rough visible text of a page (tags, scripts and styles removed), for page checks."""
    return clean_inline(_TAGS.sub(" ", html))


def page_problem(html: str, min_chars: int = 20) -> str | None:
    """Why a page cannot hold content: 'empty_page', 'captcha' or 'login_wall'; None if it can.

    A page is a wall only when it says so (or asks for a password) AND has little text outside
    its forms: an article with a login box in its header is not a wall.
    """
    text = visible_text(html)
    if len(text) < min_chars:
        return "empty_page"
    # Small forms are login boxes and search fields; a form wrapping the whole page (ASP.NET) is
    # the page itself and counts as content.
    box_chars = 0
    if "<form" in html or "<FORM" in html:
        for form in _FORMS.findall(html):
            chars = len(visible_text(form))
            box_chars += chars if chars < _WALL_MAX_CHARS else 0
    if len(text) - box_chars >= _WALL_MAX_CHARS:
        return None
    if _CAPTCHA.search(text):
        return "captcha"
    if _LOGIN_WALL.search(text) or _PASSWORD_INPUT.search(html):
        return "login_wall"
    return None
