"""Events on a realistic stream: reprints collapse onto the earliest original, two events on one policy
stay apart, ids survive a restart, merges fold the smaller event into the larger."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import analysis.events as events_module
from analysis.enrich import Analyzer
from analysis.events import (
    FINGERPRINT_BITS,
    KEY_BLOCKS,
    EventClusterer,
    EventState,
    Fingerprint,
    Postings,
    PostTraits,
    anchors_of,
    fingerprint_keys,
    in_shared_zone,
    simhash,
    simhashes,
)
from stores.analysis_state import AnalysisStateStore
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config.datafiles import load_policies, load_watchlists
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import BOARD_PLACE, SHANGHAI, EnrichedPost, Policy, Post

START = datetime(2026, 6, 1, 9, 0)
RENOVATION = Policy(
    id="heze-renovation-2023", title="菏泽市老旧小区改造三年行动实施方案", doc_number="菏政办发〔2023〕12号",
    department="菏泽市住房和城乡建设局", keywords=["老旧小区改造", "加装电梯", "屋面防水"],
)
ARTICLE = (
    "近日，牡丹区何楼街道幸福小区多名居民反映，小区在老旧小区改造中更换的屋面防水层出现大面积漏水，"
    "顶楼住户家中天花板发霉脱落。记者实地走访发现，小区三号楼、五号楼楼道墙面渗水明显。"
    "对此，市住建局相关负责人表示，已责成施工单位在一周内完成返修，并将对全市老旧小区改造项目开展质量排查。"
)


def post(n: int, minutes: int, text: str, platform: str = "weibo", title: str | None = None, **extra) -> Post:
    return Post(id=f"{platform}:{n}", url=f"https://example.org/{platform}/{n}", platform=platform,
                source=f"{platform}_source", title=title, text=text,
                published_at=START + timedelta(minutes=minutes), extra=extra)


STREAM = [
    post(1, 0, "牡丹区何楼街道幸福小区老旧小区改造后楼顶漏水严重，家里天花板都泡了，找了社区和市住建局都没人管[怒]"),
    post(2, 20, "我们牡丹区何楼街道幸福小区也是，老旧小区改造刚做完屋顶就漏水，下雨天家里接了好几个盆"),
    post(3, 30, "曹县青菏街道老旧小区改造工程停工两个月了，路面挖开没人管，老人出门都困难"),
    post(4, 60, ARTICLE, platform="news", title="幸福小区改造后屋顶漏水 住建部门：一周内返修"),
    post(5, 90, "来源：菏泽日报 " + ARTICLE + " 责任编辑：王某", platform="news", title="牡丹区一小区改造后漏水"),
    post(6, 120, "曹县青菏街道那个老旧小区改造停工到现在，施工队都撤了，到底什么时候复工？", platform="board"),
    post(7, 150, ARTICLE.replace("近日，", "日前，") + "（完）", platform="news", title="菏泽：小区改造后漏水将返修"),
    post(8, 180, "菏泽牡丹花会开幕，今年游客特别多，牡丹园里拍照太美了[心]"),
    post(9, 200, "曹县青菏街道老旧小区改造停工，路面挖开几个月了，什么时候复工有人管吗"),
]


@pytest.fixture()
def analyzer(tmp_path: Path) -> Analyzer:
    analyzer = Analyzer(shipped_language(), [RENOVATION], load_watchlists(DEFAULT_DATA / "watchlists.yaml"),
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(tmp_path / "analysis.sqlite3"))
    yield analyzer
    analyzer.close()


def run(analyzer: Analyzer, posts: list[Post]) -> dict[int, EnrichedPost]:
    return {int(p.id.split(":")[1]): analyzer.enrich(p) for p in posts}


def test_reprints_link_to_the_earliest_original_and_join_its_event(analyzer: Analyzer) -> None:
    out = run(analyzer, STREAM)
    assert out[4].reprint_of is None
    assert out[5].reprint_of == "news:4"
    assert out[7].reprint_of == "news:4"
    assert out[5].extra["转载自"] == "news:4"
    assert out[5].event_id == out[7].event_id == out[4].event_id
    assert out[1].reprint_of is None and out[2].reprint_of is None  # similar, but not copies


def test_copies_crawled_before_their_original_are_relinked_when_it_arrives(open_analysis_state) -> None:
    first = Analyzer(shipped_language(), [RENOVATION], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), open_analysis_state())
    copies = [first.enrich(STREAM[6]), first.enrich(STREAM[4])]  # news 7, then 5: both published after news 4
    assert [c.reprint_of for c in copies] == [None, None]
    # 5 is older than 7: 7 is its copy, until 4 arrives.
    assert [(link.post_id, link.reprint_of) for link in first.take_relinked()] == [("news:7", "news:5")]
    original = first.enrich(STREAM[3])
    assert original.reprint_of is None
    assert sorted((link.post_id, link.reprint_of) for link in first.take_relinked()) == [
        ("news:5", "news:4"), ("news:7", "news:4")]
    assert first.take_relinked() == []  # taken once
    events = {e.id: e for e in first.changed_events() if not e.merged_into}
    assert len(events) == 1
    (event,) = events.values()
    assert event.size == 3 and event.reprints == 2  # one original plus two reprints
    assert original.event_id == event.id
    first.close()
    second = Analyzer(shipped_language(), [RENOVATION], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), open_analysis_state())
    assert second.enrich(STREAM[6]).reprint_of == "news:4"  # a re-crawl of the copy keeps the new link
    second.close()


def test_a_weibo_copying_an_articles_first_paragraph_is_its_reprint_in_either_order(tmp_path: Path) -> None:
    lead, rest = ARTICLE.split("记者实地走访发现")
    article = post(20, 0, f"{lead}\n记者实地走访发现{rest}", platform="news", title="幸福小区改造后屋顶漏水")
    weibo = post(21, 30, f"{lead}（来源：菏泽日报）")
    for order in ([article, weibo], [weibo, article]):
        analyzer = Analyzer(shipped_language(), [RENOVATION], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()))
        out = {p.id: analyzer.enrich(p) for p in order}
        relinked = {link.post_id: link.reprint_of for link in analyzer.take_relinked()}
        assert (out[weibo.id].reprint_of or relinked.get(weibo.id)) == article.id
        assert out[article.id].reprint_of is None
        assert out[weibo.id].event_id == out[article.id].event_id
        analyzer.close()


def test_an_articles_first_paragraph_is_remembered_across_a_restart(open_analysis_state) -> None:
    lead, rest = ARTICLE.split("记者实地走访发现")
    gazetteer = load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter())
    first = Analyzer(shipped_language(), [RENOVATION], [], gazetteer, open_analysis_state())
    first.enrich(post(20, 0, f"{lead}\n记者实地走访发现{rest}", platform="news", title="幸福小区改造后屋顶漏水"))
    first.close()
    second = Analyzer(shipped_language(), [RENOVATION], [], gazetteer, open_analysis_state())
    assert second.enrich(post(21, 30, f"{lead}（来源：菏泽日报）")).reprint_of == "news:20"
    second.close()


def test_state_written_before_leads_were_kept_still_opens(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "analysis.sqlite3")
    old.executescript("CREATE TABLE posts (id TEXT PRIMARY KEY, at TEXT NOT NULL, event_id TEXT, reprint_of TEXT,"
                      " fingerprint INTEGER, original TEXT);"
                      "INSERT INTO posts VALUES ('news:1', '2026-06-01T09:00:00+08:00', 'evt-1', NULL, 5, 'news:1');")
    old.close()
    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    fingerprint = store.fingerprint("news:1")
    assert fingerprint is not None and fingerprint.lead is None and fingerprint.event_id == "evt-1"
    assert store.thread("news:1", START.replace(tzinfo=SHANGHAI)) == ("evt-1", fingerprint.when)
    assert store.fingerprints_keyed(fingerprint_keys(5), []) == [fingerprint]
    store.close()


def test_state_with_indexes_of_bands_or_keys_opens_without_them_and_finds_its_fingerprints_by_key(tmp_path: Path) -> None:
    """State written when near copies were looked up in SQLite indexes (of 16-bit bands, then of the keys) is found by
    the keys held in memory, and the indexes are dropped: their upkeep was most of a save's cost."""
    import sqlite3

    from stores.analysis_state import SCHEMA, key_of

    old = sqlite3.connect(tmp_path / "analysis.sqlite3")
    old.executescript(SCHEMA + "".join(
        f"CREATE INDEX posts_{column}_band{band} ON posts ((({column} >> {band * 16}) & 65535)) WHERE {column} IS NOT NULL;"
        for column in ("fingerprint", "lead") for band in range(4)) + "".join(
        f"CREATE INDEX posts_{column}_key{pair} ON posts ({key_of(column, pair)}) WHERE {column} IS NOT NULL;"
        for column in ("fingerprint", "lead") for pair in range(10)))
    old.execute("INSERT INTO posts VALUES ('news:1', '2026-06-01T09:00:00+08:00', 'evt-1', NULL, -5, 'news:1', 9, NULL)")
    old.commit()
    old.close()
    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    fingerprint = store.fingerprint("news:1")
    assert fingerprint is not None and fingerprint.value == (1 << 64) - 5 and fingerprint.lead == 9
    assert store.fingerprints_keyed(fingerprint_keys(fingerprint.value ^ 0b111), []) == [fingerprint]
    assert store.fingerprints_keyed([], fingerprint_keys(9 ^ (1 << 63))) == [fingerprint]
    every_bit = (1 << 64) - 1  # every block differs: no key shared
    assert store.fingerprints_keyed(fingerprint_keys(fingerprint.value ^ every_bit), fingerprint_keys(9 ^ every_bit)) == []
    indexes = {name for name, in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not any("band" in name or "_key" in name for name in indexes)
    store.close()


def test_a_key_lookup_is_one_statement_whatever_a_batch_asks(tmp_path: Path) -> None:
    """SQLite keeps the last 128 statements it prepared, each the size of its text: a text with a batch's
    thousands of keys in it, another each batch, held 100 MB in the events stage."""
    statements: list[tuple[str, int]] = []

    class Watched(AnalysisStateStore):
        def _fingerprints(self, where: str, params: Sequence[object]) -> list[Fingerprint]:
            statements.append((where, len(params)))
            return super()._fingerprints(where, params)

    store = Watched(tmp_path / "analysis.sqlite3")
    store.fingerprints_keyed(fingerprint_keys(1), [])
    store.fingerprints_keyed([key for value in range(2, 2000) for key in fingerprint_keys(value)], fingerprint_keys(3))
    assert len(statements) == 2 and statements[0] == statements[1]
    store.close()


def test_the_batch_lookups_by_post_id_are_one_statement_text_whatever_a_batch_asks(tmp_path: Path) -> None:
    """The same for `assigned_many`, `fingerprints_of` and `threads`: a text with one mark per id, one length per
    batch size, filled SQLite's cache of prepared statements with up to 128 texts of 500 marks."""
    texts: set[str] = set()

    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    connection = store.db

    class Recording:
        def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
            texts.add(sql)
            return connection.execute(sql, params)

    store.db = Recording()  # type: ignore[assignment]
    asked: list[set[str]] = []
    for size in (1, 7, 600):
        texts.clear()
        ids = [f"weibo:{n}" for n in range(size)]
        store.assigned_many(ids)
        store.fingerprints_of(ids)
        store.threads(ids, None)
        asked.append({text for text in texts if "FROM posts" in text})
    assert len(asked[0]) == 4 and asked[0] == asked[1] == asked[2], asked
    connection.close()


def test_two_fingerprints_within_3_bits_share_a_key_and_far_ones_seldom_do() -> None:
    import random

    assert sum(KEY_BLOCKS) == FINGERPRINT_BITS
    rng = random.Random(5)
    for _ in range(2000):
        value = rng.getrandbits(64)
        near = value
        for bit in rng.sample(range(64), 3):
            near ^= 1 << bit
        assert set(fingerprint_keys(value)) & set(fingerprint_keys(near))
    for first, second in itertools.combinations(range(64), 2):  # every pair of bits, across every block's edge
        value = rng.getrandbits(64)
        assert set(fingerprint_keys(value)) & set(fingerprint_keys(value ^ 1 << first ^ 1 << second))
    strangers = [rng.getrandbits(64) for _ in range(2000)]
    shared = sum(bool(set(fingerprint_keys(a)) & set(fingerprint_keys(b))) for a, b in itertools.pairwise(strangers))
    assert shared == 0  # odds of about 2 in 10 million a pair


def test_two_events_on_one_policy_stay_apart(analyzer: Analyzer) -> None:
    out = run(analyzer, STREAM)
    leak = {out[i].event_id for i in (1, 2, 4, 5, 7)}
    halt = {out[i].event_id for i in (3, 6, 9)}
    assert len(leak) == 1 and len(halt) == 1
    assert leak != halt
    assert out[8].event_id not in leak | halt
    events = {e.id: e for e in analyzer.changed_events()}
    leak_event, halt_event = events[leak.pop()], events[halt.pop()]
    assert leak_event.size == 5
    assert leak_event.platforms == {"weibo": 2, "news": 3}
    assert leak_event.first_seen == out[1].published_at and leak_event.last_seen == out[7].published_at
    assert leak_event.representative_posts[0] == "weibo:1"
    assert leak_event.sentiment_mix.get("negative", 0) >= 1
    assert any(p in ("幸福小区", "何楼街道", "牡丹区") for p in leak_event.places)
    assert "青菏街道" in halt_event.places
    assert RENOVATION.id in leak_event.policies and RENOVATION.id in halt_event.policies
    assert "漏水" in leak_event.keywords and "停工" in halt_event.keywords
    assert analyzer.changed_events() == []  # nothing changed since


def test_event_ids_survive_a_restart_and_redelivery_counts_once(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    watchlists = load_watchlists(DEFAULT_DATA / "watchlists.yaml")
    first = Analyzer(shipped_language(), [RENOVATION], watchlists, load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    out = run(first, STREAM)
    first.close()

    second = Analyzer(shipped_language(), [RENOVATION], watchlists, load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    again = second.enrich(STREAM[0])  # redelivered after the restart
    later = second.enrich(post(10, 240, "牡丹区何楼街道幸福小区老旧小区改造漏水的事，返修了吗？还在漏水"))
    copy = second.enrich(post(11, 260, "转载 " + ARTICLE, platform="news", title="转：小区改造后漏水"))
    events = {e.id: e for e in second.changed_events()}
    second.close()
    assert again.event_id == out[1].event_id
    assert later.event_id == out[1].event_id
    assert copy.reprint_of == "news:4" and copy.event_id == out[4].event_id
    assert events[out[1].event_id].size == 7  # five before, two new; the redelivery did not count


def test_crawled_policies_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    first = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    first.register_policy(RENOVATION)
    first.close()
    second = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    linked = second.enrich(post(1, 0, "菏政办发〔2023〕12号说的屋面防水怎么还漏"))
    second.close()
    assert [link.id for link in linked.policies] == [RENOVATION.id]
    assert "市住建局" in linked.departments  # from the policy's issuing department


def traits(n: int, minutes: int, terms: list[str]) -> PostTraits:
    return PostTraits(id=f"p{n}", when=START + timedelta(minutes=minutes),
                      keywords=[(t, 1.0) for t in terms], platform="weibo")


def test_a_bridging_post_merges_two_close_events_into_the_larger() -> None:
    clusterer = EventClusterer()
    a = clusterer.assign(traits(1, 0, ["暴雨", "积水", "中华路", "地下通道"]))
    clusterer.assign(traits(2, 5, ["暴雨", "积水", "中华路", "地下通道"]))
    b = clusterer.assign(traits(3, 10, ["地下通道", "车辆", "被困", "救援", "消防"]))
    assert a != b
    bridge = clusterer.assign(traits(4, 15, ["暴雨", "积水", "中华路", "地下通道", "车辆", "被困", "救援", "消防"]))
    assert bridge == a  # the larger event survives
    events = {e.id: e for e in clusterer.take_changed()}
    assert events[b].merged_into == a
    assert events[a].size == 4
    assert clusterer.assign(traits(5, 20, ["地下通道", "车辆", "被困", "救援", "消防"])) == a


def said(n: int, minutes: int, weighted: dict[str, float], district: str | None = None,
         anchors: Sequence[str] = ()) -> PostTraits:
    """A post of these keywords (term -> tf-idf weight) naming `district` (its place and area) and `anchors`."""
    where = [district] if district else []
    return PostTraits(id=f"p{n}", when=START + timedelta(minutes=minutes), keywords=list(weighted.items()),
                      platform="weibo", places=where, areas=where, anchors=anchors)


def events_of(clusterer: EventClusterer, groups: Sequence[Sequence[str | None]]) -> list[set[str]]:
    """The events (as they are now, after merges) each group of assigned posts is in."""
    def now(event_id: str | None) -> str:
        assert event_id is not None
        event = clusterer._resolve(event_id)
        assert event is not None
        return event.id

    return [{now(event_id) for event_id in group} for group in groups]


def test_chatter_sharing_a_hashtag_does_not_chain_incidents_into_one_event() -> None:
    # Three incidents in three districts. Chatter carrying one hashtag (#睡前一笑#, on a joke) names each
    # incident's complaint in turn: the hashtag joins the first to its incident, and from then on shares an
    # anchor with that incident's event while its words are another's. That is no evidence the two are one.
    incidents = [({"曹县": 2.0, "阳光小区": 2.0, "停水": 2.0, "没水": 1.5}, "曹县"),
                 ({"单县": 2.0, "锦绣花园": 2.0, "楼顶": 2.0, "漏水": 1.5}, "单县"),
                 ({"定陶区": 2.0, "和平新村": 2.0, "燃气": 2.0, "涨价": 1.5}, "定陶区")]
    clusterer = EventClusterer()
    assigned: list[list[str | None]] = [[], [], []]
    numbers = itertools.count()
    for _ in range(3):
        for incident, (words, district) in enumerate(incidents):
            n = next(numbers)
            assigned[incident].append(clusterer.assign(said(n, n, words, district)))
    for _ in range(4):
        for incident, (words, district) in enumerate(incidents):
            n = next(numbers)
            joke = {**{term: weight for term, weight in words.items() if not term.endswith(("小区", "花园", "新村"))},
                    "笑话": 1.0}
            assigned[incident].append(clusterer.assign(said(n, n, joke, district, anchors=["#睡前一笑#"])))
    found = events_of(clusterer, assigned)
    assert [len(events) for events in found] == [1, 1, 1]  # each incident is one event
    assert len(set.union(*found)) == 3  # and three incidents are three events


def test_a_post_naming_two_districts_does_not_merge_their_events() -> None:
    # Two complaints in two counties; a post naming both counties and little else (a writer from one, writing of
    # the other) is close to both by their names. Two districts' events stay two, as their posts do.
    clusterer = EventClusterer()
    water = [clusterer.assign(said(n, n, {"曹县": 3.0, "停水": 2.0, "没水": 1.0}, "曹县")) for n in range(2)]
    gas = [clusterer.assign(said(n, n, {"单县": 3.0, "燃气": 2.0, "涨价": 1.0}, "单县")) for n in range(2, 4)]
    both = said(4, 4, {"曹县": 2.0, "单县": 2.0, "可怕": 1.0})
    both.places = both.areas = ["曹县", "单县"]
    joined = clusterer.assign(both)
    found = events_of(clusterer, [water, gas, [joined]])
    assert len(found[0] | found[1]) == 2
    assert found[2] <= found[0] | found[1]  # it joins one of them


def test_a_post_naming_the_estate_two_events_are_about_merges_them() -> None:
    # One incident came out as two events: posts naming the estate, and posts on the dug-up road, one of which
    # named the estate too (it joined the road's event, the closer). A post naming the estate is then close to
    # both for the estate they are about, in the same district: they are one incident.
    clusterer = EventClusterer()
    estate = [clusterer.assign(said(n, n, {"化肥厂家属院": 2.0, "改造": 1.5, "停工": 1.5}, "牡丹区", ["化肥厂家属院"]))
              for n in range(2)]
    road = [clusterer.assign(said(n, n, {"路面": 2.0, "挖开": 2.0, "没人管": 1.5, "老人": 1.0}, "牡丹区"))
            for n in range(2, 4)]
    road.append(clusterer.assign(said(4, 4, {"路面": 2.0, "挖开": 2.0, "没人管": 1.5, "化肥厂家属院": 1.0}, "牡丹区",
                                      ["化肥厂家属院"])))
    assert len(events_of(clusterer, [estate + road])[0]) == 2
    again = clusterer.assign(said(5, 5, {"化肥厂家属院": 2.0, "改造": 1.5, "停工": 1.5}, "牡丹区", ["化肥厂家属院"]))
    assert len(events_of(clusterer, [[*estate, *road, again]])[0]) == 1


def test_simhash_is_close_for_copies_and_far_for_other_text() -> None:
    words = list("近日牡丹区何楼街道幸福小区多名居民反映小区在老旧小区改造中更换的屋面防水层出现大面积漏水")
    edited = words[:-2] + ["渗", "水"]
    other = list("菏泽牡丹花会开幕今年游客特别多牡丹园里拍照太美了大家都来看花吧人山人海非常热闹")
    assert (simhash(words) ^ simhash(edited)).bit_count() <= 3
    assert (simhash(words) ^ simhash(other)).bit_count() > 10


def _plain_simhash(features: list[str]) -> int:
    """SimHash counted bit by bit, in the layout stored fingerprints have: byte k of the 64-bit
    blake2b hash (little-endian) is read most significant bit first, and bytes in order."""
    hashes = [hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest() for f in features]
    bits = "".join(
        "1" if 2 * sum(h[byte] >> (7 - bit) & 1 for h in hashes) > len(features) else "0"
        for byte in range(8) for bit in range(8)
    )
    return int(bits, 2)


def test_simhash_matches_a_plain_bit_count() -> None:
    # Fingerprints are kept across restarts: a faster count must give exactly the same values.
    words = list("近日牡丹区何楼街道幸福小区多名居民反映小区在老旧小区改造中更换的屋面防水层出现大面积漏水")
    samples = [words[:size] + words[: size // 3] for size in (1, 2, 3, 4, 7, 8, 30, len(words))]
    for sample in samples:
        assert simhash(sample) == _plain_simhash(sample), len(sample)
    assert simhash([]) == 0
    # Many lists at once, empty ones among them (each list's votes are its own), and one of 2**16 features (more
    # than a 16-bit count holds).
    huge = words * (2**16 // len(words) + 1)
    lists = [[], *samples[:3], [], [], *samples[3:], huge, []]
    assert simhashes(lists) == [_plain_simhash(sample) if sample else 0 for sample in lists]


def test_events_handed_to_the_index_are_already_persisted(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    first = Analyzer(shipped_language(), [RENOVATION], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    out = run(first, STREAM[:2])
    assert first.changed_events()
    # The process dies here, without close(): a restart still knows the event.
    second = Analyzer(shipped_language(), [RENOVATION], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    follow_up = second.enrich(post(12, 40, "牡丹区何楼街道幸福小区老旧小区改造后漏水，三楼也开始漏了"))
    second.close()
    assert follow_up.event_id == out[1].event_id


def test_quiet_baseline_then_burst_through_analysis(analyzer: Analyzer) -> None:
    from analysis.bursts import BurstTracker

    tracker = BurstTracker(load_watchlists(DEFAULT_DATA / "watchlists.yaml"), policies=[RENOVATION])
    complaints = ["工程停工好几个月了", "路面挖开没人管", "施工队撤了也不复工", "老人出门很不方便", "到底什么时候复工"]
    stream = [post(100 + h, h * 60, f"曹县青菏街道老旧小区改造{complaints[h % 5]}") for h in range(12)]
    stream += [post(200 + m, 12 * 60 + 5 + m * 5, f"曹县青菏街道老旧小区改造停工，{complaints[m % 5]}，气死了[怒]")
               for m in range(10)]
    enriched = [analyzer.enrich(p) for p in stream]
    for item in enriched:
        tracker.add(item)
    event_ids = {e.event_id for e in enriched}
    assert len(event_ids) == 1
    now = (START + timedelta(hours=13)).replace(tzinfo=SHANGHAI)
    signals = {(s.subject_kind, s.window): s for s in tracker.signals(now)}
    burst = signals[("event", "1h/12h")]
    assert burst.subject_id == event_ids.pop()
    assert burst.count == 10 and burst.ratio >= 5
    assert burst.negative_share > burst.baseline_negative_share
    assert signals[("policy", "1h/12h")].label == RENOVATION.title
    assert signals[("keyword", "1h/12h")].subject_id == "老旧小区改造问题"


# The 化肥厂家属院 incident as the demo sees it: angry posts that share the estate's name or the topic
# but little else, some naming another county (where the writer lives), and replies with no words in
# common. Before anchors it came out as five or more events.
INCIDENT = [
    post(301, 0, "牡丹区西城街道化肥厂家属院老旧小区改造停工好几个月了，路挖开没人填，施工队都撤了[怒]"),
    post(302, 10, "我们化肥厂家属院的管子换了一半就不管了，老管子天天漏水，门口全是积水", platform="board",
         **{BOARD_PLACE: "牡丹区西城街道化肥厂家属院"}),
    post(303, 20, "刷到化肥厂家属院的事，一位八十多岁的老人摔进沟里……曹县这边看着都揪心[泪]"),
    post(304, 30, "化肥厂家属院的事已经快三个小时了，官方还是没有声音。[失望]"),
    post(309, 35, "#牡丹区一老旧小区改造停工数月# 牡丹区西城街道化肥厂家属院，改造停工数月，82岁老人昨晚摔进沟里受伤",
         title=None),
    post(305, 40, "就#牡丹区一老旧小区改造停工数月#说几句：施工方擅自撤场、开挖路段不设防护，依法要承担责任"),
    post(306, 50, "热搜都快上了，一句回应都没有吗？还是那条沟，还是那块木板。[怒]#牡丹区一老旧小区改造停工数月#"),
    post(307, 60, "看了菏城新闻网的报道，化肥厂家属院公示的工期早过了，监督电话没人接，这公示还有什么意义？",
         platform="news", title="化肥厂家属院改造停工数月 居民出行难"),
    post(308, 70, "每天上班路过化肥厂家属院，单县来的同事晚上骑电动车差点栽进去[怒]", platform="forum"),
]
UNRELATED = [
    post(320, 15, "曹县青菏街道老旧小区改造停工两个月了，路面挖开没人管，老人出门都困难"),
    post(321, 45, "周末去牡丹园拍汉服外景，人好多，花开得正好[心]"),
]


def test_one_incident_stays_one_event_across_platforms_places_and_replies(shipped_analyzer: Analyzer) -> None:
    # The shipped policies: 老旧小区改造's plan names 化肥厂家属院, so the segmenter knows the estate.
    analyzer = shipped_analyzer
    reply = Post(id="weibo:399", url="https://example.org/weibo/399", platform="weibo", source="weibo_source",
                 text="希望大爷早日康复，也希望有人出来担责[心]", reply_to="weibo:304",
                 published_at=START + timedelta(minutes=80))
    stream = sorted(INCIDENT + UNRELATED, key=lambda p: p.published_at) + [reply]
    out = {p.id: analyzer.enrich(p) for p in stream}
    incident = {out[p.id].event_id for p in INCIDENT} | {out[reply.id].event_id}
    assert len(incident) == 1
    event_id = incident.pop()
    assert all(out[p.id].event_id != event_id for p in UNRELATED)
    assert out[UNRELATED[0].id].event_id != out[UNRELATED[1].id].event_id
    event = {e.id: e for e in analyzer.changed_events()}[event_id]
    assert event.size == len(INCIDENT) + 1
    assert set(event.platforms) == {"weibo", "board", "news", "forum"}


def test_an_anchor_is_remembered_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    policies = load_policies(DEFAULT_DATA / "policies.yaml")
    first = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    opened = first.enrich(INCIDENT[0])
    first.close()
    second = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    later = second.enrich(INCIDENT[3])  # shares only the estate's name
    second.close()
    assert later.event_id == opened.event_id


def test_anchors_are_topics_and_named_estates_not_categories() -> None:
    text = "#牡丹区一老旧小区改造停工数月# 化肥厂家属院和幸福小区，老旧小区、居民小区都要改造"
    words = ["牡丹区", "老旧小区", "改造", "化肥厂家属院", "幸福小区", "居民小区", "小区"]
    assert anchors_of(text, words) == ["#牡丹区一老旧小区改造停工数月#", "化肥厂家属院", "幸福小区"]
    assert anchors_of("转发微博", ["转发", "微博"]) == []
    # The words are scanned one a line: a word holding a line break is still read whole.
    assert anchors_of("", ["化肥厂\n幸福小区", "小区"]) == ["化肥厂\n幸福小区"]


@pytest.mark.parametrize("text", ["2026-03-01T09:00:00+08:00", "2026-03-01T09:00:00.250000+05:30", "2026-03-01T01:00:00Z"])
def test_times_in_a_shared_zone_are_the_same_instants_written_the_same(text: str) -> None:
    parsed = [Post.model_validate_json(f'{{"url": "urn:{n}", "platform": "weibo", "source": "s", "published_at": "{text}"}}')
              .when for n in range(2)]
    shared = [in_shared_zone(when) for when in parsed]
    # Parsed times each have a zone object of their own; shared, CPython compares them as naive times.
    assert shared[0].tzinfo is shared[1].tzinfo
    assert shared[0] == parsed[0] and shared[0].isoformat() == parsed[0].isoformat()
    assert Post(url="urn:x", platform="weibo", source="s", published_at=shared[0], fetched_at=shared[0]).to_json() == \
        Post(url="urn:x", platform="weibo", source="s", published_at=parsed[0], fetched_at=parsed[0]).to_json()
    named = datetime(1988, 7, 1, 9, 0, tzinfo=SHANGHAI)  # a named zone's offset depends on the date (DST then)
    assert in_shared_zone(named) is named and in_shared_zone(datetime(2026, 3, 1)).tzinfo is None


def test_an_event_past_the_window_leaves_every_posting_even_of_the_rare_terms_its_centroid_let_go() -> None:
    clusterer = EventClusterer()
    # One event taking posts of three shared words and two of their own: its centroid keeps its top terms once
    # it holds more than twice CENTROID_KEPT, and lets the others go (it stays posted under them while it lives).
    posts = 3 * events_module.CENTROID_KEPT // 2
    ids = {clusterer.assign(traits(n, n, ["停水", "供水", "小区", f"楼{n}", f"户{n}"])) for n in range(posts)}
    assert len(ids) == 1
    clusterer.take_changed()
    clusterer.saved()
    assert clusterer.held()["postings"] == 2 * posts + 3

    # A week after its last post, nothing of it is left: no event, and no term, anchor or resident naming it.
    clusterer.prune(START + timedelta(minutes=posts) + events_module.ACTIVE_FOR + timedelta(hours=1))
    assert clusterer.held()["events"] == 0
    assert clusterer.held()["postings"] == 0


def test_a_long_lived_event_records_only_the_terms_let_go_it_is_still_posted_under() -> None:
    clusterer = EventClusterer()
    clusterer._by_term.per_key = 1  # one newer event using a word takes its list
    # An event taking posts for weeks, each with two words of its own that other events use later (another
    # incident's words): its centroid lets them go, and the newer events push it out of their lists.
    posts = 5 * events_module.CENTROID_KEPT
    for n in range(posts):
        big = clusterer.assign(traits(n, 2 * n, ["停水", "供水", "小区", f"楼{n}", f"户{n}"]))
        if n >= 50:  # another event, of three words of its own and the two of an earlier post of the big one
            other = clusterer.assign(traits(posts + n, 2 * n + 1, [f"学{n}", f"校{n}", f"招{n}", f"楼{n - 50}", f"户{n - 50}"]))
            assert other != big
    assert big is not None and len({*clusterer.events} - {big}) == posts - 50
    # What it must be taken out of when forgotten, beyond its centroid's terms: the lists that still name it, and
    # what it let go when it last kept its top terms; not every term it ever let go, for as long as it lived.
    centroid = clusterer.events[big].centroid
    listing = {term for term, ids in clusterer._by_term._lists.items() if big in ids}
    let_go = list(clusterer._terms_let_go.get(big, {}))
    assert listing - set(centroid) <= set(let_go)
    assert len(let_go) <= 2 * events_module.CENTROID_KEPT + 2 * 50

    # A week after the last post, nothing is left: no event, and no term naming one.
    clusterer.take_changed()
    clusterer.saved()
    clusterer.prune(START + timedelta(minutes=2 * posts) + events_module.ACTIVE_FOR + timedelta(hours=1))
    assert clusterer.held()["events"] == 0 and clusterer.held()["postings"] == 0


def test_an_event_taking_posts_for_weeks_stays_posted_only_under_the_rare_terms_it_let_go_within_a_week() -> None:
    clusterer = EventClusterer()
    # A post an hour for six weeks, each with three words of the event's and two of its own that no other post
    # uses: the centroid lets them go, and no newer event pushes the event out of their lists.
    week = 7 * 24
    most_postings = [0] * 6  # the most held in each week
    for n in range(6 * week):
        big = clusterer.assign(traits(n, 60 * n, ["停水", "供水", "小区", f"楼{n}", f"户{n}"]))
        most_postings[n // week] = max(most_postings[n // week], clusterer.held()["postings"])
    assert len(clusterer.events) == 1 and big is not None
    # The postings hold what a week of posts used, not what the event's posts used since it began.
    assert most_postings[5] <= most_postings[2]
    # A term let go more than a week before is no longer a way to it; those let go within the week still are.
    assert big not in clusterer._by_term.get("楼150")  # let go when it first kept its top terms (the oldest tie kept)
    centroid = clusterer.events[big].centroid
    assert any(big in ids for term, ids in clusterer._by_term._lists.items() if term not in centroid)


def test_a_trim_of_an_events_centroid_reads_the_terms_it_lets_go_not_its_weeks_record(monkeypatch) -> None:
    """A long-lived event trims its centroid many times a day, and its record of let-go terms holds up to a week of
    them: a trim that went through the whole record cost the event's posts more the longer it lived."""
    clusterer = EventClusterer()
    reads = [0]
    posted_under = clusterer._by_term.get

    def counted(term: str) -> Sequence[str]:
        reads[-1] += 1
        return list(posted_under(term))

    monkeypatch.setattr(clusterer._by_term, "get", counted)  # asked only to note what a trim lets go
    trims = []
    for n in range(8 * events_module.CENTROID_KEPT):  # a post every 5 minutes for 5.5 days: nothing expires
        reads.append(0)
        clusterer.assign(traits(n, 5 * n, ["停水", "供水", "小区", f"楼{n}", f"户{n}"]))
        if reads[-1]:
            trims.append(reads[-1])
    assert len(trims) >= 6
    # What one trim lets go: the centroid past twice CENTROID_KEPT terms, back to CENTROID_KEPT.
    assert max(trims) <= events_module.CENTROID_KEPT + 2


def test_postings_filled_at_once_are_those_posting_each_event_in_turn_gives() -> None:
    """A restart fills the postings of 10,000 events in one pass (`Postings.fill`): lists cut once at the end must
    hold the ids, in the order, that posting the events one by one (each list cut as it fills) leaves."""
    import random

    rng = random.Random(5)
    vocabulary = [f"词{n}" for n in range(30)]
    keyed = [(rng.sample(vocabulary, rng.randint(0, 12)), f"evt-{n}") for n in range(400)]
    one_by_one, at_once = Postings(per_key=6), Postings(per_key=6)
    for keys, event_id in keyed:
        one_by_one.add_all(keys, event_id)
    at_once.fill(keyed)
    assert {key: list(at_once.get(key)) for key in vocabulary} == {key: list(one_by_one.get(key)) for key in vocabulary}
    assert len(at_once) == len(one_by_one) == 6 * 30  # every list filled past its cap, and cut
    with pytest.raises(ValueError):
        at_once.fill([(["词1"], "evt-400")])  # only empty postings are filled: one by one, an id may move


def test_events_share_one_string_of_each_term_whether_taking_posts_or_read_back() -> None:
    import orjson

    # Each post's message is decoded into strings of its own, as is each event read back from the store: the events
    # held kept a copy of a word for each event using it.
    def decoded(terms: list[str]) -> list[str]:
        return orjson.loads(orjson.dumps(terms))

    clusterer = EventClusterer()
    water = clusterer.assign(traits(1, 1, decoded(["停水", "小区", "物业", "供水"])))
    school = clusterer.assign(traits(2, 2, decoded(["学校", "招生", "小区", "报名"])))  # one word of four shared
    assert water != school and water is not None and school is not None
    held = [next(term for term in clusterer.events[event_id].centroid if term == "小区") for event_id in (water, school)]
    assert held[0] is held[1]
    read_back = EventState.from_json(orjson.loads(orjson.dumps(clusterer.events[water].to_json())))
    assert next(term for term in read_back.centroid if term == "小区") is held[0]
    assert next(term for term in read_back.terms_scored()[0] if term == "小区") is held[0]
