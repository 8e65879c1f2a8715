"""A run over time (bench/output/plot_series.py) from a hand-made series:
four panels, the stall seconds shaded and counted, the broker's queue
depth where it answered, recycled pool
processes marked where they were born and where they went; and `plot
RUN.json`, which draws it beside a run's series, or says in one line why it
cannot."""

import json
import shutil

from bench.output.plot_series import save_series_figure, series_figure
from tests.helpers.cli import run_bench
from tests.helpers.paths import DATA

MIB = 2**20


def rows(seconds=30):
    """prefork -c 2: child 11 recycled at 10 s into child 13; seconds 20-21 stalled."""
    out = []
    for t in range(seconds):
        first = 11 if t < 10 else 13
        procs = [
            {"pid": 10, "node": 0, "main": True, "uss_bytes": 40 * MIB},
            {"pid": first, "node": 0, "main": False, "uss_bytes": (20 + t % 10) * MIB},
            {"pid": 12, "node": 0, "main": False, "uss_bytes": (20 + t) * MIB},
        ]
        stall = t in (20, 21)
        out.append({
            "t_s": t, "completions": 0 if stall else 90, "in_flight": 100, "stall": stall,
            "sojourn_p50_s": None if stall else 0.5, "sojourn_p99_s": None if stall else 0.6,
            "memory": procs, "harness_rss_bytes": 80 * MIB,
            **({"queue_depth": 60} if t % 3 == 0 else {}),
        })  # fmt: skip
    return out


def test_the_figure_shows_throughput_stalls_queues_latency_and_each_processs_memory():
    fig = series_figure(rows(), "prefork -c 2, leak 10 ms: 30 s, second by second")
    rate, queue, latency, memory = fig.axes
    assert [t.get_text() for t in rate.get_legend().get_texts()] == ["completions a second", "stall seconds (2)"]
    assert len(rate.patches) == 2  # one shaded span a stall second
    assert [t.get_text() for t in queue.get_legend().get_texts()] == [
        "in flight (not finished)",
        "ready at the broker",
    ]
    depth = queue.get_lines()[1]
    assert list(depth.get_xdata()) == [t for t in range(30) if t % 3 == 0]  # the seconds the broker answered
    assert [t.get_text() for t in latency.get_legend().get_texts()] == ["sojourn p50", "sojourn p99"]
    labels = [t.get_text() for t in memory.get_legend().get_texts()]
    assert labels == ["worker main process", "pool process", "harness (RSS)"]
    # child 11 gone at 9 s, child 13 born at 10 s: one mark each
    marks = [line for line in memory.get_lines() if line.get_marker() in ("^", "v")]
    assert sorted((line.get_marker(), float(line.get_xdata()[0])) for line in marks) == [("^", 10.0), ("v", 9.0)]
    assert memory.get_xlabel() == "s since the first task was sent"


def test_a_soak_of_an_hour_is_drawn_in_minutes():
    fig = series_figure(rows(3600), "a soak")
    assert fig.axes[3].get_xlabel() == "min since the first task was sent"


def test_an_open_loops_offered_rate_is_drawn_beside_its_completions():
    fig = series_figure(rows(), "an open-loop soak", offered_per_s=95.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["completions a second", "offered (95/s)", "stall seconds (2)"]


def test_the_figure_is_written_beside_the_series(tmp_path):
    series = tmp_path / "run-x.series.jsonl"
    series.write_text("".join(json.dumps(row) + "\n" for row in rows()))
    written = save_series_figure(series, "title")
    assert [p.name for p in written] == ["run-x.series.png", "run-x.series.svg"]
    assert all(p.stat().st_size > 0 for p in written)


def test_plot_draws_a_runs_series_and_says_in_one_line_when_it_has_none(tmp_path):
    run = tmp_path / "run.json"
    shutil.copy(DATA / "v26" / "run.json", run)
    document = json.loads(run.read_text())
    series = tmp_path / document["summary"]["series"]["file"]
    missing = run_bench("plot", run, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].endswith(f"its series {series.name} is not beside it")
    series.write_text("".join(json.dumps(row) + "\n" for row in rows(5)))
    drawn = run_bench("plot", run, timeout=60)
    assert drawn.returncode == 0, drawn.stderr
    assert series.with_suffix(".png").stat().st_size > 0
    assert "over time:" in drawn.stdout
    del document["summary"]["series"]
    run.write_text(json.dumps(document))
    none = run_bench("plot", run, timeout=60)
    assert none.returncode == 2
    assert "has no per-second series" in none.stderr
