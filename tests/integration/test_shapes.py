"""Settings and worker counts as axes of a real sweep: every value reaches
the workers, names its points, and shows in the report."""

import json
import socket
import uuid

import pytest

from bench.harness import broker as broker_mod
from bench.harness import worker
from bench.measure import load

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
    with broker_mod.embedded() as broker, worker.running(spec, broker, tmp_path, tmp_path / "worker.log"):
        app = load.client_app(broker)
        try:
            inspect = app.control.inspect(destination=[nodename], timeout=10)
            conf, stats = inspect.conf() or {}, inspect.stats() or {}
        finally:
            app.close()
    assert conf[nodename]["task_acks_late"] is True
    assert stats[nodename]["pool"]["max-tasks-per-child"] == 3


def test_two_workers_share_the_batch_and_every_task_is_accounted_for(tmp_path, bench_cli):
    out = tmp_path / "r.json"
    proc = bench_cli("run", "--workers", 2, "--pool", "gevent", "-c", 4, "--task-ms", 10, "--tasks", 200, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    s, res = doc["summary"], doc["summary"]["resources"]
    assert doc["config"]["workers"] == 2
    assert doc["config"]["slots"] == 8
    assert s["tasks"] == {"published": 200, "succeeded": 200, "failed": 0, "missing": 0, "duplicates": 0}
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
