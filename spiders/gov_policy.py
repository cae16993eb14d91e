"""Kind `gov_policy`: 政府信息公开 / 政策文件 listings and document pages with their metadata table.

Portals show a table above the document: 索引号, 主题分类, 发文机构, 发文字号, 成文日期, 发布日期,
有效性 (labels vary: 发布机构, 文号, 效力状态 ...). The values go to Post.extra under the schema's
GOV_* keys; attachments (PDF, Word, OFD ...) and the link to the document's 政策解读 are kept too.
Listing parameters are those of `news`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field
from scrapy.http import Response

from spiders.extract import Article
from spiders.listing import links, parse_tree
from spiders.news import ListingParams, ListingSpider
from spiders.parsing import clean_inline, parse_datetime
from spiders.registry import register_kind
from yuqing.schema import (
    GOV_ATTACHMENTS,
    GOV_DOC_NUMBER,
    GOV_INDEX_NO,
    GOV_INTERPRETATION,
    GOV_IS_INTERPRETATION,
    GOV_ISSUER,
    GOV_PUBLISHED,
    GOV_TOPIC,
    GOV_VALIDITY,
    GOV_WRITTEN,
    Platform,
    Validity,
)

# Each schema key with the labels portals use for it, most specific first.
METADATA_LABELS: dict[str, tuple[str, ...]] = {
    GOV_INDEX_NO: ("索引号",),
    GOV_TOPIC: ("主题分类", "主题类别", "分类"),
    GOV_ISSUER: ("发文机构", "发布机构", "发文机关", "发文单位", "制发机关", "发布单位"),
    GOV_DOC_NUMBER: ("发文字号", "文号", "发文号"),
    GOV_WRITTEN: ("成文日期", "成文时间", "印发日期"),
    GOV_PUBLISHED: ("发布日期", "发布时间", "公开日期", "公布日期"),
    GOV_VALIDITY: ("有效性", "效力状态", "时效性", "是否有效"),
    "标题": ("标题", "文件名称", "名称"),
}
_ALL_LABELS = sorted({label for labels in METADATA_LABELS.values() for label in labels}, key=len, reverse=True)
_LABEL_PATTERN = "|".join(re.escape(label) for label in _ALL_LABELS)
_LABEL_AT_START = re.compile(rf"^({_LABEL_PATTERN})\s*[:：]?\s*")
# "文　　号：" and "索 引 号" are padded to align the table: the padding is not part of the label.
_SPACED_LABEL = re.compile(r"^((?:[\u4e00-\u9fff]\s*){2,6}?)(?=[:：]|$)")
_SPLIT_LABELS = re.compile(rf"({_LABEL_PATTERN})\s*[:：]\s*")
_ATTACHMENT = re.compile(r"\.(?:pdf|docx?|xlsx?|wps|ofd|zip|rar|et|txt)(?:\?|$)", re.I)
_INTERPRETATION_TEXT = re.compile(r"解读")
_VISIBLE_TEXT = "//body//text()[not(ancestor::script) and not(ancestor::style)]"


def metadata_table(html: str) -> dict[str, str]:
    """The document's metadata by schema key, from the first place each label appears.

    Works on the page's text pieces in order, which covers the three layouts portals use:
    <td>索引号</td><td>value</td>, <span>索引号：</span>value, and <p>索引号：value 文号：value</p>.
    """
    tree = parse_tree(html)
    if tree is None:
        return {}
    pieces = [_SPACED_LABEL.sub(lambda m: re.sub(r"\s", "", m.group(1)), clean_inline(piece))
              for piece in tree.xpath(_VISIBLE_TEXT)]
    pieces = [piece for piece in pieces if piece]
    by_label = {label: key for key, labels in METADATA_LABELS.items() for label in labels}
    found: dict[str, str] = {}
    for number, piece in enumerate(pieces):
        match = _LABEL_AT_START.match(piece)
        if not match or len(piece) > 200:
            continue
        # "成文日期：… 发布日期：…" in one piece: split at every label followed by a colon.
        parts = _SPLIT_LABELS.split(f"{match.group(1)}：{piece[match.end():]}")
        pairs = list(zip(parts[1::2], parts[2::2], strict=True))
        for position, (label, value) in enumerate(pairs):
            value = value.strip()
            last = position == len(pairs) - 1
            if not value and last and number + 1 < len(pieces) and not _LABEL_AT_START.match(pieces[number + 1]):
                value = pieces[number + 1]
            key = by_label[label]
            if value and key not in found and len(value) <= 100:
                found[key] = value
    return found


def validity_of(value: str | None, title: str | None = None) -> Validity:
    """现行有效 / 已废止 / 已修改 from the table's wording, or a 废止 mark in the title."""
    words = f"{value or ''} {title or ''}"
    if re.search(r"废止|失效|无效|废除", words):
        return Validity.REPEALED
    if re.search(r"修改|修订|修正", value or ""):
        return Validity.AMENDED
    if value and re.search(r"有效|现行", value):
        return Validity.CURRENT
    return Validity.UNKNOWN


def attachments_and_interpretation(html: str, url: str) -> tuple[list[dict[str, str]], str | None]:
    """Attachment links ({title, url}) and the URL of the 政策解读 page, if the document links one."""
    files: dict[str, str] = {}
    interpretation = None
    for link, text in links(html, url):
        if _ATTACHMENT.search(link):
            files.setdefault(link, text or link.rsplit("/", 1)[-1])
        elif interpretation is None and _INTERPRETATION_TEXT.search(text) and len(text) > 4 and link != url:
            interpretation = link
    return [{"title": title, "url": link} for link, title in files.items()], interpretation


class GovPolicyParams(ListingParams):
    max_pages: int = Field(default=5, ge=1, description="list pages per start URL, the first included")


@register_kind("gov_policy")
class GovPolicySpider(ListingSpider):
    platform = Platform.GOV
    params_model = GovPolicyParams

    async def parse_item(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        extracted = await self.page_article(response)
        if extracted is None:
            return
        html, article = extracted
        fields = policy_document(html, response.url, article)
        extra = fields["extra"]
        if not (extra.get(GOV_INDEX_NO) or extra.get(GOV_DOC_NUMBER) or extra.get(GOV_IS_INTERPRETATION)):
            self.problem("no_metadata_table", response.url)
        yield self.post_item(self.item_url(response), **fields)


def policy_document(html: str, url: str, article: Article) -> dict[str, Any]:
    """Post fields of a policy document page: the metadata table over the article heuristics."""
    table = metadata_table(html)
    title = table.pop("标题", None) or article.title
    files, interpretation = attachments_and_interpretation(html, url)
    extra: dict[str, Any] = dict(table)
    validity = validity_of(table.get(GOV_VALIDITY), title)
    if GOV_VALIDITY in table or validity is not Validity.UNKNOWN:
        extra[GOV_VALIDITY] = validity.value
    if files:
        extra[GOV_ATTACHMENTS] = files
    if interpretation:
        extra[GOV_INTERPRETATION] = interpretation
    if title and "解读" in title:
        extra[GOV_IS_INTERPRETATION] = True
    published = parse_datetime(table.get(GOV_PUBLISHED, "")) or parse_datetime(table.get(GOV_WRITTEN, ""))
    # The table gives the day; the page header often the minute of the same day.
    if published is None or (article.published_at and article.published_at.date() == published.date()):
        published = article.published_at or published
    return {"title": title, "text": article.text, "published_at": published,
            "published_year_inferred": published is article.published_at and article.published_year_inferred,
            "author": {"name": table.get(GOV_ISSUER) or article.source_name}, "extra": extra}

