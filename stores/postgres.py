"""The one way a store opens PostgreSQL (the scale-out state), and the schema's versioned migrations.

The schema is the SQL files in `stores/migrations/`, `NNNN_name.sql`, applied in order by `setup`
(`yuqing state setup`): each file once, recorded in `schema_migrations`, under an advisory lock so two
deployments running it at once do not race. A store refuses to work against a database that lacks a
migration it needs, with a message that says to run `yuqing state setup`.

The password comes from the settings (`YUQING_POSTGRES__PASSWORD`) as a separate connection argument,
never inside a URL that could be printed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from yuqing.config import ConfigError
from yuqing.config.settings import PostgresSettings
from yuqing.errors import BackendUnavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")
# pg_advisory_xact_lock key: any constant shared by every process that migrates this schema.
_SETUP_LOCK = 0x7975_7169_6E67  # "yuqing"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def migrations() -> list[Migration]:
    """The schema's migrations, in order."""
    found = []
    for path in MIGRATIONS_DIR.iterdir():
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path))
    return sorted(found, key=lambda m: m.version)


def describe(settings: PostgresSettings) -> str:
    """Where the database is, for messages: host, port and database name (the URL holds no password)."""
    parts = conninfo_to_dict(settings.url)
    return f"PostgreSQL {parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _unavailable(settings: PostgresSettings, exc: psycopg.Error) -> BackendUnavailable:
    # libpq's message names the host and the reason, never the password; its lines joined into one.
    reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return BackendUnavailable(f"{describe(settings)}: {reason}")


def connect(settings: PostgresSettings, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection to the state database; BackendUnavailable when it cannot be reached or refuses us."""
    password = settings.password.get_secret_value() if settings.password else None
    try:
        return psycopg.connect(settings.url, password=password, autocommit=autocommit,
                               connect_timeout=settings.connect_timeout)
    except psycopg.OperationalError as exc:
        raise _unavailable(settings, exc) from exc


# SQLSTATE classes that mean "not now" rather than "never": a connection exception, operator intervention (a
# shutdown or restart, a cancelled statement), insufficient resources (too many connections), a transaction rolled
# back (deadlock, serialization failure).
_NOT_NOW = ("08", "57", "53", "40")


class Database:
    """A store's one connection to the state database, shared by its threads one transaction at a time.

    A server that stops or restarts under a running stage is an outage, not a fault: the transaction it cut
    off is rolled back and raised as BackendUnavailable (the stage keeps its batch and tries again later), and
    the next transaction opens a fresh connection. `read_only`: every transaction is read-only (PostgreSQL
    refuses writes), for views that must never put anything back. `search_path`: the PostgreSQL schema a store's
    unqualified table names are in (before `public`), for a store whose tables share names with another's."""

    def __init__(self, settings: PostgresSettings, schema_version: int, *, read_only: bool = False,
                 search_path: str | None = None) -> None:
        self.settings = settings
        self.read_only = read_only
        self.search_path = search_path
        self._lock = threading.RLock()
        self._conn: psycopg.Connection | None = None
        try:
            require_schema(self._connection(), settings, schema_version)
        except BaseException:
            self.close()
            raise

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = connect(self.settings)
            if self.search_path:
                conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.search_path)))
                conn.commit()
            conn.read_only = self.read_only
            self._conn = conn
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction, committed when the block ends, rolled back when it raises."""
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                if conn.broken:
                    conn.close()
                elif (exc.sqlstate or "")[:2] not in _NOT_NOW:
                    raise  # a fault of the statement or the data: trying again would not help
                raise _unavailable(self.settings, exc) from exc

    def rows(self, statement: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """One statement in a transaction of its own; its rows (none for a statement that returns none)."""
        with self.transaction() as conn:
            cursor = conn.execute(statement.encode(), params)
            return cursor.fetchall() if cursor.description is not None else []

    def row(self, statement: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        """The first row of one statement in a transaction of its own, or None."""
        rows = self.rows(statement, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def setup(settings: PostgresSettings) -> list[Migration]:
    """Apply the migrations the database lacks, in one transaction; returns those applied (none: up to date)."""
    applied = []
    with connect(settings) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {version for (version,) in conn.execute("SELECT version FROM schema_migrations")}
        for migration in migrations():
            if migration.version in done:
                continue
            conn.execute(migration.path.read_text(encoding="utf-8").encode())
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
            applied.append(migration)
    return applied


def require_schema(conn: psycopg.Connection, settings: PostgresSettings, version: int) -> None:
    """Raise ConfigError unless migration `version` (the newest a store needs) has been applied."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    present = bool(row and row[0]) and conn.execute(
        "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone() is not None
    if not conn.autocommit:
        conn.commit()  # the check's read-only transaction: not left open
    if not present:
        raise ConfigError(describe(settings), "schema",
                          f"migration {version:04d} is missing: run `yuqing state setup`")
