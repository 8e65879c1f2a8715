"""`sweep --check`: after a sweep's repeats, every point it can check is
measured once more by a plain `celery -A APP worker` (the reference,
bench/measure/reference.py), and compared with the point's own median
repeat. Each reference is saved the moment it exists, under check/, so a
resumed sweep redoes nothing; check.json holds the comparison.

    <sweep>/check/<point>-reference.json   one reference per point
    <sweep>/check/<point>.json             its comparison, kept at once
    <sweep>/check.json                     per point: the harness's median
                                           repeat, the reference, the ratio,
                                           the verdict, what each side found
"""

from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness.broker import Broker
from bench.measure import reference, runner
from bench.measure.reference import ReferenceResult
from bench.results.io import read_run, write_atomic
from bench.results.schema import CHECK_DIR, CHECK_SUMMARY, SCHEMA_VERSION, RunResult
from bench.sweep.config import SweepConfig
from bench.sweep.plan import point_broker, run_config_for
from bench.sweep.point import Point
from bench.sweep.store import SweepDir


def skip_reason(point: Point) -> str | None:
    """Why a point cannot be checked by one plain worker here, or None."""
    if point.workers != 1:
        return f"{point.workers} workers: the reference runs one"
    if point.host_count is not None:
        return "on agents: the reference runs here"
    return None


def median_repeat(sweep: SweepDir, point: Point) -> Path | None:
    """The path of the ok repeat whose steady-state throughput is the
    point's median (the lower middle of an even count); None: none ok."""
    ok = [(s.steady_throughput_per_s or s.throughput_per_s, path)
          for path, r in sweep.attempts(point)
          if r.ok and (s := r.summary) is not None and s.throughput_per_s is not None]  # fmt: skip
    if not ok:
        return None
    ok.sort(key=lambda pair: pair[0])
    middle = statistics.median_low([v for v, _ in ok])
    return next(path for v, path in ok if v == middle)


def reference_file(sweep: SweepDir, point: Point) -> Path:
    """Where a point's reference goes (reference.measure names it after the
    path it is given: `<stem>-reference.json`)."""
    return sweep.path / CHECK_DIR / f"{point.key}-reference.json"


def comparison_file(sweep: SweepDir, point: Point) -> Path:
    return sweep.path / CHECK_DIR / f"{point.key}.json"


def run_checks(
    sweep: SweepDir,
    cfg: SweepConfig,
    plan: list[Point],
    broker: Broker,
    stub: str | None,
    compare: Callable[[RunResult, ReferenceResult], dict[str, Any]],
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure the reference of every point that can be checked and has an
    ok repeat, unless it has one already (resumable), and keep its
    comparison with the point's median repeat: `compare(run_result,
    reference_result)` gives a dict (the figures, the ratio, the verdict;
    from bench/output/reference.py, passed in by the command). Writes and
    returns check.json."""
    brokers = {cfg.broker_url: (broker, stub)}
    needs_stub = any(p.spec.needs_stub for p in plan)
    todo = [p for p in plan if skip_reason(p) is None and median_repeat(sweep, p) is not None]
    with contextlib.ExitStack() as others:
        for n, point in enumerate(todo, 1):
            if comparison_file(sweep, point).exists():
                continue
            url = point_broker(cfg, point)
            if url not in brokers:
                server = cfg.redis_server if url is None else None
                brokers[url] = others.enter_context(runner.services(url, server, needs_stub))
            here, stub_here = brokers[url]
            comparison_file(sweep, point).parent.mkdir(parents=True, exist_ok=True)
            measured = reference.measure(
                run_config_for(cfg, point), here, stub_here, beside=comparison_file(sweep, point)
            )
            harness = median_repeat(sweep, point)
            assert harness is not None  # todo holds the points with an ok repeat
            entry = {"harness": str(harness), "reference": str(measured.path)}
            entry.update(compare(read_run(harness), measured.result))
            write_atomic(comparison_file(sweep, point), entry)
            say(f"[check {n}/{len(todo)}] {point.key}: {entry.get('verdict', measured.result.outcome)}")
    return summarize(sweep, plan)


def summarize(sweep: SweepDir, plan: list[Point]) -> dict[str, Any]:
    """check.json: every point's comparison, or why it has none."""
    points = []
    for point in plan:
        entry = {"point": point.key}
        found = comparison_file(sweep, point)
        if found.exists():
            entry.update(json.loads(found.read_text()))
        else:
            entry["skipped"] = skip_reason(point) or (
                "no successful repeat" if median_repeat(sweep, point) is None else "not measured"
            )
        points.append(entry)
    document = {"schema_version": SCHEMA_VERSION, "kind": "sweep-check", "points": points}
    write_atomic(sweep.path / CHECK_SUMMARY, document)
    return document
