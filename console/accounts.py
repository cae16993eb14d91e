"""Console accounts: users and their roles, login sessions, failed logins. One SQLite file under the data dir
(embedded), or schema `console` of the PostgreSQL state database (`state: postgres`), so every console replica
knows the same users and sessions.

Passwords are hashed with Argon2id (argon2-cffi). A session is a random token the browser keeps in a
cookie; only its SHA-256 is stored, so a copy of the database opens no session. Each session has its own
CSRF token. Failed logins are counted per account and per client address: too many within
`LOCK_WINDOW` refuse further attempts until the window has passed, even with the right password.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from stores import postgres
from stores.sqlite import connect, write_transaction
from yuqing.config import Settings
from yuqing.config.settings import PostgresSettings


class Role(StrEnum):
    OFFICER = "officer"
    ANALYST = "analyst"
    LEADER = "leader"
    ADMIN = "admin"


ROLE_NAMES: dict[Role, str] = {
    Role.OFFICER: "宣传干部",
    Role.ANALYST: "分析员",
    Role.LEADER: "领导",
    Role.ADMIN: "管理员",
}


class Permission(StrEnum):
    """What a route needs. Every role reads; leaders only read."""

    READ = "read"  # alerts, events, reports, sources, search, trends
    WORK_ALERTS = "work_alerts"  # acknowledge, assign, respond, close
    ADMINISTER = "administer"  # accounts (and, as they come to the console, sources and rules)


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: frozenset({Permission.READ, Permission.WORK_ALERTS}),
    Role.ANALYST: frozenset({Permission.READ}),
    Role.LEADER: frozenset({Permission.READ}),
    Role.ADMIN: frozenset(Permission),
}

SESSION_LIFETIME = timedelta(hours=12)  # one working day; then log in again
MIN_PASSWORD = 10
MAX_NAME = 32
LOCK_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20  # one address guessing many account names

# The embedded tables; migration 0006 makes the same ones in PostgreSQL (schema `console`).
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, csrf_token TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (name);
CREATE TABLE IF NOT EXISTS login_failures (name TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_by_name ON login_failures (name, at);
CREATE INDEX IF NOT EXISTS failures_by_client ON login_failures (client, at);
CREATE TABLE IF NOT EXISTS account_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, details TEXT NOT NULL
);
"""


class AccountError(ValueError):
    """A request about accounts that cannot be done as asked; the message says why, in Chinese."""


class LoginRefused(Exception):
    """Wrong name or password, a disabled account, or too many failures: the message is safe to show."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    created_at: datetime

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    def can(self, permission: Permission) -> bool:
        return not self.disabled and permission in GRANTS[self.role]


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """Account names are what officers sign the audit log with: printable, no spaces, at most 32 characters."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > MAX_NAME or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise AccountError(f"用户名须为1至{MAX_NAME}个可见字符，不含空格 (got {name!r})")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少{MIN_PASSWORD}个字符 (password too short)")
    return password


def default_hasher() -> PasswordHasher:
    """Argon2id with argon2-cffi's recommended cost (RFC 9106's second choice: 64 MiB, 3 passes)."""
    return PasswordHasher()


class _Statements(Protocol):
    """A transaction's connection: statements written with `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any: ...


class AccountTables(Protocol):
    """Where the account tables are: transactions, reads, and the error a duplicate key raises."""

    where: str
    duplicate: type[Exception]

    def write(self) -> AbstractContextManager[_Statements]: ...
    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...
    def close(self) -> None: ...


class SqliteAccountTables:
    """The embedded tables: one SQLite file shared by the console's threads and the `users` command."""

    duplicate: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        self._lock = threading.Lock()
        try:
            self._conn = connect(path, autocommit=True, shared_between_threads=True)
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise AccountError(f"无法打开账户库 {path}: {exc}") from exc

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._conn, self._lock)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Qmark:
    """A PostgreSQL connection that takes the statements' `?` placeholders (the account SQL has no other `?`
    or `%`)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> psycopg.Cursor:
        return self._conn.execute(sql.replace("?", "%s").encode(), params)


class PostgresAccountTables:
    """The tables in schema `console` of the state database (migration 0006), shared by every console."""

    SCHEMA_VERSION = 6
    duplicate: type[Exception] = psycopg.errors.UniqueViolation

    def __init__(self, settings: PostgresSettings) -> None:
        self.where = postgres.describe(settings)
        self._db = postgres.Database(settings, self.SCHEMA_VERSION, search_path="console")

    @contextmanager
    def write(self) -> Iterator[_Qmark]:
        with self._db.transaction() as conn:
            yield _Qmark(conn)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._db.rows(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self._db.close()


class AccountStore:
    def __init__(self, tables: AccountTables, hasher: PasswordHasher | None = None) -> None:
        self.tables = tables
        self._hasher = hasher or default_hasher()
        # Verified against when the account does not exist, so a wrong name costs as long as a wrong password.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def _write(self) -> AbstractContextManager[_Statements]:
        return self.tables.write()

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
        return self.tables.read(sql, params)

    @staticmethod
    def _user(row: tuple) -> User:
        return User(row[0], Role(row[1]), bool(row[2]), datetime.fromtimestamp(row[3], UTC))

    # --- accounts --------------------------------------------------------------------------

    def users(self) -> list[User]:
        return [self._user(r) for r in self._read("SELECT name, role, disabled, created_at FROM users ORDER BY name")]

    def get(self, name: str) -> User | None:
        rows = self._read("SELECT name, role, disabled, created_at FROM users WHERE name = ?", (name,))
        return self._user(rows[0]) if rows else None

    def add(self, name: str, role: Role, password: str, actor: str, now: datetime | None = None) -> User:
        name = check_name(name)
        password_hash = self._hasher.hash(check_password(password))
        now = now or datetime.now(UTC)
        try:
            with self._write() as conn:
                conn.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                             (name, role.value, password_hash, _ts(now)))
                self._log(conn, now, actor, "add", name, {"role": role.value})
        except self.tables.duplicate as exc:
            raise AccountError(f"用户 {name} 已存在 (account exists)") from exc
        return User(name, role, False, now)

    def set_password(self, name: str, password: str, actor: str, now: datetime | None = None) -> None:
        """A new password ends the account's sessions: whoever knew the old one is logged out."""
        password_hash = self._hasher.hash(check_password(password))
        now = now or datetime.now(UTC)
        with self._write() as conn:
            if conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name)).rowcount == 0:
                raise AccountError(f"没有用户 {name} (no such account)")
            conn.execute("DELETE FROM sessions WHERE name = ?", (name,))
            conn.execute("DELETE FROM login_failures WHERE name = ?", (name,))
            self._log(conn, now, actor, "passwd", name, {})

    def set_disabled(self, name: str, disabled: bool, actor: str, now: datetime | None = None) -> None:
        if disabled and name == actor:
            raise AccountError("不能停用自己的账户 (an administrator cannot disable their own account)")
        now = now or datetime.now(UTC)
        with self._write() as conn:
            if conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (disabled, name)).rowcount == 0:
                raise AccountError(f"没有用户 {name} (no such account)")
            if disabled:
                conn.execute("DELETE FROM sessions WHERE name = ?", (name,))
            self._log(conn, now, actor, "disable" if disabled else "enable", name, {})

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._read("SELECT at, actor, action, target, details FROM account_log ORDER BY seq DESC LIMIT ?",
                          (limit,))
        return [{"at": datetime.fromtimestamp(r[0], UTC), "actor": r[1], "action": r[2], "target": r[3],
                 "details": json.loads(r[4])} for r in rows]

    @staticmethod
    def _log(conn: _Statements, now: datetime, actor: str, action: str, target: str,
             details: dict[str, Any]) -> None:
        conn.execute("INSERT INTO account_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
                     (_ts(now), actor, action, target, json.dumps(details, ensure_ascii=False)))

    # --- logging in ------------------------------------------------------------------------

    def _locked(self, name: str, client: str, now: datetime) -> bool:
        [(by_name, by_client)] = self._read(
            "SELECT COUNT(*) FILTER (WHERE name = ?), COUNT(*) FILTER (WHERE client = ?) FROM login_failures "
            "WHERE at > ?", (name, client, _ts(now - LOCK_WINDOW)))
        return by_name >= MAX_FAILURES_PER_ACCOUNT or by_client >= MAX_FAILURES_PER_CLIENT

    def authenticate(self, name: str, password: str, client: str, now: datetime | None = None) -> User:
        """The user whose password this is; LoginRefused otherwise (the same words for a wrong name or password)."""
        now = now or datetime.now(UTC)
        name = unicodedata.normalize("NFC", name.strip())
        if self._locked(name, client, now):
            raise LoginRefused(f"登录失败次数过多，请{LOCK_WINDOW.seconds // 60}分钟后再试")
        rows = self._read("SELECT name, role, disabled, created_at, password_hash FROM users WHERE name = ?", (name,))
        row = rows[0] if rows else None
        try:
            self._hasher.verify(row[4] if row else self._decoy, password)
            verified = row is not None
        except (VerificationError, InvalidHashError):
            verified = False
        if not verified or row is None:
            with self._write() as conn:
                conn.execute("INSERT INTO login_failures (name, client, at) VALUES (?, ?, ?)", (name, client, _ts(now)))
                conn.execute("DELETE FROM login_failures WHERE at < ?", (_ts(now - LOCK_WINDOW),))
            raise LoginRefused("用户名或密码错误")
        user = self._user(row[:4])
        if user.disabled:
            raise LoginRefused("该账户已停用，请联系管理员")
        if self._hasher.check_needs_rehash(row[4]):
            with self._write() as conn:
                conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (self._hasher.hash(password), name))
        with self._write() as conn:
            conn.execute("DELETE FROM login_failures WHERE name = ?", (name,))
        return user

    def start_session(self, user: User, now: datetime | None = None) -> tuple[str, Session]:
        """A new session for the user: (the token for the cookie, the session)."""
        now = now or datetime.now(UTC)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + SESSION_LIFETIME
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_ts(now),))
            conn.execute("INSERT INTO sessions (token_hash, name, csrf_token, created_at, expires_at) "
                         "VALUES (?, ?, ?, ?, ?)", (_digest(token), user.name, csrf, _ts(now), _ts(expires)))
        return token, Session(user, csrf, expires)

    def session(self, token: str, now: datetime | None = None) -> Session | None:
        """The live session of this token and its (enabled) user, else None."""
        now = now or datetime.now(UTC)
        rows = self._read(
            "SELECT u.name, u.role, u.disabled, u.created_at, s.csrf_token, s.expires_at FROM sessions s "
            "JOIN users u ON u.name = s.name WHERE s.token_hash = ? AND s.expires_at > ? AND NOT u.disabled",
            (_digest(token), _ts(now)))
        if not rows:
            return None
        row = rows[0]
        return Session(self._user(row[:4]), row[4], datetime.fromtimestamp(row[5], UTC))

    def end_session(self, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))

    def close(self) -> None:
        self.tables.close()


def open_accounts(settings: Settings) -> AccountStore:
    """The account store the settings ask for: the state database with `state: postgres`, else
    <data_dir>/console.sqlite3."""
    if settings.state == "postgres":
        return AccountStore(PostgresAccountTables(settings.postgres))
    return AccountStore(SqliteAccountTables(settings.data_dir / "console.sqlite3"))


DEMO_ACTOR = "yuqing demo"


def demo_accounts(settings: Settings) -> Path:
    """One account per role for the demo (demo-officer, demo-analyst, demo-leader, demo-admin), each with a
    random password written to <data_dir>/demo-accounts.txt, readable by its owner only. A second run keeps
    the accounts and the file; an account whose password is not in the file gets a new one."""
    listing = settings.data_dir / "demo-accounts.txt"
    saved: dict[str, str] = {}
    if listing.exists():
        for line in listing.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].startswith("demo-"):
                saved[parts[0]] = parts[2]
    store = open_accounts(settings)
    lines = []
    try:
        for role in Role:
            name = f"demo-{role.value}"
            password = saved.get(name)
            if store.get(name) is None:
                password = password or secrets.token_urlsafe(12)
                store.add(name, role, password, actor=DEMO_ACTOR)
            elif password is None:
                password = secrets.token_urlsafe(12)
                store.set_password(name, password, actor=DEMO_ACTOR)
            lines.append(f"{name}\t{ROLE_NAMES[role]}\t{password}")
    finally:
        store.close()
    listing.touch(mode=0o600, exist_ok=True)
    listing.chmod(0o600)
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return listing
