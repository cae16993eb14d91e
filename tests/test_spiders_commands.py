"""`yuqing extract`, `yuqing sources check` and `yuqing crawl` as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yuqing.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def test_extract_a_gbk_policy_page_as_json(capsys):
    page = FIXTURES / "gov_policy/art/2023/1/5/art_35425_10399003.html"
    assert main(["extract", str(page), "--url", "http://www.heze.gov.cn/art/2023/1/5/art_35425_10399003.html",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["encoding"] == "gb18030"
    assert result["title"] == "菏泽市人民政府办公室关于做好2023年春节期间农民工工资支付工作的通知"
    assert result["published_at"].startswith("2023-01-05")
    assert result["metadata"]["发文字号"] == "菏政办字〔2023〕1号"
    assert "拉网式排查" in result["text"]


def test_extract_prints_fields_for_a_news_page(capsys):
    assert main(["extract", str(FIXTURES / "news/news/202206/t20220601_1002.html")]) == 0
    out = capsys.readouterr().out
    assert "标题 title: 菏泽市区部分路段6月起实行单向通行" in out
    assert "发布时间 published: 2022-06-01T09:00:00+08:00" in out
    assert "来源 source: 牡丹晚报" in out and "作者 author: 李红" in out


def test_extract_of_a_login_wall_says_so(capsys):
    assert main(["extract", str(FIXTURES / "news/news/202206/t20220603_1004.html")]) == 1
    assert "login_wall" in capsys.readouterr().out


def test_extract_missing_file_is_a_clear_error(capsys):
    assert main(["extract", "/nonexistent/page.html"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_sources_check_of_the_shipped_file(capsys):
    assert main(["sources", "check"]) == 0
    out = capsys.readouterr().out
    assert "heze-gov-zcwj" in out and "kind gov_policy → GovPolicySpider" in out


def test_sources_check_json_shows_resolved_params(tmp_path, capsys):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: a\n    kind: news\n    params:\n      start_urls: [http://x.cn/list.html]\n",
                    encoding="utf-8")
    assert main(["sources", "check", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["sources"][0]
    assert row["kind"] == "news" and row["params"]["start_urls"] == ["http://x.cn/list.html"]


@pytest.mark.parametrize(("entry", "named"), [
    ("  - name: a\n    kind: news\n    params:\n      start_urls: [ftp://x.cn/]\n", "sources (a).params.start_urls"),
    ("  - name: a\n    kind: news\n    params:\n      start_url: [http://x.cn/]\n", "sources (a).params"),
    ("  - name: a\n    kind: rss\n    params:\n      feed_urls: []\n", "sources (a).params.feed_urls"),
    ("  - name: a\n    kind: rss\n    params:\n      feed_urls: ['file:///etc/passwd']\n",
     "sources (a).params.feed_urls[0]"),
    ("  - name: a\n    kind: rss\n    params:\n      feed_urls: ['http:/etc/passwd']\n", "sources (a).params.feed_urls[0]"),
    ("  - name: a\n    kind: board\n    params:\n      start_urls: ['file:///etc/passwd']\n",
     "sources (a).params.start_urls[0]"),
    ("  - name: a\n    kind: news\n    params:\n      start_urls: [http://x.cn/]\n      page_url_template: 'file:///{page}'\n",
     "sources (a).params.page_url_template"),
    ("  - name: a\n    kind: telegram\n", "sources[0] (a).kind"),
    ("  - name: b\n    kind: news\n    params:\n      start_urls: [http://x.cn/]\n      page_url_template: http://x.cn/p.html\n",
     "page_url_template"),
])
def test_sources_check_names_the_bad_entry_and_key(tmp_path, capsys, entry, named):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + entry, encoding="utf-8")
    assert main(["sources", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and named in err
    assert "Traceback" not in err


@pytest.mark.slow  # a crawl in a child process
def test_crawl_command_prints_a_summary(fixture_server, tmp_path):
    base, _ = fixture_server(FIXTURES / "rss")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - name: heze-feed\n    kind: rss\n    params:\n      feed_urls: ['{base}/feed.xml']\n"
        f"  - name: paused\n    kind: rss\n    enabled: false\n    params:\n      feed_urls: ['{base}/atom.xml']\n",
        encoding="utf-8")
    env = {**os.environ, "YUQING_DATA_DIR": str(tmp_path / "data"), "YUQING_CRAWL__DOWNLOAD_DELAY": "0"}
    env.pop("YUQING_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "yuqing.cli.main", "crawl", "--sources", str(sources)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(row for row in done.stdout.splitlines() if row.startswith("heze-feed"))
    assert line.split()[1:4] == ["rss", "2", "2"]
    assert "robots_disallowed=1" in line
    assert "paused" not in done.stdout.split("problems")[1]

    unknown = subprocess.run([sys.executable, "-m", "yuqing.cli.main", "crawl", "--sources", str(sources),
                              "--source", "nope"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert unknown.returncode == 2 and "no source named nope" in unknown.stderr


@pytest.fixture
def local_site():
    """A local server: an article, a gzip bomb (30 MB of zeros in 30 kB), a redirect back to itself."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    article = (FIXTURES / "news/news/202206/t20220601_1002.html").read_bytes()
    bomb = gzip.compress(b"\0" * 30_000_000, compresslevel=9)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/bomb.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                self.wfile.write(bomb)
                return
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/article.html")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(article)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_extract_url_refuses_loopback_addresses_unless_allowed(local_site, capsys):
    assert main(["extract", f"{local_site}/article.html"]) == 2
    err = capsys.readouterr().err
    assert "internal address (127.0.0.1)" in err and "--allow-private" in err and "Traceback" not in err
    assert main(["extract", "--allow-private", f"{local_site}/moved"]) == 0
    assert "菏泽市区部分路段6月起实行单向通行" in capsys.readouterr().out


def test_extract_url_stops_a_gzip_bomb_at_the_crawlers_size_limit(local_site, capsys):
    assert main(["extract", "--allow-private", f"{local_site}/bomb.html"]) == 2
    assert "larger than the crawler's limit of 20 MB once decompressed" in capsys.readouterr().err


@pytest.mark.parametrize(("address", "internal"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.1.1", True), ("169.254.169.254", True), ("::1", True),
    ("0.0.0.0", True), ("::ffff:127.0.0.1", True), ("100.64.0.1", True), ("93.184.216.34", False),
    ("2606:4700::6810:84e5", False),
])
def test_internal_addresses_are_told_apart(monkeypatch, address, internal):
    import socket

    from spiders.fetch import internal_address

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, 80))])
    assert (internal_address("http://site.example/") is not None) is internal
