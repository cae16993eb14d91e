"""`yuqing run`'s supervisor: restarts with back-off, one crawl at a time on schedule, one report a day."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from workers.supervisor import HEALTHY_AFTER, Supervisor
from yuqing.schema import SHANGHAI

DIES = [sys.executable, "-c", "import sys; sys.exit(3)"]
LIVES = [sys.executable, "-c", "import time; time.sleep(60)"]
MORNING = datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI)


def appends(path: Path, word: str) -> list[str]:
    return [sys.executable, "-c", f"open({str(path)!r}, 'a').write({word!r} + '\\n')"]


def settle(supervisor: Supervisor) -> None:
    for process in supervisor.running():
        process.wait(timeout=20)


def test_a_dying_worker_is_restarted_with_a_growing_back_off(tmp_path: Path):
    said: list[str] = []
    supervisor = Supervisor({"analyze-1": DIES}, appends(tmp_path / "crawls", "c"), 1e9, say=said.append)
    supervisor.step(now=0.0, wall=MORNING)
    [worker] = supervisor.managed
    worker.process.wait(timeout=20)
    supervisor.step(now=1.0, wall=MORNING)  # noticed: back-off 1 s, not started yet
    assert worker.process is None and worker.start_after == 2.0
    supervisor.step(now=2.0, wall=MORNING)
    worker.process.wait(timeout=20)
    supervisor.step(now=3.0, wall=MORNING)  # died young again: 2 s
    assert worker.backoff == 2.0 and worker.restarts == 1
    supervisor.step(now=5.0, wall=MORNING)
    worker.process.wait(timeout=20)
    supervisor.step(now=5.0 + HEALTHY_AFTER, wall=MORNING)  # it had lived long enough: back to 1 s
    assert worker.backoff == 1.0 and worker.restarts == 2
    assert "退出码 3" in said[0] and "restarting in 1 s" in said[0]
    settle(supervisor)


def test_crawls_run_one_at_a_time_on_their_schedule(tmp_path: Path):
    crawls = tmp_path / "crawls"
    supervisor = Supervisor({}, appends(crawls, "c"), 600.0)
    supervisor.step(now=0.0, wall=MORNING)
    settle(supervisor)
    supervisor.step(now=300.0, wall=MORNING)  # finished, but not due
    supervisor.step(now=600.0, wall=MORNING)
    settle(supervisor)
    assert crawls.read_text().split() == ["c", "c"]
    slow = Supervisor({}, LIVES, 1.0)
    slow.step(now=0.0, wall=MORNING)
    first = slow.running()[0]
    slow.step(now=5.0, wall=MORNING)  # overdue, but the first crawl is still running
    assert slow.running() == [first]
    slow.stop(grace=5)
    assert first.poll() is not None


def test_the_previous_days_report_is_written_once_each_morning(tmp_path: Path):
    days: list[str] = []

    def report(day: datetime) -> list[str]:
        days.append(day.date().isoformat())
        return appends(tmp_path / "reports", day.date().isoformat())

    supervisor = Supervisor({}, [sys.executable, "-c", "pass"], 1e9, report=report)
    for hour in (7, 8, 9, 23):
        supervisor.step(now=0.0, wall=MORNING.replace(hour=hour))
        settle(supervisor)
    supervisor.step(now=0.0, wall=MORNING.replace(day=27, hour=8, minute=5))
    settle(supervisor)
    assert days == ["2026-11-25", "2026-11-26"]
    assert (tmp_path / "reports").read_text().split() == days


def test_stop_ends_every_process():
    supervisor = Supervisor({"index-1": LIVES, "alert-1": LIVES}, LIVES, 1e9)
    supervisor.step(now=0.0, wall=MORNING)
    processes = supervisor.running()
    assert len(processes) == 3
    supervisor.stop(grace=5)
    assert all(process.poll() is not None for process in processes)


def test_sigterm_stops_the_supervisor_and_every_child(tmp_path: Path):
    import os
    import signal
    import subprocess

    pids = tmp_path / "pids"
    child = [sys.executable, "-c", f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); "
                                   "time.sleep(120)"]
    script = ("from workers.supervisor import Supervisor\n"
              f"Supervisor({{'analyze-1': {child!r}, 'alert-1': {child!r}}}, {child!r}, 1e9, say=print).run(tick=0.1)\n")
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 30
        while (not pids.exists() or len(pids.read_text().split()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        children = [int(pid) for pid in pids.read_text().split()]
        assert len(children) == 3
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    for pid in children:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"child {pid} outlived the supervisor")


def test_yuqing_run_starts_one_alert_worker_whatever_workers_says():
    import argparse

    from yuqing.cli.commands import run

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    run.register(parser.add_subparsers())
    names = sorted(run.worker_commands(parser.parse_args(["run", "--workers", "3"])))
    assert names == ["alert-1", "enrich-1", "enrich-2", "enrich-3", "events-1", "index-1", "index-2", "index-3"]
    # The workers run as services of their own (docker-compose.yml): the scheduler starts none.
    assert run.worker_commands(parser.parse_args(["run", "--workers", "0"])) == {}
