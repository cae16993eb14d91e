"""The sample site's content: YAML files in `sample_site/content/`, validated into models.

Every dated item gives either a fixed `date` (policy documents of 2022) or an `ago` offset
(`3h`, `9d`, `2d5h`, `40m`) counted back from the moment the server starts, so the demo always
shows a quiet fortnight and then a burst in the last hours. Ids and URLs never use the time.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.schema import SHANGHAI, Validity

CONTENT_DIR = Path(__file__).resolve().parent / "content"

_AGO = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


def parse_ago(text: str) -> timedelta:
    """`9d`, `3h`, `2d5h`, `40m`, `1h20m` → timedelta; anything else is a content error."""
    match = _AGO.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"bad 'ago' offset {text!r}; write e.g. 3h, 9d, 2d5h, 40m")
    return timedelta(days=int(match["d"] or 0), hours=int(match["h"] or 0), minutes=int(match["m"] or 0))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Dated(_Entry):
    """An item with a fixed local `date`, or an `ago` offset from the server start.

    `ago: 5d` with `clock: "09:30"` means 09:30 local time five days before the start: items of
    past days keep a plausible time of day (news at 09:30, not 03:07) whenever the demo runs.
    Only offsets of two days or more take a clock, so such items can never fall in the last hours.
    """

    date: datetime | None = None
    ago: str | None = None
    clock: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @field_validator("ago")
    @classmethod
    def _valid_ago(cls, value: str | None) -> str | None:
        if value is not None:
            parse_ago(value)
        return value

    @model_validator(mode="after")
    def _one_time(self) -> _Dated:
        if (self.date is None) == (self.ago is None):
            raise ValueError("give exactly one of 'date' or 'ago'")
        if self.clock is not None and not re.fullmatch(r"([2-9]|\d{2,})d", self.ago or ""):
            raise ValueError(
                "'clock' goes with an 'ago' of whole days, at least 2d (e.g. ago: 5d, clock: '09:30')"
            )
        return self

    def at(self, start: datetime) -> datetime:
        """The item's moment in Asia/Shanghai time."""
        if self.date is not None:
            fixed = self.date if self.date.tzinfo else self.date.replace(tzinfo=SHANGHAI)
            return fixed.astimezone(SHANGHAI)
        moment = (start - parse_ago(self.ago or "")).astimezone(SHANGHAI)
        if self.clock is None:
            return moment
        hour, minute = (int(part) for part in self.clock.split(":"))
        return moment.replace(hour=hour, minute=minute, second=0, microsecond=0)


Dated = TypeVar("Dated", bound=_Dated)


def paragraphs(body: str) -> list[str]:
    """Body text as paragraphs: one per non-blank line."""
    return [line.strip() for line in body.splitlines() if line.strip()]


class Attachment(_Entry):
    title: str
    file: str = Field(pattern=r"^[\w\-.]+\.(pdf|docx?|xlsx?|wps)$")


class PolicyDoc(_Dated):
    """A 政策文件 of the portal, with the metadata table real portals show."""

    policy: str = Field(description="id in yuqing/config/data/policies.yaml")
    seq: int = Field(ge=1, description="the number in the page's file name")
    title: str
    index_no: str
    topic: str
    issuer: str
    doc_number: str
    written: datetime
    validity: Validity
    body: str
    attachments: list[Attachment] = Field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/zwgk/zcwj/{self.written:%Y%m}/t{self.written:%Y%m%d}_{self.seq}.html"


class Interpretation(_Dated):
    """A 政策解读 page explaining one policy document."""

    policy: str
    seq: int = Field(ge=1)
    title: str
    index_no: str
    topic: str
    source: str
    form: str = "文字解读"
    body: str

    @model_validator(mode="after")
    def _fixed_date(self) -> Interpretation:
        if self.date is None:
            raise ValueError("an interpretation needs a fixed 'date': its URL carries it")
        return self

    @property
    def path(self) -> str:
        day = self.date or datetime(2022, 1, 1)
        return f"/zwgk/zcjd/{day:%Y%m}/t{day:%Y%m%d}_{self.seq}.html"


class NewsArticle(_Dated):
    """A news article, on the portal's 政务要闻 or on the local newspaper site."""

    id: int = Field(ge=1)
    site: Literal["portal", "paper"]
    title: str
    source: str
    author: str | None = None
    editor: str | None = None
    summary: str | None = None
    body: str

    @property
    def path(self) -> str:
        if self.site == "portal":
            return f"/xwzx/zwyw/content_{self.id}.html"
        return f"/hcrb/news/{self.id}.html"


class WeiboUser(_Entry):
    uid: int = Field(ge=1_000_000_000)
    screen_name: str
    followers: int = Field(ge=0)
    follows: int = Field(default=180, ge=0)
    statuses: int = Field(default=600, ge=0)
    verified_type: int = Field(default=-1, description="-1 none, 0 personal, 1 government, 3 media")
    verified_reason: str | None = None
    description: str = ""
    gender: Literal["m", "f"] = "m"

    @property
    def verified(self) -> bool:
        return self.verified_type >= 0


class WeiboPost(_Dated):
    key: str = Field(pattern=r"^[\w\-]+$", description="stable name; the numeric id is derived from it")
    user: str = Field(description="screen_name of a user in the file")
    text: str
    client: str = "iPhone客户端"
    region: str = "山东"
    reposts: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    likes: int = Field(default=0, ge=0)
    retweet_of: str | None = None
    deleted: bool = Field(default=False, description="deleted by its author: shows only inside reposts")

    @property
    def id(self) -> str:
        digest = int(hashlib.sha1(self.key.encode("utf-8")).hexdigest()[:12], 16)
        return str(4_850_000_000_000_000 + digest % 10**14)


class WeiboFile(_Entry):
    users: list[WeiboUser]
    posts: list[WeiboPost]


class BoardReply(_Dated):
    unit: str
    text: str


class BoardMessage(_Dated):
    """A 留言 of the 市民热线 message board; unanswered when it has no reply."""

    tid: int = Field(ge=1)
    title: str
    author: str
    category: Literal["投诉", "咨询", "建议", "求助", "表扬"]
    place: str
    text: str
    reply: BoardReply | None = None


class ForumReply(_Dated):
    author: str
    text: str


class ForumThread(_Dated):
    tid: int = Field(ge=1)
    title: str
    author: str
    text: str
    replies: list[ForumReply] = Field(default_factory=list)


class PortalFile(_Entry):
    policies: list[PolicyDoc]
    interpretations: list[Interpretation]


class NewsFile(_Entry):
    articles: list[NewsArticle]


class BoardFile(_Entry):
    messages: list[BoardMessage]


class ForumFile(_Entry):
    threads: list[ForumThread]


FileModel = TypeVar("FileModel", bound=_Entry)


def _load(name: str, model: type[FileModel], content_dir: Path) -> FileModel:
    path = content_dir / name
    try:
        return model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML ({exc})") from exc
    except ValidationError as exc:
        raise from_validation_error(path, exc) from exc


class SiteContent:
    """All content of the site with times fixed against one start moment."""

    def __init__(self, start: datetime, content_dir: Path = CONTENT_DIR) -> None:
        self.start = start.astimezone(SHANGHAI)
        self.content_dir = content_dir
        portal = _load("portal.yaml", PortalFile, content_dir)
        self.policies: list[PolicyDoc] = sorted(portal.policies, key=lambda p: p.at(self.start), reverse=True)
        self.interpretations: list[Interpretation] = sorted(
            portal.interpretations, key=lambda i: i.at(self.start), reverse=True
        )
        self.news: list[NewsArticle] = self._newest_first(_load("news.yaml", NewsFile, content_dir).articles)
        weibo = _load("weibo.yaml", WeiboFile, content_dir)
        self.users = {user.screen_name: user for user in weibo.users}
        self.posts: list[WeiboPost] = self._newest_first(weibo.posts)
        self.messages: list[BoardMessage] = self._newest_first(
            _load("board.yaml", BoardFile, content_dir).messages
        )
        self.threads: list[ForumThread] = self._newest_first(
            _load("forum.yaml", ForumFile, content_dir).threads
        )
        self._check_references()

    def _newest_first(self, items: list[Dated]) -> list[Dated]:
        return sorted(items, key=lambda item: item.at(self.start), reverse=True)

    def _check_references(self) -> None:
        keys = {post.key for post in self.posts}
        problems = [f"weibo {p.key}: unknown user {p.user!r}" for p in self.posts if p.user not in self.users]
        problems += [
            f"weibo {p.key}: retweets unknown post {p.retweet_of!r}"
            for p in self.posts
            if p.retweet_of and p.retweet_of not in keys
        ]
        problems += [
            f"board {m.tid}: reply before the message"
            for m in self.messages
            if m.reply and m.reply.at(self.start) <= m.at(self.start)
        ]
        problems += [
            f"forum {t.tid}: reply before the thread"
            for t in self.threads
            if any(r.at(self.start) <= t.at(self.start) for r in t.replies)
        ]
        policy_ids = {doc.policy for doc in self.policies}
        problems += [
            f"interpretation {i.seq}: unknown policy {i.policy!r}"
            for i in self.interpretations
            if i.policy not in policy_ids
        ]
        for label, values in (
            ("weibo key", [p.key for p in self.posts]),
            ("weibo id", [p.id for p in self.posts]),
            ("news id", [(a.site, a.id) for a in self.news]),
            ("board tid", [m.tid for m in self.messages]),
            ("forum tid", [t.tid for t in self.threads]),
            ("policy", [d.policy for d in self.policies]),
            ("policy page", [d.path for d in self.policies]),
            ("interpretation page", [i.path for i in self.interpretations]),
        ):
            seen: set[object] = set()
            for value in values:
                if value in seen:
                    problems.append(f"duplicate {label} {value!r}")
                seen.add(value)
        if problems:
            raise ConfigError(
                self.content_dir, "", "sample site content is inconsistent: " + "; ".join(problems)
            )

    def post(self, key: str) -> WeiboPost:
        return next(p for p in self.posts if p.key == key)

    def interpretation_for(self, policy_id: str) -> Interpretation | None:
        return next((i for i in self.interpretations if i.policy == policy_id), None)

    def policy_doc(self, policy_id: str) -> PolicyDoc | None:
        return next((d for d in self.policies if d.policy == policy_id), None)

    def news_of(self, site: str) -> list[NewsArticle]:
        return [article for article in self.news if article.site == site]

    def article(self, site: str, number: int) -> NewsArticle | None:
        return next((a for a in self.news if a.site == site and a.id == number), None)

    def last_reply_at(self, thread: ForumThread) -> datetime:
        return max([thread.at(self.start)] + [reply.at(self.start) for reply in thread.replies])
