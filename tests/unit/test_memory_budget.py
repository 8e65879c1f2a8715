"""Unit tests for bench.analysis.budget: the -c that fits a memory budget
for an uptime, on terms known by construction."""

import dataclasses
from types import SimpleNamespace

import pytest

from bench.analysis.budget import (
    DEFAULT_UPTIME_S,
    PROBE_WARMUP,
    YOUNG_CHILD_KIB_PER_TASK,
    YOUNG_CHILD_TASKS,
    YOUNG_KIB_PER_TASK,
    BudgetAsk,
    PoolMemory,
    RateCurve,
    RunMemory,
    budget_json,
    budget_line,
    fit_slots,
    fixed_bytes,
    line_json,
    measured_budget,
    pool_memory,
    probe_size,
    profile_budget,
    slope_used,
    sweep_pools,
)
from bench.analysis.profile import predict
from bench.cli import COMMANDS, create_parser
from bench.harness.sizes import size_words
from bench.output.budget import budget_markdown, budget_sentence
from bench.output.profile import budget_lines, budget_table
from tests.helpers.paths import ROOT

MIB = 2**20
GIB = 2**30
HOUR = 3600.0


def test_a_rate_curve_is_linear_to_its_knee_then_flat():
    curve = RateCurve(((4, 400.0),))
    assert curve.at(1) == pytest.approx(100.0)
    assert curve.at(4) == pytest.approx(400.0)
    assert curve.at(16) == pytest.approx(400.0)
    unbounded = RateCurve(((1, 50.0),), grows_beyond=True)
    assert unbounded.at(8) == pytest.approx(400.0)


def test_a_rate_curve_interpolates_between_measured_points():
    curve = RateCurve(((2, 100.0), (6, 300.0), (10, 310.0)))
    assert curve.at(4) == pytest.approx(200.0)
    assert curve.at(8) == pytest.approx(305.0)
    assert curve.at(1) == pytest.approx(50.0)  # from the origin to the first point


def test_a_rate_curve_refuses_a_descending_c():
    with pytest.raises(ValueError, match="ascend"):
        RateCurve(((4, 1.0), (2, 1.0)))


def test_memory_is_base_plus_slots_plus_growth_over_the_uptime():
    # 100 MiB + 20 MiB a child + 1 KiB a task at 10 tasks/s per slot (flat past -c 8)
    memory = PoolMemory("prefork", 100 * MIB, 20 * MIB, 1024.0, RateCurve(((8, 80.0),)), "by hand")
    # -c 4: 40 tasks/s, 8 h = 1,152,000 tasks = 1,125 MiB
    assert memory.tasks(4, 8 * HOUR) == pytest.approx(1_152_000)
    assert memory.bytes_at(4, 8 * HOUR) == pytest.approx((100 + 80 + 1125) * MIB)
    assert memory.bytes_at(4, 0) == pytest.approx(180 * MIB)


def test_the_largest_c_within_the_budget_is_found_below_the_best():
    memory = PoolMemory("prefork", 100 * MIB, 20 * MIB, 0.0, RateCurve(((16, 160.0),)), "by hand")
    line = budget_line(memory, 16, 8 * HOUR, 300 * MIB)
    assert line.needs_bytes == pytest.approx(420 * MIB)  # 100 + 16 x 20
    assert line.fits is False
    assert line.fits_c == 10  # 100 + 10 x 20 = 300: at the budget is within it
    assert line.fits_bytes == pytest.approx(300 * MIB)


def test_the_best_c_fits_when_it_is_within_the_budget():
    memory = PoolMemory("threads", 60 * MIB, 0.1 * MIB, 0.0, RateCurve(((5, 200.0),)), "by hand")
    line = budget_line(memory, 5, 8 * HOUR, GIB)
    assert line.fits is True
    assert line.fits_c == 5


def test_a_leak_that_outgrows_the_budget_at_c_1_fits_nothing():
    # 50 KiB a task at 100 tasks/s a slot: -c 1 keeps 137 GiB in 8 h
    memory = PoolMemory("prefork", 100 * MIB, 20 * MIB, 50 * 1024.0, RateCurve(((4, 400.0),)), "by hand")
    line = budget_line(memory, 4, 8 * HOUR, GIB)
    assert line.fits_c is None
    assert line.fits_bytes is None
    assert line.needs_bytes > 500 * GIB


def test_without_a_budget_only_what_the_c_needs_is_said():
    memory = PoolMemory("gevent", 60 * MIB, 0.0, 0.0, RateCurve(((5, 200.0),)), "by hand")
    line = budget_line(memory, 5, HOUR, None)
    assert (line.fits, line.fits_c) == (None, None)
    assert line.needs_bytes == pytest.approx(60 * MIB)


def test_solo_has_one_slot_whatever_c_says():
    memory = PoolMemory("solo", 60 * MIB, 5 * MIB, 1024.0, RateCurve(((1, 10.0),)), "by hand")
    line = budget_line(memory, 8, HOUR, None)
    assert line.at_c == 1
    assert line.needs_bytes == pytest.approx(65 * MIB + 36_000 * 1024)


def test_a_slope_is_used_only_where_its_ci_excludes_zero():
    assert slope_used(50.0, (49.0, 51.0)) == pytest.approx(50 * 1024)
    assert slope_used(0.04, (-0.01, 0.09)) == 0.0
    assert slope_used(None, None) == 0.0
    assert slope_used(-3.0, (-4.0, -2.0)) == 0.0  # a shrinking tree does not shrink forever


def test_a_young_worker_s_slope_counts_only_above_its_own_growth():
    assert slope_used(0.8, (0.5, 1.1), young_above=1.5) == 0.0  # a young worker's: Celery's remembered task ids
    assert slope_used(50.0, (49.0, 51.0), young_above=1.5) == pytest.approx(50 * 1024)  # a leak
    young = [RunMemory(c, 60 * MIB + c * 10 * MIB, 500, 0.8, (0.5, 1.1), warmup=20) for c in (2, 4)]
    memory = pool_memory("prefork", young, RateCurve(((4, 100.0),)))
    assert memory.slope_bytes_per_task == 0.0
    assert "young worker" in memory.basis


def test_a_leaking_run_s_fixed_memory_leaves_its_tasks_out():
    # 200 MiB at the end, after 1,024 tasks of 50 KiB = 50 MiB of growth
    assert fixed_bytes(200 * MIB, 50 * 1024.0, 1024) == pytest.approx(150 * MIB)


def test_base_and_per_slot_are_fitted_over_c():
    assert fit_slots([(1, 70 * MIB), (3, 110 * MIB)]) == (pytest.approx(50 * MIB), pytest.approx(20 * MIB))
    base, per_slot = fit_slots([(2, 60 * MIB), (8, 59 * MIB)])  # noise: a slot never costs less than nothing
    assert per_slot == 0.0
    assert base == pytest.approx(59.5 * MIB)
    with pytest.raises(ValueError, match="two -c"):
        fit_slots([(2, MIB), (2, 2 * MIB)])


def test_a_pool_s_terms_come_from_its_runs():
    # prefork: 50 MiB + 20 MiB a child; each run leaked 50 KiB a task over its 1,000 tasks
    leak = 50 * 1024
    runs = [RunMemory(c, int(50 * MIB + c * 20 * MIB + leak * 1000), 1000, 50.0, (49.5, 50.5)) for c in (1, 3)]
    memory = pool_memory("prefork", runs, RateCurve(((2, 200.0),)))
    assert memory.base_bytes == pytest.approx(50 * MIB)
    assert memory.per_slot_bytes == pytest.approx(20 * MIB)
    assert memory.slope_bytes_per_task == pytest.approx(leak)
    assert "2 runs at -c 1, 3" in memory.basis
    assert "50 KiB/task" in memory.basis


def test_runs_at_one_c_give_the_base_alone():
    runs = [RunMemory(4, 80 * MIB, 500, 0.01, (-0.02, 0.03))]
    memory = pool_memory("threads", runs, RateCurve(((4, 100.0),)))
    assert memory.base_bytes == pytest.approx(80 * MIB)
    assert memory.per_slot_bytes == 0.0
    assert "not measured" in memory.basis
    assert "CI includes 0" in memory.basis


def probe_runs(leak_kib=50.0):
    """A solo run and prefork at -c 1 and 3, by construction: 40 MiB a
    process alone, prefork's base 40 MiB and 10 MiB a child, `leak_kib`
    a task kept, after 1,200 + 1,000 tasks (solo: 5 + 100)."""
    leak = leak_kib * 1024
    ci = (leak_kib - 0.5, leak_kib + 0.5) if leak_kib else (-0.1, 0.1)
    solo = RunMemory(1, int(40 * MIB + leak * 105), 105, leak_kib, ci)
    prefork = tuple(RunMemory(c, int(40 * MIB + c * 10 * MIB + leak * 2200), 2200, leak_kib, ci) for c in (1, 3))
    return solo, prefork


def test_profile_budget_gives_every_pool_a_line_at_its_predicted_c():
    # C = 5 ms, W = 20 ms on 2 cores: prefork's best -c 10 at 400/s; gevent's 5 at 200/s
    prediction = predict(0.005, 0.020, cores=2.0)
    solo, prefork = probe_runs(leak_kib=0.0)
    lines = {line.pool: line for line in profile_budget(prediction, solo, prefork, 8 * HOUR, 100 * MIB)}
    assert set(lines) == {"prefork", "gevent", "eventlet", "threads", "solo"}
    assert lines["prefork"].at_c == 10
    assert lines["prefork"].needs_bytes == pytest.approx(140 * MIB)  # 40 + 10 x 10, no growth
    assert lines["prefork"].fits_c == 6  # 40 + 6 x 10 = 100
    assert lines["gevent"].needs_bytes == pytest.approx(40 * MIB)  # the solo run's process; a greenlet not measured
    assert lines["gevent"].fits is True


def test_profile_budget_grows_with_the_leak_at_the_predicted_rate():
    prediction = predict(0.005, 0.020, cores=2.0)
    solo, prefork = probe_runs(leak_kib=50.0)
    (line,) = [x for x in profile_budget(prediction, solo, prefork, 60.0, None) if x.pool == "prefork"]
    # -c 10 at 400/s for 60 s: 24,000 tasks x 50 KiB
    assert line.tasks == pytest.approx(24_000)
    assert line.needs_bytes == pytest.approx(140 * MIB + 24_000 * 50 * 1024, rel=1e-6)
    assert line.memory.per_slot_bytes == pytest.approx(10 * MIB, rel=1e-6)  # the warm-up's leak left out


def test_a_profile_sizes_its_memory_probe_from_the_rate():
    assert probe_size(200.0) == (PROBE_WARMUP, 1000)  # 6 s of warm-up, 5 s measured at 200/s
    assert probe_size(100.0) == (800, 500)  # 8 s, 5 s
    assert probe_size(1.0) == (30, 30)


def test_the_budget_line_reads_as_the_issue_asks():
    memory = PoolMemory("prefork", 200 * MIB, 75 * MIB, 0.01 * 1024, RateCurve(((16, 160.0),)), "by hand")
    line = line_json(budget_line(memory, 16, 8 * HOUR, GIB))
    said = budget_sentence(line, 8 * HOUR, GIB)
    # 200 MiB + 16 x 75 MiB + 0.01 KiB x 160/s x 8 h (45 MiB); -c 10: 950 MiB + 28.1 MiB
    assert said == "prefork -c 16 needs 1.411 GiB after 8 h at this slope; -c 10 fits 1 GiB (978.1 MiB)"
    fits = budget_sentence(line_json(budget_line(memory, 4, 8 * HOUR, GIB)), 8 * HOUR, GIB)
    assert fits.endswith(": fits 1 GiB")
    unbudgeted = budget_sentence(line_json(budget_line(memory, 4, 1800.0, None)), 1800.0, None)
    assert unbudgeted == "prefork -c 4 needs 500.7 MiB after 30 min at this slope"  # + 0.7 MiB in 72,000 tasks


def test_a_leak_no_c_survives_is_said():
    memory = PoolMemory("threads", 60 * MIB, 0.0, 50 * 1024.0, RateCurve(((4, 400.0),)), "by hand")
    line = line_json(budget_line(memory, 4, 8 * HOUR, GIB))
    assert budget_sentence(line, 8 * HOUR, GIB).endswith("; even -c 1 needs 137.4 GiB: no -c fits 1 GiB")
    # prefork's children can be recycled, which the line does not count; an uptime's growth in TiB reads as such
    forked = PoolMemory("prefork", 38 * MIB, 23 * MIB, 50 * 1024.0, RateCurve(((97, 18_518.5),)), "by hand")
    said = budget_sentence(line_json(budget_line(forked, 97, 8 * HOUR, 400 * MIB)), 8 * HOUR, 400 * MIB)
    assert said.startswith("prefork -c 97 needs 24.84 TiB after 8 h at this slope; even -c 1 needs ")
    assert said.endswith(
        "no -c fits 400 MiB (--max-tasks-per-child bounds a child's growth; this line does not count it)"
    )
    assert size_words(30_000 * 2**40) == "29.3 PiB"
    assert size_words(2_000 * 2**50) == "2,000 PiB"


def point(pool, c, per_s, workload="leak", task_ms=5.0):
    return SimpleNamespace(
        pool=pool, concurrency=c, median_per_s=per_s, workload=workload, task_ms=task_ms, task=None, variant=""
    )


def repeat(c, pss_bytes, done, warmup=100, kib=50.0, ok=True, pool="prefork"):
    tree = SimpleNamespace(
        pss_last_bytes=pss_bytes, tasks=done - warmup, pss_kib_per_task=kib, pss_ci95=(kib - 1, kib + 1)
    )
    return SimpleNamespace(
        ok=ok,
        config=SimpleNamespace(concurrency=c, warmup=warmup, pool=pool),
        summary=SimpleNamespace(memory_growth=SimpleNamespace(tree=tree)),
    )


def test_a_sweep_s_curves_give_the_line_at_their_best_measured_c():
    # prefork: 40 MiB + 10 MiB a child, 50 KiB a task; measured at -c 2 (150/s) and 4 (200/s)
    leak = 50 * 1024
    measured = [
        (point("prefork", c, per_s), [repeat(c, int(40 * MIB + c * 10 * MIB + leak * 600), 600)] * 2)
        for c, per_s in ((2, 150.0), (4, 200.0))
    ]
    measured.append((point("prefork", 8, 180.0), [repeat(8, 0, 600, ok=False)]))  # failed: no memory, a rate
    pools = sweep_pools(measured)
    (curve,) = pools
    assert (curve.pool, curve.label) == ("prefork", "leak 5 ms")
    assert len(curve.runs) == 4
    ((label, line),) = measured_budget(pools, 60.0, 200 * MIB)
    assert label == "leak 5 ms"
    assert line.at_c == 4  # its best median
    # 40 + 4 x 10 MiB + 200/s x 60 s x 50 KiB = 80 MiB + 585.9 MiB
    assert line.needs_bytes == pytest.approx(80 * MIB + 12_000 * leak, rel=1e-6)
    assert line.fits_c is None  # -c 1 at 75/s: 50 MiB + 219.7 MiB
    section = budget_json(measured_budget(pools, 60.0, 200 * MIB), BudgetAsk(60.0, 200 * MIB))
    assert section["pools"][0]["label"] == "leak 5 ms"
    assert "| prefork (leak 5 ms) | prefork -c 4 needs" in budget_markdown(section)


def test_a_sweep_without_memory_has_no_budget_section():
    pools = sweep_pools([(point("threads", 4, 100.0), [SimpleNamespace(ok=True, config=None, summary=None)])])
    assert measured_budget(pools, HOUR, None) == ()
    assert budget_markdown(budget_json((), BudgetAsk())) == ""


def test_prefork_s_rate_goes_through_what_its_memory_probe_ran_at():
    # C = 5 ms, W = 20 ms on 2 cores: prefork's bound 400/s at -c 10; the probe ran 35/s at -c 1, 100/s at -c 3
    prediction = predict(0.005, 0.020, cores=2.0)
    solo, prefork = probe_runs(leak_kib=0.0)
    prefork = tuple(dataclasses.replace(r, per_s=rate) for r, rate in zip(prefork, (35.0, 100.0), strict=True))
    lines = {line.pool: line for line in profile_budget(prediction, solo, prefork, HOUR, None)}
    rate = lines["prefork"].memory.rate
    assert (rate.at(1), rate.at(3), rate.at(10)) == (35.0, 100.0, pytest.approx(400.0))
    assert lines["gevent"].memory.rate.at(1) == pytest.approx(40.0)  # the prediction alone: 200/s at -c 5
    overhead_bound = predict(0.00001, 0.005, cores=2.0)  # no CPU bound: c / (C + W) past the probe's -c
    (line,) = [x for x in profile_budget(overhead_bound, solo, prefork, HOUR, None) if x.pool == "prefork"]
    assert line.memory.rate.at(6) == pytest.approx(200.0)  # on the -c 3 run's line


def test_a_profile_whose_prefork_runs_failed_says_why_instead_of_a_budget():
    budget = {
        "uptime_s": HOUR,
        "budget_bytes": None,
        "error": "its runs under prefork failed: 3 tasks failed",
        "pools": [],
    }
    assert budget_table(budget) == ["", "memory budget: not measured: its runs under prefork failed: 3 tasks failed"]
    assert budget_table(None) == []


def test_profile_measures_the_budget_only_when_one_is_asked(monkeypatch):
    # its probe is two prefork runs (about half a minute): a profile without --memory-budget or --uptime skips it
    monkeypatch.chdir(ROOT)
    task = ["profile", "--app", "proj", "--task", "proj.tasks.add", "--args", "[1, 2]"]
    assert COMMANDS["profile"].configure(create_parser().parse_args(task)).budget is None
    asked = COMMANDS["profile"].configure(create_parser().parse_args([*task, "--uptime", "2h"])).budget
    assert asked == BudgetAsk(7200.0, None)
    budget = COMMANDS["profile"].configure(create_parser().parse_args([*task, "--memory-budget", "1GiB"])).budget
    assert budget == BudgetAsk(DEFAULT_UPTIME_S, 2**30)
    (_, said) = budget_lines({"schema_version": 3, "budget": None})
    assert said.startswith("memory budget: not asked; --memory-budget SIZE or --uptime TIME measures it")
    assert budget_lines({"schema_version": 2}) == []  # an older profile: nothing to say


def test_young_prefork_children_keep_more_a_task_than_a_young_worker_and_count_only_above_it():
    """advise's quick runs of 5 + 20 ms at -c 16: 32 warm-up + 386 tasks, 26 a
    child, measured +4.8 KiB a task (95% CI 3.2 to 7.2): the children's youth,
    which 8 h at 290 tasks/s made a 25 GiB budget line. A leak still counts."""
    young = [RunMemory(16, 400 * MIB, 418, 4.81, (3.178, 7.222), warmup=32, pool="prefork")]
    assert young[0].young_above == YOUNG_CHILD_KIB_PER_TASK
    memory = pool_memory("prefork", young, RateCurve(((16, 290.0),)))
    assert memory.slope_bytes_per_task == 0.0
    assert f"prefork children under {YOUNG_CHILD_TASKS:,} tasks each" in memory.basis
    leak = RunMemory(16, 400 * MIB, 418, 50.0, (48.0, 52.0), warmup=32, pool="prefork")
    assert pool_memory("prefork", [leak], RateCurve(((16, 290.0),))).slope_bytes_per_task == pytest.approx(50 * 1024)
    # past their youth (600 tasks a child), the young worker's bar only (its warm-up was short)
    probe = RunMemory(3, 100 * MIB, PROBE_WARMUP + 30, 1.0, (0.5, 1.4), warmup=PROBE_WARMUP, pool="prefork")
    assert probe.young_above is None  # profile's probe: past both
    grown = RunMemory(2, 100 * MIB, 1200, 1.0, (0.5, 1.4), warmup=20, pool="prefork")
    assert grown.young_above == YOUNG_KIB_PER_TASK
    threads = RunMemory(16, 50 * MIB, 418, 0.4, (0.3, 0.5), warmup=100, pool="threads")
    assert threads.young_above == YOUNG_KIB_PER_TASK  # one process: the worker's own youth
