"""A sweep's recycling axes against their cost, on a hand-made summary:
each point beside the same point with recycling off, in the terminal and in
report.md; nothing said for a sweep that varied neither."""

import csv
import io

from bench.analysis.recycling import recycling_rows
from bench.analysis.summary import analyze
from bench.output import csv as report_csv
from bench.output import markdown
from bench.output.sweep_terminal import recycling_table_rows, report_end
from bench.results.schema import Metadata
from bench.results.sweep_records import PointSummary, SweepSettings, SweepSummary, ThroughputEstimate


def point(setting, rate, p99_s, uss_mib, kib_per_task, recycles, pool="prefork"):
    return PointSummary(
        pool=pool, concurrency=2, workload="leak", task_ms=10.0, cpus=None, cores=2.0, tasks=1500, warmup=4,
        key=f"leak-10ms-{pool}-c2-{setting}", settings=(tuple(setting.split("=")),), repeats=3,
        throughput=ThroughputEstimate(rate, rate * 0.98, rate * 1.02, 0.01, False, (rate,) * 3),
        sojourn_p99_s=p99_s, worker_uss_peak_bytes=uss_mib * 2**20, tree_kib_per_task=kib_per_task,
        recycles=recycles,
    )  # fmt: skip


def sweep(*points):
    settings = SweepSettings(pools=("prefork",), workloads=("leak",), vary=(("max_tasks_per_child", ("0", "100")),))
    machine = Metadata(hostname="h", cpu_model="cpu", usable_cores=2.0, os="Linux", python="3.11")
    return SweepSummary(settings, machine, "complete", tuple(points))


RECYCLED = sweep(
    point("max_tasks_per_child=100", 135.0, 0.66, 60, -5.8, 14),
    point("max_tasks_per_child=0", 180.0, 0.44, 120, 50.7, 0),
)


def test_each_value_is_set_against_recycling_off_which_comes_first():
    off, hundred = recycling_rows(RECYCLED)
    assert (off.setting, off.off, off.throughput_change) == ("max_tasks_per_child=0", True, 0.0)
    assert hundred.setting == "max_tasks_per_child=100"
    assert round(hundred.throughput_change, 3) == -0.25
    assert round(hundred.p99_change, 3) == 0.5
    assert off.label == hundred.label == "leak 10 ms prefork -c 2"


def test_the_table_shows_memory_recycles_and_the_cost():
    header, off, hundred = recycling_table_rows(recycling_rows(RECYCLED))
    assert header == ["point", "recycling", "peak USS", "KiB/task", "recycles", "tasks/s", "vs off", "p99", "vs off"]
    assert off[2:] == ["120 MiB", "+50.7", "0", "180.0", "(off)", "440 ms", "(off)"]
    assert hundred[2:] == ["60 MiB", "-5.8", "14", "135.0", "-25%", "660 ms", "+50%"]


def test_the_terminal_and_the_report_show_it_only_for_a_sweep_that_varied_recycling():
    analysis = analyze(RECYCLED, "complete")
    assert "Recycling: what each setting held down" in report_end(RECYCLED, analysis)
    text = markdown.render(RECYCLED, "complete", analysis, "s")
    assert "## Recycling" in text
    assert (
        "| leak 10 ms prefork -c 2 | max_tasks_per_child=100 | 60 MiB | -5.8 | 14 | 135.0 | -25% | 660 ms | +50% |"
        in text
    )
    plain = sweep(point("prefetch_multiplier=1", 180.0, 0.44, 120, 50.7, 0))
    assert recycling_rows(plain) == []
    assert "## Recycling" not in markdown.render(plain, "complete", analyze(plain, "complete"), "s")


def test_points_csv_carries_each_points_recycles_and_tree_growth():
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(report_csv.render(RECYCLED)))}
    hundred = rows["leak-10ms-prefork-c2-max_tasks_per_child=100"]
    assert (hundred["recycles"], hundred["tree_kib_per_task"]) == ("14", "-5.8")
    assert (rows["leak-10ms-prefork-c2-max_tasks_per_child=0"]["recycles"]) == "0"
