"""A real PostgreSQL server for tests: Debian's `postgresql` binaries, one private cluster per test session.

The cluster lives in a fresh temporary directory, listens on a free loopback port (and a socket in its own
directory), and asks for a password over TCP (scram-sha-256), so the tests connect exactly as a deployment
does. Durability is switched off (fsync, synchronous_commit): a test cluster is thrown away. PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user (or `nobody`), which owns the
directory.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import SecretStr

from tests.kafka_broker import free_port
from yuqing.config.settings import PostgresSettings

USER = "yuqing"


def server_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else the PATH's."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                    if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def server_account() -> pwd.struct_passwd | None:
    """Who runs the server: this user, or as root an unprivileged account (None: there is none)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    """One server process; `settings(database)` is what a store connects with."""

    def __init__(self, binaries: Path, account: pwd.struct_passwd) -> None:
        self.binaries = binaries
        self.account = account
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.root = Path(tempfile.mkdtemp(prefix="yuqing-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.binaries / args[0]), *args[1:]]
        if os.geteuid() != self.account.pw_uid:
            command = ["runuser", "-u", self.account.pw_name, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.root)

    def start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        for path in (self.root, password_file):
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
        self.root.chmod(0o700)
        self._step("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password_file}", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        password_file.unlink()
        self.resume()

    def resume(self) -> None:
        """Start the server (again, after `halt`) on its port, with its data."""
        self._step("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start", "-o",
                   f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")

    def halt(self) -> None:
        """Stop the server as a restart does: every client's connection is cut; its data stays (a clean stop:
        this cluster commits without waiting for its log, so an immediate one could lose the last commits)."""
        self._step("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _step(self, *args: str) -> None:
        result = self._run(*args)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip()} {log[-2000:]}")

    def settings(self, database: str = "postgres") -> PostgresSettings:
        return PostgresSettings(url=f"postgresql://{USER}@127.0.0.1:{self.port}/{database}",
                                password=SecretStr(self.password))

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
