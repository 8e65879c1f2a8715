"""Limits like a pod's, live: a CPU quota holds prefork's CPU work to the
quota's share of the unlimited throughput measured beside it (and half a
core to half of one core's), the ceiling says it is the quota, and no cgroup is left once the runs are over, nor
after a harness killed outright once the next one starts."""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from bench.harness import cgroups
from tests.helpers.cli import run_bench, start_bench
from tests.helpers.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.exclusive,  # compares two throughputs
    pytest.mark.skipif(
        cgroups.unavailable(cgroups.Limits(0.5, 2**30)) is not None, reason="no writable cgroup hierarchy here"
    ),
]

TASKS = 100  # 20 ms of CPU each: about a second unlimited, four under half a core
POINT = ("run", "-P", "prefork", "-c", 2, "--workload", "cpu", "--tasks", TASKS, "--warmup", 4)


def left_behind():
    """The celery-bench cgroups there are now (the parents and whatever is
    in them), in every hierarchy a run uses: /sys/fs/cgroup/cpu and /memory on v1."""
    layout = cgroups.detect()
    assert layout is not None
    parents = [p for p in set(layout.parents.values()) if p.exists()]
    return sorted(str(p) for parent in parents for p in [parent, *parent.iterdir()] if p.is_dir())


def measure(tmp_path, name, *limits):
    out = tmp_path / f"{name}.json"
    proc = run_bench(*POINT, *limits, "--json", out, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_half_a_core_holds_prefork_cpu_work_to_its_share_and_leaves_no_cgroup(tmp_path):
    free, _ = measure(tmp_path, "free")
    limited, printed = measure(tmp_path, "limited", "--cpu-limit", 0.5, "--memory-limit", "1GiB")
    one_core, _ = measure(tmp_path, "one-core", "--cpu-limit", 1)
    cores = min(2, len(os.sched_getaffinity(0)))  # what the unlimited -c 2 can use
    share = 0.5 / cores  # of the unlimited run's CPU, the quota's
    rates = [run["summary"]["throughput_per_s"] for run in (free, limited, one_core)]
    ratio, to_one_core = rates[1] / rates[0], rates[1] / rates[2]
    print(f"unlimited {rates[0]:.1f}/s, --cpu-limit 0.5 {rates[1]:.1f}/s, --cpu-limit 1 {rates[2]:.1f}/s: "
          f"0.5 to unlimited {ratio:.3f} (the quota's share {share:.3f}), 0.5 to 1 {to_one_core:.3f}")  # fmt: skip
    # the quota's share of the unlimited run, give or take a fifth: 0.4-0.6 where it has one core, 0.2-0.3 on two
    assert 0.8 * share <= ratio <= 1.2 * share
    # and half of one core's quota
    assert 0.4 <= to_one_core <= 0.6
    summary, config = limited["summary"], limited["config"]
    assert "the CPU quota: --cpu-limit 0.5" in summary["ceiling_basis"]
    assert summary["ceiling_per_s"] == pytest.approx(25.0)
    assert "quota" not in free["summary"]["ceiling_basis"]
    assert config["limits"]["cpu_limit_cores"] == 0.5
    assert config["limits"]["memory_limit_bytes"] == 2**30
    assert config["limits"]["quota_concurrency"] == 1
    assert config["limits"]["celery_default_concurrency"] == os.cpu_count()
    assert config["cores"] == 0.5
    assert summary["limits"]["throttled_s"] > 0
    assert summary["limits"]["memory_peak_bytes"] > 10 * 2**20
    assert summary["limits"]["oom_kills"] == 0
    assert free["config"]["limits"] is None
    assert any(line.lstrip().startswith("limits ") and "throttled" in line for line in printed.splitlines())
    assert left_behind() == []


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The killed harness's scratch directories go in the test's own temp
    directory (as in test_harness_death.py), where no other harness sweeps them."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))


def cgroups_of(pid):
    layout = cgroups.detect()
    assert layout is not None
    return [p for parent in set(layout.parents.values()) if parent.exists() for p in parent.glob(f"h{pid}-*")]


def test_the_cgroups_of_a_harness_killed_outright_go_when_the_next_run_starts(tmp_path, private_tmp):
    proc = start_bench(*POINT[:-4], "--tasks", 2000, "--warmup", 0, "--cpu-limit", 1, "--json", tmp_path / "k.json")
    try:
        wait_for(lambda: any(Path(g / "cgroup.procs").read_text().split() for g in cgroups_of(proc.pid)),
                 60, "the worker in its cgroup")  # fmt: skip
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    left = cgroups_of(proc.pid)
    assert left  # a harness killed outright removes nothing ...
    wait_for(lambda: not any((g / "cgroup.procs").read_text().split() for g in left), 10, "its workers to die")
    # ... and the next one removes them: as a run does before it makes its own
    cgroups.create(cgroups.Limits(cpu=1.0)).remove()
    deadline = time.monotonic() + 5
    while any(g.exists() for g in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(g.exists() for g in left)
    assert left_behind() == []
