"""Keeps the pipeline's processes up for `yuqing run`: one per worker, crawls on a schedule, the daily report.

A worker that exits is started again after a back-off that doubles while it keeps dying young
(1 s, 2 s, 4 s ... up to `backoff_max`), so a bad configuration does not spin the machine, and that
resets once it has stayed up for a minute. Crawls run one at a time: the next one starts `crawl_every`
seconds after the previous one started, or as soon as it ends if it took longer. The daily briefing
for the previous day is written once a day at `report_at` (Beijing time), and on Mondays the weekly
report for the week before after it; report commands run one at a time.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time

from yuqing.schema import SHANGHAI

# A worker that stayed up this long was healthy: its next failure starts the back-off afresh.
HEALTHY_AFTER = 60.0


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float | None = None
    restarts: int = 0
    backoff: float = 0.0
    start_after: float = 0.0  # monotonic time before which it is not started again


@dataclass
class Supervisor:
    workers: dict[str, list[str]]
    crawl: list[str]
    crawl_every: float
    report: Callable[[datetime], list[str]] | None = None  # argv writing the report of a given day
    report_at: clock_time = clock_time(8, 0)
    weekly: Callable[[datetime], list[str]] | None = None  # argv writing the report of the week before a Monday
    backoff_max: float = 60.0
    say: Callable[[str], None] = print
    managed: list[ManagedProcess] = field(init=False)
    _crawl: subprocess.Popen | None = field(init=False, default=None)
    _next_crawl: float = field(init=False, default=0.0)
    _report: subprocess.Popen | None = field(init=False, default=None)
    _reported_day: str | None = field(init=False, default=None)
    _report_queue: list[list[str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.managed = [ManagedProcess(name, argv) for name, argv in self.workers.items()]

    def step(self, now: float | None = None, wall: datetime | None = None) -> None:
        """One round: restart exited workers that are due, start a due crawl or report."""
        now = time.monotonic() if now is None else now
        wall = datetime.now(SHANGHAI) if wall is None else wall
        for worker in self.managed:
            self._tend(worker, now)
        if self._crawl is not None and self._crawl.poll() is not None:
            if self._crawl.returncode:
                self.say(f"采集进程退出码 {self._crawl.returncode} (crawl exited with {self._crawl.returncode})")
            self._crawl = None
        if self._crawl is None and now >= self._next_crawl:
            self._crawl = subprocess.Popen(self.crawl)
            self._next_crawl = now + self.crawl_every
        self._maybe_report(wall)

    def _tend(self, worker: ManagedProcess, now: float) -> None:
        if worker.process is not None:
            code = worker.process.poll()
            if code is None:
                return
            lived = now - (worker.started_at or now)
            worker.backoff = 1.0 if lived >= HEALTHY_AFTER or not worker.backoff else min(
                worker.backoff * 2, self.backoff_max)
            worker.start_after = now + worker.backoff
            worker.process = None
            self.say(f"工作进程 {worker.name} 退出（退出码 {code}），{worker.backoff:g} 秒后重启 "
                     f"(worker {worker.name} exited with {code}; restarting in {worker.backoff:g} s)")
        if now >= worker.start_after:
            if worker.started_at is not None:
                worker.restarts += 1
            worker.process = subprocess.Popen(worker.argv)
            worker.started_at = now

    def _maybe_report(self, wall: datetime) -> None:
        if self.report is None:
            return
        if self._report is not None and self._report.poll() is not None:
            self._report = None
        # Started after the day's report time, yesterday's report is written at once; before it, at the time.
        day = (wall - timedelta(days=1)).date().isoformat()
        if wall.time() >= self.report_at and self._reported_day != day:
            self._reported_day = day
            self._report_queue.append(self.report(wall - timedelta(days=1)))
            if self.weekly is not None and wall.weekday() == 0:
                self._report_queue.append(self.weekly(wall))
        if self._report is None and self._report_queue:
            self._report = subprocess.Popen(self._report_queue.pop(0))

    def run(self, *, tick: float = 2.0, until: Callable[[], bool] = lambda: False) -> None:
        """Step every `tick` seconds until `until()` is true, Ctrl-C or SIGTERM (a service manager stopping
        `yuqing run`); then stop every process, so no worker is left behind to run twice after a restart."""
        stopping = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            while not until() and not stopping.is_set():
                self.step()
                stopping.wait(tick)
        except KeyboardInterrupt:
            pass
        finally:
            try:
                self.stop()
            finally:
                signal.signal(signal.SIGTERM, previous)

    def running(self) -> Sequence[subprocess.Popen]:
        return [p for p in (*(w.process for w in self.managed), self._crawl, self._report) if p is not None]

    def stop(self, grace: float = 30.0) -> None:
        processes = self.running()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
