"""Deploy safety: for each point of a sweep run under a deploy event
(--stop-at, --kill-at, --kill-child-at), what the event cost in tasks, and
the settings that lost nothing and ran nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.results.schema import DeploySummary, PointSummary, SweepSummary


@dataclass(frozen=True)
class SafetyRow:
    """One point under its deploy event."""

    label: str  # the pool, -c and varied settings, e.g. "prefork -c 4, acks_late=true"
    deploy: DeploySummary

    @property
    def loses_nothing(self) -> bool:
        return self.deploy.repeats > 0 and self.deploy.lost == 0

    @property
    def duplicates_nothing(self) -> bool:
        return self.deploy.repeats > 0 and self.deploy.ran_twice == 0


def _label(point: PointSummary, workloads: int) -> str:
    words = [f"{point.pool} -c {point.concurrency}"]
    if workloads > 1:
        words.insert(0, point.key.split("-")[0])
    words += [f"{name}={value}" for name, value in point.settings]
    return ", ".join(words)


def deploy_safety(summary: SweepSummary) -> list[SafetyRow]:
    """A row per point that ran under a deploy event, in the sweep's order."""
    workloads = len({p.workload for p in summary.points})
    return [SafetyRow(_label(p, workloads), p.deploy) for p in summary.points if p.deploy is not None]


def safe_settings(rows: Sequence[SafetyRow]) -> tuple[list[str], list[str]]:
    """(the points that lost no task, the points that ran no task twice), by label."""
    return [r.label for r in rows if r.loses_nothing], [r.label for r in rows if r.duplicates_nothing]
