"""bench/analysis/mix.py on hand-made figures: a mix's classes over a
point's repeats, the table per setting, and the decision behind the
recommendation (which setting gives the short class the lowest p99, and
whether the difference is more than the noise)."""

import pytest

from bench.analysis.mix import class_estimates, recommend, setting_tables, short_and_long
from bench.results.sweep_records import PointSummary
from tests.helpers.mix import estimate, point, summary, two

DESCRIBED = [
    {"name": "short", "share": 0.99, "mean_ms": 10.0},
    {"name": "long", "share": 0.01, "mean_ms": 2000.0},
]


def repeat(short_p99, long_rate, free=0.0, waited=0):
    """One repeat's per-class fields, as a run document's `classes` holds them."""
    return {
        "short": {
            "sojourn_p99_s": short_p99,
            "throughput_per_s": 50.0,
            "reserved_while_free_s": free,
            "waited_while_free": waited,
        },
        "long": {"sojourn_p99_s": 2.5, "throughput_per_s": long_rate, "reserved_while_free_s": 0.0},
    }


def test_a_points_classes_are_the_medians_of_its_repeats_with_a_ci_of_the_p99():
    short, long = class_estimates(DESCRIBED, [repeat(1.2, 0.5, 2.0, 6), repeat(1.4, 0.6, 3.0, 8), repeat(1.3, 0.4)])
    assert (short.name, short.share, short.mean_ms, short.repeats) == ("short", 0.99, 10.0, 3)
    assert short.sojourn_p99_s == pytest.approx(1.3)
    assert short.sojourn_p99_values_s == (1.2, 1.4, 1.3)
    assert short.sojourn_p99_ci95_low_s <= 1.3 <= short.sojourn_p99_ci95_high_s
    assert short.sojourn_p99_ci95_low_s >= 1.2
    assert short.sojourn_p99_ci95_high_s <= 1.4
    assert short.reserved_while_free_s == pytest.approx(2.0)
    assert short.waited_while_free == pytest.approx(6)
    assert long.throughput_per_s == pytest.approx(0.5)


def test_one_repeat_has_its_median_and_no_ci_and_a_class_never_finished_has_none():
    (short, long) = class_estimates(DESCRIBED, [{"short": {"sojourn_p99_s": 0.2, "throughput_per_s": 9.0}}])
    assert short.sojourn_p99_s == 0.2
    assert short.sojourn_p99_ci95_low_s is None
    assert (long.repeats, long.sojourn_p99_s, long.throughput_per_s) == (0, None, None)


def test_short_and_long_are_the_smallest_and_largest_mean_sizes_whatever_the_order():
    classes = [
        estimate("medium", 1.0, 1.0, 1.0, mean_ms=100.0),
        estimate("huge", 1.0, 1.0, 1.0, mean_ms=5000.0),
        estimate("tiny", 1.0, 1.0, 1.0, mean_ms=1.0),
    ]
    assert short_and_long(classes) == ("tiny", "huge")


def test_the_lowest_short_p99_against_the_first_setting_with_cis_apart_is_significant():
    first = point("prefetch_multiplier=4", two(2.1, 1.9, 2.3, 1.00, 0.99, 1.01))
    best = point("prefetch_multiplier=1", two(0.06, 0.05, 0.07, 0.97, 0.96, 0.98))
    (table,) = setting_tables(summary(first, best))
    assert table.shape == "prefork -c 1, 2 workers"
    assert [r.setting for r in table.rows] == ["prefetch_multiplier=4", "prefetch_multiplier=1"]
    assert (table.short, table.long) == ("short", "long")
    rec = table.recommendation
    assert (rec.best, rec.reference) == ("prefetch_multiplier=1", "prefetch_multiplier=4")
    assert (rec.best_p99_s, rec.reference_p99_s) == (0.06, 2.1)
    assert rec.significant
    assert rec.long_change == pytest.approx(-0.03)
    assert not rec.long_significant  # 3% is under the 5% minimum effect
    assert not rec.one_repeat


def test_celerys_default_is_the_reference_wherever_it_stands_and_ties_with_the_best_are_kept():
    rows = [
        point("prefetch_multiplier=1, acks_late=false", two(0.0176, 0.0174, 0.0178)),
        point("prefetch_multiplier=1, acks_late=true", two(0.0168, 0.0167, 0.0169)),
        point("prefetch_multiplier=4, acks_late=false", two(1.36, 1.35, 1.37)),
        point("prefetch_multiplier=4, acks_late=true", two(1.36, 1.35, 1.37)),
    ]
    rec = setting_tables(summary(*rows))[0].recommendation
    assert (rec.best, rec.reference) == (
        "prefetch_multiplier=1, acks_late=true",
        "prefetch_multiplier=4, acks_late=false",
    )
    assert rec.reference_is_default
    assert rec.significant
    assert rec.ties == (("prefetch_multiplier=1, acks_late=false", 0.0176),)  # 5% apart at most: not told apart


def test_defaults_are_read_as_written_in_any_spelling():
    assert point("acks_late=no", two(1, 1, 1)).settings == (("acks_late", "no"),)
    default = setting_tables(summary(point("acks_late=no", two(1, 1, 1)), point("acks_late=yes", two(0.1, 0.1, 0.1))))
    assert default[0].rows[0].celery_default
    assert not default[0].rows[1].celery_default
    assert default[0].recommendation.reference_is_default


def test_overlapping_cis_are_no_significant_difference():
    a = point("acks_late=false", [estimate("short", 0.10, 0.05, 0.20), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    b = point("acks_late=true", [estimate("short", 0.09, 0.06, 0.15), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    rec = setting_tables(summary(a, b))[0].recommendation
    assert rec.best == "acks_late=true"
    assert not rec.significant


def test_cis_apart_by_less_than_the_minimum_effect_are_no_significant_difference():
    a = point("x=1", [estimate("short", 1.00, 0.999, 1.001), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    b = point("x=2", [estimate("short", 0.98, 0.979, 0.981), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    assert not setting_tables(summary(a, b))[0].recommendation.significant


def test_when_the_first_setting_is_the_best_it_is_compared_with_the_worst():
    rows = [
        point("prefetch_multiplier=1", two(0.05, 0.04, 0.06)),
        point("prefetch_multiplier=2", two(0.50, 0.40, 0.60)),
        point("prefetch_multiplier=4", two(1.50, 1.40, 1.60)),
    ]
    rec = setting_tables(summary(*rows))[0].recommendation
    assert (rec.best, rec.reference) == ("prefetch_multiplier=1", "prefetch_multiplier=4")
    assert rec.significant


def test_one_repeat_is_never_significant():
    a = point("x=1", two(2.0, None, None, repeats=1))
    b = point("x=2", two(0.1, None, None, repeats=1))
    rec = setting_tables(summary(a, b))[0].recommendation
    assert rec.one_repeat
    assert not rec.significant


def test_one_setting_has_a_table_and_no_recommendation_and_other_shapes_have_their_own_table():
    lone = point("x=1", [estimate("short", 0.1, 0.1, 0.1), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)], c=4)
    a = point("x=1", [estimate("short", 0.1, 0.1, 0.1), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    b = point("x=2", [estimate("short", 0.2, 0.2, 0.2), estimate("long", 2.0, 2.0, 2.0, mean_ms=2000)])
    tables = setting_tables(summary(a, lone, b))
    assert [t.shape for t in tables] == ["prefork -c 1, 2 workers", "prefork -c 4, 2 workers, x=1"]
    assert tables[1].recommendation is None
    assert [r.setting for r in tables[1].rows] == [""]
    assert recommend(tables[0].rows[:1], "short", "long") is None


def test_a_sweep_of_workloads_has_no_mix_table():
    plain = PointSummary("prefork", 1, "sleep", 50.0, None, 2.0, 20, 5, "sleep-50ms-prefork-c1")
    assert setting_tables(summary(plain)) == []
