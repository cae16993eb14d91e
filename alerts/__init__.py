"""Alerts: rules fed enriched posts and signals, grouped alerts with levels and deadlines,
an outbox of notifications delivered by channels, and the press office's response workflow.

`alerts.service.AlertService` is the one object the alert worker and the CLI use.
"""
