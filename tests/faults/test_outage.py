"""A broker outage during a crawl: every item the crawl took is in the topic afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import outage_crawl
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.faults


def test_a_broker_outage_during_a_crawl_loses_no_post(tmp_path: Path, tansu: Path):
    # A broker of its own: this test stops it answering, which the session's broker must never do.
    broker = TansuBroker(tansu, tmp_path / "broker.log").start()
    try:
        figures = outage_crawl(tmp_path, broker, outage=15.0, after_posts=20, say=print)
    finally:
        broker.resume()
        broker.stop()
    print("\n".join(figures.lines()))
    assert figures.expected > 100
    assert figures.spooled > 0  # the outage did hit the crawl
    assert figures.lost == 0 and figures.delivered == figures.expected
