"""The query language: what each piece of syntax means, and where a malformed query is wrong."""

import random
from datetime import datetime, timedelta

import pytest

from search import ngrams
from search.ngrams import index_tokens, normalize, query_tokens
from search.query import And, Filter, Not, Or, QueryError, Text, TimeRange, parse_query
from yuqing.schema import SHANGHAI

NOW = datetime(2026, 12, 6, 10, 30, tzinfo=SHANGHAI)


def root(text):
    return parse_query(text, now=NOW).root


def test_words_and_or_phrases_exclusions_and_groups():
    assert root("老旧小区 停工") == And((Text("老旧小区"), Text("停工")))
    assert root("停水 OR 停电 小区") == Or((Text("停水"), And((Text("停电"), Text("小区")))))
    assert root('"供水  公司" -表扬') == And((Text("供水 公司", phrase=True), Not(Text("表扬"))))
    assert root("（停水 OR 停电） “老旧 小区”") == And((Or((Text("停水"), Text("停电"))), Text("老旧 小区", phrase=True)))
    assert root("-(a OR b)") == Not(Or((Text("a"), Text("b"))))
    assert root("or 或") == And((Text("or"), Text("或")))  # only upper-case OR is an operator
    assert root("") is None and root("   ") is None


def test_field_filters_take_english_or_chinese_names():
    assert root("platform:微博 sentiment:负面") == And((Filter("platform", "weibo"), Filter("sentiment", "negative")))
    assert root("PLATFORM:News") == Filter("platform", "news")
    assert root('author:"民生 热线"') == Filter("author", "民生 热线")
    assert root("place：牡丹区 policy:hz-lxxq department:市住建局 event:evt-1 source:hzrb") == And((
        Filter("place", "牡丹区"), Filter("policy", "hz-lxxq"), Filter("department", "市住建局"),
        Filter("event", "evt-1"), Filter("source", "hzrb")))
    assert root("时间:10点") == Text("时间:10点")  # not a field name: a word like any other


def test_times_absolute_relative_and_until_includes_its_day():
    assert root("since:24h") == TimeRange(since=NOW - timedelta(hours=24))
    assert root("since:7d") == TimeRange(since=NOW - timedelta(days=7))
    assert root("since:30m") == TimeRange(since=NOW - timedelta(minutes=30))
    assert root("since:2026-11-30") == TimeRange(since=datetime(2026, 11, 30, tzinfo=SHANGHAI))
    assert root("until:2026-11-30") == TimeRange(until=datetime(2026, 12, 1, tzinfo=SHANGHAI))
    assert root("until:2026-11-30T08:00") == TimeRange(until=datetime(2026, 11, 30, 8, tzinfo=SHANGHAI))
    query = parse_query("since:2026-11-01 小区 until:2026-11-30 since:2026-11-05", now=NOW)
    assert query.time_range() == TimeRange(datetime(2026, 11, 5, tzinfo=SHANGHAI), datetime(2026, 12, 1, tzinfo=SHANGHAI))


def test_texts_are_the_words_asked_for_not_the_excluded_ones():
    query = parse_query('老旧小区 -表扬 (停水 OR "供水 公司") -(-改造)', now=NOW)
    assert query.texts() == [Text("老旧小区"), Text("停水"), Text("供水 公司", phrase=True), Text("改造")]


@pytest.mark.parametrize("text,position,message", [
    ("老旧小区 (停水 OR", 9, "OR 后面缺少内容"),
    ("OR 停水", 0, "OR 前面缺少内容"),
    ("(停水", 0, "左括号没有闭合"),
    ("停水)", 2, "多了一个右括号"),
    ("()", 0, "括号里是空的"),
    ('停水 "供水', 3, "引号没有闭合"),
    ('""', 0, "引号里是空的"),
    ("停水 - 停电", 3, "减号后面缺少要排除的词"),
    ("停水 -", 3, "减号后面缺少要排除的词"),
    ("colour:red", 0, "没有“colour”这个字段"),
    ("platform:twitter", 0, "没有“twitter”这个平台"),
    ("sentiment:angry", 0, "没有“angry”这种情感倾向"),
    ("since:yesterday", 0, "无法识别的时间“yesterday”"),
    ("停水 platform:", 12, "“platform:”后面缺少取值"),
    ("停水 #！", 3, "“#！”里没有可检索的文字或数字"),
])
def test_malformed_queries_say_where_in_chinese(text, position, message):
    with pytest.raises(QueryError) as caught:
        parse_query(text, now=NOW)
    assert caught.value.position == position
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"查询语句第 {position + 1} 个字符处有误：")


@pytest.mark.parametrize("word,text,found", [
    ("老旧小区", "#牡丹区老旧小区改造#进展缓慢", True),  # inside a hashtag
    ("小区改造", "老旧小区改造", True),  # across the dictionary's word boundaries
    ("老旧小区-改造", "老旧小区，改造", True),  # any punctuation matches any punctuation
    ("老旧小区改造", "老旧小区，改造", False),  # but is never skipped over
    ("老旧小区改造", "老旧小区加装电梯", False),
    ("水", "停水通知", True),  # one character: a prefix of the pairs
    ("通知", "停水通知", True),  # at the end of a run
    ("5G", "5g基站", True),
    ("ＡＢＣ", "abc小区", True),  # full-width and case folded
    ("5", "5g基站", False),  # letters and digits are whole words
])
def test_a_word_is_found_when_it_is_a_substring(word, text, found):
    wanted = query_tokens(word)
    tokens = index_tokens(text)
    n = len(wanted.tokens)

    def matches(at: int) -> bool:
        window = tokens[at:at + n]
        if len(window) < n:
            return False
        *head, last = wanted.tokens
        return window[:-1] == head and (window[-1].startswith(last) if wanted.prefix else window[-1] == last)

    assert any(matches(i) for i in range(len(tokens))) is found


def _tokens_of_the_whole_normalisation(text: str) -> list[str]:
    """The tokens as `index_tokens` made them before it turned full-width punctuation into spaces first."""
    return [han_pair_or_word for han, word in ngrams._RUNS.findall(normalize(text))
            for han_pair_or_word in ([*ngrams._pairs(han), han[-1]] if han else [word])]


def test_punctuation_made_spaces_before_normalising_leaves_the_tokens_as_they_were() -> None:
    """Every character the tokeniser turns into a space before NFKC, beside letters, digits, Chinese, full-width
    letters and the marks that compose with ASCII punctuation (= and U+0338 make ≠), gives the tokens it gave when
    the whole text was normalised."""
    replaced = [chr(c) for c in range(0x110000) if ngrams._SEPARATORS_TO_NORMALIZE.fullmatch(chr(c))]
    assert "，" in replaced and "…" in replaced and "\u3000" in replaced and len(replaced) == 34
    neighbours = ["a", "Ｂ", "5", "停水", "\u0338", "\u0301", "_", " ", "①", "ǅ"]
    texts = [f"{before}{char}{after}" for char in replaced for before in neighbours for after in neighbours]
    texts += ["牡丹区老旧小区，改造！５Ｇ基站……已开通（试运行）～ＡＢＣ＿ｄｅｆ＝\u0338＜\u0338x"]
    for text in texts:
        assert index_tokens(text) == _tokens_of_the_whole_normalisation(text), text


def test_the_tokens_of_random_texts_are_their_runs_pairs_and_words() -> None:
    """`index_tokens` finds every token in one pass of the regular expression: on texts of Chinese, letters, digits,
    underscores, punctuation (half- and full-width), combining marks and characters NFKC rewrites, the same tokens as
    cutting the text into runs and pairing each Chinese run's characters."""
    alphabet = "老旧小区改造a Bz9_，。！５Ｇ\u3000…é\u0301ﬁ①㐀\uf900\U00020000-#@ǅ\u0338="
    chosen = random.Random(15)
    for _ in range(20_000):
        text = "".join(chosen.choice(alphabet) for _ in range(chosen.randint(0, 24)))
        assert index_tokens(text) == _tokens_of_the_whole_normalisation(text), text


def test_the_tokens_of_a_batch_of_texts_are_those_of_each_text() -> None:
    """`index_token_texts` tokenises many texts at once: for batches of one to many random texts (empty ones, ones
    without a token, Chinese, letters, digits, surrogates, astral and combining characters), each text's tokens joined
    by spaces, as `index_tokens` finds them."""
    alphabet = "老旧小区改造a Bz9_，。！５Ｇ\u3000…é\u0301ﬁ①㐀\uf900\U00020000\U0001f600-#@ǅ\u0338=\ud800\n"
    chosen = random.Random(17)
    texts = ["".join(chosen.choice(alphabet) for _ in range(chosen.randint(0, 24))) for _ in range(5_000)]
    texts[:0] = ["", "\u0338", "ǅ！", "，。", "停", "a"]
    for size in (1, 2, 3, 7, 500, len(texts)):
        for first in range(0, min(len(texts), 40 * size), size):
            batch = texts[first : first + size]
            assert ngrams.index_token_texts(batch) == [" ".join(index_tokens(text)) for text in batch], batch
    assert ngrams.index_token_texts([]) == []
