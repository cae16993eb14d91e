"""Link posts to the policy registry (the policies file plus crawled 政策文件), with a score.

Signals, strongest first: the document number (菏政办发〔2023〕12号, however bracketed), the title
in 《》 or written out, an alias, then keyword similarity. Every look-up goes through an index
keyed by a word of the post, so the cost does not grow with the size of the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from analysis.language import Language
from yuqing.schema import (
    GOV_DOC_NUMBER,
    GOV_INTERPRETATION,
    GOV_IS_INTERPRETATION,
    GOV_ISSUER,
    GOV_PUBLISHED,
    GOV_VALIDITY,
    GOV_WRITTEN,
    Platform,
    Policy,
    PolicyLink,
    Post,
    Validity,
    aware,
)

DOC_NUMBER = re.compile(
    r"([\u4e00-\u9fff]{1,12})\s*[〔\[［(（【]\s*((?:19|20)\d{2})\s*[〕\]］)）】]\s*第?\s*(\d{1,4})\s*号"
)
TITLE_MARKS = re.compile(r"《([^《》]{4,80})》")
DATE = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")

DOC_NUMBER_SCORE = 1.0
TITLE_SCORE = 0.95
ALIAS_SCORE = 0.85
# Keyword similarity (the share of a policy's keyword weight a post covers) is scaled below
# any named mention, and must cover at least this share to link.
KEYWORD_SCALE = 0.75
KEYWORD_MIN_SHARE = 0.3
EXTRA_SIGNAL_BONUS = 0.05
MAX_LINKS = 3


def normal_doc_number(value: str) -> str | None:
    """One spelling of a 文号: 菏政办发[2023]12号 and 菏政办发（2023）第12号 → 菏政办发〔2023〕12号."""
    match = DOC_NUMBER.search(value)
    if not match:
        return None
    prefix, year, number = match.groups()
    return f"{prefix}〔{year}〕{int(number)}号"


def doc_number_spellings(match: re.Match[str]) -> list[str]:
    """Normal forms of a 文号 found in running text, whose issuer prefix may be glued to the words
    before it (按照菏政办发〔2023〕12号): every tail of the prefix of two characters or more."""
    prefix, year, number = match.groups()
    return [f"{prefix[i:]}〔{year}〕{int(number)}号" for i in range(len(prefix) - 1)]


def _normal_title(title: str) -> str:
    return re.sub(r"[\s《》“”\"]", "", title)


def parse_date(value: object) -> datetime | None:
    """A date from portal metadata: '2023-05-12', '2023年5月12日', a datetime; else None."""
    if isinstance(value, datetime):
        return aware(value)
    match = DATE.search(str(value or ""))
    if not match:
        return None
    try:
        year, month, day = (int(part) for part in match.groups())
        return aware(datetime(year, month, day))
    except ValueError:
        return None


def _validity(value: object) -> Validity:
    text = str(value or "")
    if "废止" in text or "失效" in text:
        return Validity.REPEALED
    if "修改" in text or "修订" in text:
        return Validity.AMENDED
    if "有效" in text or "现行" in text:
        return Validity.CURRENT
    return Validity.UNKNOWN


def policy_from_post(post: Post, language: Language) -> Policy | None:
    """A crawled government document as a registry entry; None for other posts and for 政策解读 pages."""
    extra = post.extra
    if post.platform is not Platform.GOV or extra.get(GOV_IS_INTERPRETATION) or not post.title:
        return None
    doc_number = normal_doc_number(str(extra.get(GOV_DOC_NUMBER) or "")) or (extra.get(GOV_DOC_NUMBER) or None)
    if doc_number is None and GOV_VALIDITY not in extra:
        return None  # a news item on a government portal, not a policy document
    title_words = language.segmenter.fast_words(post.title)
    return Policy(
        id=post.id,
        title=post.title.strip(),
        doc_number=doc_number,
        department=extra.get(GOV_ISSUER) or None,
        written_at=parse_date(extra.get(GOV_WRITTEN)),
        published_at=parse_date(extra.get(GOV_PUBLISHED)) or post.published_at,
        validity=_validity(extra.get(GOV_VALIDITY)),
        keywords=[w for w, _ in language.keywords.weighted_keywords(title_words, 6)],
        url=post.url,
        interpretation_url=extra.get(GOV_INTERPRETATION) or None,
    )


@dataclass(frozen=True)
class _Phrase:
    policy_id: str
    text: str
    score: float


class PolicyRegistry:
    """The policies posts can be linked to, indexed for linking: their names and keywords become single
    tokens of `language`'s segmenter, which must be the one that segments the posts."""

    def __init__(self, language: Language, policies: Iterable[Policy] = ()) -> None:
        self.segmenter = language.segmenter
        self.keywords = language.keywords
        self.policies: dict[str, Policy] = {}
        self._by_number: dict[str, str] = {}
        self._by_title: dict[str, str] = {}
        self._phrases_by_anchor: dict[str, list[_Phrase]] = {}
        self._keywords: dict[str, dict[str, float]] = {}
        self._by_keyword: dict[str, set[str]] = {}
        # Every word `link` looks up (phrases' anchors, policies' keywords): only ever added to, as the indexes above.
        self.words: set[str] = set()
        for policy in policies:
            self.add(policy)

    def __len__(self) -> int:
        return len(self.policies)

    def get(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    def add(self, policy: Policy) -> Policy:
        """Add or update a policy. A document already known by its 文号 keeps its id and gains what is new."""
        number = normal_doc_number(policy.doc_number or "")
        existing_id = self._by_number.get(number) if number else None
        if existing_id and existing_id != policy.id:
            known = self.policies[existing_id]
            missing = {k: v for k, v in policy.model_dump(exclude={"id"}).items() if v and not getattr(known, k)}
            policy = known.model_copy(update=missing)
        self.policies[policy.id] = policy
        self.segmenter.add_terms([*policy.keywords, *policy.aliases])
        if number:
            self._by_number[number] = policy.id
        self._by_title[_normal_title(policy.title)] = policy.id
        for text, score in [(policy.title, TITLE_SCORE), *((a, ALIAS_SCORE) for a in policy.aliases)]:
            self._index_phrase(_Phrase(policy.id, _normal_title(text), score))
        self._index_keywords(policy)
        return policy

    def _index_phrase(self, phrase: _Phrase) -> None:
        phrase_words = self.segmenter.fast_words(phrase.text)
        if not phrase_words:
            return
        # The rarest word of the phrase: a post that contains the phrase contains it too.
        anchor = max(phrase_words, key=self.keywords.idf_of)
        bucket = self._phrases_by_anchor.setdefault(anchor, [])
        self.words.add(anchor)
        if phrase not in bucket:
            bucket.append(phrase)

    def _index_keywords(self, policy: Policy) -> None:
        # Keywords the registry states are what the policy is about; the title's are a fallback.
        keywords = self.keywords
        terms = set(keywords.candidate_words(policy.keywords)) or {
            w for w, _ in keywords.weighted_keywords(self.segmenter.fast_words(policy.title), 6)
        }
        weights = {t: keywords.idf_of(t) for t in terms}
        self._keywords[policy.id] = weights
        for term in weights:
            self._by_keyword.setdefault(term, set()).add(policy.id)
        self.words.update(weights)

    def link(self, text: str, post_words: Sequence[str]) -> list[PolicyLink]:
        """Policies the post is about, best first, each with a score in (0, 1]."""
        signals: dict[str, list[float]] = {}

        def note(policy_id: str, score: float) -> None:
            signals.setdefault(policy_id, []).append(score)

        # A 文号 ends in 号: most posts have none, and the pattern's scan of a long post costs more
        # than the rest of linking.
        for match in DOC_NUMBER.finditer(text) if "号" in text else ():
            for spelling in doc_number_spellings(match):
                policy_id = self._by_number.get(spelling)
                if policy_id:
                    note(policy_id, DOC_NUMBER_SCORE)
                    break
        for match in TITLE_MARKS.finditer(text) if "《" in text else ():
            title = _normal_title(match.group(1))
            policy_id = self._by_title.get(title)
            if policy_id:
                note(policy_id, TITLE_SCORE)
        # The few words that matter, each found in one C-level pass over the post's words (a set of them costs
        # more than it saves): anchors of phrases, then keywords of policies.
        anchors = self._phrases_by_anchor.keys() & post_words
        compact = _normal_title(text) if anchors else ""
        for word in anchors:
            for phrase in self._phrases_by_anchor[word]:
                if phrase.text in compact:
                    note(phrase.policy_id, phrase.score)
        keywords = self._by_keyword.keys() & post_words
        candidates: set[str] = set()
        for word in keywords:
            candidates |= self._by_keyword[word]
        for policy_id in candidates:
            weights = self._keywords[policy_id]
            total = sum(weights.values())
            covered = sum(weight for term, weight in weights.items() if term in keywords)
            if total and covered / total >= KEYWORD_MIN_SHARE:
                note(policy_id, KEYWORD_SCALE * covered / total)

        links = []
        for policy_id, scores in signals.items():
            best = max(scores)
            score = min(1.0, best + EXTRA_SIGNAL_BONUS * (len(set(scores)) - 1))
            links.append(PolicyLink(id=policy_id, score=round(score, 3)))
        links.sort(key=lambda link: (-link.score, link.id))  # ties by id: the same order in every process
        return links[:MAX_LINKS]
