"""A short soak, live: `run --duration` without `--rate` keeps its backlog
in flight, accounts for every task, streams a row a second beside its
document, and measures a 50 KiB leak per task from the counts its memory
samples carry (it keeps no task records); and an open-loop soak (`--rate
--soak`), which counts the producer's numbered tasks and measures latency
from each one's scheduled send time, and keeps what it measured on Ctrl-C."""

import json
import signal

import psutil
import pytest

from tests.helpers.cli import run_bench, start_bench
from tests.helpers.waiting import wait_for

LEAK_KIB = 50
RATE = 100


def test_a_soak_streams_its_seconds_and_measures_a_leak(tmp_path):
    out = tmp_path / "soak.json"
    proc = run_bench(
        "run", "-P", "threads", "-c", 4, "--workload", "leak", "--leak-kib", LEAK_KIB, "--duration", "4s",
        "--backlog", 40, "--warmup", 20, "--json", out, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["config"]["soak"] == {"duration_s": 4.0, "backlog": 40}
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == tasks["succeeded"] > 40
    assert tasks["missing"] == tasks["failed"] == 0
    series = doc["summary"]["series"]
    rows = [json.loads(line) for line in (tmp_path / series["file"]).read_text().splitlines()]
    assert len(rows) == series["seconds"] >= 4
    assert [r["t_s"] for r in rows] == list(range(len(rows)))
    assert sum(r["completions"] for r in rows) == tasks["succeeded"]
    assert all(r["in_flight"] <= 40 for r in rows)
    assert any("memory" in r for r in rows)
    assert series["recycle_seconds"] == 0  # threads replace no process: read from the streamed file
    # diagnosed from its counts: nothing run twice or lost, and what it could not look for said
    assert doc["summary"]["health"] == {"findings": [], "unchecked": ["idle_gaps", "late_starts"]}
    growth = doc["summary"]["memory_growth"]
    assert growth["tree"]["kib_per_task"] == pytest.approx(LEAK_KIB, rel=0.15)
    assert doc["samples"]["pid"] == []  # no task record kept
    assert "soak            4 s keeping 40 tasks in flight" in proc.stdout


@pytest.mark.exclusive  # the producer keeps its schedule only on a machine not busy with other tests
def test_an_open_loop_soak_counts_every_task_from_its_scheduled_send_time(tmp_path):
    out = tmp_path / "open-soak.json"
    proc = run_bench(
        "run", "-P", "threads", "-c", 4, "--workload", "noop", "--rate", RATE, "--duration", "4s", "--soak",
        "--json", out, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["config"]["soak"] == {"duration_s": 4.0, "backlog": None}
    assert doc["schedule"]["rate_per_s"] == RATE
    assert doc["schedule"]["warmup_s"] == 1.0
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == tasks["succeeded"] == RATE * 5  # the warm-up second and the 4 s window
    assert tasks["missing"] == tasks["failed"] == 0
    ol = doc["open_loop"]
    assert ol["tasks"] == {"scheduled": RATE * 4, "counted": RATE * 4, "not_finished": 0, "failed": 0, "warmup": RATE}
    assert ol["producer_limited"] is False
    assert ol["achieved_completion_rate_per_s"] == pytest.approx(RATE, rel=0.05)
    # from the scheduled send time: at least the send lag, never below it
    assert ol["sojourn_p50_s"] >= ol["send_lag_p50_s"]
    series = doc["summary"]["series"]
    rows = [json.loads(line) for line in (tmp_path / series["file"]).read_text().splitlines()]
    assert sum(r["completions"] for r in rows) == tasks["succeeded"]
    assert any(r.get("queue_depth") is not None for r in rows)  # the broker's own count, a second
    assert doc["samples"]["pid"] == []  # no task record kept
    assert "open loop: uniform arrivals at 100 tasks/s" in proc.stdout


def test_ctrl_c_keeps_an_open_loop_soaks_seconds_and_leaves_nothing_running(tmp_path):
    out = tmp_path / "stopped.json"
    series = tmp_path / "stopped.series.jsonl"
    proc = start_bench(
        "run", "-P", "threads", "-c", 2, "--workload", "noop", "--rate", 50, "--duration", "60s", "--soak",
        "--json", out,
    )  # fmt: skip
    try:
        wait_for(lambda: series.exists() and len(series.read_text().splitlines()) >= 2, 90, "two seconds written")
        started = psutil.Process(proc.pid).children(recursive=True)
        assert any("bench.measure.producer" in " ".join(p.cmdline()) for p in started)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert psutil.wait_procs(started, timeout=10)[1] == []  # the producer, the worker, the broker: all gone
    doc = json.loads(out.read_text())
    assert doc["status"]["state"] == "interrupted"
    rows = [json.loads(line) for line in series.read_text().splitlines()]
    assert sum(r["completions"] for r in rows) == doc["summary"]["tasks"]["succeeded"] > 0
