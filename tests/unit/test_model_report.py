"""The report says how good the worker model is: report.md's section "The
model" (each predicted point beside its measured median, a line per pool),
the model dashed beside each measured curve in the throughput figures, and
points.csv's `predicted_per_s`; a sweep with no prediction reads as before.
From a quick sweep of the built-in workloads measured on the CI machine
(tests/data/model/builtins-quick.json)."""

import csv
import dataclasses
import io
from statistics import median

import pytest
from matplotlib.colors import to_hex

from bench.analysis.groups import groups
from bench.analysis.summary import analyze
from bench.output import csv as report_csv
from bench.output import markdown as report_markdown
from bench.output.plot_style import STYLE, single
from bench.output.plot_throughput import throughput_axes
from bench.results.io import read_sweep_summary
from tests.helpers.paths import DATA


@pytest.fixture(scope="module")
def quick():
    return read_sweep_summary(DATA / "model" / "builtins-quick.json")


def without_predictions(summary):
    return dataclasses.replace(
        summary, points=tuple(dataclasses.replace(p, predicted_per_s=None) for p in summary.points)
    )


def report(summary):
    return report_markdown.render(summary, "complete", analyze(summary, "complete"), "sweep-quick")


def bounds(lines):
    """Where report.md's section "The model" starts and ends in its lines."""
    start = lines.index("## The model")
    return start, next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))


def section(text):
    """The lines of report.md's section "The model"."""
    lines = text.splitlines()
    start, end = bounds(lines)
    return lines[start:end]


def test_the_model_section_has_a_row_per_predicted_point(quick):
    text = report(quick)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings.index("## The model") == headings.index("## Scalability model") + 1
    rows = [line for line in section(text) if line.startswith("| `")]
    predicted = [p for p in quick.points if p.predicted_per_s is not None]
    assert len(rows) == len(predicted) == len(quick.points)
    assert [row.split("`")[1] for row in rows] == [p.name for p in predicted]
    assert "| `net-50ms-gevent-c256` | 1051 | 720 | +46.0% |" in rows
    assert "| `cpu-20ms-prefork-c1` | 47.7 | 47.4 | +0.6% |" in rows


def test_the_points_the_model_comes_from_are_marked_as_its_inputs(quick):
    rows = [line for line in section(report(quick)) if line.startswith("| `")]
    inputs = [row.split("`")[1] for row in rows if row.endswith("(input) |")]
    assert inputs == [p.name for p in quick.points if p.workload == "noop" or p.pool == "solo"]
    assert "| `noop-prefork-c2` | 1267 | 1267 | 0.0% (input) |" in rows


def test_each_pool_has_a_line_with_its_median_error_and_its_worst_point(quick):
    lines = {line.split(":")[0][2:]: line for line in section(report(quick)) if line.startswith("- ")}
    assert list(lines) == ["prefork", "gevent", "eventlet", "solo", "threads"]
    gevent = [
        p.predicted_per_s / p.median_per_s - 1 for p in quick.points if p.pool == "gevent" and p.workload != "noop"
    ]
    assert f"median absolute error {median(abs(e) for e in gevent):.1%} over {len(gevent)} points" in lines["gevent"]
    assert "worst `net-50ms-gevent-c256`: predicted 1051/s, measured 720/s (+46.0%)" in lines["gevent"]
    assert "no point to test" in lines["solo"]


def test_the_section_says_what_the_model_is(quick):
    words = " ".join(section(report(quick)))
    for said in ("closed queueing network", "exact Mean Value Analysis", "no-op points", "solo -c 1 point"):
        assert said in words
    assert "docs/advise.md" in words


def test_without_predictions_the_report_is_as_before(quick):
    with_model, without = report(quick), report(without_predictions(quick))
    assert "## The model" not in without
    lines = with_model.splitlines()
    start, end = bounds(lines)
    assert without.splitlines() == lines[:start] + lines[end:]
    older = read_sweep_summary(DATA / "v16" / "summary.json")
    assert "## The model" not in report(older)


def test_a_sweep_whose_only_predictions_are_the_models_inputs_has_no_section(quick):
    """With no solo point the task has no C and W: only the no-op points
    are predicted, from themselves, which would test nothing."""
    inputs_only = dataclasses.replace(
        quick,
        points=tuple(p if p.workload == "noop" else dataclasses.replace(p, predicted_per_s=None) for p in quick.points),
    )
    assert "## The model" not in report(inputs_only)


def test_points_csv_carries_the_prediction(quick):
    rows = list(csv.DictReader(io.StringIO(report_csv.render(quick))))
    # after every column it had before it: a spreadsheet reading by position keeps working
    assert list(rows[0])[-3:] == ["predicted_per_s", "recycles", "tree_kib_per_task"]
    by_key = {row["key"]: row for row in rows}
    assert by_key["net-50ms-gevent-c256"]["predicted_per_s"] == "1051.29"
    stripped = csv.DictReader(io.StringIO(report_csv.render(without_predictions(quick))))
    assert {row["predicted_per_s"] for row in stripped} == {""}


def panel(summary, key):
    """The throughput panel of figure `key`, drawn as plot.draw draws it."""
    curves = groups(summary)[key]
    _, ax = single(7.5, 4.8)
    throughput_axes(ax, curves, 2.0, analyze(summary, "complete"), key)
    return ax


def model_lines(ax):
    return {str(line.get_gid()).removeprefix("model:"): line for line in ax.get_lines() if _is_model(line)}


def _is_model(line):
    return str(line.get_gid()).startswith("model:")


def test_the_figure_draws_the_model_dashed_in_each_pools_colour(quick):
    ax = panel(quick, "net-50ms")
    found = model_lines(ax)
    assert set(found) == {"prefork", "gevent", "eventlet", "threads"}  # solo has one point: no line
    for pool, line in found.items():
        assert line.get_linestyle() == "--"
        assert to_hex(line.get_color()) == to_hex(STYLE[pool]["color"])
        assert line.get_marker() in ("None", None, "")
        points = [p for p in quick.points if p.pool == pool and p.workload == "net"]
        assert list(line.get_xdata()) == [p.concurrency for p in points]
        assert list(line.get_ydata()) == [p.predicted_per_s for p in points]
        measured = next(m for m in ax.get_lines() if m.get_gid() == f"pool:{pool}")
        assert line.get_linewidth() < measured.get_linewidth()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert sum("model" in label for label in labels) == 1


def test_the_predictions_stay_in_view(quick):
    ax = panel(quick, "net-50ms")
    assert ax.get_ylim()[1] > max(p.predicted_per_s for p in quick.points if p.workload == "net")


def test_without_predictions_the_figure_draws_as_before(quick):
    def drawn(ax):
        return [
            (line.get_gid(), line.get_linestyle(), to_hex(line.get_color()), list(line.get_xdata()))
            for line in ax.get_lines()
            if not _is_model(line)
        ]

    with_model, without = panel(quick, "net-50ms"), panel(without_predictions(quick), "net-50ms")
    assert not model_lines(without)
    assert not any("model" in text.get_text() for text in without.get_legend().get_texts())
    assert drawn(without) == drawn(with_model)
