"""A soak's health, from what it counted instead of every record: tasks
run twice and lost (by their numbers), stall seconds, replaced pool
processes and the workers' log, each with the cause `diagnose` gives the
same finding; idle gaps and late starts are said not to be looked for."""

import dataclasses
import json

from bench.analysis.health import Context, LogEvidence
from bench.analysis.soak_health import SOAK_UNCHECKED, Counted, diagnose_counted
from bench.output.health import health_lines
from bench.results.codec import health_from_json


def context(acks_late=False, **extra):
    return Context("prefork", 2, 2, acks_late, 4, "redis", processes=2, **extra)


def test_a_clean_soak_says_what_it_did_not_look_for():
    health = diagnose_counted(Counted(), context())
    assert health.ok
    assert health.unchecked == SOAK_UNCHECKED == ("idle_gaps", "late_starts")
    (line,) = health_lines(health)
    assert line == (
        "health: no task run twice or lost; no stall second or replaced process; not looked for: idle gaps or "
        "late starts (a soak keeps no task record, and they need every task's)"
    )


def test_each_count_is_a_finding_with_the_cause_diagnose_gives():
    counted = Counted(
        repeated=2, extra_runs=3, repeated_examples=("q-4", "q-9"), lost=1, lost_examples=("q-7",),
        stall_seconds=5, stall_stretches=2, longest_stall_s=3, recycles=4,
    )  # fmt: skip
    health = diagnose_counted(counted, context(acks_late=True))
    kinds = [f.kind for f in health.findings]
    assert kinds == ["duplicates", "lost", "stalls", "restarts"]  # HEALTH_KINDS order
    twice, lost, stalls, restarts = health.findings
    assert (twice.count, twice.extra_runs, twice.examples, twice.cause) == (2, 3, ("q-4", "q-9"), "redis_redelivery")
    assert (lost.count, lost.examples, lost.cause) == (1, ("q-7",), "redis_redelivery")
    assert (stalls.count, stalls.total_s, stalls.longest_s) == (2, 5.0, 3.0)
    assert (restarts.count, restarts.cause, restarts.examples) == (4, "worker_lost", ())  # the sampler's: no task
    lines = health_lines(health, published=1000)
    assert lines[0].startswith("health: 4 findings (Celery misbehaved); not looked for: idle gaps or late starts")
    assert "stalls: 2 (5.0 s in all, longest 3.0 s) of whole seconds with tasks in flight and none finishing" in (
        "\n".join(lines)
    )


def test_replacements_the_settings_ask_for_read_as_asked_and_a_lost_connection_is_from_the_log():
    asked = diagnose_counted(Counted(recycles=6), context(max_tasks_per_child=100))
    assert asked.of("restarts").cause == "max_tasks_per_child"
    assert "(as its settings ask)" in health_lines(asked)[0]
    logged = diagnose_counted(Counted(lost=3), context(log=LogEvidence(reconnects=1)))
    assert logged.of("lost").cause == "reconnect_redelivery"
    assert logged.of("reconnects").count == 1


def test_what_was_not_looked_for_is_written_and_read_back():
    health = diagnose_counted(Counted(lost=1, lost_examples=("q-1",)), context())
    data = json.loads(json.dumps(dataclasses.asdict(health)))  # as a run document holds it
    assert data["unchecked"] == ["idle_gaps", "late_starts"]
    assert health_from_json(data) == health
    assert health_from_json({"findings": []}).unchecked == ()  # before format 30: every kind was looked for
