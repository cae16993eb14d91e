"""bench.events_history: the batch it drains is new to the state it drains it on."""

import random
from datetime import datetime, timedelta

from bench import events_history, soak
from yuqing.schema import SHANGHAI


def test_the_batch_is_the_day_after_the_soaks_last():
    """Posts the state holds already would be redeliveries (a cheap path): the batch must be the stream's next day,
    dated the day after the soak's last (yesterday: the soak's days end then), as the soak would have made it."""
    posts = events_history.next_day_posts(days=2, per_day=40, seed=3, count=15)
    stream = soak.Stream(40, random.Random(3))
    first_day = datetime.now(SHANGHAI).date() - timedelta(days=2)
    soaked = set()
    for number in range(2):
        start = datetime.combine(first_day + timedelta(days=number), datetime.min.time(), SHANGHAI)
        soaked |= {post.id for post in stream.day(number, start)}
    start = datetime.combine(first_day + timedelta(days=2), datetime.min.time(), SHANGHAI)
    expected = list(stream.day(2, start))[:15]
    unstamped = {"fetched_at"}  # when the stream made the post
    assert [p.model_dump(exclude=unstamped) for p in posts] == [p.model_dump(exclude=unstamped) for p in expected]
    assert not soaked & {post.id for post in posts}
    assert {post.when.astimezone(SHANGHAI).date() for post in posts} == {datetime.now(SHANGHAI).date()}
