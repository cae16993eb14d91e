"""Webhook receivers for fault runs: a healthy one that records when each message arrived, one that
hangs (accepts the request and never answers) and one that refuses (HTTP 400). Used by the fault tests
and by `bench/faults.py`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class Endpoint:
    """`behaviour`: "healthy" answers 200, "refusing" answers 400, "hanging" never answers until closed."""

    def __init__(self, behaviour: str = "healthy") -> None:
        self.behaviour = behaviour
        self.received: list[tuple[float, dict]] = []  # (time.time() on arrival, JSON body)
        self.arrived = threading.Event()
        self._release = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.received.append((time.time(), json.loads(body or b"{}")))
                endpoint.arrived.set()
                if endpoint.behaviour == "hanging":
                    endpoint._release.wait()
                    return
                status = 200 if endpoint.behaviour == "healthy" else 400
                answer = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def webhook_channels(endpoints: dict[str, Endpoint], timeout: float = 10.0) -> list[dict]:
    """The rules file's `channels` entries for these endpoints (real timeouts: a hang costs what it costs)."""
    return [{"name": name, "type": "webhook", "options": {"url": endpoint.url, "timeout": timeout}}
            for name, endpoint in endpoints.items()]
