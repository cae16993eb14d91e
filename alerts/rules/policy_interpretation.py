"""Policy published without its interpretation: every 政策文件 must be published with its 政策解读.

A document counts as interpreted when its page links a 政策解读, or when an interpretation page
arrives (before or after it) linked to the same policy or naming the document's title. An interpretation
page is remembered for `max_age_days` after its time: a document published before it and crawled later than
that is not new (nothing watches it), and one is not published that long after its interpretation. A
document's count of days reported is kept while it waits, no longer. A document still waiting `forget_after_days`
after its time is let go: it was reported every day since it was overdue, and a portal that has not interpreted it
in a month will not (kept, it was reported every further day for ever, and every such document stayed in memory).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from alerts.rules.base import Finding, Rule, RuleOptions, policy_name
from yuqing.schema import (
    GOV_DOC_NUMBER,
    GOV_INDEX_NO,
    GOV_INTERPRETATION,
    GOV_IS_INTERPRETATION,
    EnrichedPost,
    Platform,
)


class PolicyInterpretationOptions(RuleOptions):
    days: float = Field(default=3.0, gt=0, description="days a document may go without its interpretation")
    require_doc_number: bool = Field(default=True, description="only documents with a 发文字号 are 政策文件")
    # A first crawl reads the portal's whole back catalogue; only documents this new are watched.
    max_age_days: float = Field(default=30.0, gt=0, description="documents older than this are not new")
    forget_after_days: float = Field(default=30.0, gt=0,
                                     description="a document waiting longer is no longer watched nor reported")

    @model_validator(mode="after")
    def _forgets_after_it_is_overdue(self) -> PolicyInterpretationOptions:
        if self.forget_after_days <= self.days:
            raise ValueError("forget_after_days must be longer than days (else nothing is ever reported)")
        return self


class PolicyInterpretationRule(Rule[PolicyInterpretationOptions]):
    type_name = "policy_interpretation"
    options_model = PolicyInterpretationOptions

    def __init__(self, options: PolicyInterpretationOptions) -> None:
        super().__init__(options)
        self._pending: dict[str, EnrichedPost] = {}
        # (policy ids, title + text, its time; None for one remembered before times were: kept from the next tick)
        self._interpretations: list[tuple[set[str], str, datetime | None]] = []
        self._reported_days: dict[str, int] = {}  # whole days overdue last reported, per document

    def memory(self) -> dict[str, Any]:
        return {"pending": {doc_id: doc.model_dump(mode="json") for doc_id, doc in self._pending.items()},
                "interpretations": [[sorted(ids), text, when and when.isoformat()]
                                    for ids, text, when in self._interpretations],
                "reported_days": self._reported_days}

    def recall(self, memory: dict[str, Any]) -> None:
        self._pending = {doc_id: EnrichedPost.model_validate(doc) for doc_id, doc in memory["pending"].items()}
        self._interpretations = [(set(ids), text, datetime.fromisoformat(when[0]) if when and when[0] else None)
                                 for ids, text, *when in memory["interpretations"]]
        self._reported_days = {doc_id: days for doc_id, days in memory["reported_days"].items()
                               if doc_id in self._pending}

    def _interprets(self, document: EnrichedPost, policy_ids: set[str], text: str) -> bool:
        if policy_ids & {link.id for link in document.policies}:
            return True
        core = policy_name(document.title or "")
        return len(core) >= 4 and core in text

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        if post.platform != Platform.GOV:
            return []
        if post.extra.get(GOV_IS_INTERPRETATION):
            ids = {link.id for link in post.policies}
            text = f"{post.title or ''}\n{post.text[:500]}"
            self._interpretations.append((ids, text, post.when))
            for doc_id in [d for d, doc in self._pending.items() if self._interprets(doc, ids, text)]:
                self._stop_waiting(doc_id)
            return []
        is_document = bool(post.extra.get(GOV_DOC_NUMBER)) or (
            not self.options.require_doc_number and bool(post.extra.get(GOV_INDEX_NO)))
        if not is_document or post.extra.get(GOV_INTERPRETATION):
            self._stop_waiting(post.id)
            return []
        is_new = post.published_at is None or post.fetched_at - post.published_at <= timedelta(
            days=self.options.max_age_days)
        if is_new and not any(self._interprets(post, ids, text) for ids, text, _ in self._interpretations):
            self._pending.setdefault(post.id, post)
        return []

    def _stop_waiting(self, doc_id: str) -> None:
        self._pending.pop(doc_id, None)
        self._reported_days.pop(doc_id, None)

    def on_tick(self, now: datetime) -> list[Finding]:
        kept_since = now - timedelta(days=self.options.max_age_days)
        self._interpretations = [(ids, text, when or now) for ids, text, when in self._interpretations
                                 if when is None or when >= kept_since]
        forget_before = now - timedelta(days=self.options.forget_after_days)
        for doc_id in [doc_id for doc_id, doc in self._pending.items() if doc.when < forget_before]:
            self._stop_waiting(doc_id)
        limit = timedelta(days=self.options.days)
        findings = []
        for doc_id, doc in self._pending.items():
            days = (now - doc.when).total_seconds() / 86400
            # Report once when overdue, then once more each further whole day, so the level can grow.
            if now - doc.when <= limit or int(days) <= self._reported_days.get(doc_id, -1):
                continue
            self._reported_days[doc_id] = int(days)
            policies = [link.id for link in doc.policies]
            findings.append(Finding(
                subject_kind="policy" if policies else "document", subject_id=policies[0] if policies else doc_id,
                at=now, magnitude=days,
                title=f"政策文件未同步发布解读：{doc.title or doc.url}",
                summary=f"{doc.extra.get(GOV_DOC_NUMBER, '')} 发布已{days:.1f}天，未见政策解读。".strip(),
                post_ids=(doc_id,),
                evidence={"url": doc.url, "doc_number": doc.extra.get(GOV_DOC_NUMBER),
                          "published_at": doc.when.isoformat(),
                          "document": doc_id},
            ))
        return findings
