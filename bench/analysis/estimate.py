"""How long a sweep's plan takes, roughly: what the user sees before it
starts (and a resumed sweep's time left)."""

from collections.abc import Iterable
from typing import Protocol

from bench.workloads import Workload, expected_rate

# Whole-process costs of one repeat outside its measured window, for the
# estimate only (seconds): the worker's boot (its stop overlaps the next
# boot: measure/crew.py), and publishing one task.
REPEAT_OVERHEAD_S = 0.5
# ... and what a repeat on agents adds (bench/fleet: the clock probes, the
# lease, the records sent home; measured 3.4 to 4.3 s a repeat on 2 hosts).
FLEET_REPEAT_OVERHEAD_S = 4.0
PUBLISH_S_PER_TASK = 0.0006


class Sized(Protocol):
    """A planned point, as far as its time goes (bench.sweep.point.Point)."""

    @property
    def spec(self) -> Workload: ...
    @property
    def pool(self) -> str: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def task_ms(self) -> float | None: ...
    @property
    def cores(self) -> float: ...
    @property
    def workers(self) -> int: ...
    @property
    def warmup(self) -> int: ...
    @property
    def tasks(self) -> int: ...
    @property
    def host_count(self) -> int | None: ...


def estimate_repeat_s(point: Sized) -> float:
    """Rough wall time of one repeat: boot and stop, publishing, and the
    warm-up and measured batches at the expected rate."""
    hosts = point.host_count or 1  # each with cores of its own
    rate = hosts * expected_rate(
        point.spec, point.pool, point.concurrency, point.task_ms, point.cores, workers=point.workers
    )
    warmup = point.warmup * point.workers * hosts
    work = (point.tasks + warmup) / rate
    publish = (point.tasks + warmup) * PUBLISH_S_PER_TASK
    return REPEAT_OVERHEAD_S * point.workers + work + publish


def estimate_s(points: Iterable[Sized], repeats: int, fleet: bool = False) -> float:
    """`fleet`: the points run on agents (--hosts)."""
    per_repeat = FLEET_REPEAT_OVERHEAD_S if fleet else 0.0
    return sum(estimate_repeat_s(p) + per_repeat for p in points) * repeats
