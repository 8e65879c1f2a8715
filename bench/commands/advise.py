"""`python -m bench advise`: profile the task, take Celery's per-task cost
from the cache (or measure it), predict every pool's curve, measure only
what decides the answer, check it against the latency objective and the
memory budget, and print the worker's command line."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

from bench.analysis.advise import Advice, PointResult, Sample, Search, predict_curves, task_demand
from bench.analysis.budget import BudgetAsk, MeasuredPool, RunMemory, budget_json, measured_budget, run_memory
from bench.commands import AdviseRequest
from bench.commands.profile import with_model
from bench.errors import Interrupted, RunFailed
from bench.harness import machine
from bench.measure import openloop, overheads, runner
from bench.measure.apptask import profile_times
from bench.measure.config import DEFAULT_PREFETCH_MULTIPLIER
from bench.measure.profile import call_profile, probe_gil, profile_document, write_profile
from bench.output.advise import advise_figure, advise_html, advise_markdown, advise_terminal
from bench.output.overheads import overheads_table
from bench.results.io import write_atomic
from bench.results.overheads import cache_dir
from bench.results.schema import utc_now
from bench.sweep import store
from bench.sweep.config import PROFILES, SweepConfig
from bench.sweep.plan import build_plan, default_concurrency, run_config_for
from bench.sweep.point import Point
from bench.sweep.repeat import measure_repeat
from bench.workloads import WORKLOADS

OPEN_LOOP_DURATION_S = 5.0  # the winner's run at --rate
# advise.json's format history:
# 1 - first version
# 2 - budget: per pool measured, the memory its answer's -c needs after --uptime, the largest -c within
#     --memory-budget (analysis/budget.py budget_json)
ADVISE_VERSION = 2


def execute(request: AdviseRequest) -> int:
    started = time.monotonic()
    cfg = request.config
    cores = machine.usable_cores()
    say = lambda line: print(line, flush=True)  # noqa: E731
    needs_stub = cfg.user_task is None and request.profile_run.spec.needs_stub
    with runner.services(cfg.broker_url, cfg.redis_server, needs_stub) as (broker, stub):
        # 1. What a call is made of.
        profile_doc = None
        releases_gil = _releases_gil(cfg)
        if cfg.task_profile is not None:
            cpu_s, wait_s = cfg.task_profile
            say(f"the task, from its profile: {cpu_s * 1e3:.3g} ms CPU + {wait_s * 1e3:.3g} ms waiting per call")
        else:
            say(f"profiling {_task_words(cfg)} alone (solo, one call at a time)")
            with tempfile.TemporaryDirectory(prefix="celery-bench-advise-") as tmp:
                run_cfg = dataclasses.replace(request.profile_run, json_path=Path(tmp) / "profile-run.json")
                result = runner.measure(run_cfg, broker, stub).result
            calls = call_profile(result)
            cpu_s, wait_s = calls.cpu_p50_s, calls.wait_p50_s
            say(f"  {cpu_s * 1e3:.3g} ms CPU + {wait_s * 1e3:.3g} ms waiting per call (medians of {calls.calls})")
            if cfg.user_task is not None:
                say("whether its CPU releases the GIL (under threads, enough threads to use every core)")
                gil = probe_gil(request.profile_run, calls, broker, stub)
                say(f"  {gil.basis}")
                releases_gil = gil.releases_gil
                profile_doc = profile_document(request.profile_run, result, gil)
                cfg = dataclasses.replace(cfg, task_profile=profile_times(profile_doc))

        # 2. Celery's own per-task cost here (solo's too: its tracer is in the profile's CPU).
        pools = list(dict.fromkeys([*cfg.pools, "solo"]))
        calibration = overheads.calibrate(pools, broker, refresh=request.refresh_overheads, say=say)
        say(overheads_table(calibration, str(cache_dir())))
        demand = task_demand(cpu_s, wait_s, releases_gil, calibration)
        if profile_doc is not None:
            profile_doc = with_model(profile_doc, calibration)
        say(f"the task's own CPU, less Celery's tracer: {demand.cpu_s * 1e3:.3g} ms per call")

        # 3. Every pool's curve.
        grids = {pool: default_concurrency(pool, cores, step=2) for pool in cfg.pools}
        predicted = predict_curves(grids, cores, demand, calibration)
        points = _points(cfg, grids, cores)

        # 4. Measure what decides the answer.
        sweep = store.SweepDir(request.output_dir / f"advise-{utc_now().strftime('%Y%m%dT%H%M%S')}")
        sweep.make()
        sweep.write_manifest(cfg, [], status="running", metadata=machine.describe())
        if profile_doc is not None:
            write_profile(sweep.path / "profile.json", profile_doc)
        planned: list[Point] = []
        memory_runs: dict[str, list[RunMemory]] = {}

        def measure(pool: str, c: int) -> Sample:
            point = points[(pool, c)]
            if point not in planned:
                planned.append(point)
                sweep.write_manifest(cfg, planned, status="running")
            path = sweep.next_repeat_path(point)
            doc = measure_repeat(run_config_for(cfg, point), path, broker, stub)
            if not doc.ok or doc.measured_per_s is None:
                raise RunFailed(f"{pool} -c {c} failed ({doc.status.reason or 'see the run'}): {path}")
            res = doc.summary.resources if doc.summary else None
            memory = (res.worker_pss_peak_bytes or res.worker_uss_peak_bytes) if res else None
            if (kept := run_memory(doc)) is not None:
                memory_runs.setdefault(pool, []).append(kept)
            return Sample(doc.measured_per_s, memory)

        say("measuring what decides the answer (each point in fresh workers):")
        search = Search(predicted, measure, repeats=cfg.min_repeats, say=say)
        try:
            advice = search.run()
        except (Interrupted, KeyboardInterrupt, RunFailed) as exc:
            sweep.write_manifest(cfg, planned, status="interrupted")
            store.summarize(sweep, cfg, planned)
            what = "interrupted" if not isinstance(exc, RunFailed) else str(exc)
            raise type(exc)(f"advise {what}; every point measured is kept in {sweep.path}") from None
        sweep.write_manifest(cfg, planned, status="complete")
        store.summarize(sweep, cfg, planned)

        # 5. The objective at the rate, and the memory budget.
        latency = None
        if request.rate is not None and advice.best is not None:
            latency = _at_rate(cfg, points[(advice.best.pool, advice.best.concurrency)], request, sweep, broker, stub)
            say(f"at {request.rate:g} tasks/s: " + _latency_words(latency, request))
    memory_fit = _memory_fit(advice, request.memory_budget_bytes)
    doc = advise_document(request, cfg, advice, demand, predicted, calibration, latency, memory_fit, started)
    doc["budget"] = advise_budget(advice, memory_runs, BudgetAsk(request.uptime_s, request.memory_budget_bytes))
    write_atomic(sweep.path / "advise.json", doc)
    (sweep.path / "advise.md").write_text(advise_markdown(doc))
    advise_figure(doc, sweep.path / "advise.png")
    (sweep.path / "advise.html").write_text(advise_html(doc, sweep.path))
    print()
    print(advise_terminal(doc))
    print(f"\nadvise files: {sweep.path}: advise.md, advise.html, advise.png, advise.json, summary.json, runs/")
    return 0 if doc["ok"] else 1


def advise_budget(advice: Advice, runs: dict[str, list[RunMemory]], ask: BudgetAsk) -> dict:
    """Per pool measured, its budget line at its answer's -c (analysis/budget.py)."""
    answers = {choice.pool: choice.concurrency for choice in advice.per_pool}
    pools = [
        MeasuredPool(
            pool,
            "",
            tuple(runs.get(pool, ())),
            tuple(sorted((r.concurrency, r.median_per_s) for r in advice.points if r.pool == pool)),
            answers.get(pool),
        )
        for pool in dict.fromkeys(r.pool for r in advice.points)
    ]
    return budget_json(measured_budget(pools, ask.uptime_s, ask.budget_bytes), ask)


def _task_words(cfg: SweepConfig) -> str:
    if cfg.user_task is not None:
        return cfg.user_task.task
    size = f" {cfg.task_ms:g} ms" if cfg.task_ms is not None else ""
    return f"the {cfg.workloads[0]}{size} workload"


def _releases_gil(cfg: SweepConfig) -> bool | None:
    return None if cfg.user_task is not None else WORKLOADS[cfg.workloads[0]].releases_gil


def _points(cfg: SweepConfig, grids: dict[str, list[int]], cores: float) -> dict[tuple[str, int], Point]:
    """Every point the search may measure, planned as a quick sweep's (its
    batch sizes and warm-up), by (pool, -c)."""

    out = {}
    for pool, grid in grids.items():
        plan = build_plan(
            [pool],
            cfg.workloads,
            PROFILES[cfg.profile],
            cores,
            sorted(os.sched_getaffinity(0)),
            concurrency=grid,
            task_ms=cfg.task_ms,
            user_task=cfg.user_task.task if cfg.user_task is not None else None,
            task_profile=cfg.task_profile,
        )
        out.update({(p.pool, p.concurrency): p for p in plan})
    return out


def _at_rate(cfg, point, request, sweep, broker, stub):
    """The winner open loop at --rate: the sojourn percentiles the objectives name."""
    assert request.rate is not None
    path = sweep.open_loop_path(point, request.rate, 0)
    run_cfg = run_config_for(cfg, point, json_path=path, rate=request.rate, duration=OPEN_LOOP_DURATION_S)
    try:
        result = openloop.measure(run_cfg, broker, stub).result
    except RunFailed as exc:
        return {"rate_per_s": request.rate, "error": str(exc), "met": False}
    ol = result.open_loop or {}
    checks = [
        {
            "label": o.label,
            "limit_s": o.limit_s,
            "measured_s": ol.get(f"sojourn_{o.key}_s"),
            "met": ol.get(f"sojourn_{o.key}_s") is not None and ol[f"sojourn_{o.key}_s"] <= o.limit_s,
        }
        for o in request.objectives
    ]
    return {
        "rate_per_s": request.rate,
        "sojourn_p50_s": ol.get("sojourn_p50_s"),
        "sojourn_p99_s": ol.get("sojourn_p99_s"),
        "producer_limited": ol.get("producer_limited"),
        "backlog_at_end": ol.get("backlog_at_end"),
        "objectives": checks,
        "met": all(c["met"] for c in checks) and not ol.get("producer_limited"),
        "run": str(path),
    }


def _latency_words(latency, request):
    if latency.get("error"):
        return f"the run failed ({latency['error']})"
    p99 = latency.get("sojourn_p99_s")
    words = f"sojourn p99 {p99 * 1e3:.1f} ms" if p99 is not None else "no sojourn measured"
    for c in latency["objectives"]:
        words += f"; {c['label']} {'met' if c['met'] else 'MISSED'} (limit {c['limit_s'] * 1e3:g} ms)"
    return words


def _memory_fit(advice: Advice, budget: int | None) -> dict | None:
    """Whether the winner's memory fits the budget; if not, the best
    measured point that does."""
    if budget is None or advice.best is None:
        return None
    winner = advice.best.point.memory_bytes
    fits = winner is not None and winner <= budget
    alternative = None
    if not fits:
        fitting = [r for r in advice.points if r.memory_bytes is not None and r.memory_bytes <= budget]
        if fitting:
            best = max(fitting, key=lambda r: r.median_per_s)
            alternative = {
                "pool": best.pool,
                "concurrency": best.concurrency,
                "per_s": best.median_per_s,
                "memory_bytes": best.memory_bytes,
            }
    return {"budget_bytes": budget, "winner_bytes": winner, "fits": fits, "alternative": alternative}


def _point_json(r: PointResult) -> dict:
    est = r.estimate
    return {
        "pool": r.pool,
        "concurrency": r.concurrency,
        "predicted_per_s": r.predicted_per_s,
        "median_per_s": est.median,
        "ci95_low_per_s": est.ci_low,
        "ci95_high_per_s": est.ci_high,
        "values_per_s": list(r.values),
        "model_error": r.model_error,
        "memory_bytes": r.memory_bytes,
    }


def command_line(request: AdviseRequest, cfg: SweepConfig, pool: str, concurrency: int) -> str:
    """The worker command line a user runs."""
    app = request.app or (cfg.user_task.app if cfg.user_task is not None else "proj")
    line = f"celery -A {app} worker -P {pool} -c {concurrency}"
    prefetch = cfg.prefetch_multiplier
    if prefetch is None and cfg.user_task is None:
        prefetch = DEFAULT_PREFETCH_MULTIPLIER  # what build_run_config gave the runs
    if prefetch is not None:
        line += f" --prefetch-multiplier {prefetch}"
    return line


def advise_document(request, cfg, advice, demand, predicted, calibration, latency, memory_fit, started) -> dict:
    best, runner_up = advice.best, advice.runner_up
    ok = best is not None and (latency is None or latency["met"]) and (memory_fit is None or memory_fit["fits"])
    doc = {
        "kind": "advise",
        "version": ADVISE_VERSION,
        "ok": ok,
        "task": _task_words(cfg),
        "machine": {"usable_cores": machine.usable_cores(), "cpu_model": machine.cpu_model()},
        "demand": {"cpu_s": demand.cpu_s, "wait_s": demand.wait_s, "releases_gil": demand.releases_gil},
        "overheads": {
            "measured_utc": calibration.measured_utc,
            "broker": calibration.broker,
            "pools": [dataclasses.asdict(p) for p in calibration.pools],
        },
        "predicted": {pool: {str(c): v for c, v in curve.items()} for pool, curve in predicted.items()},
        "points": [_point_json(r) for r in advice.points],
        "searched": list(advice.searched),
        "left_out": [{"pool": p, "why": why} for p, why in advice.left_out],
        "departures": list(advice.departures),
        "confidence": advice.confidence,
        "confidence_reason": advice.confidence_reason,
        "latency": latency,
        "memory": memory_fit,
        "elapsed_s": time.monotonic() - started,
        "runs": sum(len(r.samples) for r in advice.points),
    }
    if best is not None:
        doc["recommendation"] = {
            "pool": best.pool,
            "concurrency": best.concurrency,
            "command": command_line(request, cfg, best.pool, best.concurrency),
            **_point_json(best.point),
        }
    if runner_up is not None:
        doc["runner_up"] = {
            "pool": runner_up.pool,
            "concurrency": runner_up.concurrency,
            "loss": advice.runner_up_loss,
            **_point_json(runner_up.point),
        }
    return doc
