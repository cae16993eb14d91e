"""Segmentation: the fast path gives exactly jieba's HMM-off words; posts split at the repost chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.segment import Segmenter
from analysis.text import split_weibo
from stores.language import (
    TOTAL_MAKEWEIGHT,
    jieba_tokenizer,
    load_segmenter,
    rust_jieba,
    user_dictionary_terms,
)
from workers.build import shipped_segmenter

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "analysis" / "weibo_sample.jsonl"


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    """A segmenter of its own: the terms a test adds reach no other test."""
    return load_segmenter()


def jieba_words(segmenter: Segmenter, text: str) -> list[str]:
    return [w for w in segmenter.tokenizer.lcut(text, HMM=False) if w.strip()]


TRICKY = [
    "", "   ", "ABC abc 123 a1b2 iPhone15 COVID-19 3.5% #话题# C++ &amp;",
    "菏政办发〔2023〕12号 ２０２３年 ｗｅｉｂｏ", "老旧小区改造保障性租赁住房政务公开", "\u200b零宽\t制表\r\n换行",
    "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈", "😀表情😡[怒][心]", "a", "中",
    # Whitespace of every kind, alone and in runs, between blocks and between other characters.
    " 全角\u3000空格\xa0不换行\u2028行分隔\x1c文件分隔，  。\t\n」 「x y\u3000\u3000",
]


@pytest.mark.parametrize("text", TRICKY)
def test_fast_words_equal_jieba_on_tricky_text(segmenter: Segmenter, text: str) -> None:
    assert segmenter.fast_words(text) == jieba_words(segmenter, text)


def test_fast_words_equal_jieba_on_real_posts_and_after_new_terms(segmenter: Segmenter) -> None:
    texts = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    assert all(segmenter.fast_words(t) == jieba_words(segmenter, t) for t in texts)
    text = "幸福小区西门的核酸检测点位排长队"
    assert "幸福小区西门" not in segmenter.fast_words(text)  # its blocks and fragments are now cached
    segmenter.add_terms(["幸福小区西门", "核酸检测点位"])  # the dictionary grows: cached blocks must not go stale
    assert segmenter.fast_words(text) == jieba_words(segmenter, text)
    assert "幸福小区西门" in segmenter.fast_words(text)
    assert "幸福小区西门" not in shipped_segmenter().fast_words(text)  # another segmenter's terms are its own



def test_a_full_block_cache_is_emptied_and_the_words_stay_jiebas(segmenter: Segmenter,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A text whose new blocks would take the cache past its size empties it first: its blocks cached before, gone
    with the rest, are cut again, not looked for in the emptied cache."""
    monkeypatch.setattr("analysis.segment.BLOCK_CACHE_SIZE", 3)
    segmenter.forget_blocks()
    first, second = "老旧小区，改造工程", "老旧小区，燃气管道，改造工程，居民满意"
    assert segmenter.fast_words(first) == jieba_words(segmenter, first)  # two blocks cached
    assert segmenter.fast_words(second) == jieba_words(segmenter, second)  # two more: the cache is emptied first
    assert len(segmenter._block_cache) == 4  # this text's blocks, all of them cut again


# Blocks whose best route ties with another of the same words in another order (太|太太, 太太|太): which one
# wins depends on the last bit of the scores, so on jieba-rs's total being jieba's to the unit. From the shared
# Weibo corpora, where they are all the blocks on which a total off by a few units changes the words.
TIES = ["SHU幸幸幸幸幸幸幸", "一一一穆圣1400多年前的教谕", "何家小鸡咯咯咯咯咯咯咯咯咯", "八宝茶太太太...咸了",
        "医生真的是一个太太太伟大的职业了", "最最最牛逼的是以全球22", "每次看见我最最最着重的你和别人有说有笑的",
        "不要干扰我好嚒求指教求安慰求求求......"]


def test_ties_break_as_jiebas_once_the_totals_agree(segmenter: Segmenter) -> None:
    assert all(segmenter.fast_words(t) == jieba_words(segmenter, t) for t in TIES)
    tok = jieba_tokenizer()
    cutter = rust_jieba(tok, user_dictionary_terms())
    assert [cutter.cut(t, False) for t in TIES] == [tok.lcut(t, HMM=False) for t in TIES]
    made_up = tok.total - sum(tok.FREQ.values())  # B超's second line, the old counts of user terms jieba had
    # jieba-rs's own total, B超 counted once, or one unit off either way: some of these ties break the other way.
    for count in (0, made_up - 3, made_up - 1, made_up + 1):
        cutter.add_word(TOTAL_MAKEWEIGHT, count, None)
        assert any(cutter.cut(t, False) != tok.lcut(t, HMM=False) for t in TIES), count


def test_fast_words_equal_jieba_on_the_shared_weibo_corpora(segmenter: Segmenter, shared_data: Path) -> None:
    texts = [post["content"] for name in ("smp2020_usual_eval.json", "smp2020_virus_train.json")
             for post in json.loads((shared_data / "sentiment" / name).read_text(encoding="utf-8"))]
    assert len(texts) == 10_606
    assert [t for t in texts if segmenter.fast_words(t) != jieba_words(segmenter, t)] == []


def test_repost_chain_and_emoticons() -> None:
    post = shipped_segmenter().segment_post("说得对[赞]//@市民甲:拖欠工资[怒]//@市民乙:谁来管管")
    assert "".join(post.own[:-1]) == "说得对" and post.own[-1] == "[赞]"
    assert "".join(post.quoted) == "拖欠工资谁来管管[怒]"
    assert "拖欠工资" in post.quoted


def test_punctuated_slogans_become_one_token() -> None:
    segmenter = shipped_segmenter()
    assert "双随机、一公开" in user_dictionary_terms()
    assert segmenter.join_phrases("推行双随机、一公开监管") == "推行双随机一公开监管"
    assert "双随机一公开" in segmenter.segment_post("推行双随机、一公开监管").own
    assert segmenter.display_form("双随机一公开") == "双随机、一公开"


def test_prefix_dictionary_cache_matches_jieba_and_survives_a_broken_file(tmp_path) -> None:
    import jieba

    from stores import language
    from stores.tables import PrivateTableCache

    keeper = PrivateTableCache(tmp_path)
    reference = jieba.Tokenizer()
    reference.initialize()
    built = language.prefix_dictionary(keeper)  # no cache yet: built from jieba's dictionary file, then written
    cache = keeper.path_of("jieba", language.dictionary_key())
    assert cache is not None and cache.parent == tmp_path and cache.exists()
    assert built == (reference.FREQ, reference.total)
    assert language.prefix_dictionary(keeper) == built  # read back from the cache
    cache.write_bytes(b"\x00not marshal")
    assert language.prefix_dictionary(keeper) == built  # a broken cache is rebuilt, not trusted
    assert language.prefix_dictionary(keeper) == built
    assert [p.name for p in tmp_path.iterdir()] == [cache.name]  # no temporary file left behind
    kept = jieba_tokenizer(keeper)  # and a tokenizer built from it cuts as jieba does with our dictionary
    reference.load_userdict(str(language.USER_DICT))
    assert kept.lcut("菏泽市老旧小区改造", HMM=False) == reference.lcut("菏泽市老旧小区改造", HMM=False)


@pytest.mark.parametrize("text", [
    "  路灯  坏了\u3000三个月 ", "[怒]  没人管  //@菏泽发布:  已转交\t相关部门 [赞] ", "回复@小王:  好的\n\n谢谢",
    "看 https://t.cn/abc  这个  通知", "//@甲:  \u3000 ", "\n\t ",
])
def test_a_post_is_segmented_as_its_parts_with_tidied_spaces_would_be(segmenter: Segmenter, text: str) -> None:
    # segment_post leaves the parts' whitespace as it is: segmenting drops it anyway.
    tidied = split_weibo(segmenter.join_phrases(text))
    segmented = segmenter.segment_post(text)
    assert segmented.own == segmenter.fast_words(tidied.own) + tidied.own_emoticons
    assert segmented.quoted == (segmenter.fast_words(tidied.chain) if tidied.chain else []) + tidied.chain_emoticons


def test_a_kept_vocabulary_is_looked_up_in_place_and_counts_as_jiebas(tmp_path) -> None:
    from stores.language import KeptCounts, counted
    from stores.tables import PrivateTableCache

    keeper = PrivateTableCache(tmp_path)
    load_segmenter(keeper)  # the first process builds jieba's prefix dictionary and keeps it
    kept = load_segmenter(keeper)  # a later one (a worker's start) looks words up in the kept file, loading none
    assert isinstance(kept.tokenizer.FREQ, KeptCounts)
    reference = load_segmenter()
    # New terms, one whose pieces are new terms, one a word of jieba's (not added) and a prefix of one (not added).
    terms = ["幸福小区西门", "核酸检测点位", "幸福小区西门核酸检测点位", "核酸", "老旧小"]
    for segmenter in (kept, reference):
        segmenter.add_terms(terms)
    assert kept.tokenizer.total == reference.tokenizer.total
    assert counted(kept.tokenizer.FREQ) == counted(reference.tokenizer.FREQ)
    words = [*terms, "幸福小区", "幸福小区西", "双随机一公开", "不是词的字串"]
    assert [kept.tokenizer.FREQ.get(w) for w in words] == [reference.tokenizer.FREQ.get(w) for w in words]
    texts = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    texts += [*TIES, "幸福小区西门核酸检测点位排长队，老旧小区改造"]
    assert [kept.fast_words(t) for t in texts] == [reference.fast_words(t) for t in texts]


def test_a_broken_or_foreign_kept_vocabulary_is_not_trusted(tmp_path) -> None:
    from stores import language
    from stores.tables import PrivateTableCache

    keeper = PrivateTableCache(tmp_path)
    load_segmenter(keeper)
    kept = keeper.file_for("jieba-counts", language.dictionary_key(), ".sqlite3")
    assert kept is not None and kept.exists()
    text = "菏泽市老旧小区改造"
    expected = load_segmenter().fast_words(text)
    kept.write_bytes(b"\x00not sqlite")
    assert load_segmenter(keeper).fast_words(text) == expected  # built again, and kept again
    assert isinstance(load_segmenter(keeper).tokenizer.FREQ, language.KeptCounts)
    kept.chmod(0o666)  # writable by others: someone may have changed the counts
    assert isinstance(load_segmenter(keeper).tokenizer.FREQ, dict)
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]  # no temporary file left behind
