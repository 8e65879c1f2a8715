"""The reference mode's pure parts: Celery task events to records and
counts, the plain worker's command line, the side-by-side text and its
verdict, and the bad combinations of `run --reference`."""

from dataclasses import dataclass

import pytest

from bench.cli import main
from bench.harness.plain import PlainSpec
from bench.harness.worker import WorkerSpec
from bench.measure.queue_depth import DepthMoves
from bench.measure.task_events import executions, summarize
from bench.output.reference import Side, side_by_side, verdict


def ev(kind, task_id, ts, **more):
    return {"type": kind, "uuid": task_id, "timestamp": ts, "local_received": ts + 0.001, **more}


PUBLISHED = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}


def test_each_terminal_event_is_one_execution_started_at_its_task_started():
    events = [
        ev("task-started", "a", 1.0, pid=7),
        ev("task-succeeded", "a", 1.5, runtime=0.49),
        ev("task-started", "b", 1.1, pid=8),
        ev("task-failed", "b", 1.2, exception="ValueError('x')"),
        ev("task-succeeded", "other-run", 1.3),  # not ours
        ev("task-received", "c", 1.0),  # not a start
    ]
    execs = executions(events, PUBLISHED)
    by_id = {r.id: r for r in execs.records}
    assert set(by_id) == {"a", "b"}
    assert (by_id["a"].started, by_id["a"].finished, by_id["a"].state, by_id["a"].pid) == (1.0, 1.5, "SUCCESS", 7)
    assert (by_id["b"].state, by_id["b"].error) == ("FAILURE", "ValueError('x')")
    assert execs.lag_s == pytest.approx((0.001, 0.001))


def test_a_task_without_its_task_started_event_starts_at_its_end_minus_celerys_runtime():
    execs = executions([ev("task-succeeded", "a", 2.0, runtime=0.25)], PUBLISHED)
    assert execs.records[0].started == pytest.approx(1.75)


def test_a_task_run_twice_counts_once_with_a_duplicate_and_is_named_as_started_twice():
    events = [
        ev("task-started", "a", 1.0),
        ev("task-succeeded", "a", 1.1),
        ev("task-started", "a", 3.0),
        ev("task-succeeded", "a", 3.2),
        ev("task-started", "b", 1.0),
        ev("task-succeeded", "b", 1.2),
        ev("task-started", "c", 1.5),  # started, never finished: missing
    ]
    execs = executions(events, PUBLISHED)
    assert [r.started for r in execs.records if r.id == "a"] == [1.0, 3.0]  # each end with its own start
    assert (execs.started_more_than_once, execs.never_finished) == (1, 1)
    summary = summarize(execs, PUBLISHED)
    t = summary.tasks
    assert (t.published, t.succeeded, t.failed, t.missing, t.duplicates) == (4, 2, 0, 2, 1)
    assert t.published == t.succeeded + t.failed + t.missing
    # succeeded / (last success of a first report - first start): 2 / (1.2 - 1.0)
    assert summary.throughput_per_s == pytest.approx(10.0)


def test_the_steady_state_and_concurrency_come_from_the_runs_own_statistics():
    published = {f"t{i}": 0.0 for i in range(20)}
    events = []
    for i in range(20):  # two at a time, 0.1 s each
        events += [ev("task-started", f"t{i}", 1 + 0.1 * (i // 2)), ev("task-succeeded", f"t{i}", 1.1 + 0.1 * (i // 2))]
    summary = summarize(executions(events, published), published)
    assert summary.throughput_per_s == pytest.approx(20.0)
    assert summary.steady_throughput_per_s == pytest.approx(20.0)
    assert summary.mean_concurrency == pytest.approx(2.0)


def spec(**changes):
    base = dict(
        app="shop", pool="gevent", concurrency=32, queue="celery-bench.r1.reference", nodename="bench-r1@h",
        loglevel="warning", broker_url="redis://:pw@127.0.0.1:6379/13", result_backend="disabled://",
    )  # fmt: skip
    return PlainSpec(**{**base, **changes})


def test_the_plain_worker_is_the_real_celery_command_with_events_and_no_harness_entry_point():
    argv = spec().argv()
    assert argv[1:3] == ["-m", "celery"]
    assert argv[argv.index("-A") + 1 : argv.index("-A") + 3] == ["shop", "worker"]
    assert argv.index("-b") < argv.index("-A") < argv.index("worker")
    for flag, value in (("-P", "gevent"), ("-c", "32"), ("-Q", "celery-bench.r1.reference"), ("-l", "warning")):
        assert argv[argv.index(flag) + 1] == value
    assert "-E" in argv
    assert not any("bench" in a and "harness" in a for a in argv)
    assert "--prefetch-multiplier" not in argv  # the app's own setting
    assert "task.acks_late=true" not in argv
    assert "--without-heartbeat" not in argv  # only gossip and mingle are left out


def test_the_plain_worker_and_the_harnesss_worker_get_the_same_worker_options():
    same = dict(pool="prefork", concurrency=4, queue="q", nodename="n@h", prefetch_multiplier=1, loglevel="info",
                acks_late=True, max_tasks_per_child=5, app="shop")  # fmt: skip
    harness = WorkerSpec(**same, result_backend="none").argv()
    plain = spec(**same, events=False).argv()
    assert plain[plain.index("worker") + 1 :] == harness[harness.index("shop") + 1 :]


def test_the_plain_worker_gets_the_runs_prefetch_acks_late_and_tasks_per_child_only_when_set():
    argv = spec(prefetch_multiplier=4, acks_late=True, max_tasks_per_child=10, result_backend=None).argv()
    assert argv[argv.index("--prefetch-multiplier") + 1] == "4"
    assert argv[argv.index("--max-tasks-per-child") + 1] == "10"
    assert argv[-1] == "task.acks_late=true"
    assert "--result-backend" not in argv


@dataclass(frozen=True)
class F:
    kind: str
    count: int = 3
    total_s: float = 6.0
    longest_s: float = 2.0
    period_s: float | None = 2.0
    cause: str = "acks deferred to the next turn of the synloop"
    examples: tuple = ()


@dataclass(frozen=True)
class H:
    findings: tuple


def side(rate, steady=None, health=None, missing=0):
    return Side(rate, steady, 8.0, 100, 100 - missing, 0, missing, 0, health)


def test_the_side_by_side_shows_both_figures_and_their_ratio():
    text = side_by_side(side(180.0, 186.0), side(190.0, 188.0), ("python", "-m", "celery", "worker"))
    lines = text.splitlines()
    row = next(line for line in lines if line.strip().startswith("throughput"))
    assert row.split()[-3:] == ["180.0", "190.0", "0.95"]
    steady = next(line for line in lines if line.strip().startswith("steady state"))
    assert steady.split()[-1] == "0.99"
    assert "python -m celery worker" in text
    assert lines[-1] == "verdict: agree within 10% (steady state: harness / plain worker = 0.99)"


def test_the_verdict_says_by_how_much_and_which_way_they_differ():
    assert verdict(side(30.0, 30.0), side(85.0, 85.0)).startswith(
        "differ by 65%: the harness measured the steady state slower than the plain worker (0.35)"
    )
    assert verdict(side(10.0), side(8.0)).startswith("differ by 25%: the harness measured the throughput faster")
    assert verdict(side(None), side(8.0)) == "no verdict: one side measured no throughput"


def test_the_verdict_names_misbehaviour_only_one_side_saw():
    gaps = H((F("idle_gaps"),))
    assert verdict(side(9.0, 9.0, gaps), side(9.2, 9.2, gaps)).startswith("agree within 10%")
    assert verdict(side(9.0, 9.0, gaps), side(9.2, 9.2, gaps)).endswith("; both saw idle gaps")
    said = verdict(side(9.0, 9.0, gaps), side(9.2, 9.2, H(())))
    assert said.endswith("but only the harness saw idle gaps")


def test_the_plain_worker_without_events_counts_in_what_it_saw():
    """Its depth's pauses are idle gaps, messages put back are tasks run
    again, and its log's failed acks and lost connections are findings."""
    from bench.analysis.health import LogEvidence

    acks = H((F("ack_failures"), F("idle_gaps")))
    plain = side(8.9, 54.1, H((F("idle_gaps"),)))
    plain = Side(**{**vars(plain), "depth_moves": DepthMoves(0, (2.0,)), "depth_log": LogEvidence(("a",), 0, True)})
    said = verdict(side(7.7, 7.7, acks), plain)
    assert said.endswith("; both saw ack failures, idle gaps"), said
    plain = Side(**{**vars(plain), "depth_moves": DepthMoves(2, ()), "depth_log": LogEvidence((), 1, False)})
    said = verdict(side(7.7, 7.7, acks), plain)
    assert said.endswith(
        "; both saw idle gaps; only the harness saw ack failures; only the plain worker saw duplicates, reconnects"
    ), said


@pytest.mark.usefixtures("nothing_is_started")
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--rate", "10"], "--rate"),
        (["--workers", "2"], "--workers"),
        (["--hosts", "a,b", "--broker", "redis://127.0.0.1:6379/13"], "--hosts"),
    ],
)
def test_reference_with_another_shape_of_run_is_one_line_and_exit_2(args, flag, capsys, monkeypatch):
    monkeypatch.setenv("CELERY_BENCH_SECRET", "x" * 32)
    assert main(["run", "--reference", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--reference" in err[0]
    assert flag in err[0]


def test_a_reference_slowed_by_its_own_events_is_said_so():
    harness = Side(150.0, 150.0, 16.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=6.5)
    plain = Side(110.0, 110.0, 10.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=8.2)
    said = verdict(harness, plain)
    assert said.startswith("differ by 36%: the harness measured the steady state faster")
    assert "26% more CPU per task" in said
    assert "(-E)" in said
    # the other way round, the events are not the reason
    assert "CPU per task" not in verdict(plain, harness)


def test_the_rate_without_events_comes_first_and_decides_the_verdict():
    harness = Side(150.0, 150.0, 16.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=6.5)
    plain = Side(110.0, 112.0, 10.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=8.2, depth_steady_throughput_per_s=147.0)
    text = side_by_side(harness, plain, ("celery", "-E"), ("celery", "no-events"))
    lines = text.splitlines()
    rows = [line.strip() for line in lines if "(tasks/s)" in line]
    assert rows[0].startswith("steady, no events (tasks/s)")
    assert rows[0].split()[-3:] == ["150.0", "147.0", "1.02"]
    assert rows[1].startswith("throughput, -E")
    assert rows[2].split()[-1] == "1.34"  # against the pass with events
    assert "without events, counted by its queue's depth: celery no-events" in text
    assert "with task events (-E), counted by them: celery -E" in text
    said = verdict(harness, plain)
    assert said.startswith("agree within 10% (steady state without events: harness / plain worker = 1.02)")
    # the pass with events ran slower, and its CPU per task says why
    assert "with task events (-E) the plain worker ran 24% slower and spent 26% more CPU per task" in said


def test_the_events_pass_is_not_blamed_when_it_ran_as_fast_as_without_events():
    harness = Side(150.0, 150.0, 16.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=6.5)
    plain = Side(145.0, 146.0, 10.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=8.2, depth_steady_throughput_per_s=147.0)
    said = verdict(harness, plain)
    assert said == "agree within 10% (steady state without events: harness / plain worker = 1.02)"
    slow = Side(150.0, 100.0, 16.0, 100, 100, 0, 0, 0, None, cpu_per_task_ms=6.5)
    assert verdict(slow, plain).startswith(
        "differ by 32%: the harness measured the steady state without events slower than the plain worker (0.68)"
    )


def test_the_plain_worker_counted_by_its_queue_has_the_same_command_without_events():
    with_events, without = spec().argv(), spec(events=False).argv()
    assert "-E" not in without
    assert [a for a in with_events if a != "-E"] == without


def test_what_the_depth_showed_is_said_beside_the_findings():
    moves = DepthMoves(rose_by=27, pauses_s=(2.0, 2.01))
    plain = Side(110.0, 112.0, 10.0, 100, 100, 0, 0, 0, None, depth_steady_throughput_per_s=93.0, depth_moves=moves)
    text = side_by_side(side(120.0, 120.0), plain)
    line = next(x for x in text.splitlines() if x.strip().startswith("no events:"))
    assert "grew back by 27 messages" in line
    assert "2 pause(s) while messages waited, longest 2.0 s" in line
    calm = Side(
        110.0, 112.0, 10.0, 100, 100, 0, 0, 0, None, depth_steady_throughput_per_s=93.0, depth_moves=DepthMoves(0, ())
    )
    assert "no events:    no rise and no pause of the queue's depth" in side_by_side(side(120.0, 120.0), calm)


def test_the_pass_without_events_says_what_its_depth_and_its_log_showed():
    from bench.analysis.health import LogEvidence
    from bench.measure.queue_depth import DepthMoves
    from bench.output.reference import depth_text

    assert depth_text(DepthMoves(0, ())) == "no rise and no pause of the queue's depth"
    said = depth_text(DepthMoves(3, (2.0, 2.01)), LogEvidence(("a", "b"), 1, True))
    assert said == (
        "the queue grew back by 3 messages (put back: redelivered, so run again); "
        "2 pause(s) while messages waited, longest 2.0 s (idle gaps); "
        '2 acknowledgement(s) failed (its log: "Couldn\'t ack"); broker connection lost 1 time(s); '
        "kombu's Redis connection pool ran out (MaxConnectionsError)"
    )
