"""Celery's own per-task cost on this machine, per pool: what no-op tasks
measured (measure/overheads.py), kept in a cache per machine and versions
so that a model of the worker (analysis/mva.py) can use it without
measuring it again.

The cache is one JSON file, `overheads.json`, in $CELERY_BENCH_CACHE, else
$XDG_CACHE_HOME/celery-bench, else ~/.cache/celery-bench. It holds one
calibration per key: the machine (host, CPU, cores, OS), the interpreter,
the packages that run a worker, and the broker. A change to any of them is
a different key, so it is measured again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.results.io import write_atomic

# 1 - first version: pools with their no-op rate and CPU per task
# 2 - task_cpu_s: a no-op task's own thread CPU (a version 1 cache is measured again)
OVERHEADS_VERSION = 2
CACHE_NAME = "overheads.json"
# What the overheads depend on, of machine.describe(): a change in any is a new calibration.
KEY_FIELDS = ("hostname", "cpu_model", "cpu_count", "usable_cores", "os", "python", "python_implementation", "packages")


@dataclass(frozen=True)
class PoolOverhead:
    """No-op tasks in one pool: Celery's cost of a task that does nothing."""

    pool: str
    concurrency: int  # the -c of the no-op runs
    repeats: int  # runs measured, each in a fresh worker
    tasks: int  # no-op tasks per run
    noop_per_s: float  # median no-op throughput, tasks/s
    noop_values_per_s: tuple[float, ...]  # each run's, tasks/s
    worker_cpu_per_task_s: float  # CPU of the worker tree per task, median over the runs, s
    main_cpu_per_task_s: float  # of it, the main process's (prefork's parent), s
    broker_cpu_per_task_s: float | None  # the embedded broker's CPU per task, s; None: the user's broker
    harness_cpu_per_task_s: float  # the harness's (the producer and the recorder reader), s
    # The CPU of a no-op task's own thread, median, where the pool attributes it (solo,
    # threads, prefork): Celery's tracer, which a task's profiled CPU includes too, s
    task_cpu_s: float | None = None


@dataclass(frozen=True)
class Calibration:
    key: Mapping[str, Any]  # the machine, interpreter, packages and broker it holds for
    measured_utc: str  # when, ISO 8601
    broker: str  # the broker it was measured on, in words ("valkey 9.0.1, embedded")
    pools: tuple[PoolOverhead, ...]

    def of(self, pool: str) -> tuple[PoolOverhead, ...]:
        """The pool's measurements, by -c (prefork is measured at more than one)."""
        return tuple(sorted((p for p in self.pools if p.pool == pool), key=lambda p: p.concurrency))


def calibration_key(machine: Mapping[str, Any], broker_kind: str, broker_server: str | None) -> dict[str, Any]:
    """The key of a calibration: the fields of `machine` (machine.describe())
    that overheads depend on, and the broker."""
    return {**{k: machine.get(k) for k in KEY_FIELDS}, "broker": broker_kind, "broker_server": broker_server}


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("CELERY_BENCH_CACHE"):
        return Path(environ["CELERY_BENCH_CACHE"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "celery-bench"


def to_json(cal: Calibration) -> dict[str, Any]:
    return {
        "key": dict(cal.key),
        "measured_utc": cal.measured_utc,
        "broker": cal.broker,
        "pools": [{**asdict(p), "noop_values_per_s": list(p.noop_values_per_s)} for p in cal.pools],
    }


def from_json(data: Mapping[str, Any]) -> Calibration:
    pools = tuple(
        PoolOverhead(**{**p, "noop_values_per_s": tuple(p.get("noop_values_per_s", ()))}) for p in data["pools"]
    )
    return Calibration(dict(data["key"]), data["measured_utc"], data["broker"], pools)


def read_cache(directory: Path | None = None) -> list[Calibration]:
    """Every calibration in the cache; [] when there is none or it cannot be
    read (a cache is never worth failing a run for: it is measured again)."""
    path = (directory or cache_dir()) / CACHE_NAME
    try:
        data = json.loads(path.read_text())
        if data.get("version") != OVERHEADS_VERSION:
            return []
        return [from_json(c) for c in data["calibrations"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def cached(key: Mapping[str, Any], directory: Path | None = None) -> Calibration | None:
    """The cached calibration for `key`, if there is one."""
    return next((c for c in read_cache(directory) if dict(c.key) == dict(key)), None)


def store(cal: Calibration, directory: Path | None = None) -> Path:
    """Add `cal` to the cache, replacing the one of the same key; only that key
    is touched, so stale entries of other machines and versions stay readable."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    kept = [c for c in read_cache(directory) if dict(c.key) != dict(cal.key)]
    doc = {"version": OVERHEADS_VERSION, "calibrations": [to_json(c) for c in (*kept, cal)]}
    return write_atomic(directory / CACHE_NAME, doc)
