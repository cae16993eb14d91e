"""A loopback HTTP server that answers with recorded responses and records every request it gets.

Tests script it route by route (method + path), replay response files from tests/fixtures/, and
then assert on the exact requests the code under test sent.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode("utf-8").splitlines() if line.strip()]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, relative: str, **replace: str) -> Reply:
        """A recorded response file: {"status", "headers", "body"}; `replace` fills {placeholders}."""
        text = (FIXTURES / relative).read_text(encoding="utf-8")
        for key, value in replace.items():
            text = text.replace("{" + key + "}", value)
        data = json.loads(text)
        return cls(data["status"], data.get("body"), data.get("headers", {}))


class RecordingServer:
    """Routes are (METHOD, path); each holds a queue of replies, the last one repeating."""

    def __init__(self, default_headers: dict[str, str] | None = None) -> None:
        self.default_headers = default_headers or {}
        self.requests: list[Recorded] = []
        self.unmatched: list[Recorded] = []
        self._routes: dict[tuple[str, str], deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, *replies: Reply) -> None:
        self._routes[(method.upper(), path)] = deque(replies)

    def sent(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def _reply_for(self, request: Recorded) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path))
            if not queue:
                self.unmatched.append(request)
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    method=self.command, path=unquote(parts.path), query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = server._reply_for(request) or Reply(599, {"error": f"no route for {self.command} {parts.path}"})
                payload = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                self.send_response(reply.status)
                headers = {**server.default_headers, **reply.headers}
                if payload:
                    headers.setdefault("Content-Type", "application/json; charset=UTF-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def unused_loopback_url() -> str:
    """A loopback URL where nothing listens: a port that was just free."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
