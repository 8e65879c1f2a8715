"""A soak's health, from what it counted as it went instead of every
task's record (bench/measure/arrivals.py, analysis/soak.py, the memory
sampler): tasks run twice and lost, stall seconds, replaced pool processes
and the workers' log, each with the likely cause health.py gives the same
finding in any run. Idle gaps and late starts need the timeline of every
task: a soak's Health says it did not look for them. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.health import (
    EXAMPLES,
    Context,
    Finding,
    Health,
    duplicate_cause,
    from_log,
    in_order,
    lost_cause,
    restart_cause,
)

# What a soak cannot look for: it keeps no task record, and these need the timeline of every task
SOAK_UNCHECKED = ("idle_gaps", "late_starts")


@dataclass(frozen=True)
class Counted:
    """What a soak counted as it went, instead of keeping every record
    (bench/measure/arrivals.py, analysis/soak.py, the memory sampler)."""

    repeated: int = 0  # tasks reported more than once
    extra_runs: int = 0  # reports beyond each task's first
    repeated_examples: tuple[str, ...] = ()  # the first of them
    lost: int = 0  # tasks sent and never reported
    lost_examples: tuple[str, ...] = ()
    stall_seconds: int = 0  # whole seconds with nothing completed while tasks were in flight
    stall_stretches: int = 0  # runs of them in a row
    longest_stall_s: int = 0
    recycles: int = 0  # pool processes that appeared in the window (the memory sampler's)


def diagnose_counted(counted: Counted, context: Context) -> Health:
    """A soak's findings, from its counts: tasks run twice and lost, its
    stalls (whole seconds: the series' stall seconds, counted by stretch),
    pool processes replaced (the sampler's, so no example task) and what
    the workers' log says, each with its likely cause as `diagnose` names
    it. Idle gaps and late starts are SOAK_UNCHECKED: the Health says so."""
    findings: list[Finding | None] = []
    if counted.repeated:
        findings.append(
            Finding(
                "duplicates", counted.repeated, cause=duplicate_cause(context),
                examples=counted.repeated_examples[:EXAMPLES], extra_runs=counted.extra_runs,
            )
        )  # fmt: skip
    restarts = Finding("restarts", counted.recycles, cause=restart_cause(context)) if counted.recycles else None
    if counted.lost:
        cause = lost_cause(context, restarts)
        findings.append(Finding("lost", counted.lost, cause=cause, examples=counted.lost_examples[:EXAMPLES]))
    findings.append(restarts)
    findings += from_log(context.log)
    if counted.stall_stretches:
        findings.append(
            Finding(
                "stalls", counted.stall_stretches, total_s=float(counted.stall_seconds),
                longest_s=float(counted.longest_stall_s),
            )
        )  # fmt: skip
    return in_order(findings, SOAK_UNCHECKED)
