"""The health of a run, found in hand-built task records: healthy runs of
several shapes find nothing; each kind of misbehaviour is counted exactly and
given its likely cause."""

import heapq
import random
from dataclasses import replace

import pytest

from bench.analysis.health import KINDS, KNOWN_CAUSES, Context, diagnose
from bench.analysis.stats import TaskRecord

GAP = 50e-6  # s between one task's end and the next start in a slot: a healthy worker


def context(pool="prefork", concurrency=4, slots=None, acks_late=False, prefetch=4, broker="redis", **extra):
    if slots is None:
        slots = 1 if pool == "solo" else concurrency
    processes = concurrency if pool == "prefork" else 1
    return Context(pool, concurrency, slots, acks_late, prefetch, broker, processes=processes, **extra)


def drain(slots, services, release=0.05, pids=None, published=None, gap=GAP):
    """A pre-filled batch drained by `slots` slots: each slot takes the next
    task `gap` after its last one ends. `services`: each task's service time.
    Returns (published, records)."""
    ids = [f"t{i:05d}" for i in range(len(services))]
    sent = published or {t: i * 1e-5 for i, t in enumerate(ids)}
    free = [(release + k * 1e-4, k) for k in range(slots)]  # the slots start one by one
    records = []
    for task, service in zip(ids, services, strict=True):
        at, slot = heapq.heappop(free)
        start = max(at, sent[task])
        pid = pids[slot] if pids else 1000 + slot
        records.append(TaskRecord(task, sent[task], start, start + service, "SUCCESS", pid))
        heapq.heappush(free, (start + service + gap, slot))
    return sent, records


def jitter(values, seed=1, spread=0.2):
    """Service times that vary by up to +/- `spread`, reproducibly."""
    rng = random.Random(seed)
    return [v * (1 + rng.uniform(-spread, spread)) for v in values]


# --- Healthy runs find nothing ----------------------------------------------


@pytest.mark.parametrize(
    ("pool", "concurrency", "service_s", "tasks"),
    [
        ("prefork", 4, 0.050, 400),  # sleep 50 ms
        ("prefork", 2, 0.020, 400),  # cpu 20 ms
        ("gevent", 32, 0.015, 400),  # the misbehaving point's shape, healthy
        ("gevent", 256, 0.050, 2000),
        ("eventlet", 8, 0.010, 200),
        ("threads", 8, 0.050, 400),
        ("solo", 1, 0.020, 200),
        ("solo", 1, 2.0, 5),  # long tasks one at a time: not stalls
        ("prefork", 1, 3.0, 4),
    ],
)
def test_a_healthy_drain_finds_nothing(pool, concurrency, service_s, tasks):
    slots = 1 if pool == "solo" else concurrency
    pids = [1000 + k for k in range(slots)] if pool == "prefork" else [1000] * slots
    published, records = drain(slots, jitter([service_s] * tasks), pids=pids)
    health = diagnose(published, records, context(pool, concurrency))
    assert health.ok, health
    assert health.findings == ()


def test_a_dispatch_bound_green_pool_is_not_late():
    # gevent -c 32 running noop tasks: the worker's own CPU limits it, so
    # only a few tasks run at once and slots are always free, yet a task
    # starts every millisecond: nobody waits on a free slot that sits unused.
    ids = [f"t{i:05d}" for i in range(2000)]
    published = dict.fromkeys(ids, 0.0)
    records = [TaskRecord(t, 0.0, 0.1 + i * 1e-3, 0.1 + i * 1e-3 + 2e-4, "SUCCESS", 7) for i, t in enumerate(ids)]
    assert diagnose(published, records, context("gevent", 32)).ok


def test_an_open_loop_run_below_capacity_is_healthy():
    # 40 tasks/s to gevent -c 64, 50 ms each: the worker is idle between
    # arrivals, but nothing waits then, so that is no gap.
    published, records = {}, []
    for i in range(200):
        t = f"t{i:05d}"
        published[t] = i / 40
        start = published[t] + 0.002
        records.append(TaskRecord(t, published[t], start, start + 0.05, "SUCCESS", 9))
    assert diagnose(published, records, context("gevent", 64)).ok


def test_the_ramp_before_the_first_start_and_the_drain_are_not_gaps():
    # The batch waits 3 s before the worker starts, and the last tasks end
    # one by one on a pool that is mostly free.
    published, records = drain(8, [0.05] * 100 + [1.0], release=3.0, pids=[5] * 8)
    assert diagnose(published, records, context("gevent", 8)).ok


def test_warm_up_records_are_not_read():
    published, records = drain(4, [0.05] * 40)
    warmup = [TaskRecord("w1", -10.0, -9.0, -8.9, "SUCCESS", 1000), TaskRecord("w1", -10.0, -5.0, -4.9, "SUCCESS", 1)]
    assert diagnose(published, warmup + records, context()).ok


# --- The 2.0 s bursts of deferred acks (celery/celery#10263) -------------------


def bursts(period=2.0, per_burst=18, tasks=400, service=0.015, first=0.3):
    """gevent -c 32 with acks_late at prefetch 1: every `period` s a burst of
    `per_burst` tasks starts together, and nothing runs in between."""
    ids = [f"t{i:05d}" for i in range(tasks)]
    published = {t: i * 1e-5 for i, t in enumerate(ids)}
    records = []
    for i, t in enumerate(ids):
        burst, k = divmod(i, per_burst)
        start = first + burst * period + k * 2e-4
        records.append(TaskRecord(t, published[t], start, start + service, "SUCCESS", 4242))
    return published, records


def test_two_second_bursts_are_idle_gaps_with_their_period_and_cause():
    published, records = bursts()
    health = diagnose(published, records, context("gevent", 32, acks_late=True, prefetch=1))
    gaps = health.of("idle_gaps")
    assert gaps is not None
    assert gaps.count == 22  # 23 bursts, a gap between each two
    assert gaps.period_s == pytest.approx(2.0)
    assert gaps.longest_s == pytest.approx(2.0 - 17 * 2e-4 - 0.015)
    assert gaps.total_s == pytest.approx(22 * gaps.longest_s)
    assert gaps.cause == "deferred_ack_synloop"
    assert "celery/celery#10263" in KNOWN_CAUSES[gaps.cause].refs
    # nothing ran in the gaps, so they are not also stalls or late starts
    assert [f.kind for f in health.findings] == ["idle_gaps"]


def test_bursts_without_acks_late_have_no_known_cause():
    published, records = bursts()
    gaps = diagnose(published, records, context("gevent", 32, acks_late=False, prefetch=1)).of("idle_gaps")
    assert gaps.period_s == pytest.approx(2.0)
    assert gaps.cause is None


def test_irregular_gaps_have_no_period():
    published, records = bursts()
    # push every third burst on by 0.7 s
    pushed = []
    for i, r in enumerate(records):
        delay = 0.7 * ((i // 18) // 3)
        pushed.append(TaskRecord(r.id, r.published, r.started + delay, r.finished + delay, r.state, r.pid))
    gaps = diagnose(published, pushed, context("gevent", 32, acks_late=True, prefetch=1)).of("idle_gaps")
    assert gaps.count == 22
    assert gaps.period_s is None
    assert gaps.cause is None


def test_one_early_burst_keeps_the_period():
    published, records = bursts()
    early = [
        TaskRecord(r.id, r.published, r.started - 0.5, r.finished - 0.5, r.state, r.pid) if 18 * 5 <= i < 18 * 6 else r
        for i, r in enumerate(records)
    ]
    gaps = diagnose(published, early, context("gevent", 32, acks_late=True, prefetch=1)).of("idle_gaps")
    assert gaps.period_s == pytest.approx(2.0)


def test_a_short_pause_is_not_an_idle_gap():
    published, records = drain(1, [0.02] * 50, gap=0.15)
    assert diagnose(published, records, context("solo", 1)).ok
    published, records = drain(1, [0.02] * 50, gap=0.25)
    assert diagnose(published, records, context("solo", 1)).of("idle_gaps").count == 49


# --- Counted exactly ----------------------------------------------------------


def test_duplicates_and_lost_tasks_are_counted_exactly():
    published, records = drain(4, [0.01] * 400)
    repeats = records[:13]
    again = [TaskRecord(r.id, r.published, r.started + 5, r.finished + 5, "SUCCESS", r.pid) for r in repeats]
    thrice = [TaskRecord(r.id, r.published, r.started + 6, r.finished + 6, "SUCCESS", r.pid) for r in repeats[:2]]
    kept = [r for r in records if r.id not in {"t00390", "t00391", "t00392"}]
    health = diagnose(published, kept + again + thrice, context("gevent", 4, acks_late=True, prefetch=4))
    twice = health.of("duplicates")
    assert twice.count == 13
    assert twice.extra_runs == 15
    assert twice.examples == ("t00000", "t00001", "t00002", "t00003", "t00004")
    assert twice.cause == "redis_redelivery"
    lost = health.of("lost")
    assert lost.count == 3
    assert lost.examples == ("t00390", "t00391", "t00392")
    assert lost.cause == "redis_redelivery"


def test_duplicates_on_rabbitmq_are_a_redelivery():
    published, records = drain(2, [0.01] * 20)
    records.append(records[0])
    health = diagnose(published, records, context("prefork", 2, broker="amqp"))
    assert health.of("duplicates").cause == "redelivery"
    assert health.of("lost") is None


def test_a_lost_task_without_acks_late_has_no_cause():
    published, records = drain(2, [0.01] * 20)
    lost = diagnose(published, records[1:], context("prefork", 2)).of("lost")
    assert (lost.count, lost.cause) == (1, None)


def test_nothing_reported_is_all_lost():
    published = {"a": 0.0, "b": 0.0}
    health = diagnose(published, [], context())
    assert [(f.kind, f.count) for f in health.findings] == [("lost", 2)]


# --- Restarts -------------------------------------------------------------------


def test_children_replaced_by_max_tasks_per_child_are_restarts():
    # prefork -c 2 --max-tasks-per-child 10: 100 tasks, each child does ten
    published, records = drain(2, [0.02] * 100)
    replaced = [replace(r, pid=5000 + i // 10) for i, r in enumerate(records)]
    health = diagnose(published, replaced, context("prefork", 2, max_tasks_per_child=10))
    restarts = health.of("restarts")
    assert restarts.count == 8
    assert restarts.cause == "max_tasks_per_child"
    assert restarts.examples == ("t00020", "t00030", "t00040", "t00050", "t00060")


def test_a_replaced_child_without_the_setting_is_a_lost_worker():
    published, records = drain(2, [0.02] * 100)
    crashed = [replace(r, pid=9999) if i >= 60 and r.pid == 1000 else r for i, r in enumerate(records)]
    health = diagnose(published, crashed, context("prefork", 2))
    assert (health.of("restarts").count, health.of("restarts").cause) == (1, "worker_lost")


def test_the_same_pid_on_two_workers_is_two_processes():
    published, records = drain(2, [0.02] * 40, pids=[77, 77])
    on_nodes = [replace(r, node=i % 2) for i, r in enumerate(records)]
    ctx = Context("solo", 1, 2, False, 4, "redis", processes=2)
    assert diagnose(published, on_nodes, ctx).ok


def test_unknown_processes_count_no_restarts():
    published, records = drain(2, [0.02] * 100)
    replaced = [replace(r, pid=5000 + i // 10) for i, r in enumerate(records)]
    assert diagnose(published, replaced, Context("prefork", 2, 2, False, 4, "redis")).ok


# --- Late starts ------------------------------------------------------------------


def test_tasks_reserved_by_a_busy_slot_start_late():
    # prefork -c 2, prefetch 4: child 1000 runs a 5 s task with three tasks
    # reserved behind it; child 1001 runs the other 96 and then sits free.
    ids = [f"t{i:05d}" for i in range(100)]
    published = dict.fromkeys(ids, 0.0)
    records = [TaskRecord("t00000", 0, 0.1, 5.1, "SUCCESS", 1000)]
    t = 0.1
    for task in ids[4:]:
        records.append(TaskRecord(task, 0, t, t + 0.02, "SUCCESS", 1001))
        t += 0.02 + GAP
    held = 5.1
    for task in ids[1:4]:
        records.append(TaskRecord(task, 0, held, held + 0.02, "SUCCESS", 1000))
        held += 0.02 + GAP
    health = diagnose(published, records, context("prefork", 2, prefetch=4))
    late = health.of("late_starts")
    assert late.count == 3
    assert set(late.examples) == {"t00001", "t00002", "t00003"}
    free_from = 0.1 + 96 * (0.02 + GAP) - GAP  # child 1001's last task ends
    assert late.longest_s == pytest.approx(5.1 - free_from)  # then a task starts every 20 ms
    assert late.cause == "prefetch"
    # nothing finished for almost 4 s while three tasks were queued: a stall too
    assert health.of("stalls").count == 1
    assert health.of("idle_gaps") is None


def test_the_ordinary_prefetch_tail_of_two_workers_is_not_late():
    # Two gevent workers -c 4, prefetch 4: one drains its 16 reserved tasks
    # while the other, done, sits free: about 3 service times.
    ids = [f"t{i:05d}" for i in range(80)]
    published = dict.fromkeys(ids, 0.0)
    records = []
    for node, share in ((0, ids[:32]), (1, ids[32:])):
        for i, task in enumerate(share[: 24 if node == 0 else 48]):
            start = 0.1 + (i // 4) * 0.1
            records.append(TaskRecord(task, 0, start, start + 0.1, "SUCCESS", 10 + node, node=node))
    ctx = Context("gevent", 4, 8, False, 4, "redis", processes=2)
    assert diagnose(published, records, ctx).of("late_starts") is None


def test_solo_never_starts_late():
    published, records = drain(1, [0.02] * 20 + [4.0] + [0.02] * 20)
    assert diagnose(published, records, context("solo", 1)).of("late_starts") is None


# --- Stalls ------------------------------------------------------------------------


def test_a_task_that_blocks_the_event_loop_stalls_the_pool():
    # gevent -c 8, 10 ms sleeps; one task computes for 3 s without yielding:
    # the seven greenlets that had started cannot finish until it does.
    published, records = drain(8, [0.01] * 400, pids=[3] * 8)
    block_at = records[200].started
    stuck = []
    for r in records:
        if r.id == "t00200":
            stuck.append(replace(r, finished=block_at + 3.0))
        elif r.started >= block_at:
            stuck.append(replace(r, started=r.started + 3.0, finished=r.finished + 3.0))
        elif r.finished > block_at:
            stuck.append(replace(r, finished=block_at + 3.0))
        else:
            stuck.append(r)
    health = diagnose(published, stuck, context("gevent", 8))
    stalls = health.of("stalls")
    assert stalls.count == 1
    assert stalls.longest_s == pytest.approx(3.0, abs=0.02)
    assert stalls.cause == "blocked_loop"
    assert KNOWN_CAUSES["blocked_loop"].kinds == ("stalls", "late_starts")


def test_findings_come_in_their_fixed_order():
    published, records = bursts()
    records = [*records[1:], records[5], replace(records[6], pid=1)]
    health = diagnose(published, records, context("gevent", 32, acks_late=True, prefetch=1))
    kinds = [f.kind for f in health.findings]
    assert kinds == sorted(kinds, key=KINDS.index)
    assert kinds[:3] == ["duplicates", "lost", "idle_gaps"]
    assert health.of("late_starts") is None
    assert not health.ok


def test_processes_that_run_side_by_side_are_not_restarts():
    # Four processes that all ran from the start, where two were expected
    # (workers on two hosts whose records share node 0): none replaced another.
    published, records = drain(4, [0.02] * 100)
    assert diagnose(published, records, context("prefork", 2)).of("restarts") is None
