"""Open-loop runs on real workers and the embedded broker: a point under its
capacity, over it, a paused worker and a paused broker (the stall a
send-time measurement hides), and a short capacity search. Each run is a
few seconds; assertions are relations, not speeds."""

import json
import os
import signal
import time

import psutil
import pytest

from bench.measure import openloop, runner
from bench.measure.config import build_run_config
from tests.helpers.cli import run_bench

# Latency against the schedule is measured on a machine nothing else uses
# (exclusive); the sweep's test checks its files, not the figures in them.
pytestmark = pytest.mark.integration


def run_open(tmp_path, during_factory=None, **options):
    cfg = build_run_config(output_dir=tmp_path, **options)
    with runner.services_for(cfg) as (broker, stub):
        during = during_factory(broker) if during_factory else None
        measured = openloop.measure(cfg, broker, stub, during=during)
    # The document as written: what a user reads back.
    doc = json.loads(measured.path.read_text())
    assert measured.result.open_loop == doc["open_loop"]
    doc["path"] = str(measured.path)
    return doc, during


def our_worker_pid():
    """The celery worker this test started (a descendant of this process),
    started through the harness's entry point or as `celery worker`."""
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if ("celery" in cmd or "bench.harness.worker_entry" in cmd) and "worker" in cmd:
            return child.pid
    return None


class Pause:
    """A `during` hook: once the schedule is `after_s` past its origin t0
    (inside the measured window, after the 1 s warm-up), stop the process
    `target()` names with SIGSTOP for `pause_s`, then SIGCONT it; records
    how long it really was stopped."""

    def __init__(self, target, after_s=1.8, pause_s=1.0):
        self.target, self.after_s, self.pause_s = target, after_s, pause_s
        self.paused_s = None

    def __call__(self, t0):
        if self.paused_s is not None or time.monotonic() - t0 < self.after_s:
            return
        pid = self.target()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            time.sleep(self.pause_s)  # the pause is the experiment, not a wait for something
        finally:
            os.kill(pid, signal.SIGCONT)
        self.paused_s = time.monotonic() - stopped


@pytest.mark.exclusive
def test_under_capacity_the_sojourn_is_the_service_time_and_nothing_is_left(tmp_path):
    # gevent -c 64 with 50 ms sleeps at 40/s: far under its drain rate here.
    doc, _ = run_open(tmp_path, pool="gevent", concurrency=64, workload="sleep", rate=40, duration=2)
    ol = doc["open_loop"]
    # On a loaded machine the producer's wake-ups can be late by more than
    # the lag bound (flagged producer-limited); the schedule's rate is kept.
    assert doc["status"]["state"] in ("ok", "producer-limited"), doc["status"]
    assert ol["send_rate_share"] >= 0.99
    assert ol["tasks"]["counted"] == ol["tasks"]["scheduled"] == 80
    assert ol["tasks"]["warmup"] == 40
    assert ol["scheduled_header"] == {"matched": 120, "mismatched": 0}
    assert ol["sojourn_p50_s"] >= 0.050
    # Queue wait is a small part of the sojourn: the service time dominates.
    assert ol["wait_p50_s"] < 0.5 * ol["service_p50_s"]
    assert ol["backlog_at_end"] <= 4
    assert ol["achieved_send_rate_per_s"] == pytest.approx(40, rel=0.01)
    for prefix in ("wait", "service", "sojourn"):
        assert ol[f"{prefix}_p50_s"] <= ol[f"{prefix}_p99_s"] <= ol[f"{prefix}_p999_s"] <= ol[f"{prefix}_max_s"]
    sched = doc["schedule"]
    assert len(sched["scheduled_s"]) == len(sched["sent_s"]) == 120
    assert all(s >= t for t, s in zip(sched["scheduled_s"], sched["sent_s"], strict=True))
    assert doc["summary"]["sojourn_p99_s"] == ol["sojourn_p99_s"]  # the summary's latency is the window's


@pytest.mark.exclusive
def test_over_capacity_the_tail_grows_with_the_duration_and_the_backlog_is_reported(tmp_path):
    # gevent -c 4 with 50 ms sleeps completes at most 80/s; offer 200/s.
    short, _ = run_open(tmp_path, pool="gevent", concurrency=4, workload="sleep", rate=200, duration=1)
    long, _ = run_open(tmp_path, pool="gevent", concurrency=4, workload="sleep", rate=200, duration=2)
    for doc in (short, long):
        ol = doc["open_loop"]
        assert ol["send_rate_share"] >= 0.99
        assert ol["achieved_completion_rate_per_s"] <= 80.0 * 1.001 < ol["offered_rate_per_s"]
        assert ol["backlog_at_end"] > 0
        assert ol["drain_s"] > 0
    assert long["open_loop"]["sojourn_p99_s"] > short["open_loop"]["sojourn_p99_s"]
    assert long["open_loop"]["backlog_at_end"] > short["open_loop"]["backlog_at_end"]


@pytest.mark.exclusive
def test_a_paused_worker_shows_in_full_in_the_p99_and_max(tmp_path):
    pause = Pause(our_worker_pid)
    doc, _ = run_open(
        tmp_path,
        lambda broker: pause,
        pool="gevent",
        concurrency=16,
        workload="sleep",
        task_ms=20,
        rate=50,
        duration=3,
    )
    ol = doc["open_loop"]
    assert pause.paused_s is not None
    # The producer kept its schedule during the pause (it is a process of its own) ...
    assert ol["send_rate_share"] >= 0.99
    assert ol["send_lag_max_s"] < 0.2 * pause.paused_s
    # ... so the tasks that arrived during the pause waited for it: the first one almost all of it.
    assert ol["sojourn_max_s"] >= 0.9 * pause.paused_s
    assert ol["sojourn_p99_s"] >= 0.5 * pause.paused_s


@pytest.mark.exclusive
def test_a_paused_broker_shows_in_full_and_marks_the_run_producer_limited(tmp_path):
    made = {}

    def pause_the_broker(broker):
        made["pause"] = Pause(lambda: broker.pid)
        return made["pause"]

    doc, _ = run_open(
        tmp_path, pause_the_broker, pool="gevent", concurrency=16, workload="sleep", task_ms=20, rate=50, duration=3
    )
    pause, ol = made["pause"], doc["open_loop"]
    assert pause.paused_s is not None
    # The producer was blocked in its send for the pause; latency from the
    # scheduled time keeps all of it ...
    assert ol["send_lag_max_s"] >= 0.9 * pause.paused_s
    assert ol["sojourn_max_s"] >= 0.9 * pause.paused_s
    # (Measured from the send it shows too here: the worker, also cut off
    # from the broker, takes longer than the producer to recover.)
    # The arrivals were not the ones offered: flagged, not a latency result.
    assert ol["producer_limited"]
    assert doc["status"]["state"] == "producer-limited"


def our_producer_pid():
    for child in psutil.Process().children(recursive=True):
        try:
            if "bench.measure.producer" in child.cmdline():
                return child.pid
        except psutil.Error:
            continue
    return None


@pytest.mark.exclusive
def test_a_stalled_producer_never_hides_latency(tmp_path):
    # The load generator itself stalls for a second (as a GC pause would):
    # the tasks due meanwhile go out late and run at once on an idle worker.
    pause = Pause(our_producer_pid, pause_s=1.5)
    doc, _ = run_open(
        tmp_path, lambda broker: pause, pool="gevent", concurrency=16, workload="sleep", task_ms=20, rate=20, duration=3
    )
    ol = doc["open_loop"]
    assert pause.paused_s is not None
    assert ol["send_lag_max_s"] >= 0.9 * pause.paused_s
    # From the scheduled time, the callers waited for the stall ...
    assert ol["sojourn_max_s"] >= 0.9 * pause.paused_s
    # ... from the send, they did not (only the catch-up burst's own queue
    # shows): the stall would be hidden.
    assert ol["sojourn_from_sent_max_s"] < 0.6 * ol["sojourn_max_s"]
    assert ol["producer_limited"]
    assert doc["status"]["state"] == "producer-limited"


@pytest.mark.exclusive
def test_capacity_finds_a_rate_under_the_drain_throughput_that_meets_the_objective(tmp_path):
    proc = run_bench(
        "capacity", "--pool", "gevent", "-c", 8, "-w", "sleep", "--task-ms", 20, "--slo", "p99=100ms",
        "--repeats", 1, "--max-rates", 3, "--duration", 1, "--output-dir", tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(next(tmp_path.glob("capacity-*.json")).read_text())
    assert doc["kind"] == "capacity"
    tried = doc["tried"]
    assert tried[0]["rate_per_s"] == pytest.approx(doc["drain_throughput_per_s"], rel=1e-3)
    assert 2 <= len(tried) <= 3
    cap = doc["capacity"]
    assert cap is not None
    assert any(t["rate_per_s"] == cap["rate_per_s"] and t["meets"] for t in tried)
    assert all(not t["meets"] for t in tried if t["rate_per_s"] > cap["rate_per_s"])
    assert cap["percentiles"][0]["median_s"] <= 0.100
    assert "capacity:" in proc.stdout
    assert "recommendation:" in proc.stdout
    # Every run of the search left its own result beside it.
    assert len(list(tmp_path.glob("run-*.json"))) == len(tried) + 1


def test_sweep_with_rates_writes_latency_against_load_and_the_p99_verdict(tmp_path):
    proc = run_bench(
        "sweep", "--profile", "quick", "--pools", "gevent", "--workloads", "sleep", "--task-ms", 20,
        "--concurrency", "2,8", "--repeats", 1, "--rates", 20, "--seed", 3, "--output-dir", tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep = next(tmp_path.glob("sweep-*"))
    summary = json.loads((sweep / "open_loop.json").read_text())
    assert summary["kind"] == "sweep-open-loop"
    assert [p["concurrency"] for p in summary["points"]] == [2, 8]
    for point in summary["points"]:
        (cell,) = point["rates"]
        assert cell["rate"] == 20.0
        assert cell["runs"] == 1
        assert point["drain_throughput_per_s"] > 0
    assert (sweep / "latency-vs-rate-sleep-20ms.png").stat().st_size > 0
    assert "## Open loop: does -c beyond 2x cores lower the p99?" in (sweep / "report.md").read_text()
    assert len(list((sweep / "open_loop").rglob("rate-20-r01.json"))) == 2
