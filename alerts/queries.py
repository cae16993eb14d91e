"""`AlertQueries`: the alert store read by those who only look (the daily report, status pages).

Unlike `AlertService`, it loads no rules and no channels, and its store is a read-only view: a reader
can never overwrite the alert worker's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from alerts.effect import ResponseEffect, measure_effect
from alerts.store import AlertStore, AuditEntry
from search.base import Index
from yuqing.config import Settings
from yuqing.schema import Alert, AlertStatus


class AlertQueries:
    def __init__(self, store: AlertStore, index: Index | None = None) -> None:
        self.store = store
        self.index = index  # for response effects; it belongs to whoever passed it in

    @classmethod
    def from_settings(cls, settings: Settings, index: Index | None = None) -> AlertQueries:
        from alerts.service import open_alert_store

        return cls(open_alert_store(settings, read_only=True), index)

    def alerts(self, statuses: Iterable[AlertStatus] | None = None, limit: int = 1000) -> list[Alert]:
        return self.store.alerts(statuses, limit)

    def get(self, alert_id: str) -> Alert | None:
        stored = self.store.get(alert_id)
        return stored.alert if stored is not None else None

    def history(self, alert_id: str) -> list[AuditEntry]:
        return self.store.history(alert_id)

    def effect(self, alert: Alert, now: datetime | None = None) -> ResponseEffect | None:
        """Before/after figures of the alert's subject around its first response (needs the index)."""
        if self.index is None:
            return None
        return measure_effect(self.index, alert, now or datetime.now().astimezone())

    def close(self) -> None:
        self.store.close()
