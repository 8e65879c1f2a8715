"""Settings and worker counts as axes of a real sweep: every value reaches
the workers, names its points, and shows in the report."""

import json
import socket
import uuid

import pytest

from bench.harness import broker as broker_mod
from bench.harness import worker
from bench.measure import load
from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def test_acks_late_and_max_tasks_per_child_reach_the_worker(tmp_path):
    nodename = f"bench-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    spec = worker.WorkerSpec(
        pool="prefork",
        concurrency=1,
        queue=f"q-{uuid.uuid4().hex}",
        nodename=nodename,
        prefetch_multiplier=1,
        loglevel="warning",
        result_backend="none",
        acks_late=True,
        max_tasks_per_child=3,
    )
    with (
        broker_mod.embedded() as broker,
        worker.running(spec, broker, tmp_path, tmp_path / "worker.log", tmp_path / "tmp"),
    ):
        app = load.client_app(broker)
        try:
            inspect = app.control.inspect(destination=[nodename], timeout=10)
            conf, stats = inspect.conf() or {}, inspect.stats() or {}
        finally:
            app.close()
    assert conf[nodename]["task_acks_late"] is True
    assert stats[nodename]["pool"]["max-tasks-per-child"] == 3


def test_a_sweep_over_workers_and_a_setting_measures_every_combination(tmp_path):
    proc = run_bench(
        "sweep", "--pools", "gevent", "--concurrency", "2", "--workloads", "sleep", "--task-ms", "10",
        "--workers", "1,2", "--vary", "prefetch_multiplier=1,4", "--repeats", "1", "--profile", "quick",
        "--output-dir", tmp_path,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (sweep,) = tmp_path.glob("sweep-*")
    runs = {d.name: json.loads(next(d.glob("r01.json")).read_text()) for d in (sweep / "runs").iterdir()}
    assert set(runs) == {
        "sleep-10ms-gevent-c2-prefetch_multiplier=1",
        "sleep-10ms-gevent-c2-prefetch_multiplier=4",
        "sleep-10ms-gevent-c2-w2-prefetch_multiplier=1",
        "sleep-10ms-gevent-c2-w2-prefetch_multiplier=4",
    }
    for key, doc in runs.items():
        assert doc["status"]["state"] == "ok", doc["status"]
        assert doc["config"]["workers"] == (2 if "-w2-" in key else 1)
        assert doc["config"]["prefetch_multiplier"] == int(key.rsplit("=", 1)[1])
        assert doc["summary"]["tasks"]["missing"] == 0
    report = (sweep / "report.md").read_text()
    assert "gevent [2 workers, prefetch_multiplier=1]" in report
    assert "By total concurrency" in report
    assert (sweep / "shapes-sleep-10ms.png").is_file()
    assert "by total concurrency" in proc.stdout
    # each point over time, from its repeat's series: two workers' processes summed
    assert "![sleep 10 ms over time](over-time-sleep-10ms.png)" in report
    assert "gevent [2 workers, prefetch_multiplier=1]: -c 2 r01 of 1" in report
    assert (sweep / "over-time-sleep-10ms.png").is_file()


@pytest.mark.local_brokers  # test_broker_left_clean checks them as found
def test_the_broker_axis_runs_each_point_on_its_broker(tmp_path):
    proc = run_bench(
        "sweep", "--pools", "solo", "--workloads", "sleep", "--task-ms", "10",
        "--vary", "broker=embedded,redis://127.0.0.1:6379/14", "--repeats", "1", "--profile", "quick",
        "--output-dir", tmp_path,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (sweep,) = tmp_path.glob("sweep-*")
    brokers = {}
    for d in (sweep / "runs").iterdir():
        doc = json.loads((d / "r01.json").read_text())
        assert doc["status"]["state"] == "ok", doc["status"]
        brokers[d.name] = (doc["config"]["broker"]["embedded"], doc["config"]["broker"]["url"])
    assert brokers["sleep-10ms-solo-c1-broker=embedded"][0] is True
    assert brokers["sleep-10ms-solo-c1-broker=redis_127.0.0.1_6379_14"] == (False, "redis://127.0.0.1:6379/14")


def test_two_workers_share_the_batch_and_every_task_is_accounted_for(tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench("run", "--workers", 2, "--pool", "gevent", "-c", 4, "--task-ms", 10, "--tasks", 200, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    s, res = doc["summary"], doc["summary"]["resources"]
    assert doc["config"]["workers"] == 2
    assert doc["config"]["slots"] == 8
    no_event = {"lost": None, "redelivered": None, "interrupted": None}  # counted under a deploy event only
    assert s["tasks"] == {"published": 200, "succeeded": 200, "failed": 0, "missing": 0, "duplicates": 0, **no_event}
    # both nodes worked, and the records say which one ran each task
    assert sum(s["tasks_per_worker"]) == 200
    assert min(s["tasks_per_worker"]) > 0
    assert sorted(set(doc["samples"]["node"])) == [0, 1]
    assert s["processes_used"] == 2  # one gevent process per worker
    # resources: summed over both trees, and shown per worker
    assert len(res["per_worker"]) == 2
    assert res["worker_cpu_s"] == pytest.approx(sum(w["cpu_s"] for w in res["per_worker"]))
    assert res["worker_processes"] == 2
    assert s["ceiling_per_s"] == pytest.approx(8 / 0.010)
    assert "per worker" in proc.stdout
