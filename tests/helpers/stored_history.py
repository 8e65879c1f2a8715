"""Stored results over several commits, made as the harness makes them: a
git repository with one commit per result, and for each commit a sweep
directory written by the real writers (manifest, one result document per
repeat, summary.json), its metadata carrying that commit and a later date
than the one before. test_history.py and test_nightly.py build on it."""

import datetime as dt
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.results.io import write_run
from bench.results.schema import (
    BrokerInfo,
    Metadata,
    RunResult,
    RunSettings,
    RunStatus,
    RunSummary,
    TaskCounts,
    utc_text,
)
from bench.sweep import store
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan

FIRST_DAY = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # the first result's night; one a day after it
HOST = "nightly-runner"
PACKAGES = {"celery": "5.6.3", "kombu": "5.6.0", "billiard": "4.2.1", "redis": "6.4.0"}
POOLS = ("prefork", "gevent")  # the sweep's two points: sleep 50 ms, -c 4, under each pool
LEVEL_PER_S = {"prefork": 76.0, "gevent": 74.0}  # tasks/s, about what -c 4 of 50 ms sleeps gives
NOISE = 0.025  # the relative spread of one repeat's throughput, as on a quiet machine
REPEATS = 3


def git_repository(path: Path, commits: int) -> list[str]:
    """A repository of `commits` commits in `path`; their SHAs, oldest first."""
    path.mkdir(parents=True, exist_ok=True)

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=30)
        return done.stdout.strip()

    git("init", "-q")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    shas = []
    for n in range(commits):
        (path / "tasks.py").write_text(f"VERSION = {n}\n")
        git("add", "tasks.py")
        git("commit", "-q", "-m", f"change {n + 1}")
        shas.append(git("rev-parse", "HEAD"))
    return shas


def _repeat(pool: str, value: float, commit: str, started: dt.datetime, packages: Mapping[str, str]) -> RunResult:
    return RunResult(
        status=RunStatus("ok", None, "complete"),
        config=RunSettings(
            pool=pool,
            concurrency=4,
            workload="sleep",
            task_ms=50.0,
            tasks=200,
            cores=2.0,
            broker=BrokerInfo(kind="redis", server="valkey 9.1.2", embedded=True),
        ),
        metadata=Metadata(
            hostname=HOST,
            cpu_model="AMD EPYC 7763 64-Core Processor",
            usable_cores=2.0,
            python="3.11.7",
            python_implementation="CPython",
            packages=dict(packages),
            git_commit=commit,
            os="Linux-6.8.0-x86_64",
            started_utc=utc_text(started),
            ended_utc=utc_text(started + dt.timedelta(seconds=3)),
        ),
        summary=RunSummary(
            throughput_per_s=value,
            ceiling_per_s=80.0,
            ceiling_basis="4 slots x 50 ms per task",
            tasks=TaskCounts(200, 200, 0, 0, 0),
            load_average_before=(0.2, 0.2, 0.2),
        ),
    )


def write_sweep(
    directory: Path,
    commit: str,
    started: dt.datetime,
    levels: Mapping[str, float],
    rng: np.random.Generator,
    packages: Mapping[str, str] = PACKAGES,
) -> Path:
    """One complete sweep of POOLS in `directory`: REPEATS repeats a point,
    each `levels[pool]` tasks/s with NOISE, measured by `commit` from `started`."""
    cfg = build_sweep_config(pools=list(POOLS), workloads=["sleep"], concurrency=[4], task_ms=50, seed=1)
    plan = build_plan(cfg.pools, cfg.workloads, PROFILES[cfg.profile], 2.0, [0, 1], cfg.concurrency, cfg.task_ms)
    sweep = store.SweepDir(directory)
    sweep.make()
    machine = {"hostname": HOST, "usable_cores": 2.0, "git_commit": commit, "packages": dict(packages)}
    sweep.write_manifest(cfg, plan, status="running", metadata=machine)
    moment = started
    for point in plan:
        for value in levels[point.pool] * (1 + rng.normal(0, NOISE, REPEATS)):
            write_run(sweep.next_repeat_path(point), _repeat(point.pool, float(value), commit, moment, packages))
            moment += dt.timedelta(seconds=5)
    sweep.write_manifest(cfg, plan, status="complete")
    store.summarize(sweep, cfg, plan)
    return directory


def nightly_sweeps(
    store_dir: Path,
    commits: Sequence[str],
    prefork_factors: Sequence[float],
    seed: int = 2026,
    packages_at: Mapping[int, Mapping[str, str]] | None = None,
) -> list[Path]:
    """One sweep a night for each commit, under `store_dir`: prefork's level
    times `prefork_factors[i]` on night i (1.0 flat, 0.8 a 20% step down),
    gevent's flat; `packages_at[i]`: night i's packages, where they change."""
    rng = np.random.default_rng(seed)
    packages = dict(PACKAGES)
    made = []
    for night, (commit, factor) in enumerate(zip(commits, prefork_factors, strict=True)):
        packages = dict((packages_at or {}).get(night, packages))
        started = FIRST_DAY + dt.timedelta(days=night)
        levels = {"prefork": LEVEL_PER_S["prefork"] * factor, "gevent": LEVEL_PER_S["gevent"]}
        name = f"sweep-{started:%Y%m%dT%H%M%S}-{commit[:7]}"
        made.append(write_sweep(store_dir / name, commit, started, levels, rng, packages))
    return made


def pytest_benchmark_file(
    path: Path, commit: str, when: dt.datetime, seconds: Mapping[str, float], rng: np.random.Generator
) -> Path:
    """A pytest-benchmark JSON file as --benchmark-autosave writes it (five
    rounds a benchmark, their times saved as with --benchmark-save-data)."""
    benchmarks = []
    for name, level in seconds.items():
        data = [float(level * (1 + rng.normal(0, NOISE))) for _ in range(5)]
        q1, median, q3 = (float(v) for v in np.percentile(data, [25, 50, 75]))
        stats = {
            "min": min(data),
            "max": max(data),
            "mean": float(np.mean(data)),
            "stddev": float(np.std(data, ddof=1)),
            "rounds": len(data),
            "median": median,
            "iqr": q3 - q1,
            "q1": q1,
            "q3": q3,
            "iqr_outliers": 0,
            "stddev_outliers": 0,
            "outliers": "0;0",
            "ld15iqr": min(data),
            "hd15iqr": max(data),
            "ops": 1 / float(np.mean(data)),
            "total": sum(data),
            "data": data,
            "iterations": 1,
        }
        benchmarks.append(
            {
                "group": None,
                "name": name,
                "fullname": f"tests/benchmarks/test_worker_throughput.py::{name}",
                "params": None,
                "param": None,
                "extra_info": {},
                "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5},
                "stats": stats,
            }
        )
    document = {
        "machine_info": {
            "node": HOST,
            "processor": "x86_64",
            "machine": "x86_64",
            "python_implementation": "CPython",
            "python_version": "3.11.7",
            "release": "6.8.0",
            "system": "Linux",
            "cpu": {"brand_raw": "AMD EPYC 7763 64-Core Processor", "count": 2},
        },
        "commit_info": {"id": commit, "time": when.isoformat(), "dirty": False, "project": "proj", "branch": "main"},
        "benchmarks": benchmarks,
        "datetime": when.isoformat(),
        "version": "5.1.0",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path
