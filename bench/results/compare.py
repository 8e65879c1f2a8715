"""What `compare` reads: a run's result file or a sweep directory, reduced
to the throughput of each successful repeat per point (the decision is in
analysis/compare.py, the report in output/compare.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from bench.errors import UsageError
from bench.results.io import RUN_PARTS, read_json, typed
from bench.results.schema import MANIFEST, RUN, SUMMARY, Metadata, RunResult, SweepManifest, point_name, run_from_json
from bench.results.words import task_named


@dataclass(frozen=True)
class PointKey:
    """What makes two measurements the same point."""

    pool: str  # prefork | gevent | eventlet | solo
    concurrency: int  # -c
    workload: str  # workload name
    task_ms: float | None  # size of each task in ms; None for sizeless workloads
    cpus: float | None  # CPUs the worker could use (its pinned CPUs, else the machine's usable cores)
    broker: str | None  # broker kind: redis or amqp
    workers: int = 1  # worker nodes, each with the pool and -c
    settings: tuple[tuple[str, str], ...] = ()  # a sweep's varied settings (name, value; URLs redacted)
    # A user's task: its registered name, to name the point by; not part of
    # what matches two points (their files matched by the rest before it).
    task: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The sweep's own name for the point, e.g. sleep-50ms-gevent-c16,
        sleep-50ms-gevent-c16-w2-prefetch_multiplier=1; a user's task by its
        name, orders.place-threads-c4."""
        shape = f"-w{self.workers}" if self.workers != 1 else ""
        varied = "".join(f"-{name}={text}" for name, text in self.settings)
        key = point_name(self.workload, self.task_ms, self.pool, self.concurrency) + shape + varied
        return task_named(key, self.workload, self.task_ms, self.task)

    @property
    def setting(self) -> str:
        cpus = "? cpus" if self.cpus is None else f"{self.cpus:g} cpus"
        return f"{cpus}, {self.broker or '?'} broker"


def label(key: PointKey, keys: Sequence[PointKey]) -> str:
    """The point's name, with its CPUs and broker where those differ between points."""
    if len({(k.cpus, k.broker) for k in keys}) > 1:
        return f"{key.name} ({key.setting})"
    return key.name


@dataclass(frozen=True)
class Side:
    """One point of one result."""

    values_per_s: tuple[float, ...]  # throughput of each successful repeat, tasks/s
    failed: int = 0  # repeats that failed (tasks failed or went missing, worker did not start)
    reason: str | None = None  # the first failed repeat's reason
    # Over every repeat whose health was diagnosed, failed ones included
    # (Celery's misbehaviour only: not the tasks left when the harness
    # stopped waiting); None: none was (files from before the health check).
    duplicates: int | None = None  # tasks run twice
    lost: int | None = None  # tasks published and never reported


@dataclass(frozen=True)
class LatencySide:
    """One point at one offered rate (open loop) of one result."""

    p99_s: tuple[float, ...]  # sojourn p99 of each repeat that kept up with its schedule, s
    failed: int = 0  # repeats that failed
    producer_limited: int = 0  # repeats whose producer fell behind the schedule (left out of p99_s)
    reason: str | None = None  # the first failed repeat's reason


@dataclass(frozen=True)
class Results:
    """A result file or a sweep directory, reduced to what comparing needs."""

    path: str  # as the user gave it
    kind: str  # "run" (one result document) or "sweep" (a sweep directory)
    hostnames: frozenset[str]  # the machines it was measured on (metadata.hostname)
    points: dict[PointKey, Side]  # in the result's own order
    # What it was measured with (ENVIRONMENT's facts, in that order), as
    # (fact, value): several values joined with " / " where its runs differ.
    environment: tuple[tuple[str, str], ...] = ()
    # A sweep's open-loop repeats (`--rates`), per (point, offered tasks/s).
    latency: dict[tuple[PointKey, float], LatencySide] = field(default_factory=dict)


# The facts of a result's environment that `compare` sets side by side:
# the software that runs the tasks, and the machine's CPU and kernel.
ENVIRONMENT = (
    "python",
    "celery",
    "kombu",
    "billiard",
    "gevent",
    "eventlet",
    "redis-py",
    "broker",
    "git commit",
    "cpu",
    "usable cores",
    "memory",
    "cpu governor",
    "os",
)


def environment_facts(result: RunResult) -> dict[str, str]:
    """ENVIRONMENT's facts of one run, where it recorded them."""
    broker = result.config.broker if result.config else None
    return machine_facts(result.metadata or Metadata(), broker.server if broker is not None else None)


def machine_facts(meta: Metadata, broker_server: str | None = None) -> dict[str, str]:
    """ENVIRONMENT's facts of a machine's metadata (a run's, or a sweep
    manifest's), with the broker server where known."""
    packages = meta.packages or {}
    memory = f"{meta.memory_bytes / 2**30:.1f} GiB" if meta.memory_bytes else None
    facts = {
        "python": " ".join(x for x in (meta.python_implementation, meta.python) if x) or None,
        "celery": packages.get("celery"),
        "kombu": packages.get("kombu"),
        "billiard": packages.get("billiard"),
        "gevent": packages.get("gevent"),
        "eventlet": packages.get("eventlet"),
        "redis-py": packages.get("redis"),
        "broker": broker_server,
        "git commit": meta.git_commit,
        "cpu": meta.cpu_model,
        "usable cores": f"{meta.usable_cores:g}" if meta.usable_cores is not None else None,
        "memory": memory,
        "cpu governor": meta.cpu_governor,
        "os": meta.os,
    }
    return {k: v for k, v in facts.items() if v}


def environment(results: Iterable[RunResult]) -> tuple[tuple[str, str], ...]:
    """The facts of several runs (a sweep's repeats), each fact's distinct
    values in the order met."""
    seen: dict[str, list[str]] = {}
    for result in results:
        for fact, value in environment_facts(result).items():
            values = seen.setdefault(fact, [])
            if value not in values:
                values.append(value)
    return tuple((fact, " / ".join(seen[fact])) for fact in ENVIRONMENT if fact in seen)


class PlannedPoint(Protocol):
    """A point of a sweep's plan (bench.sweep.plan.Point)."""

    # Read-only members, so a frozen dataclass is one.
    @property
    def pool(self) -> str: ...  # prefork | gevent | eventlet | solo
    @property
    def concurrency(self) -> int: ...  # -c
    @property
    def workload(self) -> str: ...  # workload name
    @property
    def task_ms(self) -> float | None: ...  # ms; None for sizeless workloads
    @property
    def cores(self) -> float: ...  # cores the worker could use
    @property
    def workers(self) -> int: ...  # worker nodes
    @property
    def settings(self) -> tuple[tuple[str, str], ...]: ...  # varied settings (name, value as written)
    @property
    def task(self) -> str | None: ...  # a user's task: its registered name
    @property
    def key(self) -> str: ...  # its directory's name


class SweepFiles(Protocol):
    """The files of a sweep, as bench.sweep.store.SweepDir reads them (the
    sweep stage sits above this one, so it is passed in, not imported)."""

    path: Path

    def read_manifest(self) -> SweepManifest: ...

    def planned_points(self) -> Sequence[PlannedPoint]: ...

    def repeats(self, point: Any) -> list[RunResult]: ...

    def open_loop_runs(self, point: Any) -> Mapping[float, Sequence[RunResult]]: ...


def _task_ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _cpus(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _broker_kind(url: str | None) -> str:
    """The kind of broker a sweep's --broker URL names; no URL: the embedded Redis."""
    if url is None:
        return "redis"
    return "amqp" if urlsplit(url).scheme in ("amqp", "pyamqp") else "redis"


def _side(results: Sequence[RunResult]) -> Side:
    ok = [v for r in results if (v := r.measured_per_s) is not None]
    failed = [r for r in results if r.measured_per_s is None]
    reason = failed[0].status.reason if failed else None
    healths = [r.summary.health for r in results if r.summary is not None and r.summary.health is not None]
    counts = {}
    if healths:
        for kind in ("duplicates", "lost"):
            counts[kind] = sum(f.count for h in healths for f in h.misbehaviour if f.kind == kind)
    return Side(tuple(float(v) for v in ok), len(failed), reason, **counts)


def _latency_side(results: Sequence[RunResult]) -> LatencySide:
    kept = [r.open_loop for r in results if r.status.state in ("ok", "producer-limited") and r.open_loop]
    failed = [r for r in results if r.status.state not in ("ok", "producer-limited") or not r.open_loop]
    return LatencySide(
        p99_s=tuple(float(o["sojourn_p99_s"]) for o in kept if not o["producer_limited"]),
        failed=len(failed),
        producer_limited=sum(1 for o in kept if o["producer_limited"]),
        reason=failed[0].status.reason if failed else None,
    )


def _hostnames(hostnames: Iterable[str | None]) -> frozenset[str]:
    return frozenset(h for h in hostnames if h)


def load_run(path: Path) -> Results:
    """One result document, as `python -m bench run` writes it."""
    if path.name in (MANIFEST, SUMMARY) and (path.parent / MANIFEST).is_file():
        raise UsageError(f"{path}: this is a sweep's {path.name}; give the sweep directory itself")
    document = read_json(path, None, "result", RUN_PARTS)
    kind = document.get("kind", RUN)
    if kind != RUN:
        raise UsageError(f"{path}: not a run result (kind {kind!r})")
    result = typed(path, document, run_from_json)
    cfg, meta = result.config, result.metadata
    # by what ran: solo is one slot; slots count every worker's
    concurrency = cfg.concurrency if cfg.slots is None else cfg.slots // max(1, cfg.workers)
    if cfg.pool is None or cfg.workload is None or concurrency is None:
        raise UsageError(f"{path}: malformed config (no pool, workload or concurrency)")
    try:
        key = PointKey(
            pool=cfg.pool,
            concurrency=int(concurrency),
            workload=cfg.workload,
            task_ms=_task_ms(cfg.task_ms),
            cpus=_cpus(cfg.cores if cfg.cores is not None else meta.usable_cores),
            broker=cfg.broker.kind if cfg.broker else None,
            workers=cfg.workers,
            task=(cfg.user_task or {}).get("task"),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed config ({type(exc).__name__}: {exc})") from None
    return Results(str(path), RUN, _hostnames([meta.hostname]), {key: _side([result])}, environment([result]))


def load_sweep(sweep: SweepFiles) -> Results:
    """A sweep directory: its plan from manifest.json, every finished repeat
    (repeats interrupted half-way are left out), as SweepDir gives them."""
    manifest = sweep.read_manifest()
    plan = sweep.planned_points()
    try:
        default_broker = _broker_kind(manifest.config.get("broker_url"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise UsageError(f"{sweep.path}: malformed manifest ({type(exc).__name__}: {exc})") from None
    hostnames = [manifest.metadata.hostname if manifest.metadata else None]
    points: dict[PointKey, Side] = {}
    latency: dict[tuple[PointKey, float], LatencySide] = {}
    runs: list[RunResult] = []
    for point in plan:
        repeats = sweep.repeats(point)
        runs += repeats
        hostnames += [r.metadata.hostname for r in repeats]
        measured = [r for r in repeats if r.measured_per_s is not None]
        broker = measured[0].config.broker.kind if measured and measured[0].config.broker else None
        key = PointKey(
            pool=point.pool,
            concurrency=point.concurrency,
            workload=point.workload,
            task_ms=_task_ms(point.task_ms),
            cpus=_cpus(point.cores),
            broker=broker or default_broker,
            workers=point.workers,
            settings=tuple(point.settings),  # as the manifest holds them: broker URLs redacted
            task=point.task,
        )
        points[key] = _side(repeats)
        for rate, open_loop in sweep.open_loop_runs(point).items():
            latency[(key, rate)] = _latency_side(open_loop)
    return Results(str(sweep.path), "sweep", _hostnames(hostnames), points, environment(runs), latency)
