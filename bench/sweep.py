"""A sweep: every point of a plan, each measured in several fresh workers,
in shuffled rounds, every repeat saved the moment it exists, resumable.

A sweep directory holds:
    manifest.json           the sweep's config, plan, machine, status
    runs/<point>/rNN.json   one result document per repeat (as `run` writes)
    summary.json            per-point summaries, written at the end
A repeat interrupted half-way is kept as rNN.interrupted.json and redone on
resume; a repeat that failed is kept and counted as an attempt.
"""

import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import machine, runner
from bench.broker import redact
from bench.config import build_run_config
from bench.errors import Interrupted, RunFailed, UsageError
from bench.plan import PROFILES, Point, build_plan
from bench.results import SCHEMA_VERSION, read_json, write_atomic
from bench.stats import bootstrap_median, needs_more_repeats
from bench.workloads import WORKLOADS

MANIFEST, SUMMARY, RUNS = "manifest.json", "summary.json", "runs"
MAX_FAILURES_PER_POINT = 2  # then the sweep stops retrying that point
_ALL_CPUS = sorted(os.sched_getaffinity(0))  # the harness's own, before any pinning


@dataclass(frozen=True)
class SweepConfig:
    pools: tuple[str, ...]
    workloads: tuple[str, ...]
    concurrency: tuple[int, ...] | None  # None: derived from the cores
    task_ms: float | None  # None: each workload's default
    cpu_counts: tuple[int, ...] | None  # pin workers to this many CPUs; None: no pinning
    profile: str
    min_repeats: int
    max_repeats: int
    ci_target: float  # fraction of the median
    broker_url: str | None
    redis_server: str | None
    prefetch_multiplier: int
    result_backend: str
    seed: int  # for the run order
    force: bool

    def to_json(self):
        """The config as stored in the sweep's files: the broker's password
        redacted (a resume asks for the URL again)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}
        out["broker_url"] = redact(self.broker_url)
        return out

    @classmethod
    def from_json(cls, data):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def build_sweep_config(
    *,
    pools=None,
    workloads=None,
    concurrency=None,
    task_ms=None,
    cpu_counts=None,
    profile="standard",
    repeats=None,
    broker=None,
    redis_server=None,
    prefetch_multiplier=4,
    result_backend="none",
    seed=None,
    force=False,
):
    """Validate a sweep's options; the per-point checks run on each point."""
    if profile not in PROFILES:
        raise UsageError(f"--profile: unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    min_repeats, max_repeats = prof.min_repeats, prof.max_repeats
    if repeats is not None:
        if repeats < 1:
            raise UsageError(f"--repeats: must be at least 1, got {repeats}")
        min_repeats, max_repeats = repeats, max(repeats, prof.max_repeats)
    return SweepConfig(
        pools=tuple(pools or ("prefork", "gevent", "eventlet", "solo")),
        workloads=tuple(workloads or ("cpu", "sleep")),
        concurrency=tuple(sorted(set(concurrency))) if concurrency else None,
        task_ms=task_ms,
        cpu_counts=tuple(cpu_counts) if cpu_counts else None,
        profile=profile,
        min_repeats=min_repeats,
        max_repeats=max_repeats,
        ci_target=prof.ci_target,
        broker_url=broker,
        redis_server=redis_server,
        prefetch_multiplier=prefetch_multiplier,
        result_backend=result_backend,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        force=force,
    )


def make_plan(cfg):
    return build_plan(
        cfg.pools,
        cfg.workloads,
        PROFILES[cfg.profile],
        machine.usable_cores(),
        sorted(os.sched_getaffinity(0)),
        concurrency=cfg.concurrency,
        task_ms=cfg.task_ms,
        cpu_counts=cfg.cpu_counts,
    )


def _utc_now():
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SweepDir:
    """The files of one sweep on disk."""

    def __init__(self, path):
        self.path = Path(path)
        self._docs = {}  # path -> document: repeat files never change once written

    @classmethod
    def create(cls, output_dir, cfg, plan):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        sweep = cls(Path(output_dir) / f"sweep-{stamp}-{cfg.profile}")
        try:
            sweep.path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise UsageError(f"--output-dir: cannot create {sweep.path}: {exc.strerror}") from None
        sweep.write_manifest(cfg, plan, status="planned", metadata=machine.describe())
        return sweep

    def write_manifest(self, cfg, plan, status, metadata=None):
        previous = self.read_manifest(check=False) or {}
        write_atomic(
            self.path / MANIFEST,
            {
                "schema_version": SCHEMA_VERSION,
                "kind": "sweep",
                "status": status,
                "config": cfg.to_json(),
                "plan": [p.to_json() for p in plan],
                "metadata": metadata or previous.get("metadata"),
                "created_utc": previous.get("created_utc", _utc_now()),
                "updated_utc": _utc_now(),
            },
        )

    def read_manifest(self, check=True):
        path = self.path / MANIFEST
        if not path.exists():
            if check:
                raise UsageError(f"{self.path}: not a sweep directory (no {MANIFEST})")
            return None
        return read_json(path, "sweep", "sweep manifest")

    def point_dir(self, point):
        return self.path / RUNS / point.key

    def attempts(self, point):
        """The point's finished repeats (ok or failed) as (path, document)."""
        found = []
        for path in sorted(self.point_dir(point).glob("r*.json")):
            if path.name.endswith(".interrupted.json"):
                continue
            if path not in self._docs:
                try:
                    self._docs[path] = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # never half-written (atomic writes): unreadable means not ours
            found.append((path, self._docs[path]))
        return found

    def next_repeat_path(self, point):
        taken = {p.name.split(".")[0] for p in self.point_dir(point).glob("r*.json")}
        n = 1
        while f"r{n:02d}" in taken:
            n += 1
        return self.point_dir(point) / f"r{n:02d}.json"


def remaining_repeats(cfg, sweep, plan):
    """Repeats still planned: up to the minimum for every point, plus one for
    each point whose stopping rule asks for more beyond it."""
    left = 0
    for point in plan:
        attempts = sweep.attempts(point)
        if wants_more(cfg, attempts):
            left += max(1, cfg.min_repeats - len(attempts))
    return left


def throughputs(attempts):
    return [d["summary"]["throughput_per_s"] for _, d in attempts if d["status"]["state"] == "ok"]


def wants_more(cfg, attempts):
    """The stopping rule of one point, given its finished repeats."""
    failures = sum(1 for _, d in attempts if d["status"]["state"] != "ok")
    if failures >= MAX_FAILURES_PER_POINT or len(attempts) >= cfg.max_repeats:
        return False
    return needs_more_repeats(throughputs(attempts), cfg.min_repeats, cfg.max_repeats, cfg.ci_target)


def _pin_others(worker_cpus, broker_pid):
    """Keep the harness and the embedded broker off the worker's CPUs when
    the machine has others; otherwise let them use every CPU."""
    every = set(_ALL_CPUS)
    others = sorted(every - set(worker_cpus or ())) or sorted(every)
    os.sched_setaffinity(0, others)
    if broker_pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(broker_pid).cpu_affinity(others)


def run_sweep(sweep, cfg, plan, report_progress):
    """Measure every point until its stopping rule is met. Interrupted:
    everything measured is on disk and the manifest says how to resume."""
    sweep.write_manifest(cfg, plan, status="running")
    needs_stub = any(WORKLOADS[p.workload].needs_stub for p in plan)
    state = {"done": 0, "started": time.monotonic()}
    try:
        with runner.services(cfg.broker_url, cfg.redis_server, needs_stub) as (broker, stub):
            round_no = 0
            while True:
                todo = [p for p in plan if wants_more(cfg, sweep.attempts(p))]
                if not todo:
                    break
                # Shuffled every round, so slow drift of the machine spreads
                # over all points instead of looking like a trend in -c.
                random.Random(f"{cfg.seed}-{round_no}").shuffle(todo)
                for point in todo:
                    report_progress(sweep, cfg, plan, point, state, None)
                    doc = _measure_repeat(sweep, cfg, point, broker, stub)
                    state["done"] += 1
                    report_progress(sweep, cfg, plan, point, state, doc)
                round_no += 1
    except (Interrupted, KeyboardInterrupt):
        sweep.write_manifest(cfg, plan, status="interrupted")
        raise Interrupted(
            f"sweep interrupted; everything measured is kept in {sweep.path}; "
            f"resume with: python -m bench sweep --resume {sweep.path}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, _ALL_CPUS)
    sweep.write_manifest(cfg, plan, status="complete")


def run_config_for(cfg, point, json_path=None):
    """The validated config of one repeat of `point`."""
    return build_run_config(
        pool=point.pool,
        concurrency=point.concurrency,
        workload=point.workload,
        task_ms=point.task_ms,
        tasks=point.tasks,
        warmup=point.warmup,
        prefetch_multiplier=cfg.prefetch_multiplier,
        broker=cfg.broker_url,
        redis_server=cfg.redis_server,
        result_backend=cfg.result_backend,
        json_path=json_path,
        force=cfg.force,
        cores=point.cores,
        cpus=point.cpus,
    )


def _measure_repeat(sweep, cfg, point, broker, stub):
    path = sweep.next_repeat_path(point)
    run_cfg = run_config_for(cfg, point, json_path=path)
    _pin_others(point.cpus, broker.pid)
    try:
        return runner.measure(run_cfg, broker, stub)
    except RunFailed as exc:
        if not path.exists():  # failed before anything was measured: keep the reason
            write_atomic(path, _failure_document(point, str(exc)))
        return json.loads(path.read_text())
    except (Interrupted, KeyboardInterrupt):
        if path.exists():
            path.rename(path.with_suffix(".interrupted.json"))
        raise


def _failure_document(point, reason):
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "run",
        "status": {"state": "failed", "reason": reason, "outcome": "not measured"},
        "config": point.to_json(),
        "summary": None,
        "metadata": {"ended_utc": _utc_now()},
    }


def resume(path, broker_url=None, measuring=True):
    """The config and plan of the sweep in `path`, to continue it. A broker
    URL with a password was stored redacted: `broker_url` must give it again."""
    sweep = SweepDir(path)
    manifest = sweep.read_manifest()
    cfg = SweepConfig.from_json(manifest["config"])
    stored = cfg.broker_url
    if broker_url is not None:
        if redact(broker_url) != stored:
            raise UsageError(f"--broker: {redact(broker_url)} is not the sweep's broker {stored}")
        cfg = dataclasses.replace(cfg, broker_url=broker_url)
    elif measuring and stored is not None and ":**@" in stored:
        raise UsageError(f"--resume: the sweep used {stored}; give its URL again with --broker")
    plan = [Point.from_json(p) for p in manifest["plan"]]
    return sweep, cfg, plan


def _median(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return bootstrap_median(values).median


def summarize_point(point, attempts, ci_target):
    """One point's summary over its ok repeats."""
    ok = [d for _, d in attempts if d["status"]["state"] == "ok"]
    failed = [d for _, d in attempts if d["status"]["state"] != "ok"]
    out = point.to_json()
    out["repeats"] = len(ok)
    out["failed_repeats"] = len(failed)
    out["warnings"] = []
    if failed:
        out["warnings"].append(f"{len(failed)} repeat(s) failed: {failed[0]['status']['reason']}")
    if not ok:
        out["throughput_per_s"] = None
        return out
    values = [d["summary"]["throughput_per_s"] for d in ok]
    est = bootstrap_median(values)
    out["throughput_per_s"] = {
        "median": est.median,
        "ci95_low": est.ci_low,
        "ci95_high": est.ci_high,
        "cv": est.cv,
        "unstable": est.unstable,
        "values": values,
    }
    if est.unstable:
        out["warnings"].append(f"unstable: coefficient of variation {est.cv:.0%} across repeats")
    if est.ci_rel_width is not None and est.ci_rel_width > ci_target:
        out["warnings"].append(
            f"wide: the 95% CI spans {est.ci_rel_width:.0%} of the median after {len(values)} repeats"
        )
    summaries = [d["summary"] for d in ok]
    ceiling = summaries[0]["ceiling_per_s"]
    out["ceiling_per_s"] = ceiling
    out["ceiling_basis"] = summaries[0]["ceiling_basis"]
    out["efficiency"] = est.median / ceiling if ceiling else None
    for key in (
        "steady_throughput_per_s",
        "wait_p50_s",
        "wait_p99_s",
        "service_p50_s",
        "service_p99_s",
        "sojourn_p50_s",
        "sojourn_p99_s",
        "mean_concurrency",
        "max_concurrency",
    ):
        out[key] = _median([s[key] for s in summaries])
    for key in ("worker_cpu_cores", "worker_uss_peak_bytes", "worker_pss_peak_bytes", "worker_rss_peak_bytes"):
        out[key] = _median([(s.get("resources") or {}).get(key) for s in summaries])
    out["load_average_before"] = _median([s["load_average_before"][0] for s in summaries])
    return out


def summarize(sweep, cfg, plan):
    """Write summary.json: every point's summary, in plan order."""
    manifest = sweep.read_manifest()
    points = [summarize_point(p, sweep.attempts(p), cfg.ci_target) for p in plan]
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep-summary",
        "config": cfg.to_json(),
        "metadata": manifest.get("metadata"),
        "status": manifest.get("status"),
        "points": points,
    }
    write_atomic(sweep.path / SUMMARY, document)
    return document
