"""A sweep stops one repeat's workers while the next repeat's boot, but no
measured window ever shares the machine with any worker but its own."""

import time

import psutil
import pytest

from bench.measure import crew, load
from bench.sweep import run as sweep_run
from bench.sweep.config import build_sweep_config
from bench.sweep.plan import make_plan

pytestmark = pytest.mark.integration
WORKER_ENTRY = "bench.harness.worker_entry"


def _workers_alive():
    """pid -> node name of every worker process this harness started (pool
    children carry their parent's command line)."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if WORKER_ENTRY in argv and "-n" in argv:
            found[proc.pid] = argv[argv.index("-n") + 1]
    return found


def test_every_window_opens_with_only_its_own_worker_alive(tmp_path, monkeypatch):
    at_release = []  # (node names released, worker node names alive then)
    real_release = load.release

    def watched_release(app, queue, nodenames, idle_queues):
        at_release.append((list(nodenames), sorted(set(_workers_alive().values()))))
        return real_release(app, queue, nodenames, idle_queues)

    monkeypatch.setattr(load, "release", watched_release)
    # A slow stop: the next repeat is ready long before the last one's
    # workers are gone, so only the relay's settle keeps them apart.
    real_stop = crew.Crew.stop

    def slow_stop(self):
        time.sleep(1.5)
        real_stop(self)

    monkeypatch.setattr(crew.Crew, "stop", slow_stop)
    cfg = build_sweep_config(
        pools=("prefork", "threads", "gevent"),
        workloads=("sleep",),
        concurrency=(2,),
        task_ms=20.0,
        repeats=1,
        profile="quick",
    )
    plan = make_plan(cfg)
    with sweep_run.session(cfg, plan, output_dir=tmp_path) as (target, broker, stub, plan):
        sweep_run.run_sweep(target, cfg, plan, lambda *a: None, broker, stub)
        assert _workers_alive() == {}  # the last workers stopped with the sweep
    assert len(at_release) == len(plan) == 3
    for released, alive in at_release:
        assert alive == sorted(released), "a window opened beside another repeat's workers"
    assert sweep_run.complete(cfg, target, plan)
