"""OOM kills, live: the leak workload under --memory-limit is OOM-killed by
the kernel, and the run counts the kills and the tasks they lost, says so in
one line (exit 1, no traceback), and leaves no cgroup. Under prefork the
kernel takes the pool child that leaked (billiard replaces it); under solo
the worker's main process, which runs the tasks, and the worker exits."""

import json

import psutil
import pytest

from bench.harness import cgroups
from tests.helpers.cli import run_bench

MIB = 2**20
LIMIT = "128MiB"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        cgroups.unavailable(cgroups.Limits(memory_bytes=128 * MIB)) is not None,
        reason="no writable cgroup hierarchy here",
    ),
]


def left_behind():
    """The celery-bench cgroups left by a harness that is gone, and the
    parent with nothing in it. A harness running beside the test (another
    run with limits on this shared machine) is not left behind: its
    cgroups are named after it (h<pid>-...)."""
    layout = cgroups.detect()  # v1: the cpu and the memory hierarchy
    assert layout is not None
    found = []
    for parent in {p for p in layout.parents.values() if p.exists()}:
        children = [p for p in parent.iterdir() if p.is_dir()]
        found += [str(c) for c in children if not psutil.pid_exists(int(c.name[1:].split("-")[0]))]
        if not children:
            found.append(str(parent))
    return sorted(found)


def leak(tmp_path, pool, concurrency, tasks):
    """A leak run under the limit: (its document, its stdout, its one line on stderr)."""
    out = tmp_path / f"{pool}.json"
    proc = run_bench(
        "run", "-P", pool, "-c", concurrency, "--workload", "leak", "--tasks", tasks, "--warmup", 0,
        "--memory-limit", LIMIT, "--json", out, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return json.loads(out.read_text()), proc.stdout, lines[0]


def test_a_leaking_prefork_child_is_oom_killed_and_its_lost_tasks_are_counted(tmp_path):
    doc, shown, line = leak(tmp_path, "prefork", 2, 300)
    limits, tasks = doc["summary"]["limits"], doc["summary"]["tasks"]
    never_finished = tasks["published"] - tasks["succeeded"] - tasks["failed"]
    print(f"prefork: {tasks}, {limits}")
    assert limits["oom_kills"] >= 1
    assert limits["oom_killed_main"] == 0  # the kernel took the child that leaked, not the worker
    assert limits["oom_lost_tasks"] >= 1
    assert limits["oom_lost_tasks"] == never_finished == tasks["missing"]
    assert sum(limits["oom_lost_by_process"]) == limits["oom_lost_tasks"]
    assert limits["memory_peak_bytes"] <= 128 * MIB
    words = f"the worker was OOM-killed {limits['oom_kills']} time"
    lost = f"{limits['oom_lost_tasks']} task{'s' if limits['oom_lost_tasks'] > 1 else ''} lost"
    assert words in line
    assert "under --memory-limit 128 MiB" in line
    assert lost in line
    assert words in shown  # the limits line
    findings = {f["kind"]: f for f in doc["summary"]["health"]["findings"]}
    assert findings["lost"]["cause"] == "oom_kill"
    assert "OOM killer" in shown
    assert doc["status"]["state"] == "failed"
    assert left_behind() == []


def test_a_leaking_solo_worker_is_oom_killed_itself_and_the_run_fails_in_one_line(tmp_path):
    doc, _, line = leak(tmp_path, "solo", 1, 300)
    limits, tasks = doc["summary"]["limits"], doc["summary"]["tasks"]
    print(f"solo: {tasks}, {limits}")
    assert limits["oom_kills"] >= 1
    assert limits["oom_killed_main"] == 1
    assert limits["oom_lost_tasks"] == 1  # the one task it was running; the rest were never started
    assert tasks["missing"] == tasks["published"] - tasks["succeeded"] - tasks["failed"] >= 1
    assert "worker exited: killed by SIGKILL" in line
    assert "OOM-killed" in line
    assert "its main process among them" in line
    assert "1 task lost" in line
    assert left_behind() == []
