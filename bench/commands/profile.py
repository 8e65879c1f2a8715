"""`python -m bench profile`: a user's task run alone, what a call is made
of, and the pool and -c it predicts: from its C and W alone, and with
Celery's own per-task cost where `advise` has measured it for this machine
and broker (the model, on each pool's sweep grid)."""

import dataclasses
from typing import Any

from bench.analysis.advise import model_knees, task_demand
from bench.commands import ProfileRequest
from bench.commands.run import progress_bar
from bench.measure import overheads, runner
from bench.measure.profile import profile_task, write_profile
from bench.output.profile import profile_table
from bench.results.overheads import Calibration
from bench.sweep.plan import default_concurrency

MODELLED = ("prefork", "gevent", "eventlet", "threads")  # solo's is the call itself: nothing to model


def execute(request: ProfileRequest) -> int:
    with runner.services_for(request.config) as (broker, _stub), progress_bar() as progress:
        doc = profile_task(request.config, broker, progress, request.budget)
        calibration = overheads.lookup(broker)
    doc = with_model(doc, calibration)
    write_profile(request.json_path, doc)
    print(profile_table(doc))
    print(f"\nprofile: {request.json_path}")
    return 0


def with_model(doc: dict[str, Any], calibration: Calibration | None) -> dict[str, Any]:
    """The profile document with its `model` (every command that profiles adds it)."""
    return {**doc, "model": model_block(doc, calibration)}


def model_block(doc: dict[str, Any], calibration: Calibration | None) -> dict[str, Any]:
    """The profile's `model`: each pool's knee on its sweep grid with
    Celery's per-task cost (`calibration`: the cached overheads); without
    them, what is missing. A task whose GIL is unknown is modelled under
    threads as releasing it (the higher bound, as `advise` does)."""
    if calibration is None:
        return {"missing": "Celery's per-task cost is not measured for this machine and broker"}
    call, cores = doc["per_call"], doc["prediction"]["cores"]
    releases = doc["gil"]["releases_gil"]
    demand = task_demand(call["cpu_s"], call["wait_s"], releases, calibration)
    measured = [pool for pool in MODELLED if calibration.of(pool)]
    grids = {pool: default_concurrency(pool, cores) for pool in measured}
    # the GIL unknown: threads as holding it (pure Python), and as releasing it beside (as the C-and-W table)
    held = dataclasses.replace(demand, releases_gil=False) if releases is None else demand
    pools = []
    for k in model_knees(grids, cores, held, calibration):
        pool = {"pool": k.pool, "best_c": k.best_c, "per_s": k.per_s, "top_per_s": k.top_per_s, "curve": k.curve}
        if k.pool == "threads" and releases is None:
            (free,) = model_knees({"threads": grids["threads"]}, cores, demand, calibration)  # None: releasing
            pool |= {"best_c_if_gil_released": free.best_c, "per_s_if_gil_released": free.per_s}
        pools.append(pool)
    return {
        "overheads_measured_utc": calibration.measured_utc,
        "broker": calibration.broker,
        "pools": pools,
        "not_measured": [pool for pool in MODELLED if pool not in measured],  # no cost cached: not modelled
    }
