"""bench.transport decides when a pipeline is done from the groups' committed offsets: not too early."""

from bench.transport import finished, progress
from transport import ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, RAW_POSTS
from transport.base import TopicStats
from workers.runner import group_of


class Looks:
    """A transport whose statistics are given look by look."""

    def __init__(self, *looks: list[TopicStats]) -> None:
        self.looks = iter(looks)

    def stats(self, expected=None) -> list[TopicStats]:
        return next(self.looks)


def look(enriched: int, indexed: int) -> list[TopicStats]:
    """Ten posts through enrich and events; `enriched` messages on posts.enriched, `indexed` of them committed."""
    return [TopicStats(RAW_POSTS, 10, {group_of("enrich"): 0}),
            TopicStats(ANNOTATED_POSTS, 10, {group_of("events"): 0}),
            TopicStats(ENRICHED_POSTS, enriched, {group_of("index"): enriched - indexed}),
            TopicStats(EVENTS, 0, {})]


def test_a_look_that_read_the_ends_before_the_last_publish_does_not_end_the_run():
    """Statistics read the topics' ends before the groups' offsets: events published its last two posts and the
    index committed eight in between, so the first look says complete with two posts still to index."""
    transport = Looks(look(enriched=8, indexed=8), look(enriched=10, indexed=8), look(enriched=10, indexed=10),
                      look(enriched=10, indexed=10))
    first, second, third, fourth = (progress(transport, 10) for _ in range(4))
    assert first.complete, "what one look says"
    assert not finished(first, second)
    assert not finished(second, third)
    assert finished(third, fourth)
