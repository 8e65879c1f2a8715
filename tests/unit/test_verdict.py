"""The verdict rule on hand-built per-repeat values: each of its words;
and a degrading row where a reader meets it."""

import dataclasses

from bench.analysis.groups import groups
from bench.analysis.summary import analyze
from bench.analysis.verdict import (
    DEGRADES,
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTED,
    RULE,
    WORDS,
    decide,
    ratio_ci,
)
from bench.output import markdown, plot, sweep_terminal
from bench.sweep.store import load_summary
from tests.helpers.paths import REFERENCE


def test_a_clear_gain_beyond_2x_cores_does_not_hold():
    points = {1: [20, 20.1, 19.9], 4: [80, 80.5, 79.5], 64: [800, 810, 790]}
    v = decide(points, cores=2)
    assert v.word == DOES_NOT_HOLD
    assert (v.within_c, v.beyond_c) == (4, 64)
    assert v.gain_ci95[0] > 0.05


def test_a_plateau_holds():
    points = {
        1: [47, 47.2, 46.9],
        2: [88, 88.4, 87.9],
        4: [88.3, 88.1, 88.6],
        8: [88.2, 88.0, 88.5],
        16: [87, 87.5, 86.8],
    }
    v = decide(points, cores=2)
    assert v.word == HOLDS
    assert v.gain_ci95[1] < 0.05


def test_a_significant_loss_beyond_2x_cores_degrades():
    # the tutorial's second clause: "likely to degrade performance instead"
    v = decide({2: [100, 101, 99], 8: [70, 71, 69]}, cores=2)
    assert v.word == DEGRADES
    assert v.gain < -0.05
    assert v.gain_ci95[1] < 0
    assert v.reason == "-c 8 loses 30% against -c 2 (95% CI -32% to -28%): beyond 2x cores degrades throughput"


def test_a_loss_whose_interval_reaches_zero_holds():
    # The quick sweep's prefork CPU row: -10%, 95% CI -14% to +0%: not significant.
    v = decide({4: [100, 100.5, 99.5], 16: [90, 86, 100, 89.5]}, cores=2)
    assert v.word == HOLDS
    assert round(v.gain, 2) == -0.10
    assert v.gain_ci95[1] >= 0
    assert "(95% CI -14% to +0%)" in v.reason


def test_a_significant_loss_below_the_minimum_effect_holds():
    # The standard reference's: -4%, 95% CI -5% to -1%: real, but below the 5% minimum effect.
    v = decide({4: [100, 100.5, 99.5], 16: [96, 95, 99]}, cores=2)
    assert v.word == HOLDS
    assert v.gain_ci95[1] < 0
    assert "is -4% (95% CI -5% to -1%)" in v.reason


def test_the_rule_in_words_names_every_word():
    assert all(f"**{word}**" in RULE for word in WORDS)


def test_overlapping_noisy_intervals_are_inconclusive():
    v = decide({4: [80, 100, 90], 8: [85, 110, 95]}, cores=2)
    assert v.word == INCONCLUSIVE


def test_a_small_significant_gain_below_the_minimum_effect_holds():
    # +2%, tightly measured: real, but below the 5% that would justify more concurrency.
    v = decide({4: [100.0, 100.1, 99.9, 100.0], 16: [102.0, 102.1, 101.9, 102.0]}, cores=2)
    assert v.word == HOLDS


def test_no_points_beyond_2x_cores_is_not_tested():
    v = decide({1: [10, 10, 10], 4: [40, 40, 40]}, cores=2)
    assert v.word == NOT_TESTED
    assert "above" in v.reason


def test_ratio_interval_contains_the_ratio_of_medians():
    low, high = ratio_ci([110, 112, 108], [100, 101, 99])
    assert low <= 110 / 100 <= high


def degrading(summary, factor=0.8):
    """The reference summary with prefork's CPU-bound points beyond 2x cores
    (-c 8 and 16 on its 2 cores) at `factor` of their throughput."""

    def scaled(point):
        if point.key not in ("cpu-20ms-prefork-c8", "cpu-20ms-prefork-c16"):
            return point
        t = point.throughput
        values = tuple(v * factor for v in t.values_per_s)
        estimate = dataclasses.replace(
            t,
            median_per_s=t.median_per_s * factor,
            ci95_low_per_s=t.ci95_low_per_s * factor,
            ci95_high_per_s=t.ci95_high_per_s * factor,
            values_per_s=values,
        )
        return dataclasses.replace(point, throughput=estimate)

    return dataclasses.replace(summary, points=tuple(scaled(p) for p in summary.points))


def test_a_degrading_row_says_so_in_the_tables_the_report_and_the_overview_legend():
    summary, _ = load_summary(REFERENCE)
    summary = degrading(summary)
    analysis = analyze(summary)
    assert analysis.verdicts["cpu-20ms"]["prefork"].word == DEGRADES
    assert analysis.verdicts["sleep-50ms"]["prefork"].word == DOES_NOT_HOLD
    rows = sweep_terminal.verdict_rows(summary, analysis)
    assert ["cpu 20 ms", "prefork"] == rows[1][:2]
    assert rows[1][-1] == DEGRADES
    text = markdown.render(summary, "complete", analysis, "reference")
    assert "| **degrades** |" in text
    assert RULE in text
    figure = plot.overview(groups(summary), 2.0, analysis)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "prefork: degrades" in labels
