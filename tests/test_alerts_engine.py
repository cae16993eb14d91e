"""Grouping across rules: one incident is one alert, whichever rules see it, with the policy's
missing interpretation named; events and places of one policy join that policy's group."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.engine import SubjectLinks
from alerts.rules import Finding
from alerts.service import AlertService
from alerts.store import SqliteAlertStore
from alerts.testing import T0, make_post, make_signal
from yuqing.schema import BOARD_ANSWERED, BOARD_PLACE, AlertLevel, Policy

RULES = {
    "defaults": {"channels": ["duty"], "cooldown": "6h"},
    "channels": [{"name": "duty", "type": "file"}],
    "rules": [
        {"name": "负面上升", "type": "negative_surge", "level": "一般", "levels": {"较大": 30}},
        {"name": "权威账号", "type": "influential_voice", "level": "较大"},
        {"name": "留言未回复", "type": "unanswered_complaints", "options": {"max_days": 2}},
        {"name": "声量突增", "type": "volume_burst", "options": {"min_count": 20}},
    ],
}
OLD_HOUSING = Policy(id="P-old", title="老旧小区改造工作实施方案", doc_number="某政办字〔2022〕15号")


def make_service(tmp_path: Path) -> AlertService:
    config = parse_alert_config(RULES)
    return AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                        build_channels(config, ChannelContext(tmp_path)), policies=[OLD_HOUSING])


def test_rules_seeing_one_incident_make_one_alert(tmp_path: Path):
    service = make_service(tmp_path)
    service.process([], [make_signal("P-old", label="老旧小区改造", count=30, negative=15)], now=T0)
    media = make_post("小区改造停工数月，老人摔伤", sentiment="negative", policies=["P-old"], verified=True,
                      verified_reason="菏城民生 官方微博", at=T0 + timedelta(minutes=20))
    service.process([media], now=T0 + timedelta(minutes=20))
    complaints = [make_post(f"施工队撤场，路没回填{n}", platform="board", policies=["P-old"],
                            at=T0 - timedelta(days=3), extra={BOARD_ANSWERED: False}) for n in range(3)]
    service.process(complaints, now=T0 + timedelta(minutes=40))
    service.process([], [make_signal("P-old", label="老旧小区改造", count=60, negative=40)],
                    now=T0 + timedelta(hours=1))
    [alert] = service.store.alerts()
    assert alert.group_key == "policy:P-old" and alert.rule == "负面上升"
    assert set(alert.evidence["rules"]) == {"负面上升", "权威账号", "留言未回复"}
    assert alert.level == AlertLevel.LARGE
    assert "同时触发：" in alert.summary and "《老旧小区改造工作实施方案》尚未发布政策解读。" in alert.summary
    assert alert.evidence["policy"]["doc_number"] == "某政办字〔2022〕15号"
    notes = [(item.message["kind"], item.message["note"]) for item in service.store.outbox(alert.id)]
    assert notes == [("fired", ""), ("level_raised", "级别由一般升为较大（权威账号）"),
                     ("updated", "新增触发规则：留言未回复")]  # the surge growing inside the cooldown is quiet


def test_event_and_place_of_one_policy_join_its_group(tmp_path: Path):
    service = make_service(tmp_path)
    posts = [make_post(f"化肥厂家属院改造停工{n}", policies=["P-old"], event="E-hf", places=["化肥厂家属院"],
                       at=T0 + timedelta(minutes=n)) for n in range(4)]
    unrelated = [make_post(f"演唱会门票{n}", event="E-show", at=T0 + timedelta(minutes=n)) for n in range(4)]
    service.process(posts + unrelated, now=T0 + timedelta(minutes=5))
    service.process([], [make_signal("E-hf", kind="event", count=40, baseline_rate=2),
                         make_signal("E-show", kind="event", count=40, baseline_rate=2)],
                    now=T0 + timedelta(minutes=10))
    board = make_post("家属院路灯不亮", platform="board", at=T0 - timedelta(days=3),
                      extra={BOARD_ANSWERED: False, BOARD_PLACE: "化肥厂家属院"})
    service.process([board], now=T0 + timedelta(minutes=15))
    groups = {alert.group_key: alert for alert in service.store.alerts()}
    assert set(groups) == {"policy:P-old", "event:E-show"}
    assert set(groups["policy:P-old"].evidence["rules"]) == {"声量突增", "留言未回复"}
    assert groups["policy:P-old"].evidence["rules"]["声量突增"]["via"] == "event:E-hf"


def test_a_place_with_mixed_policies_is_not_attributed(tmp_path: Path):
    service = make_service(tmp_path)
    mixed = [make_post(f"牡丹区消息{n}", policies=[["P-old", "P-bus", "P-heat"][n % 3]], places=["牡丹区"])
             for n in range(9)]
    board = make_post("牡丹区路灯不亮", platform="board", at=T0 - timedelta(days=3),
                      extra={BOARD_ANSWERED: False, BOARD_PLACE: "牡丹区"})
    service.process([*mixed, board], now=T0)
    [alert] = service.store.alerts()
    assert alert.group_key == "place:牡丹区"


def test_history_read_by_a_first_crawl_raises_nothing(tmp_path: Path):
    service = make_service(tmp_path)
    old = make_post("去年的负面评论", sentiment="negative", policies=["P-old"], followers=2_000_000,
                    at=T0 - timedelta(days=9))
    assert service.process([old], now=T0) == []
    fresh = make_post("今天的负面评论", sentiment="negative", policies=["P-old"], followers=2_000_000,
                      at=T0 - timedelta(hours=1))
    [alert] = service.process([fresh], now=T0)
    assert alert.post_ids == [fresh.id]


def test_signal_on_a_secondary_policy_joins_the_policy_its_posts_are_about(tmp_path: Path):
    service = make_service(tmp_path)
    posts = [make_post(f"改造停工{n}", policies=["P-old", "P-fund"], sentiment="negative", at=T0) for n in range(5)]
    service.process(posts, now=T0)
    ids = [post.id for post in posts]
    service.process([], [make_signal("P-old", count=30, negative=20, post_ids=ids),
                         make_signal("P-fund", count=30, negative=20, post_ids=ids)], now=T0)
    [alert] = service.store.alerts()
    assert alert.group_key == "policy:P-old"
    assert alert.title == "《老旧小区改造工作实施方案》负面舆情上升：负面占比67%（基线10%）"


def test_silence_window_suppresses_only_its_rule_subject_and_time(tmp_path: Path):
    rules = {**RULES, "silences": [{"rule": "负面上升", "subject": "P-old", "start": "2026-11-02 08:00",
                                    "end": "2026-11-02 10:00", "reason": "已知：政策发布会"}]}
    config = parse_alert_config(rules)
    service = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                           build_channels(config, ChannelContext(tmp_path)))
    surge = [make_signal("P-old", count=30, negative=15), make_signal("P-bus", count=30, negative=15)]
    [other] = service.process([], surge, now=T0)  # 09:00, inside the window: only P-bus
    assert other.subject_id == "P-bus"
    [later] = service.process([], [make_signal("P-old", count=30, negative=15)], now=T0 + timedelta(hours=2))
    assert later.subject_id == "P-old"


def test_a_restarted_worker_remembers_waiting_messages_unless_the_rule_changed(tmp_path: Path):
    first = make_service(tmp_path)
    first.process([make_post("路灯坏了", platform="board", policies=["P-old"], at=T0,
                             extra={BOARD_ANSWERED: False})], now=T0)
    first.close()
    again = make_service(tmp_path)  # the worker restarts: same store, same rules
    [alert] = again.process([], now=T0 + timedelta(days=3))
    assert alert.rule == "留言未回复"
    again.close()
    changed = {**RULES, "rules": [{**rule, "options": {"max_days": 5}} if rule["name"] == "留言未回复" else rule
                                  for rule in RULES["rules"]]}
    config = parse_alert_config(changed)
    edited = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                          build_channels(config, ChannelContext(tmp_path)))
    assert edited.process([], now=T0 + timedelta(days=9)) == []  # new options: memory started afresh


def test_grouping_by_rule_keeps_one_alert_per_rule_and_subject(tmp_path: Path):
    config = parse_alert_config({**RULES, "grouping": "rule"})
    service = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                           build_channels(config, ChannelContext(tmp_path)))
    service.process([make_post("寒心", sentiment="negative", policies=["P-old"], followers=10**6, at=T0)],
                    [make_signal("P-old", count=30, negative=15)], now=T0)
    assert sorted(a.group_key for a in service.store.alerts()) == ["权威账号|policy:P-old", "负面上升|policy:P-old"]


def test_a_rule_that_fails_on_an_item_does_not_stop_the_others(tmp_path: Path, monkeypatch, caplog):
    service = make_service(tmp_path)
    voice_rule = next(rule for spec, rule in service.engine.rules if spec.name == "权威账号")

    def broken(post):
        raise KeyError("a bug")

    monkeypatch.setattr(voice_rule, "on_post", broken)
    posts = [make_post("寒心", sentiment="negative", policies=["P-old"], followers=10**6, at=T0)]
    [alert] = service.process(posts, [make_signal("P-old", count=30, negative=15)], now=T0)
    assert set(alert.evidence["rules"]) == {"负面上升"}
    assert "rule 权威账号 (influential_voice) failed" in caplog.text


def test_policy_links_keep_posts_and_events_for_a_bounded_time(tmp_path: Path):
    """New posts and events keep coming for as long as the alert worker runs; the learnt links keep those posted
    about within `kept` of the clock (whatever the volume), so the memory (and each checkpoint of it) stops
    growing. They kept the 200,000 most recent posts and 50,000 subjects: two days at a city's volume, months
    in a quiet county."""
    kept = timedelta(hours=48)
    links = SubjectLinks(kept)
    for day in range(30):
        now = T0 + timedelta(days=day)
        links.observe(make_post("化肥厂家属院改造停工", policies=["P-old"], event="E-hf", at=now), now)
        for n in range(20):  # the day's other events, each met once
            links.observe(make_post(f"演唱会{day}-{n}", event=f"E-{day}-{n}", at=now), now)
        held = links.to_json()["generations"]
        assert sum(len(counts) for _, _, counts in held) <= 1 + 20 * 3  # the last three days' at most
        assert sum(len(top) for _, top, _ in held) <= 21 * 3
    restored = SubjectLinks.from_json(orjson.loads(orjson.dumps(links.to_json())), kept)  # as the engine saves
    finding = Finding(subject_kind="event", subject_id="E-hf", title="", at=now, magnitude=1)
    assert restored.resolve(finding).subject_id == "P-old"  # posted about every day: still known
    assert not restored._counts_of("event:E-0-0")  # met once a month ago: forgotten
    assert restored._counts_of("event:E-29-0")


def test_policy_links_saved_before_they_were_kept_by_time_are_taken_back():
    top = [["p1", "P-old"], ["p2", "P-old"], ["p3", None]]
    links = SubjectLinks.from_json({"top": top, "counts": {"event:E-hf": [["P-old", 3], [None, 1]]}})
    finding = Finding(subject_kind="event", subject_id="E-hf", title="", at=T0, magnitude=1, post_ids=("p3",))
    assert links.resolve(finding).subject_id == "P-old"  # by the event's counts (3 of 4)
    finding = Finding(subject_kind="keyword", subject_id="拆迁", title="", at=T0, magnitude=1,
                      post_ids=("p1", "p2", "p3"))
    assert links.resolve(finding).subject_id == "P-old"  # by the posts' own links (2 of 3)
    links.observe(make_post("新帖", event="E-new", at=T0), T0)
    links.observe(make_post("新帖", event="E-new2", at=T0 + timedelta(hours=47)), T0 + timedelta(hours=47))
    assert links._tops_of(["p1"]) == {"P-old": 1}  # the restart's generation goes `kept` after the next began
    links.observe(make_post("新帖", event="E-new3", at=T0 + timedelta(hours=49)), T0 + timedelta(hours=49))
    assert links._tops_of(["p1"]) == {}


def test_a_batch_s_findings_about_one_group_are_stored_in_one_transaction(tmp_path: Path):
    """Three rules find the same policy in one batch: one write of the alert, with the audit entries and the
    notifications of the three changes, as three writes had."""
    service = make_service(tmp_path)
    writes = []
    save_alerts = service.store.save_alerts
    service.store.save_alerts = lambda *args: writes.append(args) or save_alerts(*args)  # type: ignore[method-assign]
    media = make_post("小区改造停工数月，老人摔伤", sentiment="negative", policies=["P-old"], verified=True,
                      verified_reason="菏城民生 官方微博", at=T0)
    complaints = [make_post(f"施工队撤场，路没回填{n}", platform="board", policies=["P-old"],
                            at=T0 - timedelta(days=3), extra={BOARD_ANSWERED: False}) for n in range(3)]
    [alert] = service.process([media, *complaints], [make_signal("P-old", label="老旧小区改造", count=30, negative=15)],
                              now=T0)
    assert len(writes) == 1
    stored = service.store.get(alert.id)
    assert stored is not None and stored.version == 3 and stored.alert == alert
    assert [(entry.action, entry.from_status, entry.to_status) for entry in service.store.history(alert.id)] == [
        ("fired", None, "fired"), ("level_raised", "fired", "fired"), ("updated", "fired", "fired")]
    notes = [(item.message["kind"], item.message["note"]) for item in service.store.outbox(alert.id)]
    assert notes == [("fired", ""), ("level_raised", "级别由一般升为较大（权威账号）"), ("updated", "新增触发规则：留言未回复")]
