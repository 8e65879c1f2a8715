"""Issue 14, what a user meets: the answer in the terminal, figures that
cannot mislead (checked on what was drawn), the HTML page by its
structure, compare refusing a side with nothing to compare, and figures
written deterministically."""

import dataclasses
import hashlib
import itertools
import re

import pytest
from matplotlib.text import Text

from bench.analysis.groups import groups
from bench.analysis.summary import Note, analyze, warning_about
from bench.analysis.verdict import best_of
from bench.cli import main
from bench.output import markdown as report_markdown
from bench.output import plot, plot_style, sweep_terminal
from bench.results.schema import ThroughputEstimate
from bench.sweep.config import PROFILES
from bench.sweep.plan import build_plan
from bench.sweep.store import load_summary
from tests.helpers.paths import REFERENCE


def estimate(median, low=None, high=None):
    return ThroughputEstimate(median, low or median * 0.99, high or median * 1.01, 0.01, False, (median,) * 3)


@pytest.fixture(scope="module")
def reference():
    summary, status = load_summary(REFERENCE)
    return summary, analyze(summary, status)


@pytest.fixture(scope="module")
def drawn(reference, machine_lock):
    with machine_lock.held():  # seconds of drawing, outside any test's hold
        return plot.draw(*reference)


def with_noop(summary, pool="gevent", rate=1000.0):
    """The reference summary with a noop probe point for `pool`."""
    template = next(p for p in summary.points if p.pool == pool)
    probe = dataclasses.replace(
        template,
        workload="noop",
        task_ms=None,
        concurrency=4,
        key=f"noop-{pool}-c4",
        throughput=estimate(rate),
        ceiling_per_s=None,
        efficiency=None,
        warnings=(),
    )
    return dataclasses.replace(summary, points=(*summary.points, probe))


def lines(ax, kind):
    return [line for line in ax.get_lines() if str(line.get_gid()).startswith(f"{kind}:")]


# --- the answer, where the user is looking ------------------------------------


def test_a_flat_row_has_no_best_c():
    best = best_of({1: estimate(45.2), 4: estimate(44.9), 16: estimate(45.4), 256: estimate(44.0)})
    assert best.flat
    assert best.c is None
    assert best.words == "flat"


def test_a_best_at_the_largest_c_tried_is_flagged():
    best = best_of({1: estimate(19.0), 4: estimate(76.0), 16: estimate(300.0)})
    assert (best.c, best.edge) == (16, "largest")
    assert best.warning == "best at the largest -c tried (16): the optimum may lie beyond"
    inside = best_of({1: estimate(19.0), 64: estimate(860.0), 256: estimate(700.0)})
    assert (inside.c, inside.edge, inside.warning) == (64, None, None)


def test_the_report_command_ends_with_the_verdict_table_and_the_warnings(reference_copy, capsys):
    assert main(["report", str(reference_copy)]) == 0
    out = capsys.readouterr().out
    verdicts = out.index("Verdict on the tutorial's")
    warnings = out.index("Warnings:")
    assert verdicts < warnings
    table = out[verdicts:warnings]
    assert re.search(r"sleep 50 ms\s+prefork\s+-c 16 \(largest tried\).*does not hold", table)
    assert re.search(r"cpu 20 ms\s+gevent\s+flat\s", table)
    assert "sleep-50ms-prefork: best at the largest -c tried (16): the optimum may lie beyond" in out[warnings:]
    throughput = out[: out.index("Verdict on")]
    gevent_cpu = next(line for line in throughput.splitlines() if re.match(r"cpu 20 ms\s+gevent", line))
    assert "*" not in gevent_cpu  # a flat row stars nothing
    assert "\nflat: every -c's median is within 5%" in throughput  # and the key says why


def test_the_key_under_the_throughput_table_explains_only_the_marks_it_shows():
    header = ["workload", "pool", "c=1", "c=2", "best"]
    steep = [header, ["sleep 10 ms", "prefork", "95.6", "191*", "-c 2 (largest tried)"]]
    assert sweep_terminal.table_key(steep) == "median tasks/s over repeats; * best -c of the row"
    mixed = [*steep, ["cpu 20 ms", "gevent", "45.2~", "45.4", "flat"]]
    first, second = sweep_terminal.table_key(mixed).splitlines()
    assert first == "median tasks/s over repeats; * best -c of the row; ~ unstable (CV > 10%)"
    assert second.startswith("flat: every -c's median is within 5% of the highest")


def test_a_usl_peak_outside_the_measured_range_is_said_as_an_extrapolation(reference):
    summary, analysis = reference
    assert any(
        "sleep-50ms-prefork: USL peak at -c 147, beyond the largest -c measured (16)" in w for w in analysis.warnings
    )
    text = report_markdown.render(summary, "complete", analysis, "reference")
    assert "147, beyond the largest -c measured (16): an extrapolation" in text


def test_the_usl_curve_is_drawn_only_over_the_measured_range(drawn, reference):
    summary, _ = reference
    for key in ("cpu-20ms", "sleep-50ms"):
        ax = drawn[f"throughput-{key}"].axes[0]
        fits = lines(ax, "fit")
        assert fits, key
        for line in fits:
            pool = line.get_gid().split(":")[1]
            measured = [p.concurrency for p in summary.points if p.pool == pool and key in p.key]
            xs = line.get_xdata()
            assert min(xs) >= min(measured) - 1e-9, pool
            assert max(xs) <= max(measured) + 1e-9, pool


def test_an_interrupted_sweep_says_so_in_its_warnings(reference):
    summary, _ = reference
    partial = dataclasses.replace(summary, points=summary.points[:-3] + tuple(
        dataclasses.replace(p, repeats=0, failed_repeats=0, throughput=None) for p in summary.points[-3:]
    ))  # fmt: skip
    analysis = analyze(partial, "interrupted")
    assert analysis.warnings[0].startswith("sweep interrupted: 45 of 48 planned points measured")
    assert any(w.startswith("3 points not measured") for w in analysis.warnings)
    text = report_markdown.render(partial, "interrupted", analysis, "x")
    assert "none: every point complete" not in text


# --- figures that cannot mislead ------------------------------------------------


def test_the_physical_ceiling_is_drawn_in_a_style_no_pool_line_uses(drawn):
    ax = drawn["throughput-sleep-50ms"].axes[0]
    pools, ceilings = lines(ax, "pool"), lines(ax, "ceiling")
    assert pools
    assert ceilings
    assert all(line.get_linewidth() <= 2 and line.get_alpha() in (None, 1) for line in pools)
    assert all(
        line.get_linewidth() >= 5 and line.get_alpha() < 0.5 and line.get_marker() in (None, "None", "")
        for line in ceilings
    )
    assert len({str(line.get_linestyle()) + line.get_marker() for line in pools}) == len(pools)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "physical ceiling, per pool" in labels


def test_the_noop_rate_is_drawn_as_a_second_ceiling_and_efficiency_uses_the_lower(reference):
    summary, _ = reference
    summary = with_noop(summary, "gevent", 700.0)
    analysis = analyze(summary)
    assert ("gevent", None) in analysis.overheads
    assert "noop" not in [key.split("-")[0] for key in analysis.bests]  # a probe, not a figure of its own
    figures = plot.draw(summary, analysis)
    ax = figures["throughput-sleep-50ms"].axes[0]
    (line,) = lines(ax, "overhead")
    assert line.get_gid() == "overhead:gevent"
    assert set(line.get_ydata()) == {700.0}
    # matplotlib reports any dash pattern as "--": the marker tells it from every pool line
    assert line.get_marker() not in {p.get_marker() for p in lines(ax, "pool")}
    assert line.get_marker() not in {style["marker"] for style in plot_style.STYLE.values()}
    assert any("no-op rate, gevent: 700/s" in t.get_text() for t in ax.texts)
    eff = figures["efficiency-sleep-50ms"].axes[0]
    gevent = next(line for line in eff.get_lines() if line.get_color() == plot_style.STYLE["gevent"]["color"])
    c256 = next(p for p in summary.points if p.key == "sleep-50ms-gevent-c256")
    assert gevent.get_ydata()[-1] == pytest.approx(100 * c256.median_per_s / 700.0)


def as_pool(summary, source, pool):
    """The summary with `pool`'s sweep points replaced by `source`'s, as if
    measured again under `pool` with the same results."""
    kept = [p for p in summary.points if p.pool != pool]
    copies = [
        dataclasses.replace(p, pool=pool, key=p.key.replace(source, pool))
        for p in summary.points
        if p.pool == source and p.workload != "noop"
    ]
    return dataclasses.replace(summary, points=(*kept, *copies))


def coincide_notes(summary):
    fig = plot.draw(summary, analyze(summary))["throughput-cpu-20ms"]
    return [line for t in fig.axes[0].texts for line in t.get_text().splitlines() if "coincide" in line]


def test_pools_that_coincide_are_named_in_one_note(reference):
    summary, _ = reference
    assert coincide_notes(as_pool(summary, "gevent", "eventlet")) == [
        "gevent and eventlet coincide (within 2% at every -c)"
    ]
    three = as_pool(as_pool(summary, "gevent", "eventlet"), "gevent", "threads")
    # one note for the three, not one per pair
    assert coincide_notes(three) == ["gevent, eventlet and threads coincide (within 2% at every -c)"]


def test_noop_rates_close_together_share_one_label_and_far_ones_keep_their_own(reference):
    summary, _ = reference
    summary = with_noop(with_noop(with_noop(summary, "gevent", 700.0), "eventlet", 720.0), "prefork", 2000.0)
    analysis = analyze(summary)
    ax = plot.draw(summary, analysis)["throughput-sleep-50ms"].axes[0]
    assert {line.get_gid() for line in lines(ax, "overhead")} == {
        f"overhead:{p}" for p in ("gevent", "eventlet", "prefork")
    }
    labels = [t.get_text() for t in ax.texts if "no-op rate" in t.get_text()]
    assert sorted(labels) == ["no-op rate, prefork: 2,000/s", "no-op rate: gevent 700/s, eventlet 720/s"]


# threads measured as prefork and eventlet as gevent: two pairs of curves that coincide
POOLS_IN_TURN = ("prefork", "threads", "gevent", "eventlet", "solo")


def every_pool(summary):
    """The reference with every pool: threads and eventlet coinciding with
    prefork and gevent, and a no-op rate per pool (two close together)."""
    summary = as_pool(as_pool(summary, "prefork", "threads"), "gevent", "eventlet")
    for pool, rate in (("prefork", 1400.0), ("threads", 1500.0), ("gevent", 900.0), ("eventlet", 950.0)):
        summary = with_noop(summary, pool, rate)
    return summary


ONE_PANEL, TWO_PANELS = ("sleep",), ("cpu", "sleep")


@pytest.mark.parametrize(
    ("pools", "workloads"),
    [(1, ONE_PANEL), (2, TWO_PANELS), (3, ONE_PANEL), (4, TWO_PANELS), (5, ONE_PANEL), (5, TWO_PANELS)],
)
def test_no_two_words_of_the_overview_overlap_at_any_number_of_pools(reference, pools, workloads):
    summary = every_pool(reference[0])
    kept = [p for p in summary.points if p.pool in POOLS_IN_TURN[:pools] and p.workload in (*workloads, "noop")]
    summary = dataclasses.replace(summary, points=tuple(kept))
    fig = plot.overview(groups(summary), 2.0, analyze(summary))
    fig.canvas.draw()  # the constrained layout places the panels when drawn
    renderer = fig.canvas.get_renderer()
    shown = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    words = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
    texts = "\n".join(text for text, _ in words)
    # what could collide is there: the no-op rates' labels, and notes of curves that coincide
    assert "no-op rate, prefork: 1,400/s" in texts or "no-op rate: prefork 1,400/s" in texts
    assert ("prefork and threads coincide" in texts) == (pools >= 2)
    assert ("gevent and eventlet coincide" in texts) == (pools >= 4)
    for (first, box), (second, other) in itertools.combinations(words, 2):
        assert not box.overlaps(other), (first, second)
    for text, box in words:  # nothing past the figure's edges, the suptitle least of all
        assert fig.bbox.x0 <= box.x0, text
        assert box.x1 <= fig.bbox.x1, text
        assert fig.bbox.y0 <= box.y0, text
        assert box.y1 <= fig.bbox.y1, text
    suptitle = fig.get_suptitle()
    assert suptitle.startswith("Does -c beyond 2x cores help?")
    assert ("\n" in suptitle) == (len(workloads) == 1)  # one panel is too narrow for it on one line


def test_throughput_over_a_decade_gets_a_log_axis(drawn):
    assert drawn["throughput-sleep-50ms"].axes[0].get_yscale() == "log"
    assert drawn["throughput-cpu-20ms"].axes[0].get_yscale() == "linear"


def test_the_core_count_labels_do_not_collide(drawn):
    for name in ("throughput-sleep-50ms", "overview"):
        fig = drawn[name]
        renderer = fig.canvas.get_renderer()
        assert fig.axes, name
        for ax in fig.axes:  # every panel: its core-count labels ("cores", "2x cores"), no two overlapping
            pairs = 0
            for child in ax.child_axes:
                boxes = sorted(
                    (t.get_window_extent(renderer) for t in child.xaxis.get_ticklabels() if t.get_text()),
                    key=lambda box: box.x0,
                )
                for left, right in itertools.pairwise(boxes):
                    assert left.x1 < right.x0, (name, ax.get_title())
                    pairs += 1
            assert pairs, f"{name}, {ax.get_title()!r}: no pair of core-count labels to check"


def test_reference_lines_are_labelled_and_titles_do_not_nest_brackets(drawn):
    for name, fig in drawn.items():
        for ax in fig.axes:
            for text in (ax.get_title(), fig._suptitle.get_text() if fig._suptitle else ""):
                depth = deepest = 0
                for ch in text:
                    depth += {"(": 1, ")": -1}.get(ch, 0)
                    deepest = max(deepest, depth)
                assert deepest <= 1, (name, text)
                assert "(s)" not in text
    assert any("100%: the binding ceiling" in t.get_text() for t in drawn["efficiency-cpu-20ms"].axes[0].texts)
    assert any("2 usable cores" in t.get_text() for t in drawn["cpu-cpu-20ms"].axes[0].texts)


def test_the_latency_figure_says_what_it_shows(drawn):
    ax = drawn["latency-sleep-50ms"].axes[0]
    assert any("open-loop" in t.get_text() for t in ax.texts)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "service p50" in labels
    assert not any(label.startswith(("wait", "sojourn")) for label in labels)


def test_plural_words_in_the_report(reference):
    summary, analysis = reference
    quick = dataclasses.replace(summary, config=dataclasses.replace(summary.config, min_repeats=3, max_repeats=3))
    text = report_markdown.render(quick, "complete", analysis, "x")
    assert "3 to 3" not in text
    assert "3 repeats per point" in text


# --- the plan -------------------------------------------------------------------


def test_a_new_sweep_measures_one_noop_point_per_pool():
    pools = ("prefork", "gevent", "eventlet", "solo")
    plan = build_plan(pools, ("cpu", "sleep"), PROFILES["quick"], 2.0, [0, 1], overhead=True)
    noop = {(p.pool, p.concurrency) for p in plan if p.workload == "noop"}
    assert noop == {("prefork", 2), ("gevent", 4), ("eventlet", 4), ("solo", 1)}
    asked = build_plan(pools, ("noop",), PROFILES["quick"], 2.0, [0, 1], overhead=True)
    assert len([p for p in asked if p.pool == "gevent"]) > 1  # noop asked for: swept, not probed


# --- compare --------------------------------------------------------------------


def test_compare_with_a_side_that_has_no_repeats_exits_2_saying_so(capsys):
    assert main(["compare", str(REFERENCE), str(REFERENCE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m bench compare: error: baseline")
    assert "no repeats to compare" in err
    assert len(err.strip().splitlines()) == 1


# --- the HTML page and deterministic files --------------------------------------


def test_the_html_page_has_contents_a_figure_grid_and_warnings_in_verdict_rows(reference_copy):
    assert main(["report", str(reference_copy)]) == 0
    page = (reference_copy / "report.html").read_text()
    anchors = re.findall(r'<a href="#([a-z0-9-]+)">', page)
    assert len(anchors) >= 6
    for anchor in anchors:
        assert f'<h2 id="{anchor}">' in page
    assert page.count('<div class="grid">') == 2
    grid = page[page.index('<div class="grid">') :]
    grid = grid[: grid.index("</div>")]
    assert grid.count("<figure>") == 5
    assert ", <figure>" not in page  # no stray separators between figures
    row = next(r for r in page.split("<tr>") if "<td>sleep 50 ms</td><td>prefork</td>" in r and "does not hold" in r)
    assert '<td class="warnings">' in row
    assert "best at the largest -c tried (16)" in row


def test_a_verdict_rows_warnings_are_one_line_and_each_is_in_full_in_the_warnings_section(reference_copy):
    assert main(["report", str(reference_copy)]) == 0
    page = (reference_copy / "report.html").read_text()
    row = next(r for r in page.split("<tr>") if "<td>sleep 50 ms</td><td>gevent</td>" in r)
    cell = row[row.index('<td class="warnings">') :]
    assert cell.startswith(
        '<td class="warnings">wide CI at -c 64, 128, 256; unstable at -c 256 (<a href="#warnings">4 warnings</a>)</td>'
    )
    warnings = page[page.index('<h2 id="warnings">') :]
    for point in ("c64", "c128", "c256"):
        assert f"<li>sleep-50ms-gevent-{point}: wide: the 95% CI spans" in warnings
    assert "<li>sleep-50ms-gevent-c256: unstable: coefficient of variation 12% across repeats</li>" in warnings


def test_each_kind_of_warning_is_said_in_a_few_words_once_per_row():
    assert warning_about("1 repeat failed: the worker did not start") == "failed repeats"
    assert warning_about("Celery misbehaved in 1 of 3 repeats: 2 tasks lost") == "Celery misbehaved"
    assert warning_about("a warning of a newer kind") == "warned"
    notes = [
        Note("x-c8: 2 repeats failed: ...", "x", "prefork", "failed repeats", 8),
        Note("x-c2: 1 repeat failed: ...", "x", "prefork", "failed repeats", 2),
        Note("x-prefork: best at ...", "x", "prefork", "best at the largest -c tried (16)"),
    ]
    assert report_markdown.warnings_line(notes) == (
        "failed repeats at -c 2, 8; best at the largest -c tried (16) ([3 warnings](#warnings))"
    )
    assert report_markdown.warnings_line([]) == "-"


def test_rendering_an_unchanged_sweep_twice_writes_the_same_bytes(reference_copy, capsys):
    def digests():
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(reference_copy.iterdir())
            if p.suffix in (".png", ".svg", ".md", ".html", ".csv")
        }

    assert main(["report", str(reference_copy)]) == 0
    first = digests()
    assert main(["report", str(reference_copy)]) == 0
    assert digests() == first
    assert len([n for n in first if n.endswith(".svg")]) == 11


def test_a_sweep_stopped_by_failed_repeats_does_not_call_every_point_measured(reference):
    summary, _ = reference
    last = summary.points[-1]
    failing = dataclasses.replace(last, repeats=0, failed_repeats=2, throughput=None)
    partial = dataclasses.replace(summary, points=(*summary.points[:-1], failing))
    analysis = analyze(partial, "incomplete")
    assert analysis.warnings[0].startswith(
        f"sweep incomplete: 47 of 48 planned points measured; 1 point stopped by failed repeats: {last.key}"
    )
