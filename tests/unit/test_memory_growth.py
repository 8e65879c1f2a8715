"""Memory growth, fitted on series built by hand: a linear leak gives its
slope per task and per hour, flat memory a CI that includes 0, a few odd
samples do not move a Theil-Sen slope, recycled children are counted and
bound the tree; the sampler's state stays bounded; the options of the leak
and stuck workloads are checked and recorded."""

import bisect
import itertools
import math
import random

import pytest

from bench.analysis.memory import (
    MIN_FIT_SAMPLES,
    Reading,
    Snapshot,
    includes_zero,
    memory_growth,
    replacement_gaps,
    series_of,
    theil_sen,
)
from bench.analysis.stats import TaskRecord
from bench.errors import UsageError
from bench.measure import memory as sampler
from bench.measure.config import build_run_config
from bench.measure.result import run_settings
from bench.measure.soak_options import check_recycling
from bench.output.memory import memory_lines
from bench.results.schema import BrokerInfo
from bench.workloads import LEAK_KIB, STUCK_MULTIPLE, WORKLOADS, stuck_draw

KIB = 1024
MAIN, CHILDREN = 10, (11, 12)


def executions(pids, per_s, seconds, t0=0.0):
    """Tasks finished one after another by each of `pids`, `per_s` a second each."""
    return [
        TaskRecord(f"{pid}-{i}", t0, t0, t0 + (i + 1) / per_s, "SUCCESS", pid)
        for pid in pids
        for i in range(int(per_s * seconds))
    ]


def leaking(runs, kib_per_task, seconds, every_s=0.5, base=10_000_000, noise=None, main=MAIN, pool=CHILDREN):
    """Samples of a worker whose pool processes keep `kib_per_task` per task
    they completed (`noise`: a random.Random for +/- a page or two)."""
    finished = {pid: sorted(r.finished for r in runs if r.pid == pid) for pid in pool}
    snaps = []
    for k in range(int(seconds / every_s) + 1):
        t = k * every_s
        readings = [Reading(main, 0, True, 3 * base, 2 * base, 2 * base, 0.1 * t)]
        for pid in pool:
            done = bisect.bisect_right(finished[pid], t)
            jitter = 4096 * noise.randint(-2, 2) if noise else 0
            uss = base + int(done * kib_per_task * KIB) + jitter
            readings.append(Reading(pid, 0, False, uss + base, uss, uss + base // 10, 0.05 * t))
        snaps.append(Snapshot(t, tuple(readings)))
    return series_of(snaps, every_s)


def test_a_linear_leak_gives_its_slope_per_task_per_process_and_for_the_tree():
    runs = executions(CHILDREN, per_s=20, seconds=10)
    growth = memory_growth(leaking(runs, 50, 10, noise=random.Random(1)), runs)
    children = [p for p in growth.processes if not p.main]
    assert [p.pid for p in children] == list(CHILDREN)
    for p in children:
        assert p.kib_per_task == pytest.approx(50, rel=0.02)
        assert p.ci95[0] <= 50 <= p.ci95[1]
        assert p.kib_per_1000_tasks == pytest.approx(1000 * p.kib_per_task, rel=1e-4)
        assert p.kib_per_hour == pytest.approx(50 * 20 * 3600, rel=0.02)  # 20 tasks/s
        assert p.pss_kib_per_task == pytest.approx(50, rel=0.02)
        assert p.tasks == 200
    assert growth.tree.kib_per_task == pytest.approx(50, rel=0.02)
    assert growth.tree.tasks == 400
    assert growth.recycles == 0


def test_flat_memory_has_a_slope_whose_ci_includes_zero():
    runs = executions(CHILDREN, per_s=20, seconds=10)
    growth = memory_growth(leaking(runs, 0, 10, noise=random.Random(2)), runs)
    assert includes_zero(growth.tree.ci95)
    assert all(includes_zero(p.ci95) for p in growth.processes)


def test_the_harnesss_own_memory_is_fitted_beside_the_workers():
    runs = executions(CHILDREN, per_s=20, seconds=5)
    series = leaking(runs, 50, 5)
    own = [
        # its RSS grows 1 KiB a second; its USS (a step: shared pages let go) is not what is fitted
        s._replace(harness=Reading(99, 0, False, 80_000_000 + int(s.t * 1024), 1 if s.t < 2 else 9**9, None, 0.0))
        for s in series.snapshots
    ]
    growth = memory_growth(series_of(own, 0.5), runs)
    assert growth.harness.pid == 99
    assert growth.harness.kib_per_hour == pytest.approx(3600.0)  # 1 KiB a second
    assert growth.harness.pss_kib_per_task is None  # not readable here
    assert "the harness 99: RSS" in "\n".join(memory_lines(growth))


def test_prefork_main_process_is_fitted_against_its_workers_tasks():
    runs = executions(CHILDREN, per_s=20, seconds=5)
    (main,) = [p for p in memory_growth(leaking(runs, 50, 5), runs).processes if p.main]
    assert main.tasks == 200  # its worker's, as it ran none itself
    assert main.kib_per_task == 0.0


def test_a_few_odd_samples_do_not_move_a_theil_sen_slope():
    xs = list(range(30))
    ys = [50.0 * x for x in xs]
    ys[3], ys[17] = ys[3] + 5000, ys[17] - 5000  # a page returned, a burst
    assert theil_sen(xs, ys).slope == pytest.approx(50.0)


def test_too_few_samples_or_no_change_of_tasks_give_no_slope():
    assert theil_sen([1.0, 2.0], [1.0, 2.0]) is None
    assert theil_sen([3.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert MIN_FIT_SAMPLES == 3


def test_recycled_children_are_counted_and_bound_the_tree():
    """Each child keeps 50 KiB a task and is replaced after 20 tasks (1 s):
    the tree's memory stays within two children's worth."""
    snaps, runs, pid = [], [], 100
    for k in range(41):  # 10 s every 0.25 s
        t = k * 0.25
        generation = int(t)  # a child per second, its tasks 20 a second
        done = int((t - generation) * 20)
        child = pid + generation
        uss = 10_000_000 + done * 50 * KIB
        snaps.append(
            Snapshot(
                t, (Reading(MAIN, 0, True, 1, 5_000_000, 5_000_000, 0.0), Reading(child, 0, False, 1, uss, uss, 0.0))
            )
        )
    for generation in range(10):
        runs += [
            TaskRecord("x", 0, 0, generation + (i + 1) / 20 - 1e-6, "SUCCESS", pid + generation) for i in range(20)
        ]
    growth = memory_growth(series_of(snaps, 0.25), runs)
    assert growth.recycles == 10  # the 10 children born after the first sample (pid 110 at t = 10 s included)
    assert abs(growth.tree.kib_per_task) < 5
    gone = [p for p in growth.processes if p.died_s is not None]
    assert gone
    assert all(p.born_s is not None for p in gone)


def test_a_replacement_costs_its_slot_the_time_to_its_first_task():
    """Children 11 and 12 run to 1.0 s and 2.0 s; 13 and 14 replace them and
    start their first tasks 50 ms and 200 ms after."""
    runs = [
        TaskRecord("a", 0, 0.5, 1.0, "SUCCESS", 11),
        TaskRecord("b", 0, 1.5, 2.0, "SUCCESS", 12),
        TaskRecord("c", 0, 1.05, 1.5, "SUCCESS", 13),
        TaskRecord("d", 0, 2.2, 2.5, "SUCCESS", 14),
        TaskRecord("e", 0, 2.6, 2.7, "SUCCESS", 13),
    ]
    assert replacement_gaps(runs, there={11, 12}, mains={10}) == pytest.approx([0.05, 0.2])
    assert replacement_gaps(runs, there={11, 12, 13, 14}) == []


def test_the_sampler_keeps_a_bounded_evenly_thinned_series(monkeypatch):
    taken = iter(range(10_000))
    monkeypatch.setattr(sampler, "read_trees", lambda roots: (Reading(1, 0, True, 1, 1, 1, 0.0),))
    monkeypatch.setattr(sampler.time, "monotonic", lambda: float(next(taken)))
    s = sampler.ProcessSampler([1], interval_s=1.0, max_snapshots=16)
    s._start_t = s._sample(keep=True)
    for _ in range(200):
        s._sample()
    kept = s.kept()
    assert len(kept) <= 16
    gaps = {b.t - a.t for a, b in itertools.pairwise(kept)}
    assert len(gaps) == 1  # evenly spaced


def test_a_kept_sample_unpacks_as_it_was_taken():
    readings = (Reading(4242, 0, True, 50_000_000, 30_000_000, None, 1.25), Reading(4243, 1, False, 7, None, 5, 0.0))
    snap = Snapshot(12.5, readings, Reading(99, 0, False, 68 * 2**20, 60 * 2**20, 61 * 2**20, 3.5), {(0, 4243): 17})
    assert sampler._unpack(sampler._pack(snap)) == snap
    bare = Snapshot(1.0, readings)  # no harness read, no counts (not a soak)
    assert sampler._unpack(sampler._pack(bare)) == bare
    assert sampler._unpack(sampler._pack(Snapshot(2.0, (), None, {}))) == Snapshot(2.0, (), None, {})


def test_a_short_window_is_sampled_more_often_a_long_one_once_a_second():
    assert sampler.sample_interval(3600) == 1.0
    assert sampler.sample_interval(5) == pytest.approx(0.2)


def test_memory_lines_say_the_slope_and_the_recycles():
    runs = executions(CHILDREN, per_s=20, seconds=5)
    lines = memory_lines(memory_growth(leaking(runs, 50, 5), runs), max_tasks_per_child=100)
    assert "tree USS +50 KiB/task" in lines[0]
    assert any("recycled" in line and "--max-tasks-per-child 100" in line for line in lines)


# --- The leak and stuck workloads' options -------------------------------------------


def test_leak_kib_sizes_the_leak_and_is_recorded():
    cfg = build_run_config(workload="leak", leak_kib=50, tasks=100, warmup=0)
    assert cfg.spec.args(10.0) == [10.0, 50]
    assert build_run_config(workload="leak", tasks=100).spec.args(10.0) == [10.0, LEAK_KIB]
    assert run_settings(cfg, BrokerInfo(), "none", None).leak_kib == 50


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workload": "sleep", "leak_kib": 50}, "--leak-kib: sizes the leak workload"),
        ({"workload": "leak", "leak_kib": 0}, "--leak-kib: must be between"),
        ({"workload": "leak", "leak_kib": 50, "hosts": ["a"]}, "--leak-kib: .* leave out --hosts"),
        ({"workload": "sleep", "stuck_p": 0.1}, "--stuck-p: the chance"),
        ({"workload": "stuck", "stuck_p": 1.5}, "--stuck-p: must be a probability"),
        ({"workload": "stuck", "rate": 10.0}, "--workload stuck: drained runs"),
    ],
)
def test_bad_test_workload_options_are_refused_in_one_line(options, message):
    with pytest.raises(UsageError, match=message):
        build_run_config(**options)


@pytest.mark.parametrize("pool", ["gevent", "eventlet", "threads", "solo"])
def test_run_refuses_max_tasks_per_child_where_the_pool_never_replaces_a_process(pool):
    with pytest.raises(UsageError, match=r"--max-tasks-per-child: only prefork .*celery/celery#6312"):
        check_recycling(pool, 100)
    check_recycling("prefork", 100)


def test_the_stuck_draw_is_seeded_and_recorded():
    cfg = build_run_config(workload="stuck", stuck_p=0.1, tasks=500, warmup=0, seed=7)
    drawn = stuck_draw(0.1, 7, 500)
    assert cfg.stuck_tasks == drawn == stuck_draw(0.1, 7, 500)
    assert 25 < sum(drawn) < 80
    assert cfg.longest_task_ms == STUCK_MULTIPLE * WORKLOADS["stuck"].default_task_ms
    stuck = run_settings(cfg, BrokerInfo(), "none", None).stuck
    assert (stuck.p, stuck.seed, stuck.tasks, stuck.blocked_ms) == (0.1, 7, sum(drawn), cfg.longest_task_ms)


@pytest.mark.parametrize("seed", range(12))
def test_the_fit_is_scipys_theil_sen_with_its_ci(seed):
    # analysis/memory.py computes scipy.stats.theilslopes' estimator with numpy (a run need not import
    # scipy.stats): on samples like a run's, tied tasks counts and pages included, the two agree.
    from scipy.stats import theilslopes

    rng = random.Random(seed)
    n = rng.randint(3, 300)
    xs = sorted(rng.choice([rng.randint(0, 50), rng.uniform(0, 5000)]) for _ in range(n))
    ys = [4096 * round((40 * 2**20 + 51_200 * x + rng.gauss(0, 2**16)) / 4096) for x in xs]
    fit = theil_sen(xs, ys)
    slope, _, low, high = theilslopes(ys, xs, alpha=0.95)
    if fit is None:
        assert not (math.isfinite(low) and math.isfinite(high))
    else:
        assert (fit.slope, fit.low, fit.high) == pytest.approx((slope, low, high), rel=1e-12)
