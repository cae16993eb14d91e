"""Generated hostile input, shared by the fault suite (tests/faults) and `bench.hostile`.

`hostile_pages(n)` yields (name, body bytes) of HTML pages built to break a parser or exhaust it:
control characters, NUL bytes, bad entities and surrogates, broken and lying encodings, binary
garbage, deep nesting, tags with 100k attributes, a 20 MB page, unclosed comments and scripts,
labels the date/author rules scan for repeated thousands of times. `hostile_lines(n)` yields
(name, line bytes) for `yuqing analyze`: invalid JSON, deep nesting, lone surrogates, absurd dates,
wrong types, huge lines. Both are seeded: the same n gives the same input.

With `big` (the default) the few inputs whose point is their size come first, once each (a 20 MB
page, a 100k-attribute tag, 60k elements, a 1 MB post, a 10 MB line); the rest are kept small
enough that a thousand of them run in seconds.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator

ARTICLE = ("菏泽市牡丹区老旧小区改造工程今日全面开工，涉及居民楼32栋。区住建局负责人表示，"
           "改造将于年底前完成，居民如有问题可拨打监督电话反映。")


def _page(body: str, head: str = "<title>菏泽新闻</title>") -> bytes:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode("utf-8", "surrogatepass")


def _article(rng: random.Random) -> str:
    return "".join(f"<p>{ARTICLE}</p>" for _ in range(rng.randint(1, 6)))


def _controls(rng: random.Random, count: int) -> str:
    return "".join(chr(rng.choice([*range(0, 32), 127, *range(0x80, 0xA0), 0xFFFE, 0xFFFF])) for _ in range(count))


def control_chars(rng: random.Random) -> bytes:
    noise = _controls(rng, rng.randint(1, 200))
    return _page(f"<h1>标题{noise}</h1><div class='{noise}'>{noise}{_article(rng)}{noise}</div>",
                 f"<title>{noise}</title><meta name='author' content='{noise}'>")


def nul_bytes(rng: random.Random) -> bytes:
    return _page(_article(rng)).replace(b"<p>", b"<p>\x00\x00", rng.randint(1, 5))


def bad_entities(rng: random.Random) -> bytes:
    entities = ["&#0;", "&#1;", "&#x1f;", "&#11;", "&#x7f;", "&#x80;", "&#xD800;", "&#xDFFF;", "&#x110000;", "&#99999999999999;", "&#-1;", "&#x;", "&nosuch;",
                "&#65534;", "&amp", "&#x1F600;"]
    return _page("".join(rng.choice(entities) + f"<p>{ARTICLE}</p>" for _ in range(rng.randint(1, 50))))


def lone_surrogates(rng: random.Random) -> bytes:
    return _page(f"<h1>\ud800标题\udfff</h1>{_article(rng)}\udbff")


def lying_encoding(rng: random.Random) -> bytes:
    declared = rng.choice(["gbk", "utf-16", "big5", "x-nonsense", "utf-7", "latin-1", "shift_jis", ""])
    body = f"<p>{ARTICLE}</p>".encode(rng.choice(["gbk", "utf-8", "big5"]), errors="replace")
    garbage = bytes(rng.randrange(256) for _ in range(rng.randint(0, 500)))
    return (f"<html><head><meta charset='{declared}'><meta http-equiv='Content-Type' content='text/html; "
            f"charset={declared}'></head><body>").encode() + garbage + body + b"</body></html>"


def bom_mismatch(rng: random.Random) -> bytes:
    bom = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"])
    return bom + _page(_article(rng))[: rng.randint(1, 4000)]


def binary_garbage(rng: random.Random) -> bytes:
    kind = rng.choice(["random", "png", "gzip", "pdf", "zeros"])
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(5000))
    if kind == "gzip":
        return gzip.compress(_page(_article(rng)))
    if kind == "pdf":
        return b"%PDF-1.4\n" + bytes(rng.randrange(256) for _ in range(5000))
    if kind == "zeros":
        return b"\x00" * rng.randint(1, 100_000)
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 50_000)))


def empty_or_blank(rng: random.Random) -> bytes:
    return rng.choice([b"", b" ", b"\n" * 1000, b"<html></html>", b"<", b"<html", b"<!DOCTYPE html>",
                       b"<html><body></body></html>", "\u3000".encode() * 500])


def deep_nesting(rng: random.Random) -> bytes:
    depth = rng.choice([300, 1000, 5000])
    tag = rng.choice(["div", "span", "table", "b", "p", "li", "font"])
    return _page(f"<{tag}>" * depth + _article(rng) + f"</{tag}>" * rng.choice([0, depth]))


def many_attributes(rng: random.Random, count: int | None = None) -> bytes:
    count = count or rng.randint(100, 3000)
    attributes = " ".join(f"a{i}='{i}'" for i in range(count))
    return _page(f"<div {attributes}>{_article(rng)}</div>")


def duplicate_attributes(rng: random.Random) -> bytes:
    return _page(f"<div {'class=x ' * rng.randint(100, 3000)}>{_article(rng)}</div>")


def many_elements(rng: random.Random, count: int | None = None) -> bytes:
    count = count or rng.randint(500, 2500)
    return _page("<span>字</span>" * count + _article(rng))


def unclosed_markup(rng: random.Random) -> bytes:
    opener = rng.choice(["<!--", "<script>", "<style>", "<![CDATA[", "<textarea>", "<title>", "<?xml", "<iframe>",
                         "<noscript>", "<svg><![CDATA["])
    return _page(_article(rng) + opener + ARTICLE * rng.randint(1, 200))


def label_floods(rng: random.Random) -> bytes:
    label = rng.choice(["发布时间：", "来源：", "作者：", "记者 ", "2022-06-02 ", "发布日期：2022年", "文/", "时间:"])
    return _page(f"<h1>标题</h1>{label * rng.randint(1000, 20_000)}{_article(rng)}")


def long_text_node(rng: random.Random) -> bytes:
    return _page("<p>" + rng.choice(["字", "a", "1", " ", "-", "@", "。"]) * rng.randint(5_000, 60_000) + "</p>")


def hostile_json_ld(rng: random.Random) -> bytes:
    payload = rng.choice(['{"datePublished": "' + "9" * 100_000 + '"}', '{"datePublished": "0001-01-01"}',
                          "[" * 10_000, '{"datePublished": "\\ud800"}', "not json"])
    return _page(_article(rng), f"<script type='application/ld+json'>{payload}</script>")


def absurd_dates(rng: random.Random) -> bytes:
    date = rng.choice(["0001-01-01", "9999-12-31 23:59:59", "2022-13-45", "2022-02-30", "0000-00-00",
                       "99999999-1-1", "1900-01-01", "2022年99月99日", "-1-1-1"])
    return _page(f"<h1>标题</h1><p>发布时间：{date}</p>{_article(rng)}",
                 f"<title>标题</title><meta property='article:published_time' content='{date}'>")


def huge_meta(rng: random.Random) -> bytes:
    value = rng.choice(["题", "x", " "]) * rng.randint(10_000, 200_000)
    return _page(_article(rng), f"<title>{value}</title><meta name='author' content='{value}'>"
                                f"<meta property='og:title' content='{value}'>")


def tables_in_tables(rng: random.Random) -> bytes:
    cell = f"<table><tr><td>{ARTICLE[:20]}</td><td>{{}}</td></tr></table>"
    body = "{}"
    for _ in range(rng.randint(10, 200)):
        body = body.format(cell)
    return _page(body.format(ARTICLE))


# The inputs whose point is their size: slow on the old code (58-60 s, 3.9 GB each).
def twenty_megabytes(rng: random.Random) -> bytes:
    return _page(f"<p>{ARTICLE}</p>" * (20_000_000 // len(f"<p>{ARTICLE}</p>".encode())))


def hundred_thousand_attributes(rng: random.Random) -> bytes:
    return many_attributes(rng, 100_000)


def sixty_thousand_elements(rng: random.Random) -> bytes:
    return many_elements(rng, 60_000)


PAGE_KINDS: tuple[Callable[[random.Random], bytes], ...] = (
    control_chars, nul_bytes, bad_entities, lone_surrogates, lying_encoding, bom_mismatch, binary_garbage,
    empty_or_blank, deep_nesting, many_attributes, duplicate_attributes, many_elements, unclosed_markup,
    label_floods, long_text_node, hostile_json_ld, absurd_dates, huge_meta, tables_in_tables,
)
BIG_PAGE_KINDS: tuple[Callable[[random.Random], bytes], ...] = (
    twenty_megabytes, hundred_thousand_attributes, sixty_thousand_elements)


def hostile_pages(count: int, *, seed: int = 9, big: bool = True) -> Iterator[tuple[str, bytes]]:
    """`count` hostile pages; with `big`, the size-bomb kinds come first, once each."""
    rng = random.Random(seed)
    made = 0
    if big:
        for kind in BIG_PAGE_KINDS[:count]:
            yield kind.__name__, kind(rng)
            made += 1
    for number in range(count - made):
        kind = PAGE_KINDS[number % len(PAGE_KINDS)]
        yield kind.__name__, kind(rng)


# -- lines for `yuqing analyze` -------------------------------------------------------------------

def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


LINE_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "invalid_json": lambda rng: rng.choice([b"{bad", b"{'id': 1}", b'{"id": "x", "text": }', b"nan", b"\x00\x01",
                                            b'{"id": "x" "text": "y"}', b"]", b'"just a string"']),
    "deep_array": lambda rng: b"[" * rng.choice([1000, 100_000]) + b"]" * rng.choice([0, 1000]),
    "deep_object_in_post": lambda rng: (b'{"id": "d", "text": "x", "extra": ' + b'{"a": ' * rng.choice([500, 5000])
                                        + b"1" + b"}" * rng.choice([500, 5000]) + b"}"),
    "lone_surrogate": lambda rng: rng.choice([b'{"id": "s", "text": "\\ud800"}', b'{"id": "s", "text": "a\\udfffb"}',
                                              b'{"id": "\\udbff", "text": "x"}',
                                              b'{"id": "s", "text": "ok", "author": {"name": "\\ud800"}}']),
    "absurd_date": lambda rng: _line({"id": "t", "text": "停水了", "published_at": rng.choice(
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "1000-01-01", "2022-13-45", "-1", 1e300, "now"])}),
    "wrong_types": lambda rng: _line(rng.choice([
        {"id": None, "text": "x"}, {"id": "x", "text": 5}, {"id": True, "text": "x"}, {"id": "x", "text": ["a"]},
        {"id": "x", "text": "y", "metrics": {"likes": -5}}, {"id": "x", "text": "y", "platform": {"a": 1}},
        {"id": 10 ** 400, "text": "y"}, [], {"id": "x", "text": "y", "extra": "not a dict"}])),
    "control_chars": lambda rng: _line({"id": "c", "text": _controls(rng, 200) + "停水" + _controls(rng, 50),
                                        "title": _controls(rng, 20)}),
    "regex_floods": lambda rng: _line({"id": "r", "text": rng.choice(["1", "1号", "a.", "@a", "鲁A", "QQ1", "1 "])
                                       * rng.randint(1000, 30_000)}),
    "binary": lambda rng: bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000))).replace(b"\n", b""),
    "ordinary": lambda rng: _line({"id": f"ok{rng.randrange(10 ** 9)}", "text": ARTICLE}),
}
BIG_LINE_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "megabyte_post": lambda rng: _line({"id": "big", "text": "长" * 400_000}),
    "ten_megabyte_line": lambda rng: _line({"id": "huge", "text": "x" * 10_000_000}),
}


def hostile_lines(count: int, *, seed: int = 9, big: bool = True) -> Iterator[tuple[str, bytes]]:
    """`count` lines for `yuqing analyze` (no newline inside any); with `big`, the size bombs first."""
    rng = random.Random(seed)
    made = 0
    if big:
        for name, kind in list(BIG_LINE_KINDS.items())[:count]:
            yield name, kind(rng)
            made += 1
    names = list(LINE_KINDS)
    for number in range(count - made):
        name = names[number % len(names)]
        yield name, LINE_KINDS[name](rng).replace(b"\n", b" ")
