"""Event titles a person would write, and places where it happened kept apart from where the authors live."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis.enrich import Analyzer
from analysis.titles import MAX_TITLE_CHARS, HeadlineKind, first_clause, headline_of, shorten
from tests.test_analysis_events import INCIDENT, START, post
from yuqing.schema import Author, Post


@pytest.mark.parametrize(("written", "short"), [
    ("记者探访｜牡丹区化肥厂家属院改造停工数月 路面挖开未回填 八旬老人夜间摔伤", "牡丹区化肥厂家属院改造停工数月"),
    ("化肥厂家属院改造停工几个月，老人摔伤，到底谁来管？", "化肥厂家属院改造停工几个月，老人摔伤"),
    ("市住建局：全市老旧小区改造项目已开工百余个", "全市老旧小区改造项目已开工百余个"),
    ("丹阳街道两个老旧小区改造完工 居民：楼道亮了，心里也亮堂了", "丹阳街道两个老旧小区改造完工"),
    ("“惠享菏泽”消费季第三批消费券今日开抢 总额1000万元", "“惠享菏泽”消费季第三批消费券今日开抢"),
    ("关于进一步做好新冠肺炎疫情防控信息发布工作的通知", "进一步做好新冠肺炎疫情防控信息发布工作"),
    ("小区门口路灯损坏", "小区门口路灯损坏"),
])
def test_titles_are_cut_at_clause_boundaries(written: str, short: str) -> None:
    assert shorten(written) == short
    assert len(short) <= MAX_TITLE_CHARS


def test_a_single_clause_too_long_is_cut_and_marked() -> None:
    short = shorten("菏泽市2022年城镇老旧小区改造工作实施方案")
    assert short is not None and len(short) == MAX_TITLE_CHARS and short.endswith("…")


def test_each_post_offers_its_title_its_headline_its_topic_or_its_first_clause() -> None:
    assert headline_of("化肥厂家属院供水管道漏水，单元门口长期积水", "") == ("化肥厂家属院供水管道漏水", HeadlineKind.TITLE)
    assert headline_of(None, "【全市首批#保障性租赁住房#项目集中签约】6个项目现场签约") == (
        "全市首批保障性租赁住房项目集中签约", HeadlineKind.TITLE)
    assert headline_of(None, "太气人了[怒] #牡丹区一老旧小区改造停工数月#") == (
        "牡丹区一老旧小区改造停工数月", HeadlineKind.TOPIC)
    assert headline_of(None, "@菏泽发布 我们小区路灯坏了三个月了[怒]，没人修。都说了好几次") == (
        "我们小区路灯坏了三个月了，没人修", HeadlineKind.CLAUSE)
    assert first_clause("各县区人民政府，市政府各部门：\n现将方案印发给你们，请认真贯彻执行。") == "现将方案印发给你们，请认真贯彻执行"
    assert headline_of(None, "顶") is None


def test_the_incident_gets_a_headline_from_its_own_text_that_stays_as_posts_join(shipped_analyzer: Analyzer) -> None:
    board = post(310, 25, "化肥厂家属院改造停工几个月了，老人摔进沟里，打12345也没人管", platform="board",
                 title="化肥厂家属院改造停工几个月，老人摔伤，到底谁来管？")
    stream = sorted([*INCIDENT, board], key=lambda p: p.when)
    titles = []
    for item in stream:
        shipped_analyzer.enrich(item)
        titles += [e.title for e in shipped_analyzer.changed_events() if not e.merged_into]
    event = max((e for e in shipped_analyzer.clusterer.events.values() if not e.merged_into), key=lambda e: e.size)
    shown = event.to_event()
    written = {p.title for p in stream if p.title}
    assert shown.title in {shorten(t) for t in written} | {"牡丹区一老旧小区改造停工数月"}
    assert len(shown.title) <= MAX_TITLE_CHARS
    assert shown.label.startswith("化肥厂家属院")  # the keywords stay for search
    # Stable: once the written titles are in, more angry short posts do not change it.
    for n, text in enumerate(["太气人了，有人管吗", "心疼老人家", "还是那条沟，还是那块木板"]):
        shipped_analyzer.enrich(post(330 + n, 90 + n, f"化肥厂家属院{text}[怒]"))
    assert event.to_event().title == shown.title
    assert len(set(titles[-3:])) == 1


def test_an_event_without_candidates_is_named_by_its_estate_and_action(shipped_analyzer: Analyzer) -> None:
    item = shipped_analyzer.enrich(post(340, 0, "化肥厂家属院停工"))
    event = {e.id: e for e in shipped_analyzer.changed_events()}[item.event_id]
    assert event.title and event.title.startswith("化肥厂家属院") and len(event.title) <= MAX_TITLE_CHARS


def test_places_are_where_it_happened_and_the_authors_home_is_kept_apart(shipped_analyzer: Analyzer) -> None:
    # Accounts named after their home county write about an estate in 牡丹区.
    writers = ["曹县汉服小姐姐", "单县羊汤爱好者", "菏城民生"]
    stream = [
        Post(id=f"weibo:{350 + n}", url=f"https://example.org/weibo/{350 + n}", platform="weibo",
             source="weibo_source", author=Author(name=name), published_at=START + timedelta(minutes=n),
             text=f"牡丹区西城街道化肥厂家属院的路挖开几个月没人管，老人摔进沟里了[怒]{'还有人管吗' * n}")
        for n, name in enumerate(writers)
    ]
    out = [shipped_analyzer.enrich(p) for p in stream]
    assert out[0].author_places == ["曹县"] and out[1].author_places == ["单县"] and out[2].author_places == []
    assert all(not {"曹县", "单县"} & set(p.places) for p in out)
    event = {e.id: e for e in shipped_analyzer.changed_events()}[out[0].event_id]
    assert {p.event_id for p in out} == {event.id}
    assert event.places[0] == "化肥厂家属院"
    assert "牡丹区" in event.places or "西城街道" in event.places
    assert not {"曹县", "单县"} & set(event.places)


def test_an_authors_places_are_found_again_once_the_dictionary_has_grown() -> None:
    # Author names are looked up once per name; a policy learned later whose keyword runs across the county's name
    # (曹县汉服) splits the name otherwise, and a post then gets what a freshly started worker would give it.
    from tests.enrich_golden import fresh_enricher
    from yuqing.schema import Policy

    enricher = fresh_enricher()

    def by_the_same_author(n: int) -> Post:
        return Post(id=f"weibo:{360 + n}", url=f"https://example.org/weibo/{360 + n}", platform="weibo",
                    source="weibo_source", author=Author(name="曹县汉服小姐姐"), published_at=START,
                    text="今天去看了灯会，人很多")

    assert enricher.annotate(by_the_same_author(0)).post.author_places == ["曹县"]
    enricher.learn_policies([Policy(id="policy:hanfu", title="关于扶持汉服产业发展的意见", keywords=["曹县汉服"])])
    found = enricher.annotate(by_the_same_author(1)).post.author_places
    fresh = fresh_enricher()
    fresh.learn_policies([Policy(id="policy:hanfu", title="关于扶持汉服产业发展的意见", keywords=["曹县汉服"])])
    assert found == fresh.annotate(by_the_same_author(1)).post.author_places == []
