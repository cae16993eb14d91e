"""Levels and the deadlines they imply: pure functions over `Alert`, no I/O."""

from __future__ import annotations

from datetime import datetime

from alerts.config import AlertConfig, DeadlineSpec, RuleSpec
from yuqing.schema import Alert, AlertLevel, Deadline, ResponseKind


def level_for(spec: RuleSpec, magnitude: float) -> AlertLevel:
    """The rule's base level, raised to the highest level whose threshold the magnitude reaches."""
    level = spec.level
    for candidate, threshold in spec.levels.items():
        if magnitude >= threshold and candidate.rank > level.rank:
            level = candidate
    return level


def deadlines_for(config: AlertConfig, level: AlertLevel, start: datetime) -> list[Deadline]:
    return [Deadline(name=d.name, due_at=start + d.within, started_at=start) for d in config.deadlines[level]]


def _spec_of(config: AlertConfig, level: AlertLevel, name: str) -> DeadlineSpec | None:
    # The alert's own level first; a level changed in the file since still finds its clocks by name.
    for specs in [config.deadlines[level], *config.deadlines.values()]:
        for spec in specs:
            if spec.name == name:
                return spec
    return None


def raise_level(config: AlertConfig, alert: Alert, level: AlertLevel, now: datetime) -> Alert:
    """Raise the alert's level; the new level's clocks start now, clocks already met stay on record.

    An unmet clock of the lower level that the higher level also has keeps the earlier due time.
    """
    kept = [d for d in alert.deadlines if d.met_at is not None]
    open_by_name = {d.name: d for d in alert.deadlines if d.met_at is None}
    met_names = {d.name for d in kept}
    fresh = []
    for deadline in deadlines_for(config, level, now):
        if deadline.name in met_names:
            continue
        earlier = open_by_name.get(deadline.name)
        fresh.append(earlier if earlier is not None and earlier.due_at <= deadline.due_at else deadline)
    return alert.model_copy(update={"level": level, "deadlines": kept + fresh})


def meet_deadlines(config: AlertConfig, alert: Alert, kind: ResponseKind, at: datetime) -> Alert:
    """Mark the open clocks that this kind of response satisfies as met at `at`."""
    deadlines = []
    for deadline in alert.deadlines:
        spec = _spec_of(config, alert.level, deadline.name)
        if deadline.met_at is None and (spec is None or kind in spec.met_by):
            deadline = deadline.model_copy(update={"met_at": at})
        deadlines.append(deadline)
    return alert.model_copy(update={"deadlines": deadlines})
