"""Policy links: 文号 in any bracket style, titles, aliases, keyword similarity; crawled documents as entries."""

from __future__ import annotations

from datetime import datetime

import pytest

from analysis.policies import PolicyRegistry, normal_doc_number, policy_from_post
from workers.build import shipped_language, shipped_segmenter
from yuqing.schema import (
    GOV_DOC_NUMBER,
    GOV_INTERPRETATION,
    GOV_IS_INTERPRETATION,
    GOV_ISSUER,
    GOV_PUBLISHED,
    GOV_VALIDITY,
    GOV_WRITTEN,
    Policy,
    Post,
    Validity,
)

RENOVATION = Policy(
    id="heze-renovation-2023",
    title="菏泽市老旧小区改造三年行动实施方案",
    doc_number="菏政办发〔2023〕12号",
    department="菏泽市住房和城乡建设局",
    keywords=["老旧小区改造", "加装电梯", "雨污分流"],
    aliases=["老旧小区改造方案"],
)
RENTAL = Policy(
    id="heze-rental-2022",
    title="菏泽市保障性租赁住房管理办法",
    doc_number="菏政发[2022]5号",
    department="菏泽市住房和城乡建设局",
    keywords=["保障性租赁住房", "保租房", "租金"],
)
SCHOOLS = Policy(
    id="heze-enrolment-2024",
    title="菏泽市城区义务教育学校招生入学工作意见",
    department="菏泽市教育局",
    keywords=["招生入学", "学区划分", "义务教育"],
)


@pytest.fixture(scope="module")
def registry() -> PolicyRegistry:
    return PolicyRegistry(shipped_language(), [RENOVATION, RENTAL, SCHOOLS])


def linked(registry: PolicyRegistry, text: str) -> list[tuple[str, float]]:
    return [(link.id, link.score) for link in registry.link(text, shipped_segmenter().segment_post(text).all_words)]


@pytest.mark.parametrize(
    ("text", "policy_id", "min_score"),
    [
        ("根据菏政办发〔2023〕12号文件，我们小区应该改造", RENOVATION.id, 1.0),
        ("按照菏政办发[2023]第12号，今年要完成改造", RENOVATION.id, 1.0),
        ("菏政办发（2023）12号说的加装电梯呢", RENOVATION.id, 1.0),
        ("菏政发〔2022〕5号规定了保租房的租金标准", RENTAL.id, 1.0),
        ("《菏泽市老旧小区改造三年行动实施方案》出台了", RENOVATION.id, 0.95),
        ("菏泽市保障性租赁住房管理办法什么时候执行", RENTAL.id, 0.95),
        ("老旧小区改造方案说好的加装电梯呢", RENOVATION.id, 0.85),
        ("小区加装电梯和雨污分流什么时候开始", RENOVATION.id, 0.3),
        ("保租房租金太贵了", RENTAL.id, 0.3),
        ("学区划分不合理，招生入学不公平", SCHOOLS.id, 0.3),
    ],
)
def test_links_a_post_to_its_policy(registry: PolicyRegistry, text: str, policy_id: str, min_score: float) -> None:
    links = linked(registry, text)
    assert links, f"no link for {text}"
    assert links[0][0] == policy_id
    assert min_score <= links[0][1] <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "今天天气不错，去公园走走",
        "菏政办发〔2019〕3号",  # a 文号 the registry does not hold
        "电梯坏了",  # one generic word is not enough
    ],
)
def test_unrelated_posts_link_nothing(registry: PolicyRegistry, text: str) -> None:
    assert linked(registry, text) == []


def test_named_mention_outranks_keyword_similarity(registry: PolicyRegistry) -> None:
    text = "菏政发〔2022〕5号出台后，老旧小区改造加装电梯也提上日程"
    links = linked(registry, text)
    assert links[0][0] == RENTAL.id
    assert links[0][1] > dict(links)[RENOVATION.id]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("菏政办发[2023]12号", "菏政办发〔2023〕12号"),
        ("菏政办发（2023）第012号", "菏政办发〔2023〕12号"),
        ("鲁政字 〔2021〕 3 号", "鲁政字〔2021〕3号"),
        ("没有文号", None),
    ],
)
def test_doc_numbers_have_one_spelling(raw: str, normal: str | None) -> None:
    assert normal_doc_number(raw) == normal


def gov_post(**extra: object) -> Post:
    return Post(
        url="http://www.heze.gov.cn/art/2024/3/1/art_1.html", platform="gov", source="heze_gov",
        title="菏泽市城市更新行动实施方案", text="为推进城市更新，制定本方案。",
        published_at=datetime(2024, 3, 1, 9, 0), extra=dict(extra),
    )


def test_crawled_policy_document_becomes_a_registry_entry() -> None:
    post = gov_post(**{
        GOV_DOC_NUMBER: "菏政办字[2024]8号", GOV_ISSUER: "菏泽市人民政府办公室", GOV_WRITTEN: "2024年02月26日",
        GOV_PUBLISHED: "2024-03-01", GOV_VALIDITY: "现行有效", GOV_INTERPRETATION: "http://www.heze.gov.cn/jd/1.html",
    })
    policy = policy_from_post(post, shipped_language())
    assert policy is not None
    assert policy.id == post.id
    assert policy.doc_number == "菏政办字〔2024〕8号"
    assert policy.department == "菏泽市人民政府办公室"
    assert policy.written_at is not None and policy.written_at.date().isoformat() == "2024-02-26"
    assert policy.published_at is not None and policy.published_at.date().isoformat() == "2024-03-01"
    assert policy.validity is Validity.CURRENT
    assert policy.interpretation_url == "http://www.heze.gov.cn/jd/1.html"
    assert "城市更新" in policy.keywords
    registry = PolicyRegistry(shipped_language())
    registry.add(policy)
    assert linked(registry, "菏政办字〔2024〕8号来了")[0][0] == post.id


@pytest.mark.parametrize(
    ("extra", "validity"),
    [({GOV_DOC_NUMBER: "菏政发〔2010〕1号", GOV_VALIDITY: "已废止"}, Validity.REPEALED),
     ({GOV_DOC_NUMBER: "菏政发〔2010〕2号", GOV_VALIDITY: "已修改"}, Validity.AMENDED),
     ({GOV_DOC_NUMBER: "菏政发〔2010〕3号"}, Validity.UNKNOWN)],
)
def test_validity_is_read_from_the_portal(extra: dict, validity: Validity) -> None:
    policy = policy_from_post(gov_post(**extra), shipped_language())
    assert policy is not None and policy.validity is validity


def test_interpretations_and_other_posts_are_not_policies() -> None:
    assert policy_from_post(gov_post(**{GOV_IS_INTERPRETATION: True, GOV_DOC_NUMBER: "菏政发〔2010〕1号"}), shipped_language()) is None
    assert policy_from_post(gov_post(), shipped_language()) is None  # news on a government portal: no 文号, no 有效性
    weibo = Post(url="https://weibo.com/1/2", platform="weibo", source="weibo", text="菏政发〔2022〕5号")
    assert policy_from_post(weibo, shipped_language()) is None


def test_same_document_from_the_file_and_the_crawl_is_one_entry() -> None:
    registry = PolicyRegistry(shipped_language(), [RENTAL])
    crawled = policy_from_post(gov_post(**{GOV_DOC_NUMBER: "菏政发〔2022〕5号", GOV_VALIDITY: "现行有效"}), shipped_language())
    assert crawled is not None
    merged = registry.add(crawled)
    assert merged.id == RENTAL.id
    assert merged.url == crawled.url  # what the file lacked, the crawl adds
    assert len(registry) == 1


def test_a_policy_learned_by_a_running_enricher_is_linked_by_its_keywords_as_by_a_fresh_one() -> None:
    # The enricher hands the registry only the words some index looks up (`Enricher._named`): the words of a policy
    # that joins later must be among them from then on.
    from tests.enrich_golden import fresh_enricher

    charging = Policy(id="policy:charging", title="关于加快电动车充电桩建设的通知", keywords=["电动车充电桩", "充电难"])
    complaint = Post(id="weibo:charging", url="https://example.org/weibo/charging", platform="weibo",
                     source="weibo_source", published_at=datetime(2024, 3, 2), text="小区电动车充电桩太少了，充电难")
    running = fresh_enricher()
    assert "policy:charging" not in [link.id for link in running.annotate(complaint).post.policies]
    running.learn_policies([charging])
    fresh = fresh_enricher()
    fresh.learn_policies([charging])
    linked_by_running = running.annotate(complaint).post.policies
    assert "policy:charging" in [link.id for link in linked_by_running]
    assert linked_by_running == fresh.annotate(complaint).post.policies
