from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from yuqing.schema import (
    EARLIEST_TIME,
    FUTURE_SLACK,
    SHANGHAI,
    Alert,
    AlertLevel,
    Author,
    EnrichedPost,
    Event,
    Metrics,
    Platform,
    Policy,
    Post,
    RefusedPost,
    Sentiment,
    canonical_url,
    post_id_for,
    time_in_range,
)


def make_post(**overrides) -> Post:
    fields = dict(
        url="http://www.heze.gov.cn/art/2022/6/2/art_1.html",
        platform="gov",
        source="heze-gov",
        author=Author(name="菏泽市住房和城乡建设局", verified=True),
        title="关于老旧小区改造的通知",
        text="各区县住建部门：……",
        published_at=datetime(2022, 6, 2, 10, 31),
        metrics=Metrics(views=120),
        extra={"索引号": "11371700MB28560000/2022-00123", "有效性": "现行有效"},
    )
    fields.update(overrides)
    return Post(**fields)


def test_post_round_trips_through_json():
    post = make_post()
    again = Post.model_validate_json(post.model_dump_json())
    assert again == post
    assert again.extra["索引号"].startswith("11371700")


def test_naive_times_are_shanghai_time():
    post = make_post()
    assert post.published_at.tzinfo == SHANGHAI
    assert post.published_at.utcoffset().total_seconds() == 8 * 3600


def test_id_is_stable_and_prefers_platform_id():
    a = make_post(url="HTTP://WWW.Heze.gov.cn/art/2022/6/2/art_1.html#top")
    b = make_post(url="http://www.heze.gov.cn/art/2022/6/2/art_1.html")
    assert a.id == b.id
    assert post_id_for("weibo", "https://m.weibo.cn/status/1", "4780000000000001") == "weibo:4780000000000001"
    assert canonical_url("https://A.com/x/?q=1#f") == "https://a.com/x?q=1"


def test_unknown_fields_and_platforms_are_rejected():
    with pytest.raises(ValidationError):
        make_post(platform="myspace")
    with pytest.raises(ValidationError):
        Post(url="http://a", platform=Platform.NEWS, source="s", colour="red")


def test_enriched_post_round_trip_and_from_post():
    post = make_post()
    enriched = EnrichedPost.from_post(post, sentiment=Sentiment(score=0.2, label="negative"), places=["牡丹区"])
    again = EnrichedPost.model_validate_json(enriched.model_dump_json())
    assert again.sentiment.label == "negative"
    assert again.id == post.id


@pytest.mark.parametrize("model,data", [
    (Policy, {"id": "hz-1", "title": "菏泽市2022年政务公开工作要点", "doc_number": "菏政办字〔2022〕12号",
              "published_at": "2022-04-01T09:00:00", "validity": "已废止"}),
    (Event, {"id": "ev-1", "label": "老旧小区 停工", "first_seen": "2022-06-01T08:00:00+08:00",
             "last_seen": "2022-06-01T09:00:00+08:00", "size": 3}),
    (Alert, {"id": "a1", "rule": "surge", "rule_type": "negative_surge", "group_key": "surge:policy:hz-1",
             "title": "老旧小区改造负面舆情激增", "level": "重大"}),
])
def test_other_models_round_trip(model, data):
    item = model.model_validate(data)
    assert model.model_validate_json(item.model_dump_json()) == item


def test_alert_levels_are_ordered():
    assert [lvl.rank for lvl in AlertLevel] == [0, 1, 2, 3]
    assert AlertLevel("特别重大") is AlertLevel.EXTRAORDINARY


def test_the_sane_window_of_times_is_exact_at_both_ends_in_any_zone():
    at = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert time_in_range(EARLIEST_TIME, at)
    assert not time_in_range(EARLIEST_TIME - timedelta(microseconds=1), at)
    assert time_in_range((at + FUTURE_SLACK).astimezone(SHANGHAI), at)  # the same instant, written in Shanghai time
    assert not time_in_range(at + FUTURE_SLACK + timedelta(microseconds=1), at)
    assert not time_in_range(datetime(1, 1, 1, tzinfo=UTC), at)
    assert not time_in_range(datetime(9999, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), at)
    # Fetched at the fixed `at`, not now: the window is checked against `at`, whatever the day the test runs.
    make_post(published_at=datetime(2022, 6, 2, 10, 31), fetched_at=at).check_times(at)
    with pytest.raises(RefusedPost, match="date_out_of_range"):
        make_post(published_at=at + timedelta(days=2), fetched_at=at).check_times(at)
