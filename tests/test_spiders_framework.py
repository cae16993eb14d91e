"""The framework pieces the kinds share: kind registry, per-source Scrapy settings, backoff."""

import pytest

from spiders.middleware import backoff_delay
from spiders.registry import load_kinds, resolve
from spiders.runner import scrapy_settings
from yuqing.config import ConfigError, load_settings
from yuqing.config.datafiles import Source


def test_every_web_kind_is_registered_with_its_params_model():
    kinds = load_kinds()
    assert {"rss", "news", "gov_policy"} <= set(kinds)
    for name in ("rss", "news", "gov_policy"):
        assert kinds[name].spider.kind == name


def test_resolve_validates_params_against_the_kind():
    source = Source(name="a", kind="gov_policy", params={"start_urls": ["http://www.heze.gov.cn/col/col1/index.html"]})
    kind, params = resolve(source)
    assert kind.name == "gov_policy" and params.max_pages == 5
    with pytest.raises(ConfigError) as error:
        resolve(Source(name="a", kind="news", params={"start_urls": ["http://x.cn/"], "max_pages": 0}), "f.yaml")
    assert "f.yaml" in error.value.message and "sources (a).params.max_pages" in error.value.message


def test_scrapy_settings_are_polite_and_switchable_per_source(tmp_path):
    settings = load_settings(None, data_dir=tmp_path)
    settings.crawl.contact = "mailto:press@heze.gov.cn"
    polite = scrapy_settings(settings, Source(name="a", kind="news"), {})
    assert "Yuqing" in polite["USER_AGENT"] and "mailto:press@heze.gov.cn" in polite["USER_AGENT"]
    assert polite["ROBOTSTXT_OBEY"] is True and polite["AUTOTHROTTLE_ENABLED"] is True
    assert polite["CONCURRENT_REQUESTS_PER_DOMAIN"] == settings.crawl.concurrency_per_domain
    assert polite["RETRY_TIMES"] >= 1 and 503 in polite["RETRY_HTTP_CODES"]
    assert scrapy_settings(settings, Source(name="b", kind="news", obey_robots=False), {})["ROBOTSTXT_OBEY"] is False


def test_backoff_doubles():
    assert [backoff_delay(n, 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_meta_refresh_redirects_still_happen_without_decoding_other_pages():
    from scrapy.http import HtmlResponse, Request
    from scrapy.utils.test import get_crawler

    from spiders.middleware import MetaRefreshWhenPresent

    middleware = MetaRefreshWhenPresent.from_crawler(get_crawler())
    request = Request("http://x.cn/old.html")
    moved = HtmlResponse("http://x.cn/old.html", request=request, body=(
        b'<html><head><META HTTP-EQUIV="Refresh" CONTENT="0; URL=/new.html"></head></html>'))
    redirected = middleware.process_response(request, moved)
    assert isinstance(redirected, Request) and redirected.url == "http://x.cn/new.html"
    gbk = "<html><head><meta http-equiv='refresh' content='0;url=/新.html'></head></html>".encode("gb18030")
    assert isinstance(middleware.process_response(request, HtmlResponse(request.url, body=gbk, request=request)),
                      Request)
    plain = HtmlResponse(request.url, request=request, body="<html><body>正文</body></html>".encode())
    assert middleware.process_response(request, plain) is plain
    assert plain._cached_ubody is None  # not decoded: the spider decodes it once, its own way
