"""A small data directory for the console tests, written through the stores' and the index's own APIs (no crawl):
an incident about the 老旧小区 policy with its posts, event, alert and daily briefing, two crawl records, and one
account per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from alerts.service import AlertService
from alerts.testing import make_post, make_signal
from console import accounts as accounts_module
from console.accounts import Role, open_accounts
from search import open_index
from yuqing.config import Settings, load_settings
from yuqing.schema import SHANGHAI, Alert, CrawlHealth, EnrichedPost, Event

POLICY = "hz-2022-lxxq-gz"
OTHER_POLICY = "hz-2022-bzxzf"
EVENT = "E-huafeichang"
PASSWORD = "测试口令-console-2026"
USERS = {Role.OFFICER: "张敏", Role.ANALYST: "王分析", Role.LEADER: "李领导", Role.ADMIN: "管理员甲"}

COMPLAINTS = [
    "化肥厂家属院老旧小区改造停工三个月，楼道里全是建筑垃圾，联系电话138****5678没人接",
    "老旧小区改造说好的年底完工，现在连脚手架都拆了，居民冬天怎么办",
    "#牡丹区老旧小区改造# 化肥厂家属院停水停暖，老人孩子受不了",
    "老旧小区改造资金到底去哪了？化肥厂家属院业主要求公开",
]
NEUTRAL = ["市住建局回应老旧小区改造进度：将于本月复工", "老旧小区改造工作实施方案解读：改造内容包括管网和外墙"]


@dataclass(frozen=True)
class ConsoleData:
    settings: Settings
    alert: Alert
    posts: list[EnrichedPost]
    now: datetime


@contextmanager
def cheap_hashing() -> Iterator[None]:
    """Argon2id at its smallest cost while the tests log in hundreds of times (the default costs ~0.5 s a hash
    on a busy 2-core machine); the hashing code is the same."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts_module, "default_hasher",
                      lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


def incident_posts(now: datetime, count: int = 36) -> list[EnrichedPost]:
    posts = []
    for n in range(count):
        negative = n % 3 != 2
        text = COMPLAINTS[n % len(COMPLAINTS)] if negative else NEUTRAL[n % len(NEUTRAL)]
        posts.append(make_post(f"{text}（{n}）", platform=("weibo", "forum", "news", "board")[n % 4],
                               sentiment="negative" if negative else "neutral", policies=[POLICY],
                               places=["牡丹区"], event=EVENT, at=now - timedelta(minutes=35 * n + 5),
                               source=("weibo-heze", "heze-forum", "dzwww-heze", "heze-board")[n % 4],
                               departments=["市住建局"]))
    return posts


def build(data_dir: Path, now: datetime | None = None, report: bool = True, **state: Any) -> ConsoleData:
    """A console's data in `data_dir`; `state`: settings of the state store (e.g. state="postgres", postgres=...)."""
    now = now or datetime.now(SHANGHAI)
    settings = load_settings(None, data_dir=str(data_dir), **state)
    posts = incident_posts(now)
    with open_index(settings) as index:
        index.upsert(posts)
        index.upsert_events([Event(
            id=EVENT, label="化肥厂家属院 停工 老旧小区", title="化肥厂家属院改造停工三个月", keywords=["化肥厂家属院", "停工", "老旧小区改造"],
            first_seen=posts[-1].when, last_seen=posts[0].when, size=len(posts),
            platforms={"weibo": 9, "forum": 9, "news": 9, "board": 9}, places=["牡丹区"],
            sentiment_mix={"negative": 24, "neutral": 12}, policies=[POLICY],
            representative_posts=[posts[0].id, posts[1].id, posts[2].id])])
        index.record_health([
            CrawlHealth(source="heze-gov-news", kind="news", started_at=now - timedelta(minutes=20),
                        finished_at=now - timedelta(minutes=18), items=24, new_items=3,
                        problems={"timeout": 2, "no_text": 1}),
            CrawlHealth(source="heze-gov-zcwj", kind="gov_policy", started_at=now - timedelta(hours=2),
                        finished_at=now - timedelta(hours=2), items=0, silent_runs=4, blind=True,
                        problems={"http_503": 6}),
        ])
    service = AlertService.from_settings(settings)
    try:
        [alert] = service.process([], [make_signal(POLICY, label="老旧小区改造", count=150, negative=100, at=now,
                                                   post_ids=[p.id for p in posts])], now=now)
    finally:
        service.store.close()
    if report:
        from reports.daily import write_daily_report

        write_daily_report(settings, formats=("html",), notice=lambda *_: None)  # Word and PDF: tested in reports
    accounts = open_accounts(settings)
    try:
        for role, name in USERS.items():
            accounts.add(name, role, PASSWORD, actor="test")
    finally:
        accounts.close()
    return ConsoleData(settings, alert, posts, now)


def fire_another(settings: Settings, now: datetime | None = None) -> Alert:
    """A second incident's alert, with its posts indexed, fired while the console is open."""
    now = now or datetime.now(SHANGHAI)
    posts = [make_post(f"保障性租赁住房摇号结果有内定嫌疑，申请了两年都没排上（{n}）", platform="weibo", sentiment="negative",
                       policies=[OTHER_POLICY], places=["开发区"], at=now - timedelta(minutes=7 * n + 1),
                       source="weibo-heze") for n in range(8)]
    with open_index(settings) as index:
        index.upsert(posts)
    service = AlertService.from_settings(settings)
    try:
        [alert] = service.process([], [make_signal(OTHER_POLICY, label="保障性租赁住房", count=120, negative=80,
                                                   at=now, post_ids=[p.id for p in posts])], now=now)
    finally:
        service.store.close()
    return alert


def worsen(settings: Settings, now: datetime | None = None) -> Alert:
    """The second incident grows: the alert worker updates its open alert."""
    now = now or datetime.now(SHANGHAI)
    service = AlertService.from_settings(settings)
    try:
        [alert] = service.process([], [make_signal(OTHER_POLICY, label="保障性租赁住房", count=200, negative=150,
                                                   at=now)], now=now)
    finally:
        service.store.close()
    return alert
