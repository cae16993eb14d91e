"""The search and trends pages' data (console.explore) straight from an embedded index."""

from __future__ import annotations

from datetime import timedelta

from console.explore import Filters, search, trends
from console.views import Names, events_of_day, find_event
from search.sqlite_fts import SqliteIndex
from tests.test_reports_daily import DAY, NOW, START, Factory
from yuqing.schema import Event

# More events seen after the one the facets list than the pages used to read to name it.
SEEN_AFTER = 1_200


def busy_morning() -> tuple[Factory, Event]:
    """Three posts of one event early on the day, and that event."""
    f = Factory()
    for i in range(3):
        f.add(START + timedelta(hours=1, minutes=i), text=f"供暖不热{i}", event="ev-busy")
    return f, Event(id="ev-busy", label="供暖不热", first_seen=START + timedelta(hours=1),
                    last_seen=START + timedelta(hours=1, minutes=2), size=3)


def test_an_event_in_the_facets_is_named_however_many_events_were_seen_after_it(tmp_path):
    f, busy = busy_morning()
    later = [Event(id=f"ev-{n:04}", label=f"日常{n}", first_seen=START + timedelta(hours=2),
                   last_seen=START + timedelta(hours=2, seconds=n), size=1) for n in range(SEEN_AFTER)]
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert(f.posts)
        ix.upsert_events([busy, *later])
        found = search(ix, Filters(), Names())
        trended = trends(ix, Filters(since=DAY.isoformat()), Names(), NOW)
    assert [(v["value"], v["label"]) for v in found["facets"]["event"]["values"]] == [("ev-busy", busy.headline)]
    assert [(v["value"], v["label"]) for v in trended["events"]] == [("ev-busy", busy.headline)]


def test_an_event_is_found_by_id_however_many_events_were_seen_after_it(tmp_path):
    first = Event(id="ev-first", label="供暖不热", first_seen=START, last_seen=START, size=1)
    later = [Event(id=f"ev-{n:05}", label=f"日常{n}", first_seen=START, last_seen=START + timedelta(seconds=n + 1),
                   size=1) for n in range(10_001)]  # more than the event page looked through
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert_events([first, *later])
        assert find_event(ix, "ev-first") == first
        assert find_event(ix, "ev-unknown") is None


def test_the_days_busiest_event_leads_however_many_events_were_seen_after_it(tmp_path):
    f, busy = busy_morning()
    later = []
    for n in range(SEEN_AFTER):  # more events seen after it than the day's page used to look through
        when = START + timedelta(hours=2, seconds=n)
        f.add(when, text=f"日常{n}", event=f"ev-{n:04}")
        later.append(Event(id=f"ev-{n:04}", label=f"日常{n}", first_seen=when, last_seen=when, size=1 + n % 2))
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert(f.posts)
        ix.upsert_events([busy, *later])
        shown = events_of_day(ix, DAY, Names(), NOW, limit=3)
    # On the tie at one post each, the bigger events come first.
    assert [(e["id"], e["today"]) for e in shown] == [("ev-busy", 3), ("ev-0001", 1), ("ev-0003", 1)]
