"""`yuqing alerts list|show|ack|assign|respond|close|deliver|test-rule`: the press office's side of alerts."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yuqing.cli.common import print_json, settings_from
from yuqing.config import ConfigError, Settings
from yuqing.schema import SHANGHAI, Alert, AlertStatus, ResponseKind, aware
from yuqing.schema.names import STATUS_NAMES

if TYPE_CHECKING:
    from alerts.service import AlertService
    from analysis.bursts import BurstTracker


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("alerts", help="list alerts and record the office's response",
                            description="预警处置: list, inspect and answer alerts; dry-run a rules file.")
    commands = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="open alerts, most recent first")
    listing.add_argument("--all", action="store_true", help="include closed alerts")
    listing.add_argument("--status", choices=[s.value for s in AlertStatus], action="append",
                         help="only alerts in this status (repeatable)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_guarded(run_list))

    show = commands.add_parser("show", help="one alert: evidence, deadlines, history, effect of the response")
    show.add_argument("alert_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_guarded(run_show))

    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--by", default=None, help="who does it (default: $YUQING_OFFICER, else the login name)")

    ack = commands.add_parser("ack", parents=[who], help="acknowledge: someone is on it")
    ack.add_argument("alert_id")
    ack.set_defaults(func=_guarded(run_ack))

    assign = commands.add_parser("assign", parents=[who], help="assign to the department that answers")
    assign.add_argument("alert_id")
    assign.add_argument("--to", required=True, metavar="DEPARTMENT", help="承办部门, e.g. 市住建局")
    assign.set_defaults(func=_guarded(run_assign))

    respond = commands.add_parser("respond", parents=[who], help="record the response (meets the deadlines)")
    respond.add_argument("alert_id")
    respond.add_argument("--kind", required=True, choices=[k.value for k in ResponseKind])
    respond.add_argument("--link", help="URL of the published response")
    respond.add_argument("--note")
    respond.add_argument("--at", help="when it was published (ISO time; default now)")
    respond.set_defaults(func=_guarded(run_respond))

    close = commands.add_parser("close", parents=[who], help="close the alert")
    close.add_argument("alert_id")
    close.add_argument("--reason")
    close.set_defaults(func=_guarded(run_close))

    deliver = commands.add_parser("deliver", help="escalate due deadlines and send what waits in the outbox")
    deliver.set_defaults(func=_guarded(run_deliver))

    test_rule = commands.add_parser(
        "test-rule", help="validate a rules file and show what it would fire on saved data (sends nothing)")
    test_rule.add_argument("rule_file", metavar="RULE_FILE", type=Path)
    test_rule.add_argument("--data", required=True, metavar="POSTS.jsonl", type=Path,
                           help="JSON lines: enriched posts (and optionally burst signals, crawl-health records)")
    test_rule.add_argument("--now", help="evaluate time-based rules at this ISO time (default: the last item's)")
    test_rule.add_argument("--json", action="store_true")
    test_rule.set_defaults(func=_guarded(run_test_rule))


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """An unreachable alert store is one clear line and exit code 1, like the other backends."""

    def run(args: argparse.Namespace) -> int:
        from alerts.store import StoreError

        try:
            return command(args)
        except StoreError as exc:
            print(f"预警库不可用 (alert store unavailable): {exc}", file=sys.stderr)
            return 1

    return run


def _officer(args: argparse.Namespace) -> str:
    return args.by or os.environ.get("YUQING_OFFICER") or getpass.getuser()


def _time(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError as exc:
        raise ConfigError(flag, value, "expected an ISO time like 2026-11-02T09:30") from exc


def _local(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else "—"


def next_deadline(alert: Alert) -> dict[str, Any] | None:
    open_clocks = [d for d in alert.deadlines if d.met_at is None]
    if not open_clocks or alert.status == AlertStatus.CLOSED:
        return None
    first = min(open_clocks, key=lambda d: d.due_at)
    return {"name": first.name, "due_at": first.due_at.isoformat()}


def alert_summary(alert: Alert) -> dict[str, Any]:
    """What `list --json` gives per alert: level in Chinese, the next deadline, the status."""
    return {
        "id": alert.id, "level": alert.level.value, "status": alert.status.value,
        "status_label": STATUS_NAMES[alert.status], "title": alert.title, "rule": alert.rule,
        "subject": f"{alert.subject_kind}:{alert.subject_id}" if alert.subject_id else None,
        "fired_at": alert.fired_at.isoformat(), "updated_at": alert.updated_at.isoformat(),
        "deadline": next_deadline(alert),
        "deadlines": [d.model_dump(mode="json") for d in alert.deadlines],
        "acknowledged_by": alert.acknowledged_by, "assigned_to": alert.assigned_to,
        "posts": len(alert.post_ids), "updates": alert.updates,
    }


def _service(settings: Settings, with_index: bool = False, read_only: bool = False) -> AlertService:
    from alerts.service import AlertService

    index = None
    if with_index:
        from search import open_index

        index = open_index(settings)
    return AlertService.from_settings(settings, index=index, read_only=read_only)


def run_list(args: argparse.Namespace) -> int:
    service = _service(settings_from(args), read_only=True)
    try:
        if args.status:
            alerts = service.store.alerts([AlertStatus(s) for s in args.status])
        else:
            alerts = service.store.alerts() if args.all else service.open_alerts()
    finally:
        service.close()
    if args.json:
        print_json([alert_summary(alert) for alert in alerts])
        return 0
    if not alerts:
        print("没有预警 (no alerts)")
        return 0
    for alert in alerts:
        deadline = next_deadline(alert)
        due = f"  {deadline['name']}截止 {_local(datetime.fromisoformat(deadline['due_at']))}" if deadline else ""
        print(f"{alert.id}  [{alert.level.value}] {STATUS_NAMES[alert.status]}{due}\n    {alert.title}")
    return 0


def _print_alert(alert: Alert) -> None:
    from alerts.engine import refer_to_policy

    print(f"{alert.id}  [{alert.level.value}] {STATUS_NAMES[alert.status]}")
    print(f"  {alert.title}")
    if alert.summary:
        print(f"  {alert.summary}")
    print(f"  规则 rule: {alert.rule} ({alert.rule_type})    对象 subject: {alert.subject_kind}:{alert.subject_id}")
    policy = alert.evidence.get("policy")
    for name, contribution in alert.evidence.get("rules", {}).items():
        print(f"  触发 {name} [{contribution['level']}]: {refer_to_policy(contribution['title'], policy)}")
    print(f"  首次 fired: {_local(alert.fired_at)}    更新 updated: {_local(alert.updated_at)} ({alert.updates}次)")
    for deadline in alert.deadlines:
        state = f"已完成 {_local(deadline.met_at)}" if deadline.met_at else (
            "已超时" if deadline.missed_at else "进行中")
        print(f"  时限 {deadline.name}: {_local(deadline.due_at)}  {state}")
    if alert.acknowledged_by:
        print(f"  签收 acknowledged: {alert.acknowledged_by} {_local(alert.acknowledged_at)}")
    if alert.assigned_to:
        print(f"  交办 assigned: {alert.assigned_to} {_local(alert.assigned_at)}")
    for response in alert.responses:
        print(f"  回应 response: {response.kind.value} {_local(response.at)} {response.by or ''} {response.link or ''}")
    if alert.closed_at:
        print(f"  办结 closed: {alert.closed_by} {_local(alert.closed_at)}")
    print(f"  相关信息 posts: {len(alert.post_ids)}")


def run_show(args: argparse.Namespace) -> int:
    from alerts.service import AlertNotFound

    service = _service(settings_from(args), with_index=True, read_only=True)
    try:
        try:
            alert = service.get(args.alert_id)
        except AlertNotFound as exc:
            print(exc, file=sys.stderr)
            return 1
        history = service.store.history(alert.id)
        pending = service.store.outbox(alert.id, pending_only=True)
        effect = service.effect(alert.id)
    finally:
        if service.index is not None:
            service.index.close()
        service.close()
    if args.json:
        print_json({**alert.model_dump(mode="json"),
                    "history": [{"at": h.at.isoformat(), "actor": h.actor, "action": h.action,
                                 "from": h.from_status, "to": h.to_status, "details": h.details, "times": h.times,
                                 "last_at": (h.last_at or h.at).isoformat()} for h in history],
                    "undelivered": len(pending), "effect": effect.as_dict() if effect else None})
        return 0
    _print_alert(alert)
    if pending:
        print(f"  待发送 undelivered: {len(pending)} (last error: {pending[-1].last_error or '—'})")
    if effect is not None:
        figures = effect.as_dict()
        partial = "" if effect.complete else f"（回应后仅{figures['after']['hours']}小时）"
        print(f"  回应效果 effect: {effect.verdict}{partial}")
        for label, key in (("回应前24小时", "before"), ("回应后", "after")):
            part = figures[key]
            print(f"    {label}: {part['posts']}条, 负面{part['negative']}条 ({part['negative_share']:.0%})")
    print("  处置记录 history:")
    # A busy incident updates its alert on every new post: one line per run of identical entries.
    for (when, actor, action, before, after), run in groupby(
            history, key=lambda e: (_local(e.at), e.actor, e.action, e.from_status or "—", e.to_status)):
        times = sum(e.times for e in run)  # the store keeps a run of quiet updates as one entry already
        print(f"    {when}  {actor}: {action} ({before} → {after})" + (f" ×{times}" if times > 1 else ""))
    return 0


def _transition(args: argparse.Namespace, action: Callable[[AlertService], Alert]) -> int:
    from alerts.service import AlertNotFound
    from alerts.workflow import WorkflowError

    service = _service(settings_from(args))
    try:
        alert = action(service)
    except (AlertNotFound, WorkflowError) as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        service.close()
    print(f"{alert.id}  [{alert.level.value}] {STATUS_NAMES[alert.status]}  {alert.title}")
    return 0


def run_ack(args: argparse.Namespace) -> int:
    return _transition(args, lambda s: s.acknowledge(args.alert_id, _officer(args)))


def run_assign(args: argparse.Namespace) -> int:
    return _transition(args, lambda s: s.assign(args.alert_id, args.to, _officer(args)))


def run_respond(args: argparse.Namespace) -> int:
    at = _time(args.at, "--at")
    return _transition(args, lambda s: s.respond(args.alert_id, ResponseKind(args.kind), _officer(args),
                                                 link=args.link, note=args.note, now=at))


def run_close(args: argparse.Namespace) -> int:
    return _transition(args, lambda s: s.close_alert(args.alert_id, _officer(args), reason=args.reason))


def run_deliver(args: argparse.Namespace) -> int:
    service = _service(settings_from(args))
    try:
        escalated = service.check_deadlines()
        sent = service.deliver_pending()
        waiting = len(service.store.outbox(pending_only=True))
    finally:
        service.close()
    print(f"升级 escalated: {len(escalated)}    已发送 sent: {sent}    待发送 waiting: {waiting}")
    return 0


def _signal_source(settings: Settings) -> BurstTracker:
    """Burst signals computed from the saved posts, as the alert worker does."""
    from analysis.bursts import BurstTracker
    from workers.build import configured_watchlists

    return BurstTracker(configured_watchlists(settings))  # no memory: a dry run must not touch the worker's state


def run_test_rule(args: argparse.Namespace) -> int:
    from alerts.config import load_alert_config
    from alerts.replay import read_items, replay
    from yuqing.config.datafiles import load_policies

    config = load_alert_config(args.rule_file)
    items = read_items(args.data)
    settings = settings_from(args)
    policies = load_policies(settings.policies_file) if settings.policies_file.exists() else []
    result = replay(config, items, now=_time(args.now, "--now"), signal_source=_signal_source(settings),
                    policies=policies)
    would_send: dict[str, int] = {}
    for item in result.notifications:
        key = f"{item.channel}:{item.message['kind']}"
        would_send[key] = would_send.get(key, 0) + 1
    if args.json:
        print_json({"rules": [r.name for r in config.rules if r.enabled], "items": result.items,
                    "alerts": [alert_summary(a) for a in result.alerts], "would_send": would_send})
        return 0
    enabled = [r.name for r in config.rules if r.enabled]
    print(f"规则文件有效 rules file OK: {len(enabled)} rule(s): {', '.join(enabled)}")
    span = f"{_local(result.start)} – {_local(result.end)}" if result.start else "—"
    print(f"回放 replayed {result.items} item(s), {span}; 未发送任何通知 nothing was sent")
    if not result.alerts:
        print("不会触发预警 (would fire nothing)")
        return 0
    print(f"将触发 would fire {len(result.alerts)} alert(s):")
    for alert in reversed(result.alerts):
        print(f"  [{alert.level.value}] {alert.rule} · {alert.subject_kind}:{alert.subject_id}  "
              f"({len(alert.post_ids)} posts, {alert.updates} updates)\n      {alert.title}")
    print("将发送 would send: " + ", ".join(f"{key}×{count}" for key, count in sorted(would_send.items())))
    return 0
