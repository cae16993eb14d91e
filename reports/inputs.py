"""What every report reads besides the index, from what the settings point at: the policy registry,
the sources' human names, the alerts with the measured effect of their responses, crawl health.

Alerts are read through `AlertQueries`, a read-only view of the store: reports never build the alert
worker's service, whose closing writes the rules' memory back (a report must not change what it
reports on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from search.base import Index
from yuqing.config import Settings
from yuqing.config.datafiles import Source, load_policies, load_sources
from yuqing.schema import Alert, CrawlHealth, Policy


@dataclass
class ReportInputs:
    policies: list[Policy] = field(default_factory=list)
    source_titles: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)
    health: list[CrawlHealth] = field(default_factory=list)


def read_alerts(settings: Settings, index: Index) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """Every alert in the store and the measured effect of each answered one, through the read-only view."""
    from alerts.queries import AlertQueries

    queries = AlertQueries.from_settings(settings, index=index)
    try:
        alerts = queries.alerts(limit=100_000)
        effects = {a.id: effect.as_dict() for a in alerts if a.responses and (effect := queries.effect(a))}
    finally:
        queries.close()
    return alerts, effects


def read_inputs(settings: Settings, index: Index, notice: Callable[[str], Any] = print,
                sources: Sequence[Source] | None = None) -> ReportInputs:
    """`sources` name the sources (default: the sources file)."""
    policies: list[Policy] = []
    if settings.policies_file.exists():
        policies = load_policies(settings.policies_file)
    else:
        notice(f"提示：政策文件库 {settings.policies_file} 不存在，报告不含政策关注度 (no policies file)")
    if sources is None:
        sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    alerts, effects = read_alerts(settings, index)
    return ReportInputs(policies=policies, source_titles={s.name: s.title for s in sources if s.title},
                        alerts=alerts, effects=effects, health=index.crawl_health())
