"""Latency against offered load: after a sweep's drain repeats, every point
is run open loop at each rate of --rates (or, with `auto`, at fractions of
its own drain throughput), in fresh workers, with the sweep's minimum of
repeats, in shuffled order. Each run is saved as it finishes, under
open_loop/<point>/, so a resumed sweep redoes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
from collections.abc import Callable
from typing import Any

from bench.analysis.latency_verdict import decide
from bench.analysis.mix import class_estimates
from bench.harness.broker import Broker
from bench.results.io import write_atomic
from bench.results.schema import SCHEMA_VERSION, point_name
from bench.results.sweepdir import OPEN_LOOP_SUMMARY
from bench.sweep.config import PROFILES, SweepConfig
from bench.sweep.plan import MIX_TASKS_PER_CLASS, run_config_for
from bench.sweep.point import Point
from bench.sweep.repeat import measure_repeat
from bench.sweep.run import throughputs
from bench.sweep.store import SweepDir


def group_key(point: dict[str, Any]) -> str:
    """The figure a point (as a dict) belongs to: workload, size, pinning."""
    return point_name(point["workload"], point["task_ms"], pinned=len(point["cpus"]) if point["cpus"] else None)


AUTO_FRACTIONS = (0.25, 0.5, 0.7, 0.85, 0.95, 1.1)
MIN_DURATION_S = 1.0


def drain_rate(sweep: SweepDir, point: Point) -> float | None:
    """The point's median drain throughput over its successful repeats."""
    values = throughputs(sweep.attempts(point))
    return statistics.median(values) if values else None


MIX_MAX_DURATION_S = 60.0  # the longest a mix's run is stretched to hold its rarest class


def duration_of(cfg: SweepConfig, rate: float | None = None) -> float:
    """How long each open-loop run of `cfg` offers its rate, s: the
    profile's window; a traffic mix's at `rate` (tasks/s) long enough to
    send a few of its rarest class (plan.MIX_TASKS_PER_CLASS), up to
    MIX_MAX_DURATION_S."""
    window = max(MIN_DURATION_S, PROFILES[cfg.profile].window_s)
    if cfg.traffic is None or not rate:
        return window
    rarest = min(c.share for c in cfg.traffic.classes)
    return max(window, min(MIX_MAX_DURATION_S, float(math.ceil(MIX_TASKS_PER_CLASS / (rate * rarest)))))


def rates_of(cfg: SweepConfig, sweep: SweepDir, point: Point) -> tuple[float, ...]:
    """The offered rates of one point, tasks/s (three significant figures for auto)."""
    if cfg.rates is None:
        return ()
    if isinstance(cfg.rates, str):  # "auto", the only word
        drain = drain_rate(sweep, point)
        return () if not drain else tuple(float(f"{f * drain:.3g}") for f in AUTO_FRACTIONS)
    return tuple(cfg.rates)


def run_rates(
    sweep: SweepDir,
    cfg: SweepConfig,
    plan: list[Point],
    broker: Broker,
    stub: str | None,
    say: Callable[[str], None] = print,
) -> None:
    """Measure every point at every rate, `cfg.min_repeats` times each."""
    todo = [
        (point, rate, i)
        for point in plan
        for rate in rates_of(cfg, sweep, point)
        for i in range(1, cfg.min_repeats + 1)
        if not sweep.open_loop_path(point, rate, i).exists()
    ]
    random.Random(f"{cfg.seed}-rates").shuffle(todo)
    for n, (point, rate, i) in enumerate(todo, 1):
        # The point's own config (its varied settings too), at the rate.
        run_cfg = run_config_for(cfg, point, rate=rate, duration=duration_of(cfg, rate), seed=i)
        doc = measure_repeat(run_cfg, sweep.open_loop_path(point, rate, i), broker, stub)
        ol = doc.open_loop
        if ol is not None and doc.status.state in ("ok", "producer-limited"):
            line = f"p99 {ol['sojourn_p99_s'] * 1000:.1f} ms, completed {ol['achieved_completion_rate_per_s']:.1f}/s"
            if ol["producer_limited"]:
                line += ", PRODUCER-LIMITED"
        else:
            line = f"FAILED: {doc.status.reason}"
        say(f"[rates {n}/{len(todo)}] {point.key} at {rate:g}/s #{i}: {line}")


def _classes(docs: list[dict[str, Any]], mixes: list[dict[str, Any] | None]) -> dict[str, Any]:
    """A traffic mix's rate cell: its classes over the runs the producer
    kept up with (as their p99s); nothing for one workload."""
    kept = [d for d, m in zip(docs, mixes, strict=True) if m is not None and not d["producer_limited"]]
    described = next((m for m in mixes if m is not None), None)
    if described is None:
        return {}
    estimates = class_estimates(described["classes"], [d.get("classes") or {} for d in kept])
    return {"classes": [dataclasses.asdict(e) for e in estimates]}


def summarize(sweep: SweepDir, cfg: SweepConfig, plan: list[Point], machine_cores: float) -> dict[str, Any]:
    """open_loop.json: per point and rate, the per-repeat p50/p99 sojourn and
    achieved rates; and the latency verdict per pool x workload."""
    points = []
    for point in plan:
        cells = []
        for rate in rates_of(cfg, sweep, point):
            docs = []
            mixes = []  # a traffic mix's description, once per run that has it
            for i in range(1, cfg.min_repeats + 1):
                path = sweep.open_loop_path(point, rate, i)
                if path.exists():
                    doc = json.loads(path.read_text())
                    if doc.get("open_loop") and doc["status"]["state"] in ("ok", "producer-limited"):
                        docs.append(doc["open_loop"])
                        mixes.append(doc.get("traffic"))
            cells.append(
                {
                    "rate": rate,
                    "p50": [d["sojourn_p50_s"] for d in docs if not d["producer_limited"]],
                    "p99": [d["sojourn_p99_s"] for d in docs if not d["producer_limited"]],
                    "achieved": [d["achieved_completion_rate_per_s"] for d in docs],
                    "backlog": [d["backlog_at_end"] for d in docs],
                    "producer_limited": sum(1 for d in docs if d["producer_limited"]),
                    "runs": len(docs),
                    **_classes(docs, mixes),
                }
            )
        entry = point.to_json()
        entry["drain_throughput_per_s"] = drain_rate(sweep, point)
        entry["rates"] = cells
        points.append(entry)
    series: dict[str, dict[str, dict[int, dict[float, dict[str, Any]]]]] = {}  # figure -> pool -> -c -> rate -> cell
    for entry in points:
        pools = series.setdefault(group_key(entry), {})
        pools.setdefault(entry["pool"], {})[entry["concurrency"]] = {c["rate"]: c for c in entry["rates"]}
    verdicts: dict[str, dict[str, dict[str, str]]] = {}  # figure -> pool -> {"word", "reason"}
    for key, pools in series.items():
        for pool, by_c in pools.items():
            cores = next(float(e["cores"] or machine_cores) for e in points if e["pool"] == pool)
            v = decide(by_c, cores) if pool != "solo" else None
            if v is not None:
                verdicts.setdefault(key, {})[pool] = {"word": v.word, "reason": v.reason}
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep-open-loop",
        "rates": cfg.rates if cfg.rates == "auto" else list(cfg.rates or ()),
        "auto_fractions": list(AUTO_FRACTIONS) if cfg.rates == "auto" else None,
        "latency_from": "scheduled send time",
        "points": points,
        "verdicts": verdicts,
    }
    write_atomic(sweep.path / OPEN_LOOP_SUMMARY, document)
    return document
