"""--host-counts: the plan, the stored sweep and its summary carry the host
count of each point; the report draws throughput against hosts and reads
its scaling efficiency, from hand-built sweep summaries."""

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales, scaling_words
from bench.analysis.summary import analyze
from bench.cli import main
from bench.commands.sweep import HOSTS_CHOOSE_C
from bench.errors import UsageError
from bench.measure.config import build_run_config
from bench.output import html as report_html
from bench.output import markdown as report_markdown
from bench.output import plot
from bench.output.plan import describe
from bench.output.sweep_terminal import report_end
from bench.results.schema import (
    Metadata,
    PointSummary,
    SweepSettings,
    SweepSummary,
    ThroughputEstimate,
    point_from_json,
    point_to_json,
    sweep_summary_from_json,
    sweep_summary_to_json,
)
from bench.sweep import store
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan, plan_sweep, run_config_for
from bench.sweep.point import Point

QUICK = PROFILES["quick"]


def _point(hosts, median, pool="prefork", c=2, ceiling_per_host=100.0, workload="cpu"):
    return PointSummary(
        pool=pool,
        concurrency=c,
        workload=workload,
        task_ms=20.0,
        cpus=None,
        cores=2.0,
        tasks=100 * hosts,
        warmup=4,
        key=f"{workload}-20ms-{pool}-c{c}-hosts{hosts}",
        repeats=3,
        throughput=ThroughputEstimate(
            median_per_s=median,
            ci95_low_per_s=median * 0.95,
            ci95_high_per_s=median * 1.05,
            cv=0.03,
            unstable=False,
            values_per_s=(median * 0.95, median, median * 1.05),
        ),
        ceiling_per_s=ceiling_per_host * hosts,
        ceiling_basis="sum over hosts",
        efficiency=median / (ceiling_per_host * hosts),
        host_count=hosts,
    )


def host_summary(two_host_median=190.0):
    """prefork -c 2 cpu on 1 and 2 hosts (the second at `two_host_median`),
    and gevent -c 4 on 1 and 2 hosts, scaling badly."""
    points = (
        _point(1, 100.0),
        _point(2, two_host_median),
        _point(1, 48.0, pool="gevent", c=4, ceiling_per_host=50.0),
        _point(2, 60.0, pool="gevent", c=4, ceiling_per_host=50.0),
    )
    config = SweepSettings(
        pools=("prefork", "gevent"),
        workloads=("cpu",),
        profile="quick",
        min_repeats=3,
        max_repeats=3,
        ci_target=0.1,
        prefetch_multiplier=4,
        result_backend="none",
        seed=1,
        hosts=("a", "b"),
        host_counts=(1, 2),
    )
    metadata = Metadata(hostname="h", cpu_model="cpu", usable_cores=2.0, memory_bytes=2**30, os="Linux", python="3")
    return SweepSummary(config, metadata, "complete", points)


def test_the_verdicts_2x_line_and_the_figures_follow_the_points_cores():
    base = host_summary()  # this machine: 2 usable cores
    summary = dataclasses.replace(base, points=(_point(1, 100.0, c=2), _point(1, 150.0, c=8)))
    (verdict,) = analyze(summary).verdicts["cpu-20ms"].values()
    assert verdict.beyond_c == 8  # -c 8 is beyond twice 2 cores
    on_eight = dataclasses.replace(summary, points=tuple(dataclasses.replace(p, cores=8.0) for p in summary.points))
    analysis = analyze(on_eight)
    (verdict,) = analysis.verdicts["cpu-20ms"].values()
    assert verdict.beyond_c is None  # but within twice hosts' 8
    fig = plot.draw(on_eight, analysis)["throughput-cpu-20ms"]
    assert "8 usable cores" in fig.axes[0].get_title()


def test_the_ceiling_drawn_for_points_on_several_hosts_sums_over_them():
    summary = host_summary()
    on_hosts = tuple(dataclasses.replace(p, cores=1.0, on_hosts=p.host_count) for p in summary.points)
    summary = dataclasses.replace(summary, points=on_hosts)
    fig = plot.draw(summary, analyze(summary))["throughput-cpu-20ms"]
    ax = fig.axes[0]
    ceilings = [line for line in ax.get_lines() if str(line.get_gid()).startswith("ceiling:")]
    drawn = {line.get_gid(): max(line.get_ydata()) for line in ceilings}
    # prefork -c 2 of 20 ms CPU on 1-core hosts: 50/s a host
    assert drawn["ceiling:prefork [1 host]"] == pytest.approx(50.0)
    assert drawn["ceiling:prefork [2 hosts]"] == pytest.approx(100.0)
    assert "1 usable core each, on 1 host" in ax.get_title()
    # the worker trees' CPU adds up over the hosts: so does the usable CPU drawn beside it
    cpu = plot.draw(summary, analyze(summary))["cpu-cpu-20ms"].axes[0]
    assert any(t.get_text() == "2 usable cores on 2 hosts" for t in cpu.texts)


def test_the_plan_has_each_point_once_per_host_count_with_tasks_scaled():
    points = build_plan(["prefork"], ["cpu"], QUICK, 2.0, [0, 1], concurrency=[2], host_counts=(1, 2))
    assert [(p.key, p.host_count) for p in points] == [
        ("cpu-20ms-prefork-c2-hosts1", 1),
        ("cpu-20ms-prefork-c2-hosts2", 2),
    ]
    one, two = points
    assert two.tasks == 2 * one.tasks  # the same window on twice the hosts
    assert one.variant == "1 host"
    assert two.variant == "2 hosts"
    text = describe(points, QUICK, hosts=("a", "b"))
    assert "1 host: a; 2 hosts: a,b" in text
    assert "[2 hosts]" in text
    assert "the first 2 (by name)" in describe(points, QUICK, hosts=("all",))


def _two_host_config(host_counts):
    """A quick sweep of one prefork point on agents a and b."""
    return build_sweep_config(
        pools=["prefork"],
        workloads=["cpu"],
        concurrency=[2],
        broker="redis://127.0.0.1:1/0",
        hosts=["a", "b"],
        host_counts=host_counts,
        profile="quick",
    )


def test_a_point_keeps_its_host_count_through_the_manifest_and_the_run_config():
    cfg = _two_host_config(host_counts=[2, 1])
    assert cfg.host_counts == (1, 2)
    assert cfg.to_json()["host_counts"] == [1, 2]
    point = build_plan(["prefork"], ["cpu"], QUICK, 2.0, [0, 1], concurrency=[2], host_counts=(2,))[0]
    assert Point.from_json(point.to_json()) == point
    run = run_config_for(cfg, point)
    assert run.hosts == ("a", "b")
    assert run.host_count == 2
    # an old manifest's point, without a host count, reads as on all hosts
    old = {k: v for k, v in point.to_json().items() if k != "host_count"}
    assert Point.from_json(old).host_count is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host_counts": [1, 2]}, "give --hosts too"),
        ({"hosts": ["a", "b"], "host_counts": [1, 3]}, "3 is more than the 2 hosts"),
        ({"hosts": ["a", "b"], "host_counts": [1, 1]}, "given twice"),
    ],
)
def test_bad_host_counts_are_refused_in_one_line(kwargs, message):
    with pytest.raises(UsageError, match=message):
        build_sweep_config(pools=["prefork"], workloads=["cpu"], broker="redis://127.0.0.1:1/0", **kwargs)


def test_host_counts_with_all_are_checked_when_the_agents_answer():
    cfg = build_sweep_config(
        pools=["prefork"], workloads=["cpu"], broker="redis://127.0.0.1:1/0", hosts=["all"], host_counts=[1, 5]
    )
    assert cfg.host_counts == (1, 5)
    with pytest.raises(UsageError, match="needs --hosts"):
        build_run_config(workload="cpu", host_count=1)


def test_the_summary_json_keeps_the_host_count_and_reads_old_points():
    summary = host_summary()
    back = sweep_summary_from_json(sweep_summary_to_json(summary))
    assert [p.host_count for p in back.points] == [1, 2, 1, 2]
    assert back.config.host_counts == (1, 2)
    old = {k: v for k, v in point_to_json(summary.points[0]).items() if k != "host_count"}
    assert point_from_json(old).host_count is None


def test_one_line_per_pool_and_c_with_the_efficiency_at_the_most_hosts():
    lines = host_lines(host_summary())
    assert [line.name for line in lines] == ["cpu 20 ms, prefork -c 2", "cpu 20 ms, gevent -c 4"]
    prefork, gevent = lines
    assert [p.hosts for p in prefork.points] == [1, 2]
    assert prefork.efficiency == pytest.approx(190 / (2 * 100))
    assert gevent.efficiency == pytest.approx(60 / (2 * 48))
    assert prefork.ideal_per_s(2) == 200.0
    assert prefork.ceiling_per_s(2) == 200.0  # k x one host's ceiling
    assert scales(lines)
    words = scaling_words(prefork)
    assert "2 hosts give 1.90x the throughput of 1 host" in words
    assert "scaling efficiency 95% = throughput(2) / (2 x throughput(1))" in words


def test_without_a_one_host_point_there_is_no_efficiency():
    summary = host_summary()
    summary = dataclasses.replace(summary, points=summary.points[1:2])
    (line,) = host_lines(summary)
    assert line.efficiency is None
    assert "1 host was not measured" in scaling_words(line)
    assert not scales([line])


def test_a_sweep_without_host_counts_has_no_hosts_figure():
    summary = host_summary()
    plain = dataclasses.replace(
        summary, points=tuple(dataclasses.replace(p, host_count=None) for p in summary.points[:1])
    )
    assert host_lines(plain) == []
    assert HOSTS_FIGURE not in plot.draw(plain)


def test_the_hosts_figure_draws_medians_ci_ideal_and_ceiling(tmp_path):
    summary = host_summary()
    figures = plot.draw(summary, analyze(summary))
    fig = figures[HOSTS_FIGURE]
    (ax,) = fig.axes
    gids = {str(line.get_gid()) for line in ax.get_lines()}
    for name in ("cpu 20 ms, prefork -c 2", "cpu 20 ms, gevent -c 4"):
        assert {f"hosts:{name}", f"ideal:{name}", f"ceiling:{name}"} <= gids
    ideal = next(line for line in ax.get_lines() if line.get_gid() == "ideal:cpu 20 ms, prefork -c 2")
    assert list(ideal.get_xdata()) == [1, 2]
    assert list(ideal.get_ydata()) == [100.0, 200.0]
    ceiling = next(line for line in ax.get_lines() if line.get_gid() == "ceiling:cpu 20 ms, gevent -c 4")
    assert list(ceiling.get_ydata()) == [50.0, 100.0]
    assert ax.get_xlabel() == "hosts (agents running the workers)"
    assert "tasks/s" in ax.get_ylabel()
    assert "Throughput against hosts" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    assert len(ax.collections) >= 2  # the CI error bars
    written = plot.figures(summary, tmp_path, analyze(summary))
    assert {tmp_path / f"{HOSTS_FIGURE}.png", tmp_path / f"{HOSTS_FIGURE}.svg"} <= set(written)
    ET.parse(tmp_path / f"{HOSTS_FIGURE}.svg")  # well-formed


def test_the_hosts_figure_is_byte_stable(tmp_path):
    summary = host_summary()
    first, second = tmp_path / "1", tmp_path / "2"
    first.mkdir()
    second.mkdir()
    for directory in (first, second):
        plot.save(plot.draw(summary)[HOSTS_FIGURE], directory, HOSTS_FIGURE)
    for fmt in ("png", "svg"):
        name = f"{HOSTS_FIGURE}.{fmt}"
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_the_report_includes_the_figure_and_the_efficiency_line():
    summary = host_summary()
    md = report_markdown.render(summary, "complete", analyze(summary), "sweep-x")
    assert "## Throughput against hosts" in md
    assert f"![throughput against hosts]({HOSTS_FIGURE}.png)" in md
    assert "- cpu 20 ms, prefork -c 2: 2 hosts give 1.90x the throughput of 1 host" in md
    assert "scaling efficiency 62%" in md  # gevent: 60 / (2 x 48)
    assert "| cpu 20 ms | prefork [2 hosts] |" in md  # the host count is part of the curve's name


SWEEP = ["sweep", "--broker", "redis://127.0.0.1:1/0", "--pools", "prefork", "--concurrency", "2"]
SWEEP += ["--workloads", "cpu", "--profile", "quick", "--dry-run"]


def test_the_dry_run_names_the_hosts_of_each_count(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")
    assert main([*SWEEP, "--hosts", "a,b", "--host-counts", "1,2", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hosts per point: 1 host: a; 2 hosts: a,b" in out
    assert "prefork   -c 2  [2 hosts]" in out
    assert HOSTS_CHOOSE_C not in out  # -c chosen by hand


def test_a_dry_run_on_agents_says_its_default_c_values_are_this_machines(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")
    chosen = SWEEP.index("--concurrency")
    default_c = SWEEP[:chosen] + SWEEP[chosen + 2 :]
    assert main([*default_c, "--hosts", "a,b", "--output-dir", str(tmp_path)]) == 0
    assert HOSTS_CHOOSE_C in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hosts", "a,b", "--host-counts", "0"], "--host-counts"),
        (["--hosts", "a,b", "--host-counts", "1,x"], "--host-counts"),
        (["--hosts", "a,b", "--host-counts", "1,3"], "3 is more than the 2 hosts"),
        (["--host-counts", "1,2"], "give --hosts too"),
    ],
)
def test_bad_host_counts_on_the_command_line_exit_2_in_one_line(monkeypatch, capsys, tmp_path, extra, message):
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")
    assert main([*SWEEP, *extra, "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_terminal_ends_with_the_scaling_reading():
    summary = host_summary()
    text = report_end(summary, analyze(summary))
    assert "Throughput against hosts (figure throughput-vs-hosts.png):" in text
    assert "cpu 20 ms, prefork -c 2: 2 hosts give 1.90x" in text


def test_the_html_page_embeds_the_hosts_figure(tmp_path):
    summary = host_summary()
    analysis = analyze(summary)
    plot.figures(summary, tmp_path, analysis)
    page = report_html.render(report_markdown.render(summary, "complete", analysis, "sweep-x"), tmp_path)
    assert '<img alt="throughput against hosts" src="data:image/png;base64,' in page
    assert "scaling efficiency 95%" in page


def test_a_resumed_sweep_keeps_its_host_counts(tmp_path):
    cfg = _two_host_config(host_counts=[1, 2])
    plan = plan_sweep(cfg)
    sweep = store.SweepDir.create(tmp_path, cfg, plan)
    _target, resumed, resumed_plan = store.resume(sweep.path, measuring=False)
    assert resumed.host_counts == (1, 2)
    assert resumed.hosts == ("a", "b")
    assert [p.host_count for p in resumed_plan] == [1, 2]
    assert [p.key for p in resumed_plan] == [p.key for p in plan]


def test_the_report_says_where_the_workers_ran():
    summary = host_summary()
    md = report_markdown.render(summary, "complete", analyze(summary), "sweep-x")
    assert "- workers on the agents a, b; each point on the first k of them, k = 1, 2" in md
