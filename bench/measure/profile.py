"""`profile`: run a user's task alone (solo pool, one call at a time) in a
fresh worker through the same runner as `run`, and turn its per-call
records into what the task is made of and the predicted configuration."""

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.analysis.budget import (
    NO_BUDGET,
    PROBE_C,
    BudgetAsk,
    RunMemory,
    budget_json,
    probe_size,
    profile_budget,
    run_memory,
)
from bench.analysis.profile import (
    CallProfile,
    GilProbe,
    gil_not_probed,
    gil_probe_size,
    gil_verdict,
    predict,
    profile_calls,
)
from bench.errors import RunFailed
from bench.harness import machine
from bench.harness.broker import Broker
from bench.measure import runner
from bench.measure.config import RunConfig
from bench.measure.load import Progress
from bench.results.io import write_atomic
from bench.results.schema import RunResult

# 1 - first version: per_call, memory, prediction
# 2 - gil: whether the task's CPU releases the GIL, measured under threads; the prediction uses it
# 3 - budget: per pool, the worker tree's memory (PSS) after an uptime at its predicted -c and the largest
#     -c within --memory-budget, from prefork runs at two -c (what a child adds) and the solo run
# 4 - model: each pool's knee with Celery's per-task cost, from the overheads cached for the machine and broker
#     (`advise` measures them); null with `missing` when none are cached
PROFILE_SCHEMA_VERSION = 4


def profile_task(
    cfg: RunConfig, broker: Broker, progress: Progress | None = None, ask: BudgetAsk | None = None
) -> dict[str, Any]:
    """Measure the profile of `cfg.user_task` (a solo, -c 1 run config that
    records memory), then whether its CPU releases the GIL, then, when a
    budget is asked for (`ask`), what a prefork child adds to the worker's
    memory; returns the profile document (not written: see write_profile).
    RunFailed as for a run."""
    with tempfile.TemporaryDirectory(prefix="celery-bench-profile-") as tmp:
        solo = dataclasses.replace(cfg, json_path=Path(tmp) / "run.json")
        measured = runner.measure(solo, broker, None, progress)
    calls = call_profile(measured.result)
    gil = probe_gil(cfg, calls, broker)
    if ask is None:  # no budget asked: not the half minute of prefork runs it takes
        return profile_document(solo, measured.result, gil)
    try:
        prefork: tuple[RunMemory, ...] | str = probe_memory(cfg, calls, broker)
    except RunFailed as exc:  # the task profiled under solo; under prefork it failed: no budget, said why
        prefork = f"its runs under prefork failed: {exc}"
    return profile_document(solo, measured.result, gil, prefork, ask)


def probe_memory(cfg: RunConfig, calls: CallProfile, broker: Broker, stub: Any = None) -> tuple[RunMemory, ...]:
    """Run the task under prefork at the two -c of PROBE_C, each a few
    seconds after a warm-up past a young worker's growth, recording the
    worker tree's memory: their difference is what a child adds."""
    service_s = calls.cpu_p50_s + calls.wait_p50_s
    runs = []
    for c in PROBE_C:
        warmup, tasks = probe_size(min(c, cfg.cores) / service_s if service_s > 0 else 1000.0)
        with tempfile.TemporaryDirectory(prefix="celery-bench-memory-") as tmp:
            probe = dataclasses.replace(
                cfg,
                pool="prefork",
                concurrency=c,
                tasks=tasks,
                warmup=warmup,
                record_memory=True,
                json_path=Path(tmp) / f"prefork-{c}.json",
            )
            result = runner.measure(probe, broker, stub).result
        memory = run_memory(result, result.measured_per_s)
        if memory is None:
            raise RunFailed("profile: the worker's PSS was not readable here (psutil memory_full_info)")
        runs.append(memory)
    return tuple(runs)


def probe_gil(cfg: RunConfig, calls: CallProfile, broker: Broker, stub: Any = None) -> GilProbe:
    """Run the task under threads with enough threads to keep every core
    busy if its CPU releases the GIL (analysis.profile.gil_probe_size), and
    tell from the task threads' CPU time whether it did. A second run of a
    few seconds, in a fresh worker."""
    cannot = gil_not_probed(calls.cpu_p50_s, calls.wait_p50_s, cfg.cores)
    if cannot is not None:
        return cannot
    threads, tasks = gil_probe_size(calls.cpu_p50_s, calls.wait_p50_s, cfg.cores)
    with tempfile.TemporaryDirectory(prefix="celery-bench-gil-") as tmp:
        probe = dataclasses.replace(
            cfg, pool="threads", concurrency=threads, tasks=tasks, record_memory=False, json_path=Path(tmp) / "gil.json"
        )
        samples = runner.measure(probe, broker, stub).result.samples
    assert samples is not None, "a measured run has its samples"
    ok = [i for i, state in enumerate(samples.state) if state == "SUCCESS"]
    cpu = [c for i in ok if (c := samples.cpu_s[i]) is not None]
    window = max(samples.finished_s[i] for i in ok) - min(samples.started_s[i] for i in ok)
    return gil_verdict(cpu, window, threads)


def call_profile(result: RunResult) -> CallProfile:
    """What a call is made of, from a measured solo -c 1 run's per-task records."""
    samples = result.samples
    assert samples is not None, "a measured run has its samples"
    ok = [i for i, state in enumerate(samples.state) if state == "SUCCESS"]
    wall = [samples.finished_s[i] - samples.started_s[i] for i in ok]
    # The solo pool runs each call on a thread of its own: its CPU is always attributed
    # (one missing would fail profile_calls: a time for every call).
    cpu = [c for i in ok if (c := samples.cpu_s[i]) is not None]
    rss = [samples.rss_bytes[i] for i in ok] if samples.rss_bytes else None
    return profile_calls(wall, cpu, rss)


def profile_document(
    cfg: RunConfig,
    result: RunResult,
    gil: GilProbe | None = None,
    prefork: tuple[RunMemory, ...] | str = (),
    ask: BudgetAsk = NO_BUDGET,
) -> dict[str, Any]:
    """The profile document from the run's result (a RunResult), the GIL
    probe's verdict (None: not probed) and the prefork memory probe's runs
    (none: no budget section; a string: why they failed, the section's
    `error`); pure but for the machine's description."""
    gil = gil if gil is not None else GilProbe(None, "not probed")
    user, broker = cfg.user_task, result.config.broker
    # A profile measures a user's task, and its run measured it (runner.measure raises otherwise).
    assert user is not None
    assert broker is not None
    calls = call_profile(result)
    prediction = predict(calls.cpu_p50_s, calls.wait_p50_s, cfg.cores, gil.releases_gil)
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "kind": "profile",
        "app": user.app,
        "task": user.task,
        "config": {
            "user_task": user.to_json(),
            "pool": "solo",
            "concurrency": 1,
            "calls": cfg.tasks,
            "warmup": cfg.warmup,
            "broker": dataclasses.asdict(broker),
            "app_settings": result.config.app_settings,
        },
        "per_call": {
            "wall_s": calls.wall_p50_s,
            "wall_p90_s": calls.wall_p90_s,
            "cpu_s": calls.cpu_p50_s,
            "wait_s": calls.wait_p50_s,
            "waiting_share": calls.waiting_share,
            "wall_ci95_rel": calls.wall_ci95_rel,
            "stable": calls.stable,
            "calls": calls.calls,
            "basis": "medians over the calls; CPU = the task thread's CPU time; waiting = wall - CPU",
        },
        "memory": {
            "rss_first_bytes": calls.rss_first_bytes,
            "rss_last_bytes": calls.rss_last_bytes,
            "rss_growth_bytes": calls.rss_growth_bytes,
            "rss_growth_per_call_bytes": calls.rss_growth_per_call_bytes,
        },
        "gil": dataclasses.asdict(gil),
        "prediction": {
            "cores": prediction.cores,
            "favoured": prediction.favoured,
            "reason": prediction.reason,
            "pools": [dataclasses.asdict(p) for p in prediction.pools],
        },
        "budget": _budget(prediction, result, prefork, ask),
        "metadata": {**machine.describe(), "ended_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
    }


def _budget(prediction, result, prefork, ask):
    solo = run_memory(result)
    if isinstance(prefork, str) or (prefork and solo is None):
        why = prefork if isinstance(prefork, str) else "the solo run's PSS was not readable"
        return {"uptime_s": ask.uptime_s, "budget_bytes": ask.budget_bytes, "error": why, "pools": []}
    if not prefork or solo is None:
        return None
    lines = profile_budget(prediction, solo, prefork, ask.uptime_s, ask.budget_bytes)
    probe = {"solo": dataclasses.asdict(solo), "prefork": [dataclasses.asdict(r) for r in prefork]}
    return {**budget_json([("", line) for line in lines], ask), "probe": probe}


def write_profile(path: str | Path, document: Mapping[str, Any]) -> Path:
    return write_atomic(path, document)
