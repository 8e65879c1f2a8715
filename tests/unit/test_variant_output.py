"""A sweep with several workers and a varied setting reads right: one line,
one row and one verdict per combination, a total-concurrency view, and the
setting named in the legends, the table, the report and the CSV."""

import dataclasses

from PIL import Image

from bench.analysis.groups import curve_name, groups
from bench.analysis.summary import analyze
from bench.output import csv as report_csv
from bench.output import markdown as report_markdown
from bench.output import plot, plot_style
from bench.output.sweep_terminal import shapes_table_rows, sweep_table
from bench.results.io import read_sweep_summary
from tests.helpers.paths import DATA


def shaped_summary():
    """The small sweep's prefork/gevent points as 1 worker with prefetch 4,
    plus the same points as 2 workers with prefetch 1 (at 1.5x the rate)."""
    summary = read_sweep_summary(DATA / "sweep-small" / "summary.json")
    base = [p for p in summary.points if p.pool in ("prefork", "gevent") and p.workload == "sleep"]
    points = []
    for p in base:
        one = dataclasses.replace(
            p, workers=1, settings=(("prefetch_multiplier", "4"),), key=p.key + "-prefetch_multiplier=4"
        )
        tput = p.throughput
        faster = dataclasses.replace(
            tput,
            median_per_s=tput.median_per_s * 1.5,
            ci95_low_per_s=tput.ci95_low_per_s * 1.5,
            ci95_high_per_s=tput.ci95_high_per_s * 1.5,
            values_per_s=tuple(v * 1.5 for v in tput.values_per_s),
        )
        two = dataclasses.replace(
            p,
            workers=2,
            settings=(("prefetch_multiplier", "1"),),
            key=p.key + "-w2-prefetch_multiplier=1",
            throughput=faster,
        )
        points += [one, two]
    vary = (("prefetch_multiplier", ("4", "1")), ("workers", ("1", "2")))
    return dataclasses.replace(summary, points=tuple(points), config=dataclasses.replace(summary.config, vary=vary))


def test_each_combination_is_its_own_curve_and_verdict():
    summary = shaped_summary()
    (curves,) = groups(summary).values()
    assert list(curves) == [
        "prefork [prefetch_multiplier=4]",
        "prefork [2 workers, prefetch_multiplier=1]",
        "gevent [prefetch_multiplier=4]",
        "gevent [2 workers, prefetch_multiplier=1]",
    ]
    (verdicts,) = analyze(summary).verdicts.values()
    assert set(verdicts) == set(curves)


def test_the_tables_name_the_shape_and_the_setting():
    summary = shaped_summary()
    text = sweep_table(summary, analyze(summary))
    assert "gevent [2 workers, prefetch_multiplier=1]" in text
    assert "by total concurrency" in text
    rows = shapes_table_rows(summary)
    assert rows[0][:2] == ["workload", "workers x pool"]
    assert ["2 x gevent [prefetch_multiplier=1]"] == [r[1] for r in rows[1:] if r[1].startswith("2 x gevent")]
    # 2 x -c 1 lands in the total c=2 column
    two = next(r for r in rows[1:] if r[1].startswith("2 x prefork"))
    assert rows[0].index("total c=2") in [i for i, cell in enumerate(two) if cell]


def test_the_report_and_csv_carry_the_variant(tmp_path):
    summary = shaped_summary()
    md = report_markdown.render(summary, "complete", analyze(summary), "sweep-x")
    assert "| sleep 50 ms | gevent [2 workers, prefetch_multiplier=1] |" in md
    assert "By total concurrency" in md
    assert "varied (each combination is its own curve and verdict)" in md
    assert "shapes-sleep-50ms.png" in md
    rows = report_csv.render(summary).splitlines()
    header = rows[0].split(",")
    assert {"workers", "total_concurrency", "variant"} <= set(header)
    assert any("2 workers; prefetch_multiplier=1" in r or "2 workers, prefetch_multiplier=1" in r for r in rows)


def test_figures_have_a_line_per_combination_and_a_shapes_figure(tmp_path):
    summary = shaped_summary()
    written = plot.figures(summary, tmp_path, analyze(summary))
    names = {p.name for p in written}
    assert "shapes-sleep-50ms.png" in names
    assert "throughput-sleep-50ms.png" in names
    with Image.open(tmp_path / "shapes-sleep-50ms.png") as image:
        assert image.size[0] > 400
    svg = (tmp_path / "throughput-sleep-50ms.svg").read_text()
    assert "2 workers, prefetch_multiplier=1" in svg  # the legend names the setting
    styles = plot_style.line_styles(groups(summary)["sleep-50ms"])
    # colour: the settings; dash: the worker count; marker: the pool
    one, two = styles["gevent [prefetch_multiplier=4]"], styles["gevent [2 workers, prefetch_multiplier=1]"]
    assert one["color"] != two["color"]
    assert one["linestyle"] != two["linestyle"]
    assert styles["prefork [prefetch_multiplier=4]"]["color"] == one["color"]
    assert styles["prefork [prefetch_multiplier=4]"]["marker"] != one["marker"]


def test_a_sweep_without_variants_keeps_pool_names():
    summary = read_sweep_summary(DATA / "sweep-small" / "summary.json")
    assert {curve_name(p) for p in summary.points} == {p.pool for p in summary.points}
    assert shapes_table_rows(summary) == []
