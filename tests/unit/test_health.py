"""The health of a run, found in hand-built task records: healthy runs of
several shapes find nothing; each kind of misbehaviour is counted exactly and
given its likely cause."""

import heapq
import json
import random
from dataclasses import replace
from types import SimpleNamespace

import pytest

from bench.analysis.health import KINDS, KNOWN_CAUSES, Context, LogEvidence, diagnose, log_evidence
from bench.analysis.stats import TaskRecord
from bench.analysis.summarize import summarize_point
from bench.analysis.summary import analyze, warning_about
from bench.output import markdown as report_markdown
from bench.output.health import CAUSE_WORDS, HEALTHY, finding_line, health_lines
from bench.output.sweep_terminal import sweep_table, sweep_table_rows
from bench.results.io import read_sweep_summary
from bench.results.records import HEALTH_KINDS
from bench.results.schema import (
    Finding,
    Health,
    Metadata,
    RunResult,
    RunSettings,
    RunStatus,
    RunSummary,
    point_from_json,
    point_to_json,
)
from tests.helpers.paths import DATA

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


def test_bursts_as_jittered_as_measured_here_keep_their_period():
    # gevent -c 32, task_acks_late, prefetch 1 on this machine: bursts began
    # at these times (s), 2.04-2.40 s apart, as each burst's length varied.
    starts = (0.42, 1.433, 3.528, 5.926, 8.06, 10.104)
    published, records = {}, []
    for b, at in enumerate(starts):
        for k in range(20):
            task = f"t{b:02d}{k:02d}"
            published[task] = 0.0
            records.append(TaskRecord(task, 0.0, at + k * 1e-3, at + k * 1e-3 + 0.03, "SUCCESS", 1))
    gaps = diagnose(published, records, context("gevent", 32, acks_late=True, prefetch=1)).of("idle_gaps")
    assert gaps.count == 5
    assert gaps.period_s == pytest.approx((2.095 + 2.134) / 2)  # the median interval between gap ends
    assert gaps.cause == "deferred_ack_synloop"


def test_two_gaps_of_two_seconds_under_acks_late_have_the_synloop_cause():
    # measured here: two bursts 2.0 s apart, then the worker kept up
    published, records = bursts(tasks=3 * 18)
    gaps = diagnose(published, records, context("gevent", 32, acks_late=True, prefetch=1)).of("idle_gaps")
    assert (gaps.count, gaps.period_s, gaps.cause) == (2, None, "deferred_ack_synloop")


def test_gaps_of_another_length_without_a_period_have_no_cause():
    published, records = bursts(tasks=3 * 18, period=1.0)
    gaps = diagnose(published, records, context("gevent", 32, acks_late=True, prefetch=1)).of("idle_gaps")
    assert (gaps.count, gaps.cause) == (2, None)


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


@pytest.mark.parametrize(("broker", "acks_late"), [("amqp", True), ("redis", False)])
def test_other_duplicates_are_a_redelivery(broker, acks_late):
    published, records = drain(2, [0.01] * 20)
    records.append(records[0])
    health = diagnose(published, records, context("prefork", 2, broker=broker, acks_late=acks_late))
    assert health.of("duplicates").cause == "redelivery"
    assert health.of("lost") is None


# Lines of a gevent -c 32 worker with task_acks_late on Redis (the shop app of
# examples/shop, measured here): acks from 32 greenlets at once emptied
# kombu's Redis connection pool, and the consumer dropped its connection.
WORKER_LOG = """\
[2026-12-04 21:43:00,700: INFO/MainProcess] Task shop.tasks.place_order[0b1c] succeeded in 0.02s: 1
[2026-12-04 21:43:00,706: CRITICAL/MainProcess] Couldn't ack 'fd875ae8-1bc5', reason:network:MaxConnectionsError
Traceback (most recent call last):
redis.exceptions.MaxConnectionsError: Too many connections
[2026-12-04 21:43:00,727: CRITICAL/MainProcess] Couldn't ack 'ce1229bd-a693', reason:network:MaxConnectionsError
[2026-12-04 21:43:00,744: WARNING/MainProcess] consumer: Connection to broker lost. Trying to re-establish the \
connection... (network:MaxConnectionsError)
[2026-12-04 21:43:00,747: CRITICAL/MainProcess] Couldn't ack '14239d08-2aa9', reason:network:ConnectionError
"""


def test_the_workers_log_tells_of_failed_acks_and_a_lost_connection():
    log = log_evidence([WORKER_LOG, "[...] INFO/MainProcess] ready.\n"])
    assert log == LogEvidence(("fd875ae8-1bc5", "ce1229bd-a693", "14239d08-2aa9"), 1, True)
    assert log_evidence(["[...] INFO/MainProcess] Connected to redis://127.0.0.1:6379//\n"]) == LogEvidence()


def test_failed_acks_and_a_lost_connection_are_findings_and_explain_the_duplicates():
    published, records = drain(4, [0.01] * 40)
    records.append(records[0])
    ctx = context("gevent", 32, acks_late=True, prefetch=1, log=log_evidence([WORKER_LOG]))
    health = diagnose(published, records, ctx)
    acks, lost_connection = health.of("ack_failures"), health.of("reconnects")
    assert (acks.count, acks.cause, acks.examples[0]) == (3, "redis_pool_exhausted", "fd875ae8-1bc5")
    assert (lost_connection.count, lost_connection.cause) == (1, "redis_pool_exhausted")
    assert health.of("duplicates").cause == "reconnect_redelivery"
    assert [f.kind for f in health.findings] == ["duplicates", "ack_failures", "reconnects"]
    said = health_lines(health, published=40)
    assert said[2].startswith("  - acknowledgements failed: 3 of 40 tasks")
    assert "ran out of connections" in said[2]
    assert "celery/celery#1350" in said[2]
    assert said[3] == "  - broker connection lost: 1 time (the worker's log); likely cause: the same"
    # A log that says nothing adds nothing; no log read, nothing either
    assert diagnose(published, records[:-1], context("gevent", 32, log=LogEvidence())).ok
    assert diagnose(published, records[:-1], context("gevent", 32)).ok


def test_a_lost_task_without_acks_late_has_no_cause():
    published, records = drain(2, [0.01] * 20)
    lost = diagnose(published, records[1:], context("prefork", 2)).of("lost")
    assert (lost.count, lost.cause) == (1, None)


@pytest.mark.parametrize("outcome", ["timed out", "interrupted"])
def test_tasks_left_when_the_harness_stopped_waiting_are_lost_for_that_cause(outcome):
    published, records = drain(2, [0.01] * 20)
    ctx = replace(context("gevent", 2, acks_late=True), outcome=outcome)
    lost = diagnose(published, records[:15], ctx).of("lost")
    assert (lost.count, lost.cause) == (5, "cut_short")
    stalled = diagnose(published, records[:15], replace(ctx, outcome="stalled")).of("lost")
    assert stalled.cause == "redis_redelivery"


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


def test_children_replaced_under_max_memory_per_child_name_it_as_their_cause():
    published, records = drain(2, [0.02] * 100)
    replaced = [replace(r, pid=5000 + i // 10) for i, r in enumerate(records)]
    health = diagnose(published, replaced, context("prefork", 2, max_memory_per_child_kib=204800))
    assert (health.of("restarts").count, health.of("restarts").cause) == (8, "max_memory_per_child")
    assert "--max-memory-per-child" in CAUSE_WORDS["max_memory_per_child"]


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
    # with worker_disable_prefetch the worker takes a message only for a free slot: prefetch is not the cause
    unprefetched = diagnose(published, records, context("prefork", 2, prefetch=4, disable_prefetch=True))
    assert unprefetched.of("late_starts").cause is None


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


def long_tasks_fill_every_slot():
    """gevent -c 4 draining a mix of 10 ms sleeps and 2 s sleeps, four of
    the long ones in a row: for 2 s every slot sleeps through a long task
    while short ones wait, and nothing finishes. Each task's class too."""
    services = [0.01] * 100 + [2.0] * 4 + [0.01] * 100
    published, records = drain(4, services, pids=[3] * 4)
    classes = {r.id: "long" if r.finished - r.started > 1 else "short" for r in records}
    return published, records, classes


def test_a_mix_whose_slots_all_run_long_tasks_at_once_is_no_stall():
    published, records, classes = long_tasks_fill_every_slot()
    # Held against the one median of every task (10 ms), it looked like a blocked loop ...
    assert diagnose(published, records, context("gevent", 4)).of("stalls").cause == "blocked_loop"
    # ... but each long task took as long as its class's tasks do: the slots were busy, nothing stalled.
    assert diagnose(published, records, context("gevent", 4, task_class=classes)).of("stalls") is None


def test_a_long_task_that_blocks_the_loop_in_a_mix_is_still_a_stall():
    # As above, but the first long task computes for 3 s without yielding: the short tasks
    # that had started before it cannot finish until it does, far longer than a short task takes.
    published, records, classes = long_tasks_fill_every_slot()
    blocker = next(r for r in records if classes[r.id] == "long")
    at = blocker.started
    stuck = [
        r if r.finished <= at or r.started >= at or r is blocker else replace(r, finished=at + 3.0) for r in records
    ]
    stuck = [replace(r, finished=at + 3.0) if r is blocker else r for r in stuck]
    stalls = diagnose(published, stuck, context("gevent", 4, task_class=classes)).of("stalls")
    assert stalls is not None
    assert stalls.cause == "blocked_loop"


def two_lanes():
    """Dedicated routing, two workers of -c 2: lane 0's worker runs six 2 s
    tasks two at a time (the other four wait their turn, as they must);
    lane 1's runs twenty 10 ms tasks at the start, then has nothing to do."""
    published, records = {}, []
    for i in range(6):
        task = f"long{i}"
        published[task] = 0.0
        start = 0.05 + 2.0 * (i // 2)
        records.append(TaskRecord(task, 0.0, start, start + 2.0, "SUCCESS", 100 + i % 2, node=0))
    for i in range(20):
        task = f"short{i:02d}"
        published[task] = 0.0
        start = 0.05 + 0.01 * (i // 2)
        records.append(TaskRecord(task, 0.0, start, start + 0.01, "SUCCESS", 200 + i % 2, node=1))
    lanes = {t: 0 if t.startswith("long") else 1 for t in published}
    return published, records, lanes


def test_under_dedicated_routing_a_free_slot_of_another_queue_starts_nothing_late():
    published, records, lanes = two_lanes()
    shared = context("prefork", 2, slots=4)
    # Counted over all four slots, lane 1's idle worker made lane 0's queued tasks look late ...
    assert diagnose(published, records, shared).of("late_starts").count == 4
    # ... but only lane 0's two slots could take them, and both were busy.
    own = replace(shared, task_lane=lanes, lane_slots=(2, 2))
    assert diagnose(published, records, own).of("late_starts") is None
    # One process of lane 0 held all six (prefetched) while its other slot stayed free: late, in its own lane.
    held = [
        replace(r, started=0.05 + 2.0 * i, finished=2.05 + 2.0 * i, pid=100)
        for i, r in enumerate(r for r in records if r.id.startswith("long"))
    ]
    late = diagnose(published, held + [r for r in records if r.node == 1], own).of("late_starts")
    assert late.count == 5
    assert late.cause == "prefetch"


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


# --- In words ---------------------------------------------------------------------


def test_a_healthy_run_is_one_line_and_an_undiagnosed_one_none():
    assert health_lines(Health()) == [HEALTHY]
    assert health_lines(None) == []


def test_each_finding_says_how_many_and_its_likely_cause_with_references():
    twice = Finding("duplicates", 210, cause="redis_redelivery", examples=("a",), extra_runs=210)
    line = finding_line(twice, published=400)
    assert line.startswith("tasks run twice: 210 of 400")
    assert "likely cause: with task_acks_late on Redis" in line
    assert line.endswith("(celery/celery#4968, celery/celery#4976)")
    thrice = Finding("duplicates", 13, extra_runs=15)
    assert finding_line(thrice).startswith("tasks run more than once: 13 (15 extra runs)")


def test_idle_gaps_in_words_give_their_time_and_period():
    gaps = Finding("idle_gaps", 37, total_s=72.4, longest_s=1.98, period_s=2.0, cause="deferred_ack_synloop")
    line = finding_line(gaps)
    assert line.startswith("idle gaps: 37 (72.4 s in all, longest 2.0 s, every 2.00 s) with nothing running")
    assert "celery/celery#10263" in line


def test_a_finding_without_a_known_cause_names_none():
    assert "likely cause" not in finding_line(Finding("stalls", 1, total_s=3.0, longest_s=3.0))


def test_an_unhealthy_run_has_a_heading_and_a_line_per_finding():
    health = Health((Finding("duplicates", 2, extra_runs=2), Finding("lost", 1)))
    lines = health_lines(health, published=10)
    assert lines[0] == "health: 2 findings (Celery misbehaved)"
    assert lines[1].startswith("  - tasks run twice: 2 of 10")
    assert lines[2].startswith("  - tasks lost: 1 of 10")


def test_a_cause_is_said_once_for_consecutive_findings():
    health = Health((Finding("duplicates", 16, extra_runs=16, cause="redis_redelivery"),
                     Finding("lost", 1, cause="redis_redelivery"), BURSTS))  # fmt: skip
    lines = health_lines(health, published=400)
    assert "celery/celery#4968" in lines[1]
    assert lines[2] == "  - tasks lost: 1 of 400, published and never reported; likely cause: the same"
    assert "celery/celery#10263" in lines[3]


def test_every_known_cause_has_words():
    assert set(CAUSE_WORDS) == set(KNOWN_CAUSES)


# --- In a sweep: per point, in its warnings, its table cell and the report -----------


def run_result(throughput, health, state="ok"):
    """A repeat as summarize_point reads it."""
    status = RunStatus(state, None if state == "ok" else "0 failed and 7 missing of 400 tasks")
    summary = RunSummary(throughput_per_s=throughput if state == "ok" else None, health=health)
    return RunResult(status, RunSettings(), Metadata(), summary)


PLANNED = SimpleNamespace(
    pool="gevent", concurrency=32, workload="sleep", task_ms=15.0, cpus=None, cores=2.0, tasks=400, warmup=32,
    key="sleep-15ms-gevent-c32-acks_late=true", workers=1, settings=(("acks_late", "true"),),
)  # fmt: skip
BURSTS = Finding("idle_gaps", 37, 72.4, 1.98, 2.0, "deferred_ack_synloop")


def test_a_point_sums_its_repeats_health_and_warns_in_words():
    repeats = [
        run_result(9.0, Health((Finding("duplicates", 13, extra_runs=13, cause="redis_redelivery"), BURSTS))),
        run_result(9.2, Health()),
        run_result(None, Health((Finding("duplicates", 210, extra_runs=210), Finding("lost", 7))), state="failed"),
    ]
    point = summarize_point(PLANNED, [(None, r) for r in repeats], 0.1)
    assert (point.duplicates, point.lost, point.repeats_with_findings) == (223, 7, 2)
    assert point.findings == (("duplicates", 223), ("lost", 7), ("idle_gaps", 37))
    (health,) = [w for w in point.warnings if w.startswith("Celery misbehaved")]
    assert health.startswith(
        "Celery misbehaved in 2 of 3 repeats: 223 tasks run twice, 7 tasks lost, "
        "37 idle gaps while tasks were queued (every 2.00 s); likely cause: "
    )
    assert "celery/celery#4968" in health
    assert "celery/celery#10263" in health
    assert point_from_json(json.loads(json.dumps(point_to_json(point)))) == point


@pytest.mark.parametrize("kind", HEALTH_KINDS)
def test_every_kind_of_finding_has_words_in_a_sweeps_warning(kind):
    """A sweep of the thumbnails app found failed acknowledgements, and its
    summary stopped on a kind with no words (KeyError): every kind has them."""
    point = summarize_point(PLANNED, [(None, run_result(9.0, Health((Finding(kind, 3),))))], 0.1)
    (health,) = [w for w in point.warnings if w.startswith("Celery misbehaved")]
    assert "3 " in health


def test_tasks_left_when_the_harness_stopped_waiting_are_not_counted_as_lost_in_a_sweep():
    cut = Health((Finding("lost", 242, cause="cut_short"), BURSTS))
    point = summarize_point(PLANNED, [(None, run_result(None, cut, state="failed"))], 0.1)
    assert (point.duplicates, point.lost, point.repeats_with_findings) == (0, 0, 1)
    assert point.findings == (("idle_gaps", 37),)
    assert point.warnings[1].startswith("Celery misbehaved in 1 of 1 repeat: 37 idle gaps while tasks were queued")
    assert "harness stopped waiting" not in point.warnings[1]
    assert health_lines(Health((Finding("lost", 242, cause="cut_short"),)))[0] == "health: 1 finding"


def test_a_point_whose_repeats_were_not_diagnosed_has_no_health():
    point = summarize_point(PLANNED, [(None, run_result(9.0, None))], 0.1)
    assert (point.duplicates, point.lost, point.repeats_with_findings, point.findings) == (None, None, None, ())
    assert point.warnings == ()


def test_a_healthy_point_counts_zero_and_warns_nothing():
    point = summarize_point(PLANNED, [(None, run_result(9.0, Health()))], 0.1)
    assert (point.duplicates, point.lost, point.repeats_with_findings, point.findings) == (0, 0, 0, ())
    assert point.warnings == ()


def test_an_older_summary_reads_without_health():
    data = point_to_json(summarize_point(PLANNED, [(None, run_result(9.0, None))], 0.1))
    for name in ("duplicates", "lost", "repeats_with_findings", "findings"):
        del data[name]
    point = point_from_json(data)
    assert (point.duplicates, point.lost, point.repeats_with_findings, point.findings) == (None, None, None, ())


def small_sweep(duplicates=0, lost=0):
    """The small sweep, its first point's repeats with tasks run twice or lost."""
    summary = read_sweep_summary(DATA / "sweep-small" / "summary.json")
    first, *rest = summary.points
    first = replace(first, duplicates=duplicates, lost=lost)
    return replace(summary, points=(first, *rest)), first


@pytest.mark.parametrize(("duplicates", "lost"), [(3, 0), (0, 2)])
def test_a_cell_whose_repeats_ran_tasks_twice_or_lost_some_is_marked_and_keyed(duplicates, lost):
    summary, _ = small_sweep(duplicates, lost)
    healthy, _ = small_sweep()
    rows, before = sweep_table_rows(summary, analyze(summary)), sweep_table_rows(healthy, analyze(healthy))
    changed = [(a, b) for row, old in zip(rows, before, strict=True) for a, b in zip(row, old, strict=True) if a != b]
    ((cell, was),) = changed
    number = was.rstrip("~*")
    assert cell == number + "!" + was[len(number) :]
    assert "! tasks run twice or lost in its repeats (see the warnings)" in sweep_table(summary, analyze(summary))
    md = report_markdown.render(summary, "complete", analyze(summary), "sweep-x")
    assert "`!` tasks run twice or lost in its repeats (see the warnings)." in md


def test_a_table_without_such_cells_has_no_such_key():
    summary, _ = small_sweep()
    assert "!" not in sweep_table(summary, analyze(summary))
    md = report_markdown.render(summary, "complete", analyze(summary), "sweep-x")
    assert "`!`" not in md


def test_recycling_a_run_asked_for_is_said_as_asked_not_as_celery_misbehaving():
    recycled = Health((Finding("restarts", 4, cause="max_tasks_per_child"),))
    assert health_lines(recycled, 40)[0] == "health: 1 finding (as its settings ask)"
    point = summarize_point(PLANNED, [(None, run_result(9.0, recycled))], 0.1)
    (said,) = [w for w in point.warnings if "pool processes replaced" in w]
    assert said.startswith("as its settings ask, in 1 of 1 repeat: 4 pool processes replaced")
    assert warning_about(said) == "recycled as asked"
    # a restart the settings do not explain beside it: Celery misbehaved, as before
    mixed = Health((*recycled.findings, Finding("lost", 2, cause="worker_lost")))
    assert health_lines(mixed, 40)[0] == "health: 2 findings (Celery misbehaved)"
