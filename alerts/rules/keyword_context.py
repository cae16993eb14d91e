"""Keyword watch with context: a watched term near a context term (拆迁 near 维权/上访/强拆).

"Near" is within `distance` characters on either side, so 拆迁 in a story about a new metro
line does not fire but 拆迁户上访 does. Findings are grouped per place, policy or term.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from alerts.durations import Duration, human_duration
from alerts.rules.base import Finding, RuleOptions, WindowRule, linked_policies, post_text
from yuqing.schema import EnrichedPost


class KeywordContextOptions(RuleOptions):
    terms: list[str] = Field(min_length=1)
    context: list[str] = Field(default_factory=list, description="empty: the term alone is enough")
    distance: int = Field(default=30, ge=1, description="characters between term and context term")
    places: list[str] = Field(default_factory=list, description="only posts about these places")
    policies: list[str] = Field(default_factory=list, description="only posts linked to these policies")
    min_policy_score: float = Field(default=0.0, ge=0)
    group_by: Literal["place", "policy", "term"] = "place"
    min_posts: int = Field(default=3, ge=1, description="matching posts within the window before firing")
    window: Duration = timedelta(hours=24)

    @field_validator("terms", "context")
    @classmethod
    def _no_blank(cls, values: list[str]) -> list[str]:
        if any(not value.strip() for value in values):
            raise ValueError("terms must not be blank")
        return values


def near_matches(text: str, terms: list[str], context: list[str], distance: int) -> list[tuple[str, str]]:
    """(term, context term) pairs found within `distance` characters; with no context, (term, '')."""
    found: list[tuple[str, str]] = []
    for term in terms:
        start = text.find(term)
        while start >= 0:
            if not context:
                found.append((term, ""))
                break
            around = text[max(0, start - distance): start + len(term) + distance]
            hits = [word for word in context if word in around]
            if hits:
                found.append((term, hits[0]))
                break
            start = text.find(term, start + 1)
    return found


class KeywordContextRule(WindowRule[KeywordContextOptions]):
    type_name = "keyword_context"
    options_model = KeywordContextOptions

    def _subjects(self, post: EnrichedPost, text: str, term: str) -> list[tuple[str, str]]:
        opts = self.options
        places = [p for p in post.places if not opts.places or p in opts.places]
        places += [p for p in opts.places if p in text and p not in places]
        policies = linked_policies(post, opts.min_policy_score, opts.policies)
        if (opts.places and not places) or (opts.policies and not policies):
            return []
        if opts.group_by == "policy" and policies:
            return [("policy", policies[0])]
        if opts.group_by == "place" and places:
            return [("place", places[0])]
        return [("keyword", term)]

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        opts = self.options
        text = post_text(post)
        matches = near_matches(text, opts.terms, opts.context, opts.distance)
        if not matches:
            return []
        term, context_word = matches[0]
        findings = []
        for kind, subject in self._subjects(post, text, term):
            if not self.window.add(f"{kind}:{subject}", post.when, post.id, (term, context_word)):
                continue
            count = self.window.count(f"{kind}:{subject}")
            if count < opts.min_posts:
                continue
            pairs = sorted({f"{t}+{c}" if c else t for _, _, (t, c) in self.window.items(f"{kind}:{subject}")})
            findings.append(Finding(
                subject_kind=kind, subject_id=subject, at=post.when, magnitude=count,
                title=f"{subject}：“{term}”与“{context_word or term}”相关信息{count}条",
                summary=f"{human_duration(opts.window)}内{count}条信息中“{term}”出现在“{'、'.join(opts.context) or term}”附近。",
                post_ids=self.window.ids(f"{kind}:{subject}"),
                evidence={"matches": pairs, "posts_in_window": count},
            ))
        return findings
