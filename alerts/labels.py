"""Words officers read for workflow states (the schema keeps stable English values)."""

from __future__ import annotations

from yuqing.schema import AlertStatus

STATUS_LABELS = {
    AlertStatus.FIRED: "已触发", AlertStatus.NOTIFIED: "已通知", AlertStatus.ACKNOWLEDGED: "已确认",
    AlertStatus.ASSIGNED: "已交办", AlertStatus.RESPONDED: "已回应", AlertStatus.CLOSED: "已关闭",
}
