"""Bursts: a quiet baseline then a surge gives a signal per subject; counts survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analysis.bursts import DAY_BUCKETS, RECENT_IDS, RECENT_KEPT, BurstTracker, Window, _bucket
from stores.bursts import SqliteBurstStore
from workers.build import burst_tracker_from_settings, load_gazetteer, shipped_segmenter
from yuqing.config.datafiles import Watchlist
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import EnrichedPost, Policy, PolicyLink, Sentiment

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WAGES = Watchlist(name="拖欠工资", terms=["欠薪", "拖欠工资"])
LEAKS = Watchlist(name="老旧小区漏水", terms=["老旧小区"], context=["漏水"], places=["牡丹区"])


def enriched(n: int, when: datetime, text: str, negative: bool = False, **fields) -> EnrichedPost:
    label = "negative" if negative else "positive"
    return EnrichedPost(
        id=f"weibo:{n}", url=f"https://weibo.com/{n}", platform="weibo", source="weibo", text=text,
        published_at=when, sentiment=Sentiment(score=0.1 if negative else 0.9, label=label), **fields,
    )


def quiet_then_burst(tracker: BurstTracker, burst: int) -> None:
    """One post an hour for the 12 hours before the last one, then `burst` posts (most negative) in it."""
    n = 0
    for hour in range(1, 13):
        n += 1
        tracker.add(enriched(n, NOW - timedelta(hours=hour, minutes=30), "工地欠薪的事", event_id="evt-wages",
                             policies=[PolicyLink(id="wage-policy", score=0.8)], departments=["市人社局"]))
    for minute in range(burst):
        n += 1
        tracker.add(enriched(n, NOW - timedelta(minutes=55 - minute * 5), "工地又拖欠工资了，几十个工人讨薪",
                             negative=minute % 5 != 0, event_id="evt-wages", departments=["市人社局"],
                             policies=[PolicyLink(id="wage-policy", score=0.8)]))


def by_subject(signals, window: str = "1h/12h") -> dict[tuple[str, str], object]:
    return {(s.subject_kind, s.subject_id): s for s in signals if s.window == window}


def test_burst_after_quiet_baseline_signals_for_every_subject() -> None:
    tracker = BurstTracker([WAGES])
    quiet_then_burst(tracker, burst=10)
    signals = by_subject(tracker.signals(NOW))
    for key in [("event", "evt-wages"), ("policy", "wage-policy"), ("department", "市人社局"), ("keyword", "拖欠工资")]:
        signal = signals[key]
        assert signal.count == 10
        assert signal.negative == 8
        assert signal.negative_share == pytest.approx(0.8)
        assert signal.baseline_rate == pytest.approx(1.0)  # 12 posts in 12 hours: one per hour
        assert signal.baseline_negative_share == 0.0
        assert signal.ratio == pytest.approx(10.0)
        assert len(signal.post_ids) == 10
    # The same 22 posts against the last 14 days, within the last day.
    daily = by_subject(tracker.signals(NOW), "1d/14d")[("keyword", "拖欠工资")]
    assert daily.count == 22 and daily.baseline_rate == 0.0 and daily.ratio == pytest.approx(22.0)


def test_policy_signals_are_labelled_with_the_title() -> None:
    tracker = BurstTracker([WAGES], policies=[Policy(id="wage-policy", title="根治拖欠农民工工资实施办法")])
    quiet_then_burst(tracker, burst=10)
    assert by_subject(tracker.signals(NOW))[("policy", "wage-policy")].label == "根治拖欠农民工工资实施办法"


def test_settings_build_a_tracker_that_keeps_its_state(tmp_path: Path) -> None:
    from yuqing.config import load_settings

    tracker = burst_tracker_from_settings(load_settings(data_dir=tmp_path))
    quiet_then_burst(tracker, burst=10)
    tracker.close()
    assert (tmp_path / "bursts.sqlite3").exists()
    again = burst_tracker_from_settings(load_settings(data_dir=tmp_path))
    assert ("event", "evt-wages") in by_subject(again.signals(NOW))


def test_below_the_minimum_count_there_is_no_signal() -> None:
    tracker = BurstTracker([WAGES], windows=[Window("1h/12h", timedelta(hours=1), timedelta(hours=12))])
    quiet_then_burst(tracker, burst=4)
    assert tracker.signals(NOW) == []


def test_old_posts_leave_the_recent_window() -> None:
    tracker = BurstTracker([WAGES])
    quiet_then_burst(tracker, burst=10)
    assert by_subject(tracker.signals(NOW + timedelta(hours=2))) == {}


def test_redelivered_posts_count_once() -> None:
    tracker = BurstTracker([WAGES])
    quiet_then_burst(tracker, burst=10)
    quiet_then_burst(tracker, burst=10)
    assert by_subject(tracker.signals(NOW))[("keyword", "拖欠工资")].count == 10


def test_counts_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "bursts.sqlite3"
    tracker = BurstTracker([WAGES], memory=SqliteBurstStore(state))
    quiet_then_burst(tracker, burst=10)
    before = tracker.signals(NOW)
    tracker.close()
    restored = BurstTracker([WAGES], memory=SqliteBurstStore(state))
    assert [s.model_dump(exclude={"computed_at"}) for s in restored.signals(NOW)] == [
        s.model_dump(exclude={"computed_at"}) for s in before
    ]
    quiet_then_burst(restored, burst=10)  # the same posts again after the restart: not counted twice
    assert by_subject(restored.signals(NOW))[("keyword", "拖欠工资")].count == 10


@pytest.mark.parametrize(
    ("text", "places", "matched"),
    [
        ("牡丹区老旧小区漏水没人管", ["牡丹区"], True),
        ("何楼街道老旧小区漏水没人管", ["何楼街道"], True),  # a town of 牡丹区 is in 牡丹区
        ("老旧小区改造完成了", ["牡丹区"], False),  # no context word
        ("曹县老旧小区漏水", ["曹县"], False),  # another county
    ],
)
def test_watchlists_need_context_and_place(text: str, places: list[str], matched: bool) -> None:
    tracker = BurstTracker([LEAKS], gazetteer=load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()))
    post = enriched(1, NOW, text, places=places)
    assert (("keyword", "老旧小区漏水", "老旧小区漏水") in tracker.subjects_of(post)) is matched


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("说好的1+1补贴（维权）呢", True),
        ("说好的11补贴维权呢", False),  # the terms are words, not patterns
        ("说好的1+1补贴呢", False),  # no context word
        ("(维权)1+1", True),
    ],
)
def test_watchlist_terms_and_context_are_found_as_written(text: str, matched: bool) -> None:
    subsidy = Watchlist(name="补贴", terms=["1+1", "补.贴"], context=["（维权）", "(维权)"])
    post = enriched(1, NOW, text)
    assert (("keyword", "补贴", "补贴") in BurstTracker([subsidy]).subjects_of(post)) is matched


def test_signals_save_the_state_so_a_killed_worker_keeps_its_baseline(tmp_path: Path, monkeypatch) -> None:
    import analysis.bursts

    monkeypatch.setattr(analysis.bursts, "SAVE_EVERY_SECONDS", 0.0)
    state = tmp_path / "bursts.sqlite3"
    tracker = BurstTracker([WAGES], memory=SqliteBurstStore(state))
    quiet_then_burst(tracker, burst=10)
    tracker.signals(NOW)  # no close(): the process dies after this
    assert by_subject(BurstTracker([WAGES], memory=SqliteBurstStore(state)).signals(NOW))[("keyword", "拖欠工资")].count == 10


def test_an_event_signal_carries_the_events_own_label() -> None:
    """A post knows only its own keywords; the event's label (all its posts) names the signal once known."""
    tracker = BurstTracker([])
    quiet_then_burst(tracker, burst=10)
    assert by_subject(tracker.signals(NOW))[("event", "evt-wages")].label == "evt-wages"  # posts without keywords
    tracker.name_event("evt-wages", "欠薪 工地 讨薪")
    assert by_subject(tracker.signals(NOW))[("event", "evt-wages")].label == "欠薪 工地 讨薪"
    fresh = BurstTracker([])
    fresh.name_event("evt-wages", "欠薪 工地 讨薪")  # named before its first post arrives
    quiet_then_burst(fresh, burst=10)
    assert by_subject(fresh.signals(NOW))[("event", "evt-wages")].label == "欠薪 工地 讨薪"


def test_a_subject_keeps_only_its_latest_post_ids_through_a_restart() -> None:
    """Each subject keeps the last RECENT_KEPT post ids (a signal names the last RECENT_IDS of its window), also
    after its counts are saved and taken back."""
    tracker = BurstTracker([])
    for n in range(RECENT_KEPT * 3):
        tracker.add(enriched(n, NOW - timedelta(minutes=50) + timedelta(seconds=n), "某事", event_id="evt-big"))
    [(_, _, data)] = tracker.records()
    assert [pid for _, pid in data["recent"]] == [f"weibo:{n}" for n in range(RECENT_KEPT * 2, RECENT_KEPT * 3)]
    restored = BurstTracker([])
    restored.restore(tracker.records())
    signal = by_subject(restored.signals(NOW))[("event", "evt-big")]
    assert signal.count == RECENT_KEPT * 3
    assert signal.post_ids == [f"weibo:{n}" for n in range(RECENT_KEPT * 3 - RECENT_IDS, RECENT_KEPT * 3)]
    restored.add(enriched(RECENT_KEPT * 3, NOW - timedelta(minutes=1), "某事", event_id="evt-big"))
    assert len(restored.records()[0][2]["recent"]) == RECENT_KEPT


def saved_over(saved: dict | None, change: dict) -> dict:
    """A subject's record once `change` (of `BurstTracker.changes`: the days of its counts that changed) is saved over
    what was saved of it (`saved`; None: nothing)."""
    days: dict[int, list[int]] = {}
    counts = saved["counts"] if saved else []
    for at in range(0, len(counts), 3):
        days.setdefault(counts[at] // DAY_BUCKETS, []).extend(counts[at:at + 3])
    days.update(change["days"])
    record = {key: value for key, value in change.items() if key not in ("days", "last_bucket")}
    record["counts"] = [number for _, counts_of_day in sorted(days.items()) for number in counts_of_day]
    assert change["last_bucket"] == record["counts"][-3]
    return record


def test_changes_saved_over_the_last_save_give_the_whole_counts() -> None:
    """A checkpoint writes what changed (subjects counted, renamed, pruned, forgotten; of their counts, the days that
    changed), not all it holds; saved over the previous records, the changes give exactly the records of now, in their
    order."""
    tracker = BurstTracker([], min_count=1)
    for n in range(30):
        tracker.add(enriched(n, NOW - timedelta(days=20) + timedelta(minutes=n), "旧事", event_id=f"evt-old-{n % 3}"))
    tracker.add(enriched(99, NOW - timedelta(hours=2), "新事", event_id="evt-kept"))
    saved = {(kind, sid): data for kind, sid, data in tracker.records()}
    tracker.changes_saved()
    tracker.add(enriched(100, NOW - timedelta(minutes=30), "新事", event_id="evt-kept"))
    tracker.add(enriched(101, NOW - timedelta(minutes=20), "另一件事", event_id="evt-new"))
    tracker.name_event("evt-kept", "新 事")
    tracker.signals(NOW)  # the 20-day-old events leave the 15-day horizon
    records, forgotten = tracker.changes()
    changed = list(records)
    assert [sid for _, sid, _ in changed] == ["evt-kept", "evt-new"]
    assert forgotten == [("event", f"evt-old-{n}") for n in range(3)]
    for key in forgotten:
        del saved[key]
    saved.update({(kind, sid): saved_over(saved.get((kind, sid)), data) for kind, sid, data in changed})
    assert [(kind, sid, data) for (kind, sid), data in saved.items()] == tracker.records()
    tracker.changes_saved()
    records, forgotten = tracker.changes()
    assert (list(records), forgotten) == ([], [])


def test_counts_saved_as_buckets_before_they_were_kept_flat_are_taken_back() -> None:
    tracker = BurstTracker([], min_count=1)
    tracker.restore([("event", "evt-1", {"label": "某事", "buckets": {str(_bucket(NOW)): [3, 1],
                                                                     str(_bucket(NOW) - 1): [2, 0]}, "recent": []})])
    [signal] = by_subject(tracker.signals(NOW)).values()
    assert (signal.count, signal.negative) == (5, 1)
    assert tracker.records()[0][2]["counts"] == [_bucket(NOW) - 1, 2, 0, _bucket(NOW), 3, 1]

def test_a_quiet_subject_keeps_its_counts_and_not_its_post_ids() -> None:
    """Past the longest recent window a subject's post ids can never be named in a signal again: it keeps only
    its counts (the baseline of a later burst), a few hundred bytes for an event of one post."""
    import gc
    import tracemalloc

    tracker = BurstTracker([])
    events = 5_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(events):
            tracker.add(enriched(n, NOW - timedelta(days=3, seconds=n), "某事", event_id=f"evt-{n:06d}",
                                 keywords=["老旧小区", "漏水", "牡丹区"]))
        tracker.signals(NOW)
        tracker.changes_saved()
        gc.collect()
        per_event = (tracemalloc.get_traced_memory()[0] - before) / events
    finally:
        tracemalloc.stop()
    [(_, _, data)] = [record for record in tracker.records() if record[1] == "evt-000001"]
    assert data["recent"] == [] and data["counts"][1::3] == [1]
    # ~600 bytes here (the post id the dedup map keeps, the event's id and label included); ~950 as dict and tuples
    assert per_event < 700


def test_a_post_delivered_again_within_two_days_is_counted_once_and_older_ids_are_let_go() -> None:
    """The ids that keep a post from being counted twice are those of the last SEEN_KEPT of the clock, whatever
    the volume (they were the 200,000 latest: two days at a city's volume, months in a quiet county)."""
    tracker = BurstTracker([])
    for day in range(10):
        now = NOW + timedelta(days=day)
        for n in range(50):
            tracker.add(enriched(day * 1000 + n, now - timedelta(minutes=30), "某事", event_id=f"evt-{day}"))
        tracker.add(enriched(day * 1000, now - timedelta(minutes=30), "某事", event_id=f"evt-{day}"))  # again
        if day:
            tracker.add(enriched((day - 1) * 1000, now - timedelta(days=1), "某事", event_id=f"evt-{day - 1}"))
        tracker.signals(now)
        assert sum(len(ids) for _, ids in tracker._seen) <= 50 * 3  # two days' posts, and the generation begun
    posts = {sid: sum(data["counts"][1::3]) for _, sid, data in tracker.records()}
    assert posts["evt-9"] == 50
    assert posts["evt-8"] == 50  # its first post, delivered again a day later: counted once


def test_a_signal_names_the_last_post_ids_of_its_window_read_from_the_newest_back() -> None:
    import random

    from analysis.bursts import _Subject

    rng = random.Random(7)
    for _ in range(200):
        subject = _Subject("某事")
        for n in range(rng.randrange(0, RECENT_KEPT * 2)):
            subject.remember(rng.randrange(100, 130), f"p{n}")  # buckets out of order, as posts arrive
        after, until = sorted(rng.sample(range(95, 135), 2))
        every = [pid for bucket, pid in subject.recent_ids() if after < bucket <= until]
        assert subject.last_ids_between(after, until) == every[-RECENT_IDS:]


def test_quiet_subjects_wait_aside_until_posted_again_or_past_the_horizon() -> None:
    """A city's fortnight holds hundreds of thousands of events, nearly all quiet: `signals` (every batch) looks at
    those with a post in a recent window only; a quiet one is forgotten once past the horizon, as before, and one
    posted again signals in its place among the others (the order the subjects came in)."""
    tracker = BurstTracker([])
    n = 0
    for day in range(20):
        now = NOW + timedelta(days=day)
        for event in range(30):  # the day's events, each met once
            n += 1
            tracker.add(enriched(n, now - timedelta(minutes=10), "某事", event_id=f"evt-{day}-{event}"))
        if day >= 10:  # a loud event from day 10 on
            for _ in range(6):
                n += 1
                tracker.add(enriched(n, now - timedelta(minutes=20), "某事", event_id="evt-loud"))
        if day == 17:  # quiet since day 5, posted again
            for _ in range(6):
                n += 1
                tracker.add(enriched(n, now - timedelta(minutes=20), "某事", event_id="evt-5-0"))
        signals = tracker.signals(now)
        assert len(tracker._lively) <= 30 + 2  # the day's own events, and the loud ones
        held = {sid for _, sid, _ in tracker.records()}
        assert {sid for sid in held if sid.count("-") == 2} == \
            {f"evt-{d}-{e}" for d in range(max(0, day - 14), day + 1) for e in range(30)}  # past 15 days: gone
        events = [s.subject_id for s in signals if s.window == "1h/12h"]
        assert events == (["evt-5-0", "evt-loud"] if day == 17 else ["evt-loud"] if day >= 10 else [])


def test_a_busy_subjects_fortnight_of_buckets_is_held_in_twelve_bytes_a_bucket_whatever_the_date() -> None:
    tracker = BurstTracker([])
    start = NOW - timedelta(days=15)
    for n in range(15 * 288):
        tracker.add(enriched(n, start + timedelta(minutes=5 * n), "某事", places=["牡丹区"]))
    tracker.add(enriched(-1, datetime(9999, 12, 31, 23, 59, tzinfo=UTC), "某事", places=["牡丹区"]))  # a page's typo
    counts = tracker._subjects[("place", "牡丹区")].counts
    assert len(counts) == 3 * (15 * 288 + 1) and counts.itemsize * len(counts) == 12 * (15 * 288 + 1)
    assert counts[-3] == _bucket(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
