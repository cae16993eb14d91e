"""The engine: feeds rules, turns findings into grouped alerts, and decides who is told what.

Pure decisions over `Alert` values; the service persists them and queues the notices. A group
is one subject (a policy, event, place, keyword or source): while its alert is open, findings of
any rule about that subject update it (quietly within the cooldown, loudly when the level rises or
another rule joins), so an incident is one alert, not a hundred. An event or place whose posts
are mostly about one policy is that policy's incident: its findings join the policy's group.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from alerts.config import AlertConfig, RuleSpec, build_rules
from alerts.rules import Finding, Rule
from alerts.rules.base import MAX_POST_IDS, policy_name
from alerts.rules.unanswered_complaints import UnansweredComplaintsRule
from alerts.severity import deadlines_for, level_for, raise_level
from alerts.store import AlertStore, RuleWaiting, WaitingChanges
from yuqing.schema import (
    BOARD_PLACE,
    Alert,
    AlertLevel,
    AlertStatus,
    BurstSignal,
    CrawlHealth,
    EnrichedPost,
    Policy,
)

log = logging.getLogger(__name__)

LINK_MIN_POSTS = 3  # an event or place is attributed to a policy only after this many posts...
LINK_MIN_SHARE = 0.6  # ...of which at least this share link that same policy


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


# Raised when the rules' memory changes shape (2: SubjectWindow keeps a time-ordered list; 3: JSON, not pickle).
RULE_MEMORY_FORMAT = 3
LINKS_KEY = "links"
# The posts' strongest links of each generation are saved under a key of their own (this and the generation's start):
# a past generation's no longer change, and are written once, not at every checkpoint (see `SubjectLinks.parts`).
LINKS_POSTS_KEY = "links.posts@"


def subject_key(finding: Finding) -> str:
    return f"{finding.subject_kind}:{finding.subject_id}"


def alert_id(key: str, fired_at: datetime) -> str:
    digest = hashlib.sha1(f"{key}|{fired_at.isoformat()}".encode()).hexdigest()[:8]
    return f"{fired_at:%Y%m%d}-{digest}"


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


# The learnt links are kept in this many generations, each of this share of the time they are kept: a generation
# is dropped whole once its newest entry is that old (no per-entry clock, no sweep over the entries).
LINK_GENERATIONS = 8
# A policy's share among the links: the same few policy ids over and over, held once.
_POLICY_IDS: dict[str, str] = {}


def _moment(value: datetime | str) -> datetime:
    """A time in memory as given back: read from JSON (ISO 8601) or as it was held."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _policy_id(policy: str | None) -> str | None:
    return None if policy is None else _POLICY_IDS.setdefault(policy, policy)


@dataclass
class _LinkGeneration:
    """What was observed from `start` on, until the next generation started."""

    start: datetime
    top: dict[str, str | None] = field(default_factory=dict)  # post id -> its strongest policy link
    # event or place -> its posts' strongest links as (policy, posts, policy, posts, ...): most have one pair
    counts: dict[str, tuple[Any, ...]] = field(default_factory=dict)


class SubjectLinks:
    """Which policy a finding is really about, learnt from the posts that carry policy links.

    A finding whose posts mostly have one policy as their strongest link is about that policy (a
    signal on a secondary policy, an event, a watched keyword); an event or place whose posts so
    far mostly link one policy is that policy's too. Everything else keeps its own subject.

    Posts, and events and places, are remembered for `kept` of the clock after they were last posted (the
    engine's `stale_after`: a finding about older posts raises no alert), whatever the volume: new posts and
    events keep coming for as long as the worker runs.
    """

    def __init__(self, kept: timedelta = timedelta(hours=48)) -> None:
        self.kept = kept
        self._generations: list[_LinkGeneration] = []  # oldest first
        # The starts of the past generations whose posts the store holds as they are (`parts_saved`), and of those
        # the last `parts` gave (saved once the store says so).
        self._posts_saved: set[datetime] = set()
        self._posts_given: set[datetime] = set()

    def _current(self, now: datetime) -> _LinkGeneration:
        generations = self._generations
        if not generations or now - generations[-1].start >= self.kept / LINK_GENERATIONS:
            generations.append(_LinkGeneration(now))
        # A generation's entries were last seen before the next one started: past `kept` from then, all go.
        while len(generations) > 1 and now - generations[1].start >= self.kept:
            del generations[0]
        return generations[-1]

    def observe(self, post: EnrichedPost, now: datetime) -> None:
        current = self._current(now)
        top_policy = _policy_id(max(post.policies, key=lambda link: link.score).id) if post.policies else None
        current.top[post.id] = top_policy
        subjects = [f"event:{post.event_id}"] if post.event_id else []
        places = [*post.places, *([str(post.extra[BOARD_PLACE])] if post.extra.get(BOARD_PLACE) else [])]
        subjects += [f"place:{place}" for place in dict.fromkeys(places)]
        for subject in subjects:
            counts = self._take(subject)
            for at in range(0, len(counts), 2):
                if counts[at] == top_policy:
                    current.counts[subject] = (*counts[:at + 1], counts[at + 1] + 1, *counts[at + 2:])
                    break
            else:
                current.counts[subject] = (*counts, top_policy, 1)

    @property
    def oldest(self) -> datetime | None:
        """The start of the oldest generation: it changes when the links forget posts."""
        return self._generations[0].start if self._generations else None

    def known(self, post_ids: Collection[str]) -> set[str]:
        """Those of these posts the links know."""
        remaining = set(post_ids)
        return {post_id for generation in self._generations for post_id in generation.top.keys() & remaining}

    def post_ids(self) -> set[str]:
        """Every post the links know."""
        return set().union(*(generation.top for generation in self._generations))

    def _take(self, subject: str) -> tuple[Any, ...]:
        """A subject's counts, taken out of the generation that holds them (they move to the current one)."""
        for generation in reversed(self._generations):
            counts = generation.counts.pop(subject, None)
            if counts is not None:
                return counts
        return ()

    def _tops_of(self, post_ids: Sequence[str]) -> Counter[str | None]:
        """The strongest links of those of these posts that are known (observed within `kept`; each by its newest
        observation), counted in the order the posts come. Found by set intersections, in C: a finding may name a
        month of board messages, most of them too old to be known."""
        known: dict[str, str | None] = {}
        remaining = set(post_ids)
        for generation in reversed(self._generations):
            if not remaining:
                break
            found = generation.top.keys() & remaining
            remaining -= found
            known.update(zip(found, map(generation.top.__getitem__, found), strict=True))
        # In C too: the finding's month of ids is gone through once more, for those that are known.
        return Counter(map(known.__getitem__, filter(known.__contains__, post_ids)))

    def _counts_of(self, subject: str) -> Counter[str | None]:
        for generation in reversed(self._generations):
            counts = generation.counts.get(subject)
            if counts is not None:
                return Counter(dict(zip(counts[::2], counts[1::2], strict=True)))
        return Counter()

    def to_json(self) -> dict[str, Any]:
        """The links as they are held (orjson writes the datetimes, dicts and tuples as JSON)."""
        return {"generations": [[generation.start, generation.top, generation.counts]
                                for generation in self._generations]}

    def parts(self) -> tuple[dict[str, Any], dict[datetime, dict[str, str | None] | None]]:
        """The links as the engine saves them: `to_json` without the posts (the generations' starts and their events'
        and places' counts, a few thousand), and apart, each generation's posts' strongest links (a post per post of
        the last `kept`: most of it) by its start, None for a past generation's that were saved already
        (`parts_saved`). Only the current generation takes posts, so a past one's posts are written once, not at
        every checkpoint."""
        generations = self._generations
        self._posts_given = {generation.start for generation in generations[:-1]}
        posts = {generation.start: None if generation.start in self._posts_saved else generation.top
                 for generation in generations[:-1]}
        if generations:
            posts[generations[-1].start] = generations[-1].top
        return {"generations": [[generation.start, None, generation.counts] for generation in generations]}, posts

    def parts_saved(self) -> None:
        """What the last `parts` gave was saved: the past generations' posts need not be written again."""
        self._posts_saved = self._posts_given

    @classmethod
    def from_json(cls, data: dict[str, Any], kept: timedelta = timedelta(hours=48),
                  posts: Mapping[datetime, dict[str, Any]] | None = None) -> SubjectLinks:
        """The links from `to_json`, or from `parts` (`posts`: each generation's posts by its start, as saved)."""
        links = cls(kept)
        if "generations" not in data:  # saved before links were kept by time: one generation, as old as can be
            data = {"generations": [[datetime.min.replace(tzinfo=UTC).isoformat(), data["top"],
                                     {subject: [x for pair in counts for x in pair]
                                      for subject, counts in data["counts"].items()}]]}
        for start, top, counts in data["generations"]:
            if top is None:  # saved apart (a KeyError when they are not there: the links then start afresh)
                top = (posts or {})[_moment(start)]
            links._generations.append(_LinkGeneration(
                _moment(start), {post_id: _policy_id(policy) for post_id, policy in dict(top).items()},
                {subject: tuple(_policy_id(x) if at % 2 == 0 else x for at, x in enumerate(flat))
                 for subject, flat in counts.items()}))
        return links

    @staticmethod
    def _majority(counts: Counter[str | None]) -> str | None:
        total = sum(counts.values())
        policy, linked = max(((p, n) for p, n in counts.items() if p is not None), key=lambda pn: pn[1],
                             default=(None, 0))
        if policy is None or total < LINK_MIN_POSTS or linked / total < LINK_MIN_SHARE:
            return None
        return policy

    def resolve(self, finding: Finding) -> Finding:
        if finding.subject_kind in ("source", "document"):
            return finding
        policy = self._majority(self._tops_of(finding.post_ids))
        if policy is None and finding.subject_kind in ("event", "place"):
            policy = self._majority(self._counts_of(subject_key(finding)))
        if policy is None or (finding.subject_kind, finding.subject_id) == ("policy", policy):
            return finding
        via = f"{finding.subject_kind}:{finding.subject_id}"
        return replace(finding, subject_kind="policy", subject_id=policy, evidence={**finding.evidence, "via": via})


class AlertEngine:
    def __init__(self, config: AlertConfig, policies: Mapping[str, Policy] | None = None) -> None:
        self.config = config
        self.policies = dict(policies or {})
        self.rules: list[tuple[RuleSpec, Rule]] = build_rules(config)
        self.links = SubjectLinks(config.stale_after)
        # The unanswered-board rules by their memory's key: their waiting messages may be kept in the store.
        self._waiting_rules = [(key, rule) for key, (_, rule) in zip(self._state_keys(), self.rules, strict=True)
                               if isinstance(rule, UnansweredComplaintsRule)]

    def group_key(self, spec: RuleSpec, finding: Finding) -> str:
        """The group a finding belongs to: its subject, or with `grouping: rule` its rule and subject."""
        if self.config.grouping == "rule":
            return f"{spec.name}|{subject_key(finding)}"
        return subject_key(finding)

    def _state_keys(self) -> list[str]:
        """One key per rule, changing when its type, its options or the memory's format change (then its old
        memory no longer fits)."""
        keys = []
        for spec, _ in self.rules:
            options = json.dumps(spec.options, sort_keys=True, ensure_ascii=False, default=str)
            digest = hashlib.sha1(f"{spec.type}|{options}|{RULE_MEMORY_FORMAT}".encode()).hexdigest()[:12]
            keys.append(f"rule:{spec.name}:{digest}")
        return keys

    def snapshot(self) -> dict[str, str | None]:
        """The rules' memory and the learnt policy links as JSON text, one entry per rule, to persist between runs;
        the links' posts in an entry per generation of them, None for those saved already (`memory_saved`), which the
        store keeps as they are. Written by orjson (in C, datetimes in ISO 8601 as they are held): the windows and
        links of a city's two days are a few hundred thousand items, written at every checkpoint."""
        states: dict[str, str | None] = {key: orjson.dumps(rule.memory()).decode()
                                         for key, (_, rule) in zip(self._state_keys(), self.rules, strict=True)}
        links, posts = self.links.parts()
        states[LINKS_KEY] = orjson.dumps(links).decode()
        for start, top in posts.items():
            states[f"{LINKS_POSTS_KEY}{start.isoformat()}"] = None if top is None else orjson.dumps(top).decode()
        return states

    def restore(self, states: Mapping[str, str | None]) -> None:
        """Take back what `snapshot` saved; rules whose options changed (another key) start afresh, and so
        does a rule whose memory cannot be read back (it is logged)."""
        for key, (spec, rule) in zip(self._state_keys(), self.rules, strict=True):
            if (text := states.get(key)) is not None:
                try:
                    rule.recall(orjson.loads(text))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("rule %s: stored memory unreadable (%s); starting afresh", spec.name, exc)
        if (links := states.get(LINKS_KEY)) is not None:
            try:
                posts = {datetime.fromisoformat(key.removeprefix(LINKS_POSTS_KEY)): orjson.loads(text)
                         for key, text in states.items() if key.startswith(LINKS_POSTS_KEY) and text is not None}
                self.links = SubjectLinks.from_json(orjson.loads(links), self.config.stale_after, posts)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("stored policy links unreadable (%s); starting afresh", exc)
        known = self.links.post_ids()
        for _, rule in self._waiting_rules:
            rule.seen_among(known)

    def keep_waiting_in(self, store: AlertStore) -> None:
        """Keep the unanswered-board rules' waiting messages (a month of a city's boards) in the store, not in the
        worker: read from it as a batch needs them, saved with the rest of the memory (`waiting_changes`). Before
        `restore`: the memory restored then goes with the messages the store holds."""
        for key, rule in self._waiting_rules:
            rule.keep_waiting_in(RuleWaiting(store, key))

    def take_back(self, posts: Sequence[EnrichedPost], now: datetime) -> None:
        """Read from the store what `evaluate(posts, ..., now)` will need of it, before anything is counted."""
        for _, rule in self._waiting_rules:
            rule.take_back(posts, now)

    def waiting_changes(self) -> list[WaitingChanges]:
        """The waiting messages changed since the last save, to save with `snapshot` (one transaction)."""
        return [WaitingChanges(key, *rule.waiting_changes()) for key, rule in self._waiting_rules]

    def memory_saved(self) -> None:
        """What `snapshot` and `waiting_changes` gave was saved."""
        self.links.parts_saved()
        for _, rule in self._waiting_rules:
            rule.waiting_saved()

    def evaluate(self, posts: Iterable[EnrichedPost], signals: Iterable[BurstSignal],
                 health: Iterable[CrawlHealth], now: datetime) -> list[tuple[RuleSpec, Finding]]:
        """Feed one batch to every rule, then tick them. Findings come back with their subject resolved
        (an event or place of one policy becomes that policy). Findings about posts older than `stale_after`
        and those inside a silence window are dropped."""
        posts, signals, health = list(posts), list(signals), list(health)
        oldest = self.links.oldest
        for post in posts:
            self.links.observe(post, now)
        if self.links.oldest != oldest:  # the links forgot a generation's posts
            for _, waiting_rule in self._waiting_rules:
                waiting_rule.forget_unknown(self.links.known)
        findings: list[tuple[RuleSpec, Finding]] = []
        for spec, rule in self.rules:
            # Only the feeds the rule reads: the base's find nothing, and a batch brings thousands of signals.
            calls: list[tuple[Callable[[Any], list[Finding]], Any]] = []
            for hook, items in (("on_post", posts), ("on_signal", signals), ("on_health", health), ("on_tick", [now])):
                feed = getattr(rule, hook)
                if getattr(feed, "__func__", None) is not getattr(Rule, hook):
                    calls += [(feed, item) for item in items]
            for feed, item in calls:
                try:
                    findings += [(spec, f) for f in feed(item)]
                except Exception:  # one rule's bug on one item must not stop the other rules or the worker
                    log.exception("rule %s (%s) failed on %s", spec.name, spec.type, getattr(item, "id", item))
        kept = []
        for spec, finding in findings:
            if now - finding.at > self.config.stale_after:
                log.debug("stale finding of %s on %s from %s", spec.name, finding.subject_id, finding.at)
                continue
            resolved = self.links.resolve(finding)
            subjects = {finding.subject_id, resolved.subject_id}
            silence = next((s for s in self.config.silences
                            if any(s.covers(spec.name, subject, now) for subject in subjects)), None)
            if silence is not None:
                log.info("silenced %s on %s (%s)", spec.name, resolved.subject_id, silence.reason)
                continue
            kept.append((spec, resolved))
        return kept

    def _policy_evidence(self, finding: Finding) -> dict:
        """For a policy subject: its document and whether its 政策解读 was published (it must be)."""
        policy = self.policies.get(finding.subject_id) if finding.subject_kind == "policy" else None
        if policy is None:
            return {}
        return {"policy": {"id": policy.id, "title": policy.title, "doc_number": policy.doc_number,
                           "interpretation": policy.interpretation_url}}

    def _compose(self, alert: Alert) -> Alert:
        """Title and summary from the strongest contribution (latest on a tie), naming the others and a
        missing interpretation."""
        contributions: dict[str, dict] = alert.evidence.get("rules", {})
        ranked = sorted(contributions.items(),
                        key=lambda kv: (AlertLevel(kv[1]["level"]).rank, datetime.fromisoformat(kv[1]["at"])))
        _, lead = ranked[-1]
        title = f"{lead['rule_title']}：{lead['title']}" if lead.get("rule_title") else lead["title"]
        policy = alert.evidence.get("policy")
        named = f"《{policy_name(policy['title'])}》" if policy is not None else ""
        if policy is not None:  # officers know the document by its name, not by its id or full title
            mention = next((m for m in (policy["id"], policy["title"]) if m in title), None)
            title = title.replace(mention, named) if mention else f"{named}相关：{title}"
        parts = [lead["summary"]] if lead["summary"] else []
        others = [f"{name}（{refer_to_policy(c['title'], policy)}）" for name, c in ranked[:-1]]
        if others:
            parts.append("同时触发：" + "；".join(reversed(others)) + "。")
        if policy is not None and not policy.get("interpretation"):
            parts.append(f"{named}尚未发布政策解读。")
        return alert.model_copy(update={"title": title, "summary": " ".join(parts)})

    @staticmethod
    def _contribution(spec: RuleSpec, finding: Finding, level: AlertLevel) -> dict:
        return {"type": spec.type, "rule_title": spec.title, "title": finding.title, "summary": finding.summary,
                "magnitude": finding.magnitude, "level": level.value, "at": finding.at.isoformat(),
                **finding.evidence}

    def open(self, spec: RuleSpec, finding: Finding, now: datetime) -> Outcome:
        key = self.group_key(spec, finding)
        level = level_for(spec, finding.magnitude)
        alert = Alert(
            id=alert_id(key, now), rule=spec.name, rule_type=spec.type, group_key=key, title=finding.title,
            level=level, subject_kind=finding.subject_kind, subject_id=finding.subject_id,
            fired_at=now, updated_at=now,
            deadlines=deadlines_for(self.config, level, now) if spec.deadlines else [],
            post_ids=list(finding.post_ids[-MAX_POST_IDS:]),
            evidence={"rules": {spec.name: self._contribution(spec, finding, level)},
                      "first_seen": finding.at.isoformat(), **self._policy_evidence(finding)},
            notified_at=now,
        )
        notice = Notice("fired", _unique(self.config.channels_of(spec)))
        return Outcome(self._compose(alert), created=True, notices=(notice,), action="fired")

    def merge(self, spec: RuleSpec, finding: Finding, existing: Alert | None, now: datetime) -> Outcome | None:
        """The group's alert after this finding: a new one, the existing one updated, or None (cooling down)."""
        cooldown = self.config.cooldown_of(spec)
        if existing is None:
            return self.open(spec, finding, now)
        if existing.status == AlertStatus.CLOSED:
            if existing.closed_at is not None and now - existing.closed_at < cooldown:
                return None  # closed moments ago: the office has judged this subject
            return self.open(spec, finding, now)
        contributions = dict(existing.evidence.get("rules", {}))
        joined = spec.name not in contributions
        earlier = AlertLevel(contributions[spec.name]["level"]) if not joined else spec.level
        # A rule's level never falls while the alert is open: the surge was that big.
        level = max(level_for(spec, finding.magnitude), earlier, key=lambda lv: lv.rank)
        indirect_after_direct = "via" in finding.evidence and not joined and "via" not in contributions[spec.name]
        if indirect_after_direct:  # keep the rule's words about the policy itself; still count the level
            contributions[spec.name] = {**contributions[spec.name], "level": level.value}
        else:
            contributions[spec.name] = self._contribution(spec, finding, level)
        post_ids = list(dict.fromkeys([*existing.post_ids, *finding.post_ids]))[-MAX_POST_IDS:]
        alert = self._compose(existing.model_copy(update={
            "post_ids": post_ids, "evidence": {**existing.evidence, "rules": contributions},
            "updates": existing.updates + 1, "updated_at": now,
        }))
        if spec.deadlines and not alert.deadlines:
            alert = alert.model_copy(update={"deadlines": deadlines_for(self.config, alert.level, now)})
        if level.rank > alert.level.rank:
            tracked = spec.deadlines or bool(existing.deadlines)
            raised = raise_level(self.config, alert, level, now) if tracked else alert.model_copy(
                update={"level": level})
            alert = raised.model_copy(update={"notified_at": now})
            channels = _unique([*self.config.channels_of(spec), *self.config.escalation_of(spec)])
            note = f"级别由{existing.level.value}升为{level.value}（{spec.name}）"
            return Outcome(alert, notices=(Notice("level_raised", channels, note),), action="level_raised")
        if joined or existing.notified_at is None or now - existing.notified_at >= cooldown:
            alert = alert.model_copy(update={"notified_at": now})
            note = f"新增触发规则：{spec.name}" if joined else f"持续发酵：已更新{alert.updates}次"
            return Outcome(alert, notices=(Notice("updated", _unique(self.config.channels_of(spec)), note),))
        return Outcome(alert)

    def next_deadline_check(self, alert: Alert) -> datetime | None:
        """When `check_deadlines` will next find something to escalate on this alert (None: never, as it is)."""
        if alert.status == AlertStatus.CLOSED:
            return None
        moments = []
        for deadline in alert.deadlines:
            if deadline.met_at is None:
                start = deadline.started_at or alert.fired_at
                if deadline.missed_at is None:
                    moments.append(deadline.due_at)
                if deadline.warned_at is None:
                    moments.append(start + (deadline.due_at - start) * self.config.warn_at)
        return min(moments, default=None)

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


def refer_to_policy(text: str, policy: dict | None) -> str:
    """A contribution's title with the alert's policy (by id or full title) called 该政策."""
    if policy is None:
        return text
    for mention in (policy["id"], policy["title"]):
        text = text.replace("政策" + mention, "该政策").replace(mention, "该政策")
    return text
