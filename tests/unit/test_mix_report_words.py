"""The words and figure of a mix sweep's report (bench/output/mix.py,
plot_mix.py): every number in the recommendation is a measured one, a
difference inside the noise is said as such, and the report holds the
table per setting and the figure."""

import dataclasses

from bench.analysis.mix import Recommendation, setting_tables
from bench.analysis.summary import analyze
from bench.output import export
from bench.output.mix import (
    FIGURE,
    OPEN_LOOP_FIGURE,
    duration,
    mix_section,
    open_loop_section,
    open_loop_terminal,
    recommendation_line,
    table_rows,
)
from bench.output.plot import figures
from bench.output.plot_mix import mix_figure, open_loop_mix_figure
from bench.results.records import Metadata
from bench.results.sweep_records import ClassEstimate, PointSummary, SweepSettings, SweepSummary

SLEEP = {"workload": "sleep", "distribution": "fixed"}
TRAFFIC = {
    "source": "hol.toml",
    "seed": 28,
    "classes": [
        {"name": "short", **SLEEP, "share": 0.99, "task_ms": 10.0, "mean_ms": 10.0},
        {"name": "long", **SLEEP, "share": 0.01, "task_ms": 2000.0, "mean_ms": 2000.0},
    ],
}


def rec(**changes):
    base = {
        "short": "short",
        "long": "long",
        "best": "prefetch_multiplier=1, acks_late=true",
        "reference": "prefetch_multiplier=4, acks_late=false",
        "reference_is_default": False,
        "best_p99_s": 0.06,
        "reference_p99_s": 2.1,
        "significant": True,
        "long_change": -0.031,
        "long_significant": True,
        "one_repeat": False,
    }
    return Recommendation(**{**base, **changes})


def test_durations_read_in_their_unit():
    assert [duration(v) for v in (2.1, 0.06, 0.0152, 0.0000853, None)] == ["2.1 s", "60 ms", "15.2 ms", "85.3 us", "-"]


def test_the_recommendation_says_the_measured_cut_and_cost():
    assert recommendation_line(rec()) == (
        "prefetch_multiplier=1, acks_late=true cuts the short tasks' p99 from 2.1 s (prefetch_multiplier=4, "
        "acks_late=false) to 60 ms (35x lower) and costs 3% of long-task throughput."
    )


def test_celerys_default_as_the_reference_and_the_settings_not_told_apart_are_named():
    line = recommendation_line(rec(reference_is_default=True, ties=(("prefetch_multiplier=1", 0.0176),)))
    assert "from 2.1 s (prefetch_multiplier=4, acks_late=false: Celery's default) to 60 ms" in line
    assert line.endswith("; not told apart from it: prefetch_multiplier=1 (17.6 ms).")
    plain = recommendation_line(rec(reference_is_default=True, significant=False))
    assert "with prefetch_multiplier=4, acks_late=false (Celery's default) (their 95% CIs" in plain


def test_a_gain_in_long_throughput_and_a_change_inside_the_noise_are_said_as_they_are():
    assert recommendation_line(rec(long_change=0.08)).endswith("and raises long-task throughput by 8%.")
    line = recommendation_line(rec(long_change=-0.004, long_significant=False))
    assert line.endswith(", with no significant change in long-task throughput (-0.4%).")


def test_overlapping_cis_are_no_significant_difference_in_words():
    line = recommendation_line(rec(significant=False, best_p99_s=0.09, reference_p99_s=0.1))
    assert line.startswith("No significant difference in the short tasks' p99 between the settings: ")
    assert "90 ms with prefetch_multiplier=1, acks_late=true against 100 ms with prefetch_multiplier=4" in line
    assert "cuts" not in line
    assert "one repeat" in recommendation_line(rec(significant=False, one_repeat=True))


def estimate(name, p99, low, high, rate, mean_ms, free=0.0, waited=0.0):
    return ClassEstimate(
        name, 0.5, mean_ms, 2, p99, low, high, (low, high), rate, rate * 0.99, rate * 1.01, free, waited
    )


def point(setting, short_p99, long_rate, free, waited, extra=()):
    classes = (
        estimate("short", short_p99, short_p99 * 0.9, short_p99 * 1.1, 50.0, 10.0, free, waited),
        *extra,
        estimate("long", 3.7, 3.6, 3.8, long_rate, 2000.0),
    )
    return PointSummary(
        "prefork", 1, "mix", 29.9, None, 2.0, 200, 5, f"mix-29.9ms-prefork-c1-w2-{setting}",
        repeats=2, workers=2, settings=(tuple(setting.split("=")),), classes=classes,
    )  # fmt: skip


def mix_summary(extra=()):
    points = (
        point("prefetch_multiplier=4", 3.74, 0.538, 5.9, 8, extra),
        point("prefetch_multiplier=1", 2.43, 0.536, 1.52, 2, extra),
    )
    machine = Metadata(hostname="h", cpu_model="cpu", usable_cores=2.0, os="Linux", python="3.12", git_commit="abc")
    settings = SweepSettings(pools=("prefork",), workloads=("mix",), min_repeats=2, max_repeats=2, traffic=TRAFFIC)
    return SweepSummary(settings, machine, "complete", points)


def test_the_table_has_a_row_per_setting_with_the_short_p99_the_long_throughput_and_the_reserved_time():
    (table,) = setting_tables(mix_summary())
    rows = table_rows(table)
    assert rows[0] == ["setting", "short p99 (95% CI)", "long tasks/s", "short reserved while a slot was free"]
    assert rows[1] == ["prefetch_multiplier=4", "3.74 s (3.37 s to 4.11 s)", "0.538", "5.9 s (8 tasks)"]
    assert rows[2] == ["prefetch_multiplier=1", "2.43 s (2.19 s to 2.67 s)", "0.536", "1.52 s (2 tasks)"]


def test_with_more_classes_every_class_has_its_p99():
    medium = estimate("medium", 0.5, 0.4, 0.6, 5.0, 200.0)
    (table,) = setting_tables(mix_summary(extra=(medium,)))
    header = table_rows(table)[0]
    assert header[1:4] == ["short p99 (95% CI)", "medium p99 (95% CI)", "long p99 (95% CI)"]


def test_the_report_section_holds_the_table_the_recommendation_and_the_figure():
    text = "\n".join(mix_section(mix_summary()))
    assert "## Traffic mix: who waits, per setting" in text
    assert "99% short (sleep 10 ms), 1% long (sleep 2000 ms) from `hol.toml`, seed 28" in text
    assert "| prefetch_multiplier=1 | 2.43 s (2.19 s to 2.67 s) | 0.536 | 1.52 s (2 tasks) |" in text
    assert (
        "**Recommendation:** prefetch_multiplier=1 cuts the short tasks' p99 from 3.74 s "
        "(prefetch_multiplier=4: Celery's default) to 2.43 s (1.54x lower)" in text
    )
    assert f"![per-class p99 per setting]({FIGURE}.png)" in text
    assert mix_section(SweepSummary(SweepSettings(), None, "complete", ())) == []


def test_the_figure_draws_a_bar_per_class_and_setting_with_whiskers_and_the_report_embeds_it(tmp_path):
    summary = mix_summary()
    (fig,) = mix_figure(summary).values()
    (ax,) = fig.axes
    assert len(ax.patches) == 4  # 2 settings x 2 classes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["prefetch_multiplier=4", "prefetch_multiplier=1"]
    assert ax.get_yscale() == "linear"  # 2.43 s to 3.8 s: no log axis needed
    written = figures(summary, tmp_path)
    assert {p.name for p in written} >= {f"{FIGURE}.png", f"{FIGURE}.svg"}
    files = export.report_files(summary, "complete", analyze(summary), tmp_path)
    assert "**Recommendation:**" in files["report.md"]
    assert "Recommendation:</strong>" in files["report.html"]
    assert 'alt="per-class p99 per setting" src="data:image/png;base64,' in files["report.html"]


def open_loop_document():
    """open_loop.json of a mix sweep at one rate, as sweep/rates.py writes it."""
    points = []
    for p in mix_summary().points:
        entry = {
            "pool": p.pool, "concurrency": p.concurrency, "workload": p.workload, "task_ms": p.task_ms,
            "cpus": None, "cores": p.cores, "tasks": p.tasks, "warmup": p.warmup, "key": p.key,
            "workers": p.workers, "settings": [list(s) for s in p.settings], "host_count": None,
        }  # fmt: skip
        cell = {"rate": 6.0, "runs": 2, "classes": [dataclasses.asdict(k) for k in p.classes or ()]}
        points.append({**entry, "rates": [cell, {"rate": 3.0, "runs": 0}]})
    return {"kind": "sweep-open-loop", "points": points, "verdicts": {}}


def test_the_open_loop_section_has_a_table_per_rate_from_the_rate_cells_classes():
    text = open_loop_section(open_loop_document())
    assert "## Traffic mix in open loop: who waits, per setting and rate" in text
    assert "### prefork -c 1, 2 workers, at 6 tasks/s" in text
    assert "at 3 tasks/s" not in text  # a rate cell without classes (no run) has no table
    assert "| prefetch_multiplier=4 | 3.74 s (3.37 s to 4.11 s) | 0.538 | 5.9 s (8 tasks) |" in text
    assert "**Recommendation at 6 tasks/s:** prefetch_multiplier=1 cuts the short tasks' p99" in text
    (line,) = open_loop_terminal(open_loop_document())
    assert line.startswith("Traffic mix in open loop, prefork -c 1, 2 workers at 6/s: prefetch_multiplier=1 cuts")
    assert open_loop_section({"points": []}) == ""


def test_the_report_of_a_mix_sweep_with_rates_ends_with_its_open_loop_tables_and_figure(tmp_path):
    summary, document = mix_summary(), open_loop_document()
    (fig,) = open_loop_mix_figure(document, TRAFFIC).values()
    (ax,) = fig.axes
    assert ax.get_title() == "prefork -c 1, 2 workers, open loop at 6 tasks/s"
    assert len(ax.patches) == 4
    files = export.report_files(summary, "complete", analyze(summary), tmp_path, open_loop=document)
    markdown = files["report.md"]
    assert markdown.index("## Open loop: does -c beyond 2x cores") < markdown.index("## Traffic mix in open loop")
    assert f"![per-class p99 per setting, open loop]({OPEN_LOOP_FIGURE}.png)" in markdown
    end = export.terminal_end(summary, analyze(summary), open_loop=document)
    assert "Traffic mix in open loop, prefork -c 1, 2 workers at 6/s: prefetch_multiplier=1 cuts" in end
