"""Reading fan-out freshness off Prometheus text: bucket parsing, deltas, quantiles."""

from __future__ import annotations

import math

import pytest

from roost.bench.server import Histogram, counter_value, histogram

TEXT = """
# TYPE roost_fanout_freshness_seconds histogram
roost_fanout_freshness_seconds_bucket{le="0.1",tier="push"} 50.0
roost_fanout_freshness_seconds_bucket{le="0.5",tier="push"} 90.0
roost_fanout_freshness_seconds_bucket{le="1.0",tier="push"} 99.0
roost_fanout_freshness_seconds_bucket{le="+Inf",tier="push"} 100.0
roost_fanout_freshness_seconds_bucket{le="0.1",tier="pull"} 7.0
roost_fanout_freshness_seconds_bucket{le="+Inf",tier="pull"} 7.0
roost_timeline_inserts_total 1234.0
"""


def test_one_labelled_series_is_read_whatever_the_label_order() -> None:
    push = histogram(TEXT, "roost_fanout_freshness_seconds", {"tier": "push"})
    assert push.buckets == {0.1: 50.0, 0.5: 90.0, 1.0: 99.0, math.inf: 100.0}
    swapped = TEXT.replace('le="0.1",tier="push"', 'tier="push",le="0.1"')
    assert histogram(swapped, "roost_fanout_freshness_seconds", {"tier": "push"}).buckets[0.1] == 50.0
    assert counter_value(TEXT, "roost_timeline_inserts_total") == 1234.0


def test_quantiles_interpolate_inside_a_bucket_and_shares_are_exact_at_bounds() -> None:
    push = histogram(TEXT, "roost_fanout_freshness_seconds", {"tier": "push"})
    assert push.quantile(0.5) == pytest.approx(0.1)
    assert push.quantile(0.7) == pytest.approx(0.1 + 0.4 * (20 / 40))
    assert push.quantile(0.995) == pytest.approx(1.0)  # beyond the last finite bound: that bound
    assert push.share_within(1.0) == pytest.approx(0.99)


def test_a_delta_counts_only_what_happened_between_two_scrapes() -> None:
    before = Histogram({0.1: 10.0, 1.0: 10.0, math.inf: 10.0})
    after = Histogram({0.1: 10.0, 1.0: 30.0, math.inf: 30.0})
    delta = after.minus(before)
    assert delta.count == 20.0
    assert delta.share_within(0.1) == 0.0
    assert Histogram({}).quantile(0.5) is None
