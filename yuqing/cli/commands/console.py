"""`yuqing console [--host 127.0.0.1] [--port 8620]`: serve the web console over the configured stores."""

from __future__ import annotations

import argparse
import socket

from yuqing.cli.common import settings_from
from yuqing.config import ConfigError

DEFAULT_PORT = 8620


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "console", help="serve the web console: alerts, search, trends, events, reports, sources",
        description="舆情控制台: serve the web console on HOST:PORT. Log in with an account made by "
                    "`yuqing users add` (or the demo accounts `yuqing demo` prints).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 only behind an HTTPS proxy)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.set_defaults(func=run)


def check_port(host: str, port: int) -> None:
    """One clear line when the address is taken, before the stores are opened."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError("--port", str(port), f"cannot listen on {host}:{port} ({exc.strerror}); "
                                                   "free the port or pass --port") from exc


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from console.app import create_app

    settings = settings_from(args)
    check_port(args.host, args.port)
    app = create_app(settings)
    accounts = app.state.accounts
    if not accounts.users():
        print("提示：还没有任何账户。先添加一个管理员：yuqing users add 姓名 --role admin")
    print(f"舆情控制台 console: http://{args.host}:{args.port}/  (数据目录 data dir: {settings.data_dir})", flush=True)
    # proxy_headers: behind a trusted local proxy the X-Forwarded-Proto of HTTPS marks the cookies Secure.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=True)
    return 0
