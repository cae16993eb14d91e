"""bench.throughput's figures of a concurrent run: the fill, the drain and the rate sustained once the pipeline is
full, from the stages' commits."""

import pytest

from bench.throughput import Figures


def run_of_1000_posts() -> Figures:
    """Enrich commits every 0.1 s until 1.0 s; the index, whose posts topic also carries 25 re-links (1,025 messages),
    first commits at 0.3 s and last at 1.5 s."""
    figures = Figures(posts=1000, wall=1.5)
    figures.cpu = {"enrich": 1.0, "events": 0.8, "index": 0.8}
    figures.first_commit = {"enrich": 0.1, "events": 0.2, "index": 0.3}
    figures.last_commit = {"enrich": 1.0, "events": 1.2, "index": 1.5}
    figures.commits = {"index": [(0.3, 205), (0.7, 410), (1.1, 820), (1.5, 1025)]}
    return figures


def test_the_fill_lasts_until_the_last_stages_first_commit_and_the_drain_from_the_first_stages_last() -> None:
    assert run_of_1000_posts().fill_and_drain() == (0.3, pytest.approx(0.5))


def test_the_sustained_rate_counts_the_last_stages_posts_between_its_first_and_last_commits() -> None:
    start, end, rate = run_of_1000_posts().steady()
    # 820 messages after the first commit, 800 of them posts (1,000 of the 1,025), over 1.2 s.
    assert (start, end) == (0.3, 1.5) and rate == pytest.approx(800 / 1.2)


def test_without_two_commits_of_the_last_stage_there_is_no_sustained_rate() -> None:
    figures = run_of_1000_posts()
    figures.commits = {"index": [(1.5, 1025)]}
    assert figures.steady() is None


def test_idle_cores_are_counted_within_a_span() -> None:
    """Two cores; one stage ready throughout, a second one only in the second half: a core idle half the time."""
    figures = Figures(posts=10, wall=2.0)
    figures.cpu = {"enrich": 2.0, "index": 1.0}
    figures.timeline = {0.0: {"enrich": (0.0, 0.0), "index": (0.0, 0.0)},
                        1.0: {"enrich": (1.0, 0.0), "index": (0.0, 0.0)},
                        2.0: {"enrich": (2.0, 0.0), "index": (0.5, 0.5)}}
    assert figures.idle_cores() == pytest.approx(0.25)
    assert figures.idle_cores(0.0, 1.0) == pytest.approx(0.5)
    assert figures.idle_cores(1.0, 2.0) == pytest.approx(0.0)
