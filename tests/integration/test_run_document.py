"""The result document, the brokers, and failed runs, end to end."""

import json
import socket
import time

import pytest

from bench.errors import RunFailed
from bench.measure import runner
from bench.measure.config import build_run_config
from bench.workloads import WORKLOADS, Workload
from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def test_result_document_has_the_public_fields(tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", "gevent", "-c", 4, "--task-ms", 10, "--tasks", 60, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 30
    cfg = doc["config"]
    for key in (
        "pool",
        "concurrency",
        "workload",
        "task_ms",
        "tasks",
        "warmup",
        "prefetch_multiplier",
        "acks_late",
        "serializer",
        "result_backend",
    ):
        assert key in cfg
    assert cfg["broker"]["kind"] == "redis"
    assert cfg["broker"]["embedded"] is True
    assert cfg["broker"]["server"].startswith(("valkey ", "redis "))
    summary = doc["summary"]
    for key in (
        "throughput_per_s",
        "steady_throughput_per_s",
        "ceiling_per_s",
        "efficiency",
        "tasks",
        "wait_p50_s",
        "service_p99_s",
        "sojourn_max_s",
        "max_concurrency",
        "mean_concurrency",
        "resources",
        "load_average_before",
        "health",
    ):
        assert key in summary
    resources = summary["resources"]
    # gevent runs in one process: the main process's CPU is all of the tree's
    assert 0 < resources["worker_main_cpu_s"] <= resources["worker_cpu_s"]
    assert resources["worker_main_cpu_s"] == pytest.approx(resources["worker_cpu_s"], rel=0.01)
    samples = doc["samples"]
    assert len(samples["started_s"]) == len(samples["finished_s"]) == 60
    assert all(f >= s for s, f in zip(samples["started_s"], samples["finished_s"], strict=True))
    meta = doc["metadata"]
    for key in (
        "cpu_model",
        "usable_cores",
        "hostname",
        "os",
        "python",
        "packages",
        "git_commit",
        "started_utc",
        "ended_utc",
    ):
        assert key in meta
    assert meta["packages"]["celery"]
    assert meta["packages"]["kombu"]
    assert meta["packages"]["billiard"]
    # The embedded broker's password is in its URL; it must be nowhere in the output.
    assert ":**@" in cfg["broker"]["url"]


def _reachable(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.local_brokers  # test_broker_left_clean checks them as found
@pytest.mark.parametrize(
    ("url", "kind", "port"),
    [("redis://127.0.0.1:6379/15", "redis", 6379), ("amqp://guest:guest@127.0.0.1:5672//", "amqp", 5672)],
)
def test_users_own_broker(url, kind, port, tmp_path):
    if not _reachable(port):
        pytest.skip(f"no {kind} server on 127.0.0.1:{port}")
    out = tmp_path / "r.json"
    proc = run_bench(
        "run", "--pool", "prefork", "-c", 2, "--task-ms", 10, "--tasks", 40, "--broker", url, "--json", out
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    doc = json.loads(text)
    assert doc["config"]["broker"]["kind"] == kind
    assert doc["config"]["broker"]["embedded"] is False
    assert doc["config"]["broker"]["server"].split()[0] in ("redis", "valkey", "rabbitmq")
    assert doc["summary"]["tasks"]["succeeded"] == 40
    assert "guest:guest" not in text + proc.stdout + proc.stderr


def test_unreachable_broker_fails_fast_with_one_line():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    proc = run_bench("run", "--broker", f"redis://:pw-not-shown@127.0.0.1:{port}/0", timeout=60)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach broker" in proc.stderr
    assert "pw-not-shown" not in proc.stderr
    assert time.monotonic() - started < 30


class _RaisingWorkload(Workload):
    def args(self, task_ms, stub_address=None):
        return [[1, "not a number"]]  # sum() raises TypeError in the worker


def test_failed_tasks_fail_the_run_and_keep_the_result(tmp_path, monkeypatch):
    monkeypatch.setitem(WORKLOADS, "raises", _RaisingWorkload("raises", "proj.tasks.xsum", "raises", None, 0, 0))
    cfg = build_run_config(
        pool="solo", concurrency=1, workload="raises", tasks=10, warmup=0, json_path=tmp_path / "r.json"
    )
    with runner.services_for(cfg) as (broker, stub), pytest.raises(RunFailed) as failure:
        runner.measure(cfg, broker, stub)
    assert "10 failed and 0 missing of 10 tasks" in str(failure.value)
    assert "TypeError" in str(failure.value)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["status"]["state"] == "failed"
    assert doc["summary"]["tasks"]["failed"] == 10
    assert doc["summary"]["throughput_per_s"] is None


def test_prefork_records_its_parents_cpu_apart_from_its_childrens(tmp_path):
    """The parent hands out every task; the children run them (cpu work here):
    the main process's CPU is a part of the tree's, well under it."""
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", "prefork", "-c", 2, "--workload", "cpu", "--task-ms", 5, "--tasks", 200,
                     "--json", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    resources = json.loads(out.read_text())["summary"]["resources"]
    assert 0 < resources["worker_main_cpu_s"] < 0.5 * resources["worker_cpu_s"]


def test_a_run_records_the_models_prediction_when_celerys_cost_is_cached(tmp_path):
    """The cache is seeded with a known no-op rate for this machine and broker:
    the run's prediction is the model's for that cost, and the terminal says it."""
    from bench.analysis import mva
    from bench.harness import machine
    from bench.results.overheads import Calibration, PoolOverhead, calibration_key, store

    first = tmp_path / "first.json"
    env = {"CELERY_BENCH_CACHE": str(tmp_path / "cache")}
    args = ("run", "--pool", "gevent", "-c", 4, "--workload", "sleep", "--task-ms", 10, "--tasks", 80)
    proc = run_bench(*args, "--json", first, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(first.read_text())
    assert doc["summary"]["predicted_per_s"] is None  # nothing cached yet
    broker = doc["config"]["broker"]
    noop = PoolOverhead("gevent", 16, 3, 1500, 1000.0, (1000.0,), 0.001, 0.001, 0.0001, 0.0001)
    key = calibration_key(machine.describe(), broker["kind"], broker["server"])
    store(Calibration(key, "2026-12-05T00:00:00+00:00", "seeded", (noop,)), tmp_path / "cache")
    second = tmp_path / "second.json"
    proc = run_bench(*args, "--json", second, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = mva.predict("gevent", 4, machine.usable_cores(), mva.TaskDemand(0.0, 0.010),
                           mva.Overhead(0.001, 0.001, 0.001, 0.0002)).throughput_per_s  # fmt: skip
    assert json.loads(second.read_text())["summary"]["predicted_per_s"] == pytest.approx(expected)
    assert f"model           {expected:10.1f} tasks/s" in proc.stdout
