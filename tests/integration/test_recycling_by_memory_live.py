"""Recycling by memory, live: --max-memory-per-child set 20 MiB above a
prefork child's start RSS replaces each child after the tasks that fill
those 20 MiB with the leak workload's blocks, known by construction; the
worker reads the limit back; the pools without pool processes refuse it
(run) or leave it out in one line (sweep). Short runs of 1 MiB blocks
(20 tasks a life: the issue's 50 KiB would need 410)."""

import json
import math
import statistics
from collections import Counter

import pytest

from tests.helpers.cli import run_bench

LEAK_KIB, MARGIN_KIB, WARMUP = 1024, 20 * 1024, 2


def run(tmp_path, name, *options):
    out = tmp_path / f"{name}.json"
    proc = run_bench(
        "run", "-P", "prefork", "-c", 1, "--workload", "leak", "--leak-kib", LEAK_KIB, "--warmup", WARMUP,
        *options, "--json", out, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_a_memory_limit_replaces_each_child_after_the_tasks_that_fill_it(tmp_path):
    # The child's start RSS: its RSS at its last sample, less the blocks it kept by then (warm-up and window).
    probe, _ = run(tmp_path, "probe", "--tasks", 20)
    (child,) = [p for p in probe["summary"]["memory_growth"]["processes"] if not p["main"]]
    start_kib = child["rss_last_bytes"] // 1024 - (WARMUP + child["tasks"]) * LEAK_KIB
    limit_kib = start_kib + MARGIN_KIB
    tasks = 200
    doc, shown = run(tmp_path, "limited", "--tasks", tasks, "--max-memory-per-child", f"{limit_kib}KiB")
    assert doc["config"]["max_memory_per_child_kib"] == limit_kib  # as the worker read it back
    (reported,) = doc["config"]["worker_reported"].values()
    assert reported["max_memory_per_child_kib"] == limit_kib
    # Celery replaces a child after the task that takes its peak RSS above the limit: 21 tasks of 1 MiB from
    # its start, known by construction (a replacement is forked from the main process, whose RSS is not the
    # first child's: a few tasks either way)
    life = MARGIN_KIB // LEAK_KIB + 1
    per_child = Counter(doc["samples"]["pid"])
    first, *_, last = per_child  # the first child ran the warm-up too; the last one was cut by the batch's end
    whole = [n for pid, n in per_child.items() if pid not in (first, last)]
    assert len(whole) >= 4
    assert statistics.median(whole) == pytest.approx(life, abs=3)
    growth = doc["summary"]["memory_growth"]
    expected = (tasks + WARMUP) / life
    assert math.floor(expected * 0.8) - 1 <= growth["recycles"] <= math.ceil(expected * 1.2) + 1
    assert growth["replacement_idle_share"] > 0
    assert "--max-memory-per-child" in shown
    assert "pool processes replaced" in shown


def test_pools_without_pool_processes_refuse_it_or_leave_it_out(tmp_path):
    refused = run_bench("run", "-P", "threads", "--max-memory-per-child", "200MiB", "--json", tmp_path / "t.json")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "only prefork replaces its pool processes" in refused.stderr
    plan = run_bench(
        "sweep", "--dry-run", "--pools", "prefork,threads", "--concurrency", 2, "--workloads", "leak",
        "--vary", "max_memory_per_child=0,200MiB", "--output-dir", tmp_path,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    (line,) = [ln for ln in plan.stdout.splitlines() if ln.startswith("not run:")]
    assert line.startswith("not run: threads with max_memory_per_child=200MiB: only prefork replaces")
    assert "3 points" in plan.stdout
