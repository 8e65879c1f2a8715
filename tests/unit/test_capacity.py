"""The capacity search on hand-built latency curves: no worker involved."""

import pytest

from bench.analysis.capacity import Objective, Repeat, as_fields, parse_slo, recommendation, search

P99_100MS = (Objective(99.0, 0.100),)


def queue_curve(capacity_per_s, service_s=0.050, noise=(0.0,)):
    """A measure() whose p99 grows as the rate nears the capacity (an M/M/1-like
    hockey stick); above it the latency is unbounded (here: 10 s)."""
    calls = []

    def measure(rate):
        calls.append(rate)
        if rate >= capacity_per_s:
            p99 = 10.0
        else:
            p99 = service_s / (1 - rate / capacity_per_s)
        return [Repeat({"p99": p99 * (1 + n)}, producer_limited=False) for n in noise]

    return measure, calls


def test_parse_slo_reads_percentile_and_unit():
    assert parse_slo("p99=250ms") == Objective(99.0, 0.25)
    assert parse_slo("p50=1.5s") == Objective(50.0, 1.5)
    assert parse_slo("p99.9=40ms").key == "p999"
    for bad in ("p98=1s", "p99", "p99=0ms", "99=1s", "p99=-1ms"):
        with pytest.raises(ValueError, match="p"):
            parse_slo(bad)


def test_search_brackets_the_rate_where_the_p99_crosses_the_objective():
    # p99 = 50 ms / (1 - r/400) reaches 100 ms at r = 200 tasks/s.
    measure, calls = queue_curve(400.0, noise=(-0.01, 0.0, 0.01))
    found = search(measure, start_rate=400.0, objectives=P99_100MS, tolerance=0.05, max_rates=12)
    assert found.rate_per_s is not None
    assert found.rate_per_s <= 200.0 < found.first_failing_rate_per_s
    assert (found.first_failing_rate_per_s - found.rate_per_s) / found.rate_per_s <= 0.05
    assert calls[0] == 400.0  # starts from the drain throughput
    assert all(t.meets == (t.rate_per_s <= 200.0) for t in found.trials)
    best = found.found
    assert best.estimates[0].median <= 0.100
    assert best.estimates[0].ci_low <= best.estimates[0].median <= best.estimates[0].ci_high


def test_search_steps_up_when_the_drain_rate_already_meets_the_objective():
    measure, calls = queue_curve(400.0)
    found = search(measure, start_rate=100.0, objectives=P99_100MS, tolerance=0.05, max_rates=12)
    assert calls[1] > calls[0]
    assert found.rate_per_s <= 200.0 < found.first_failing_rate_per_s


def test_every_objective_must_hold():
    def measure(rate):
        return [Repeat({"p50": 0.010, "p99": rate / 1000}, producer_limited=False)]

    both = (Objective(50.0, 0.020), Objective(99.0, 0.150))
    found = search(measure, 300.0, both, tolerance=0.05, max_rates=12)
    assert found.rate_per_s <= 150.0 < found.first_failing_rate_per_s


def test_a_producer_limited_rate_never_counts_as_meeting_the_objective():
    def measure(rate):
        return [Repeat({"p99": 0.001}, producer_limited=rate > 250)]

    found = search(measure, 400.0, P99_100MS, tolerance=0.05, max_rates=12)
    assert found.rate_per_s <= 250.0 < found.first_failing_rate_per_s
    doc = as_fields(found, P99_100MS)
    assert doc["tried"][0]["producer_limited"] is True
    assert doc["tried"][0]["meets"] is False


def test_no_rate_meeting_the_objective_is_reported_with_every_rate_tried():
    def measure(rate):
        return [Repeat({"p99": 5.0}, producer_limited=False)]

    found = search(measure, 100.0, P99_100MS, max_rates=4)
    assert found.rate_per_s is None
    doc = as_fields(found, P99_100MS)
    assert doc["capacity"] is None
    assert len(doc["tried"]) == 4
    assert [t["rate_per_s"] for t in doc["tried"]] == sorted((t["rate_per_s"] for t in doc["tried"]), reverse=True)
    assert "misses p99 <= 100 ms" in recommendation(found, P99_100MS, "gevent", 64, 100.0)


def test_the_json_holds_every_rate_and_the_capacity_with_its_interval():
    measure, _ = queue_curve(400.0, noise=(-0.02, 0.0, 0.02))
    found = search(measure, 400.0, P99_100MS, tolerance=0.05, max_rates=12)
    doc = as_fields(found, P99_100MS)
    assert len(doc["tried"]) == len(found.trials)
    cap = doc["capacity"]
    assert cap["rate_per_s"] == found.rate_per_s
    p99 = cap["percentiles"][0]
    assert p99["percentile_label"] == "p99"
    assert p99["ci_low_s"] <= p99["median_s"] <= p99["ci_high_s"] <= 0.100 * 1.02
    assert "keep gevent -c 64 under" in recommendation(found, P99_100MS, "gevent", 64, 400.0)
