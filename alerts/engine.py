"""The engine: feeds rules, turns findings into grouped alerts, and decides who is told what.

Pure decisions over `Alert` values; the service persists them and queues the notices. A group
is rule plus subject: while its alert is open, further findings update it (quietly within the
cooldown, loudly when the level rises), so a surge is one alert, not a hundred.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from alerts.config import AlertConfig, RuleSpec, build_rules
from alerts.rules import Finding, Rule
from alerts.severity import deadlines_for, level_for, raise_level
from schema import Alert, AlertStatus, BurstSignal, CrawlHealth, EnrichedPost

log = logging.getLogger(__name__)

MAX_POST_IDS = 500  # evidence kept per alert; the search index has the rest


@dataclass(frozen=True)
class Notice:
    """A notification to queue: its kind, the channels it goes to and a line saying why."""

    kind: str
    channels: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    alert: Alert
    created: bool = False
    notices: tuple[Notice, ...] = field(default_factory=tuple)
    action: str = "updated"


def group_key(rule: str, finding: Finding) -> str:
    return f"{rule}|{finding.subject_kind}:{finding.subject_id}"


def alert_id(key: str, fired_at: datetime) -> str:
    digest = hashlib.sha1(f"{key}|{fired_at.isoformat()}".encode()).hexdigest()[:8]
    return f"{fired_at:%Y%m%d}-{digest}"


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class AlertEngine:
    def __init__(self, config: AlertConfig) -> None:
        self.config = config
        self.rules: list[tuple[RuleSpec, Rule]] = build_rules(config)

    def evaluate(self, posts: Iterable[EnrichedPost], signals: Iterable[BurstSignal],
                 health: Iterable[CrawlHealth], now: datetime) -> list[tuple[RuleSpec, Finding]]:
        """Feed one batch to every rule, then tick them; findings inside a silence window are dropped."""
        posts, signals, health = list(posts), list(signals), list(health)
        findings: list[tuple[RuleSpec, Finding]] = []
        for spec, rule in self.rules:
            for post in posts:
                findings += [(spec, f) for f in rule.on_post(post)]
            for signal in signals:
                findings += [(spec, f) for f in rule.on_signal(signal)]
            for record in health:
                findings += [(spec, f) for f in rule.on_health(record)]
            findings += [(spec, f) for f in rule.on_tick(now)]
        kept = []
        for spec, finding in findings:
            silence = next((s for s in self.config.silences if s.covers(spec.name, finding.subject_id, now)), None)
            if silence is not None:
                log.info("silenced %s on %s (%s)", spec.name, finding.subject_id, silence.reason)
                continue
            kept.append((spec, finding))
        return kept

    def _title(self, spec: RuleSpec, finding: Finding) -> str:
        return f"{spec.title}：{finding.title}" if spec.title else finding.title

    def open(self, spec: RuleSpec, finding: Finding, now: datetime) -> Outcome:
        key = group_key(spec.name, finding)
        level = level_for(spec, finding.magnitude)
        alert = Alert(
            id=alert_id(key, now), rule=spec.name, rule_type=spec.type, group_key=key,
            title=self._title(spec, finding), summary=finding.summary, level=level,
            subject_kind=finding.subject_kind, subject_id=finding.subject_id,
            fired_at=now, updated_at=now,
            deadlines=deadlines_for(self.config, level, now) if spec.deadlines else [],
            post_ids=list(finding.post_ids[-MAX_POST_IDS:]),
            evidence={**finding.evidence, "magnitude": finding.magnitude, "first_seen": finding.at.isoformat()},
            notified_at=now,
        )
        notice = Notice("fired", _unique(self.config.channels_of(spec)))
        return Outcome(alert, created=True, notices=(notice,), action="fired")

    def merge(self, spec: RuleSpec, finding: Finding, existing: Alert | None, now: datetime) -> Outcome | None:
        """The group's alert after this finding: a new one, the existing one updated, or None (cooling down)."""
        cooldown = self.config.cooldown_of(spec)
        if existing is None:
            return self.open(spec, finding, now)
        if existing.status == AlertStatus.CLOSED:
            if existing.closed_at is not None and now - existing.closed_at < cooldown:
                return None  # closed moments ago: the office has judged this subject
            return self.open(spec, finding, now)
        post_ids = list(dict.fromkeys([*existing.post_ids, *finding.post_ids]))[-MAX_POST_IDS:]
        alert = existing.model_copy(update={
            "title": self._title(spec, finding), "summary": finding.summary, "post_ids": post_ids,
            "evidence": {**existing.evidence, **finding.evidence, "magnitude": finding.magnitude},
            "updates": existing.updates + 1, "updated_at": now,
        })
        level = level_for(spec, finding.magnitude)
        if level.rank > alert.level.rank:
            raised = raise_level(self.config, alert, level, now) if spec.deadlines else alert.model_copy(
                update={"level": level})
            alert = raised.model_copy(update={"notified_at": now})
            channels = _unique([*self.config.channels_of(spec), *self.config.escalation_of(spec)])
            note = f"级别由{existing.level.value}升为{level.value}"
            return Outcome(alert, notices=(Notice("level_raised", channels, note),), action="level_raised")
        if existing.notified_at is None or now - existing.notified_at >= cooldown:
            alert = alert.model_copy(update={"notified_at": now})
            note = f"持续发酵：已更新{alert.updates}次"
            return Outcome(alert, notices=(Notice("updated", _unique(self.config.channels_of(spec)), note),))
        return Outcome(alert)

    def check_deadlines(self, alert: Alert, now: datetime) -> Outcome | None:
        """Escalate open clocks past `warn_at` of their span or past due, once each."""
        if alert.status == AlertStatus.CLOSED:
            return None
        spec = next((s for s, _ in self.rules if s.name == alert.rule), None)
        channels = self.config.channels_of(spec) if spec else self.config.defaults.channels
        escalate = self.config.escalation_of(spec) if spec else self.config.defaults.escalate_to
        recipients = _unique([*escalate, *channels])
        deadlines, notices = [], []
        for deadline in alert.deadlines:
            if deadline.met_at is None:
                start = deadline.started_at or alert.fired_at
                if now >= deadline.due_at and deadline.missed_at is None:
                    deadline = deadline.model_copy(update={"missed_at": now, "warned_at": deadline.warned_at or now})
                    notices.append(Notice("deadline_missed", recipients, f"“{deadline.name}”已超过时限"))
                elif deadline.warned_at is None and now - start >= (deadline.due_at - start) * self.config.warn_at:
                    deadline = deadline.model_copy(update={"warned_at": now})
                    left = deadline.due_at - now
                    notices.append(Notice("deadline_warning", recipients,
                                          f"“{deadline.name}”剩余{left.total_seconds() / 3600:.1f}小时"))
            deadlines.append(deadline)
        if not notices:
            return None
        alert = alert.model_copy(update={"deadlines": deadlines, "updated_at": now})
        return Outcome(alert, notices=tuple(notices), action="escalated")
