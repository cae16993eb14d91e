"""Hostile input: 1,000 generated pages through `yuqing extract` and through the spiders and their
item pipelines, 1,000 generated lines through `yuqing analyze`. No traceback; every item ends in a
result or a counted reason; no item takes long. The bounds here are generous (a loaded CI machine);
`python -m bench.hostile` measures the real figures (target: none over 5 s or 500 MB)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse, Request

from bench.hostile_inputs import (
    hostile_lines,
    hostile_pages,
    hundred_thousand_attributes,
    twenty_megabytes,
)
from pipelines import (
    DedupePipeline,
    MaskPipeline,
    NormalisePipeline,
    Publisher,
    PublishPipeline,
    ValidatePipeline,
)
from spiders.base import CrawlContext
from spiders.gov_policy import GovPolicyParams, GovPolicySpider
from spiders.news import ListingParams, NewsSpider
from stores.seen import SqliteSeenStore
from transport.sqlite_log import SqliteTransport
from yuqing.cli.main import build_parser, main
from yuqing.config import load_settings
from yuqing.config.datafiles import Source

pytestmark = pytest.mark.faults

ITEMS = 1000
# CPU seconds: far above what any item takes with the limits in place (the extraction limit is 3 s), far below
# what the hostile items took without them (18-60 s for a 20 MB page, 12 min for 100k attributes). Counted in this
# process's CPU time, not on the clock: on a loaded machine one lxml parse of a page of 60,000 elements (C code the
# timer cannot cut short) took over 10 s of wall time.
SECONDS_PER_ITEM = 10.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes]]:
    return list(hostile_pages(ITEMS))


def test_extract_gives_no_traceback_on_hostile_pages(pages, tmp_path):
    parser = build_parser()  # once: building it costs more than extracting most pages
    slow, crashed = [], []
    for number, (kind, body) in enumerate(pages):
        page = tmp_path / f"{number}.html"
        page.write_bytes(body)
        out, err = io.StringIO(), io.StringIO()
        started = time.process_time()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["extract", "--json", str(page)], parser)
            json.loads(out.getvalue())  # a whole, valid JSON document even for garbage
        except BaseException as exc:
            crashed.append((number, kind, repr(exc)[:200]))
            continue
        assert code in (0, 1), (number, kind, err.getvalue())
        if time.process_time() - started > SECONDS_PER_ITEM:
            slow.append((number, kind))
        page.unlink()
    assert crashed == []
    assert slow == []


def _spider(kind: type, params: object, tmp_path: Path, transport: SqliteTransport):
    settings = load_settings(None, data_dir=tmp_path)
    context = CrawlContext(settings=settings, seen=SqliteSeenStore(tmp_path / f"seen-{kind.__name__}.sqlite3"),
                           publisher=Publisher(transport, tmp_path / "spool.jsonl"))
    source = Source(name=f"hostile-{kind.__name__.lower()}", kind="news", params={"start_urls": ["http://x.cn/"]})
    spider = kind(source=source, params=params, context=context)
    crawler = SimpleNamespace(spider=spider)
    spider.test_stages = [stage(crawler) for stage in (ValidatePipeline, NormalisePipeline, MaskPipeline,
                                                      DedupePipeline, PublishPipeline)]
    return spider


async def _crawl_page(spider, response) -> int:
    """What Scrapy does with one item page: the spider's callback, then every item through the pipelines."""
    published = 0
    async for item in spider.parse_item(response):
        try:
            for stage in spider.test_stages:
                item = stage.process_item(item)
            published += 1
        except DropItem:  # invalid (sent to the dead-letter topic) or a duplicate: counted, expected
            pass
    return published


def test_the_spiders_and_pipelines_take_hostile_pages_without_a_traceback(pages, tmp_path):
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    spiders = [_spider(NewsSpider, ListingParams(start_urls=["http://x.cn/"], max_items=ITEMS), tmp_path, transport),
               _spider(GovPolicySpider, GovPolicyParams(start_urls=["http://x.cn/"], max_items=ITEMS), tmp_path,
                       transport)]
    slow, crashed, published = [], [], 0
    loop = asyncio.new_event_loop()
    try:
        for number, (kind, body) in enumerate(pages):
            spider = spiders[number % len(spiders)]
            content_type = [b"text/html; charset=utf-8"] if number % 3 else []
            url = f"http://x.cn/art/{number}.html"
            response = HtmlResponse(url, body=body, request=Request(url),
                                    headers={"Content-Type": content_type} if content_type else {})
            started = time.monotonic()
            try:
                list(spider.parse_list(response))  # the page as a list page, too
                published += loop.run_until_complete(_crawl_page(spider, response))
            except Exception as exc:
                crashed.append((number, kind, repr(exc)[:200]))
            if time.monotonic() - started > SECONDS_PER_ITEM:
                slow.append((number, kind))
    finally:
        loop.close()
        transport.close()
    assert crashed == []
    assert slow == []
    problems = sum((spider.stats_row.problems for spider in spiders), start=Counter())
    print(f"\nhostile pages: {published} posts published; counted reasons: {dict(problems)}")
    assert published > 0 and problems  # the ordinary article in most pages came through; the rest was counted


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from Linux's /proc")
@pytest.mark.parametrize("make", [twenty_megabytes, hundred_thousand_attributes])
def test_a_size_bomb_page_stays_within_time_and_memory(make, tmp_path):
    page = tmp_path / "bomb.html"
    page.write_bytes(make(random.Random(9)))
    # A fresh interpreter, so its peak memory is this page's alone: VmHWM, the peak of its own
    # address space (ru_maxrss would carry over this test process's peak through fork and exec).
    # Its CPU time, not wall time: the suite runs tests in parallel, and a pathological parse costs CPU.
    measure = ("import re, sys, time; from pathlib import Path; from yuqing.cli.main import main; "
               "started = time.process_time(); code = main(['extract', sys.argv[1]]); "
               "peak = int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1)); "
               "print(code, time.process_time() - started, peak // 1024, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", measure, str(page)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    code, seconds, megabytes = done.stderr.split()[-3:]
    assert "Traceback" not in done.stderr
    assert float(seconds) < SECONDS_PER_ITEM
    assert int(megabytes) < 500, f"{make.__name__}: {megabytes} MB"


def test_yuqing_analyze_goes_on_through_hostile_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    lines = list(hostile_lines(ITEMS))
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join(line for _, line in lines) + b"\n")
    started = time.monotonic()
    assert main(["analyze", "--no-progress", str(source)]) == 0
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    written = [json.loads(line) for line in captured.out.split("\n") if line]  # JSON lines end at \n only
    ordinary = sum(1 for kind, _ in lines if kind == "ordinary")
    assert sum(1 for row in written if str(row["id"]).startswith("ok")) == ordinary
    reported = {int(part.split()[0]) for part in captured.err.split("line ")[1:] if part.split()[0].isdigit()}
    assert len(written) + len(reported) == len(lines)  # every line either written or named on stderr
    assert elapsed < SECONDS_PER_ITEM * 10
    print(f"\nhostile lines: {len(written)} written, {len(reported)} skipped by number, {elapsed:.1f} s in all")


def test_an_api_answer_nested_too_deeply_is_counted_as_bad_json(tmp_path):
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    spider = _spider(NewsSpider, ListingParams(start_urls=["http://x.cn/"]), tmp_path, transport)
    url = "http://x.cn/api.json"
    response = HtmlResponse(url, body=b"[" * 100_000 + b"]" * 100_000, request=Request(url))
    assert spider.json(response) is None
    assert spider.stats_row.problems["bad_json"] == 1
    transport.close()


def test_a_weibo_api_answer_nested_too_deeply_is_broken_json():
    from spiders.weibo_parsing import WeiboResponseError, decode_api_json

    with pytest.raises(WeiboResponseError, match="nested too deeply"):
        decode_api_json(b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
