"""`python -m bench run` with real workers on the embedded broker."""

import json

import pytest

from bench.workloads import POOLS
from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def load_result(path):
    return json.loads(path.read_text())


def assert_accounted(doc, published):
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == published
    assert tasks["succeeded"] + tasks["failed"] + tasks["missing"] == tasks["published"]
    # lost, redelivered and interrupted are counted under a deploy event only
    no_event = {"lost": None, "redelivered": None, "interrupted": None}
    assert tasks == {
        "published": published,
        "succeeded": published,
        "failed": 0,
        "missing": 0,
        "duplicates": 0,
        **no_event,
    }


@pytest.mark.parametrize("pool", POOLS)
def test_every_pool_runs_sleep_under_its_ceiling(pool, tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", pool, "-c", 4, "-w", "sleep", "--task-ms", 20, "--tasks", 80, "--json", out)
    assert proc.returncode == 0, proc.stderr
    if pool == "solo":  # -c 4 is accepted, as Celery does, with one line saying what runs
        assert proc.stderr.splitlines() == [
            "note: the solo pool runs one task at a time: -c 4 is accepted, as Celery does, "
            "and the run is recorded as 1 slot"
        ]
    else:
        assert proc.stderr == ""
    doc = load_result(out)
    assert doc["status"]["state"] == "ok"
    assert_accounted(doc, 80)
    s = doc["summary"]
    slots = 1 if pool == "solo" else 4
    assert s["ceiling_per_s"] == pytest.approx(slots / 0.020)
    assert 0 < s["throughput_per_s"] <= s["ceiling_per_s"]
    assert s["efficiency"] == pytest.approx(s["throughput_per_s"] / s["ceiling_per_s"])
    assert s["max_concurrency"] <= slots
    # Service time cannot be shorter than the sleep; p99 never above max.
    assert s["service_p50_s"] >= 0.020
    for kind in ("wait", "service", "sojourn"):
        assert s[f"{kind}_p50_s"] <= s[f"{kind}_p90_s"] <= s[f"{kind}_p99_s"] <= s[f"{kind}_max_s"]
    assert "throughput" in proc.stdout
    assert str(out) in proc.stdout


def test_cpu_under_prefork_is_bounded_by_the_cores(tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", "prefork", "-c", 4, "-w", "cpu", "--task-ms", 10, "--tasks", 120, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = load_result(out)
    s = doc["summary"]
    cores = doc["metadata"]["usable_cores"]
    assert s["ceiling_per_s"] == pytest.approx(min(4, cores) / 0.010)
    assert s["throughput_per_s"] <= s["ceiling_per_s"]
    res = s["resources"]
    # Each task burns 10 ms of CPU in the worker tree: the tree used at least that.
    assert res["worker_cpu_s"] >= 120 * 0.010
    assert res["worker_processes"] == 5  # main process and four pool children
    assert res["worker_uss_peak_bytes"] > 0
    assert res["worker_pss_peak_bytes"] > 0


def test_net_workload_makes_real_round_trips(tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", "gevent", "-c", 8, "-w", "net", "--task-ms", 20, "--tasks", 80, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = load_result(out)
    assert_accounted(doc, 80)
    assert doc["summary"]["service_p50_s"] >= 0.020
    assert doc["summary"]["throughput_per_s"] <= doc["summary"]["ceiling_per_s"]


@pytest.mark.parametrize("workload", ["noop", "add", "mul", "xsum", "cpu_nogil", "mixed"])
def test_every_workload_completes(workload, tmp_path):
    out = tmp_path / "r.json"
    args = ["run", "--pool", "solo", "-w", workload, "--tasks", 30, "--warmup", 5, "--json", out]
    if workload in ("cpu_nogil", "mixed"):
        args += ["--task-ms", 5]
    proc = run_bench(*args)
    assert proc.returncode == 0, proc.stderr
    doc = load_result(out)
    assert_accounted(doc, 30)
    if workload in ("noop", "add", "mul", "xsum"):
        assert doc["summary"]["ceiling_per_s"] is None
        assert doc["summary"]["efficiency"] is None


def test_a_prefork_run_leaves_nothing_in_the_temporary_directory(tmp_path):
    # The worker is killed after a short stop grace, before billiard removes
    # its `pymp-` directory: the worker's TMPDIR is the run's scratch
    # directory, which the harness removes.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "r.json"
    proc = run_bench("run", "--pool", "prefork", "-c", 2, "-w", "noop", "--tasks", 100, "--json", out,
                     env={"TMPDIR": str(tmp)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert load_result(out)["status"]["state"] == "ok"
    assert sorted(p.name for p in tmp.iterdir()) == []
