"""`yuqing sample-site serve [--port N]`: serve the bundled demo city's sources to look at in a browser."""

from __future__ import annotations

import argparse
import sys
import threading

from sample_site import SampleSite, sources_for
from sample_site.sources import DEFAULT_PORT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample-site",
        help="演示样例站点: the bundled sample city's portal, news, Weibo API, board and forum on 127.0.0.1",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve the sample site until Ctrl-C")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.set_defaults(func=serve_site)


def serve_site(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until interrupted (or until `stop` is set, for tests)."""
    site = SampleSite()
    try:
        base = site.start(args.port)
    except OSError as exc:
        print(
            f"无法启动演示站点 (cannot start the sample site) on port {args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    with site:
        print(f"演示样例站点已启动 (sample site running): {base}/")
        print(f"  政府门户   {base}/index.html")
        print(f"  政策文件   {base}/zwgk/zcwj/index.html  (GBK)")
        print(f"  菏城新闻网 {base}/hcrb/index.html  RSS {base}/hcrb/rss.xml")
        print(f"  微博接口   {base}/api/container/getIndex?containerid=100103type%3D1%26q%3D老旧小区&page=1")
        print(f"  网上留言   {base}/lyb/list.html")
        print(f"  菏泽吧     {base}/tieba/f?kw=菏泽")
        print(f"  数据源     {len(sources_for(base))} sources (sample_site/sources.yaml)")
        print("按 Ctrl-C 停止 (press Ctrl-C to stop)", flush=True)
        (stop or threading.Event()).wait()
    return 0
