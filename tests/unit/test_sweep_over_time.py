"""A sweep over time (issue 25): which repeat stands for each point (the
median by throughput), the worker tree's USS and its pool processes'
births and deaths from hand-made series rows, one figure per workload
(a panel per curve, or per recycling group with the settings side by
side), and its section in report.md and report.html; a sweep without
series (recorded before format version 26, or copied without its runs/)
still reports, without the section."""

import json
import shutil

import pytest
from PIL import Image

from bench.analysis.over_time import OverTime, Representative, lifetimes, median_repeat, over_time_groups, tree_uss
from bench.cli import main
from bench.commands.report import sweep_over_time, write_report
from bench.output.over_time import over_time_section
from bench.output.plot_over_time import group_figure, over_time_figures
from bench.results.schema import Metadata
from bench.results.sweep_records import PointSummary, SweepSettings, SweepSummary, ThroughputEstimate
from bench.results.sweepdir import SweepDirFiles
from bench.sweep.store import load_summary
from tests.helpers.paths import DATA

MIB = 2**20


def rows(seconds=10, c=2, replaced_at=None, per_s=40):
    """A drained batch of prefork -c `c`: the main process at 30 MiB, each
    pool process at 10 MiB growing 1 MiB a second; pool process 100 replaced
    by 200 at `replaced_at` (s); no memory sample in the last second."""
    out = []
    left = per_s * seconds
    for t in range(seconds):
        left -= per_s
        pids = [200 if replaced_at is not None and t >= replaced_at and k == 0 else 100 + k for k in range(c)]
        row = {"t_s": t, "completions": per_s, "in_flight": left, "waiting": max(0, left - c), "running": c,
               "stall": False}  # fmt: skip
        if t < seconds - 1:
            row["memory"] = [{"pid": 1, "node": 0, "main": True, "uss_bytes": 30 * MIB}] + [
                {"pid": pid, "node": 0, "main": False, "uss_bytes": (10 + t) * MIB} for pid in pids
            ]
        out.append(row)
    return out


def test_the_repeat_drawn_is_the_median_by_throughput():
    assert median_repeat([30.0, 10.0, 20.0]) == 2
    assert median_repeat([30.0, 10.0, 20.0, 40.0]) == 2  # the lower of the middle two
    assert median_repeat([None, 5.0, None]) == 1
    assert median_repeat([7.0, 7.0, 7.0]) == 1  # equal ones in run order
    assert median_repeat([None]) is None
    assert median_repeat([]) is None


def test_the_trees_uss_sums_every_process_in_the_seconds_sampled():
    tree = tree_uss(rows(seconds=4, c=2))
    assert tree == [(0, 50.0 * MIB), (1, 52.0 * MIB), (2, 54.0 * MIB)]  # 30 + 2 x (10 + t); none at 3 s


def test_a_replaced_pool_process_is_gone_and_its_replacement_born_never_the_main():
    life = lifetimes(rows(seconds=10, c=2, replaced_at=4))
    assert (life.born, life.gone) == ((4,), (3,))
    # processes there from the first sampled second to the last are neither
    assert lifetimes(rows(seconds=10, c=2)) == type(life)((), ())
    assert lifetimes([{"t_s": 0, "completions": 0}]) == type(life)((), ())


def test_one_figure_per_workload_a_panel_per_curve_and_a_line_per_c():
    summary, _ = load_summary(DATA / "sweep-small")
    groups = over_time_groups(summary)
    assert [(g.key, g.label, g.recycling) for g in groups] == [
        ("cpu-20ms", "cpu 20 ms", False),
        ("sleep-50ms", "sleep 50 ms", False),
    ]
    prefork, gevent = groups[0].panels
    assert (prefork.title, [line.label for line in prefork.lines]) == (
        "prefork",
        ["-c 1", "-c 2", "-c 4", "-c 8", "-c 16"],
    )
    assert gevent.title == "gevent"


def recycled_point(setting, c=2):
    return PointSummary(
        pool="prefork", concurrency=c, workload="leak", task_ms=10.0, cpus=None, cores=2.0, tasks=1500, warmup=4,
        key=f"leak-10ms-prefork-c{c}-{setting.replace('=', '')}", settings=(tuple(setting.split("=")),), repeats=3,
        throughput=ThroughputEstimate(100.0, 99.0, 101.0, 0.01, False, (100.0,) * 3),
    )  # fmt: skip


RECYCLED = SweepSummary(
    SweepSettings(pools=("prefork",), workloads=("leak",), vary=(("max_tasks_per_child", ("100", "0")),)),
    Metadata(hostname="h", cpu_model="cpu", usable_cores=2.0, os="Linux", python="3.11"),
    "complete",
    tuple(recycled_point(s, c) for c in (2, 4) for s in ("max_tasks_per_child=100", "max_tasks_per_child=0")),
)


def test_a_recycling_sweep_sets_its_settings_side_by_side_recycling_off_first():
    (group,) = over_time_groups(RECYCLED)
    assert group.recycling
    assert [panel.title for panel in group.panels] == ["prefork -c 2", "prefork -c 4"]
    assert [line.label for line in group.panels[0].lines] == ["max_tasks_per_child=0", "max_tasks_per_child=100"]


def test_the_figure_draws_each_point_and_marks_the_recycles():
    (group,) = over_time_groups(RECYCLED)
    chosen = {
        p.key: Representative("r02", 3, tuple(rows(replaced_at=4 if "100" in p.key else None))) for p in group.points
    }
    fig = group_figure(group, chosen)
    assert len(fig.subfigs) == 2  # a panel per recycling group
    rate, running, queued, memory = fig.subfigs[0].axes
    assert len(rate.get_lines()) == len(running.get_lines()) == len(queued.get_lines()) == 2
    marks = sorted((line.get_marker(), float(line.get_xdata()[0])) for line in memory.get_lines()[2:])
    assert marks == [("^", 4.0), ("v", 3.0)]  # on the recycled point's line only
    legend = [t.get_text() for t in fig.subfigs[0].legends[0].get_texts()]
    assert legend == ["max_tasks_per_child=0", "max_tasks_per_child=100", "pool process born", "pool process gone"]
    assert memory.get_ylabel() == "MiB (USS)"
    highest = max(max(line.get_ydata()) for line in memory.get_lines())
    assert memory.get_ylim() == (0, pytest.approx(1.15 * highest))  # its marks clear of the top edge
    assert memory.get_xlabel() == "s since the first task was sent"


def test_a_point_without_a_series_is_left_out_and_said():
    (group,) = over_time_groups(RECYCLED)
    first = group.points[0]
    over_time = OverTime((group,), {first.key: Representative("r01", 1, tuple(rows()))})
    assert list(over_time_figures(over_time)) == ["over-time-leak-10ms"]
    text = over_time_section(over_time)
    assert "![leak 10 ms over time](over-time-leak-10ms.png)" in text
    assert "prefork -c 2: max_tasks_per_child=0 r01 of 1." in text
    assert "Not drawn, no ok repeat with a series: 3 points (prefork -c 2 max_tasks_per_child=100, " in text
    assert over_time_section(OverTime((group,), {})) == ""
    assert over_time_figures(OverTime((group,), {})) == {}


def add_repeat(directory, point, name, throughput, series=True, state="ok"):
    """A repeat of `point` in a sweep directory (a version-28 run document,
    its throughput and state set), and its series beside it unless not."""
    document = json.loads((DATA / "v28" / "run.json").read_text())
    document["status"] = {"state": state, "reason": None if state == "ok" else "failed", "outcome": None}
    document["summary"]["throughput_per_s"] = throughput
    document["summary"]["series"]["file"] = f"{name}.series.jsonl"
    if not series:
        document["summary"]["series"] = None
    folder = directory / "runs" / point
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(document))
    if series:
        (folder / f"{name}.series.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows()))


@pytest.fixture
def sweep_with_series(tmp_path):
    """sweep-small with repeats of two points: prefork -c 1 (three, the
    median r03) and gevent -c 1 (one without a series, one failed)."""
    target = tmp_path / "sweep-small"
    shutil.copytree(DATA / "sweep-small", target)
    for name, throughput in (("r01", 30.0), ("r02", 10.0), ("r03", 20.0)):
        add_repeat(target, "cpu-20ms-prefork-c1", name, throughput)
    add_repeat(target, "cpu-20ms-gevent-c1", "r01", 40.0, series=False)
    add_repeat(target, "cpu-20ms-gevent-c1", "r02", 45.0, state="failed")
    return target


def test_the_median_ok_repeat_with_a_series_is_read_for_each_point(sweep_with_series):
    summary, _ = load_summary(sweep_with_series)
    over_time = sweep_over_time(summary, SweepDirFiles(sweep_with_series))
    assert set(over_time.chosen) == {"cpu-20ms-prefork-c1"}
    chosen = over_time.chosen["cpu-20ms-prefork-c1"]
    assert (chosen.repeat, chosen.of, len(chosen.rows)) == ("r03", 3, 10)
    assert [group.key for group in over_time.drawn()] == ["cpu-20ms"]


def test_the_report_embeds_the_figure_over_time_in_markdown_and_html(sweep_with_series):
    written = write_report(sweep_with_series)
    names = {path.name for path in written.written}
    assert {"over-time-cpu-20ms.png", "over-time-cpu-20ms.svg"} <= names
    assert "over-time-sleep-50ms.png" not in names  # no repeat of sleep has a series
    markdown = (sweep_with_series / "report.md").read_text()
    assert "## Over time" in markdown
    assert "![cpu 20 ms over time](over-time-cpu-20ms.png)" in markdown
    assert "cpu 20 ms, the repeats drawn: prefork: -c 1 r03 of 3." in markdown
    page = (sweep_with_series / "report.html").read_text()
    assert '<h2 id="over-time">Over time</h2>' in page
    assert '<img alt="cpu 20 ms over time" src="data:image/png;base64,' in page
    assert '<a href="#over-time">Over time</a>' in page  # in the contents


def test_plot_draws_the_figures_over_time_as_report_does(sweep_with_series, capsys):
    assert main(["plot", str(sweep_with_series)]) == 0
    with Image.open(sweep_with_series / "over-time-cpu-20ms.png") as image:
        image.verify()
    assert (sweep_with_series / "over-time-cpu-20ms.svg").read_text().lstrip().startswith("<?xml")
    assert not (sweep_with_series / "over-time-sleep-50ms.png").exists()
    assert "figures in" in capsys.readouterr().out


def test_a_sweep_without_series_still_reports_without_the_section(tmp_path, reference_copy):
    small = tmp_path / "sweep-small"
    shutil.copytree(DATA / "sweep-small", small)
    add_repeat(small, "cpu-20ms-prefork-c1", "r01", 30.0, series=False)  # recorded before version 26
    for directory in (small, reference_copy):
        written = write_report(directory)
        assert not [path for path in written.written if path.name.startswith("over-time-")]
        assert "Over time" not in (directory / "report.md").read_text()
        assert "Over time" not in (directory / "report.html").read_text()


def test_memory_goes_to_a_log_scale_where_a_leak_would_flatten_the_recycled_line():
    (group,) = over_time_groups(RECYCLED)
    leaking = [
        {**row, "memory": [{**proc, "uss_bytes": proc["uss_bytes"] * (1 + 10 * row["t_s"])} for proc in row["memory"]]}
        for row in rows()[:-1]
    ]
    off = {p.key for p in group.points if p.settings == (("max_tasks_per_child", "0"),)}
    chosen = {p.key: Representative("r01", 1, tuple(leaking if p.key in off else rows())) for p in group.points}
    memory = group_figure(group, chosen).subfigs[0].axes[3]
    assert (memory.get_yscale(), memory.get_ylabel()) == ("log", "MiB (USS), log scale")
    flat = group_figure(group, {p.key: Representative("r01", 1, tuple(rows())) for p in group.points})
    assert flat.subfigs[0].axes[3].get_yscale() == "linear"


def test_two_processes_replaced_in_one_second_are_counted_beside_the_mark():
    (group,) = over_time_groups(RECYCLED)
    both = [
        {**row, "memory": [{**proc, "pid": proc["pid"] + 1000} if not proc["main"] and row["t_s"] >= 4 else proc
                           for proc in row["memory"]]}
        for row in rows()[:-1]
    ]  # fmt: skip
    memory = group_figure(group, {group.points[0].key: Representative("r01", 1, tuple(both))}).subfigs[0].axes[3]
    assert sorted(text.get_text() for text in memory.texts) == ["2", "2"]  # two born at 4 s, two gone at 3 s


def test_a_short_series_says_how_few_seconds_it_has():
    (group,) = over_time_groups(RECYCLED)
    short = OverTime((group,), {p.key: Representative("r01", 3, tuple(rows(seconds=3))) for p in group.points})
    assert "They lasted 3 seconds at most (the profile's window)" in over_time_section(short)
    long = OverTime((group,), {p.key: Representative("r01", 3, tuple(rows(seconds=10))) for p in group.points})
    assert "They lasted" not in over_time_section(long)
