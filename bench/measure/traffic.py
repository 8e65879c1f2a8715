"""A traffic mix: several classes of task on one queue, each with its share
of the arrivals and its own duration (issue 24). Pure and seeded, so the
same file and seed always give the same tasks in the same order.

    [[class]]
    name = "short"
    workload = "sleep"
    task_ms = 10
    weight = 95

    [[class]]
    name = "long"
    workload = "sleep"
    task_ms = 2000
    weight = 5

A class may be a task of your own app instead of a built-in workload:

    [[class]]
    name = "report"
    app = "thumbs"              # what `celery -A` takes; every such class names the same app
    task = "thumbs.report"
    args = [2000]               # or kwargs = {...}, or args_file = "calls.jsonl" (one call per line)
    weight = 2

A class may name a `queue`: with `routing = "dedicated"` (run --routing)
its tasks go to that queue, consumed by workers of their own, as a user
would deploy long tasks apart; with "shared" (the default) every class is
on the one queue whatever it names.

A class may send a share of its tasks with a countdown (an ETA), as
`apply_async(countdown=...)` does: `countdown_ms`, and `eta_share` of its
tasks (all of them when left out). A worker holds such a task reserved
until its time; its wait counts from then.

A class's share is its `weight`, or its own `rate` (tasks/s: then every
class gives one, and the run's rate is their sum). Its size is fixed
(`task_ms`), or drawn per task: `distribution = "exponential"` (mean
`task_ms`), `"lognormal"` (`p50_ms`, `p99_ms`) or `"two-point"`
(`task_ms`, and `long_ms` for a `long_share` of its tasks).

Which class each task is: a drained batch holds every class in its exact
share (largest remainders), shuffled; open loop marks each arrival, at
random in the shares for Poisson arrivals (the superposition of
independent Poisson streams is one Poisson stream whose arrivals are
marked so), evenly interleaved for uniform ones (smooth weighted
round-robin: each class evenly spaced at its share).

Reading a file into a Traffic, checked, and resolving its user's classes
in their app: traffic_file.py.
"""

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure.apptask import UserTask
from bench.workloads import WORKLOADS, Workload, unprofiled_workload

Z99 = 2.3263478740408408  # the standard normal's 99th percentile: lognormal sigma from p50 and p99
MAX_TASK_MS = 60_000.0  # as a run's --task-ms
ROUTINGS = ("shared", "dedicated")
DEFAULT_QUEUE = "default"  # the lane of the classes that name no queue, under dedicated routing


def _set(value: float | None) -> float:
    """A parameter its distribution requires (parse checked it is there)."""
    assert value is not None
    return value


@dataclass(frozen=True)
class TrafficClass:
    name: str
    workload: str  # a built-in workload (bench.workloads.WORKLOADS)
    task_ms: float | None  # fixed: the size; exponential: the mean; two-point: the short size; None: sizeless
    share: float  # of the arrivals, 0-1 (the weights or rates normalized)
    rate_per_s: float | None = None  # its own arrival rate; None: a share of the run's --rate
    distribution: str = "fixed"
    p50_ms: float | None = None  # lognormal
    p99_ms: float | None = None  # lognormal
    long_ms: float | None = None  # two-point: the long size
    long_share: float | None = None  # two-point: of this class's tasks, the long ones
    # A task of the user's app instead of a built-in workload (workload "task"): as written in the file, and
    # once resolved (the app imported, the task checked, the calls read), its UserTask
    app: str | None = None
    task: str | None = None
    args: tuple[Any, ...] | None = None
    kwargs: tuple[tuple[str, Any], ...] | None = None
    args_file: str | None = None  # absolute
    user: UserTask | None = None
    queue: str | None = None  # its own queue under dedicated routing; None: the default one
    countdown_ms: float | None = None  # sent with this countdown (an ETA); None: at once
    eta_share: float | None = None  # of its tasks, those sent with the countdown; None: all (with a countdown)

    @property
    def spec(self) -> Workload:
        if self.task is not None:
            return unprofiled_workload(self.task)
        return WORKLOADS[self.workload]

    @property
    def mean_ms(self) -> float | None:
        """The mean size of a task of this class, ms (None: sizeless, or a user's task)."""
        if self.task is not None:
            return None
        if self.distribution == "lognormal":
            sigma = math.log(_set(self.p99_ms) / _set(self.p50_ms)) / Z99
            return _set(self.p50_ms) * math.exp(sigma * sigma / 2)
        if self.distribution == "two-point":
            long_share = _set(self.long_share)
            return (1 - long_share) * _set(self.task_ms) + long_share * _set(self.long_ms)
        return self.task_ms

    def size_ms(self, rng: random.Random) -> float | None:
        """One task's size, ms, drawn from the class's distribution."""
        if self.distribution == "fixed":
            return self.task_ms
        if self.distribution == "exponential":
            size = rng.expovariate(1 / _set(self.task_ms))
        elif self.distribution == "lognormal":
            p50 = _set(self.p50_ms)
            size = rng.lognormvariate(math.log(p50), math.log(_set(self.p99_ms) / p50) / Z99)
        else:
            size = _set(self.long_ms) if rng.random() < _set(self.long_share) else _set(self.task_ms)
        return min(MAX_TASK_MS, size)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "workload": self.workload, "share": self.share}
        if self.user is not None:
            out["user_task"] = self.user.to_json()
        for key in ("task_ms", "rate_per_s", "p50_ms", "p99_ms", "long_ms", "long_share"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["distribution"] = self.distribution
        out["mean_ms"] = self.mean_ms
        if self.queue is not None:
            out["queue"] = self.queue
        if self.countdown_ms is not None:
            out["countdown_ms"] = self.countdown_ms
            out["eta_share"] = 1.0 if self.eta_share is None else self.eta_share
        return out


@dataclass(frozen=True)
class Call:
    """One task of the mix: its class (index), task name and arguments."""

    klass: int
    task: str
    args: list[Any]
    kwargs: dict[str, Any] | None = None
    countdown_s: float | None = None  # sent with this countdown (an ETA); None: to run at once


@dataclass(frozen=True)
class Traffic:
    classes: tuple[TrafficClass, ...]
    source: str  # where it was read from, for the record
    seed: int = 0  # the run's --seed: shuffles a drained mix, marks open-loop arrivals, draws sizes
    routing: str = "shared"  # shared: every class on one queue; dedicated: each class's queue its own workers

    @property
    def lanes(self) -> tuple[str, ...]:
        """The queues the mix is sent to, each with workers of its own: one
        under shared routing; under dedicated, the default queue (for the
        classes that name none) and each queue the classes name, in order."""
        if self.routing == "shared":
            return (DEFAULT_QUEUE,)
        named = [c.queue or DEFAULT_QUEUE for c in self.classes]
        return tuple(dict.fromkeys(named))

    def lane_of(self, klass: int) -> int:
        """The index in `lanes` of the queue class `klass` is sent to."""
        if self.routing == "shared":
            return 0
        return self.lanes.index(self.classes[klass].queue or DEFAULT_QUEUE)

    def lane_nodes(self, workers: int) -> list[list[int]]:
        """The worker nodes of each lane: node i consumes lane i mod the lanes."""
        lanes = len(self.lanes)
        return [[node for node in range(workers) if node % lanes == lane] for lane in range(lanes)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def own_rate_per_s(self) -> float | None:
        """The sum of the classes' own rates; None: they give weights."""
        rates = [c.rate_per_s for c in self.classes]
        return math.fsum(r for r in rates if r is not None) if all(r is not None for r in rates) else None

    def counts(self, n: int) -> list[int]:
        """How many of `n` tasks of a drained batch each class has: its exact
        share, the remainders given to the largest fractions."""
        exact = [c.share * n for c in self.classes]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
        for i in by_remainder[: n - sum(counts)]:
            counts[i] += 1
        return counts

    def drained(self, n: int, stream: str = "batch") -> list[int]:
        """The class of each of `n` tasks of a drained batch: every class in
        its exact share (`counts`), shuffled (seeded per `stream`: the
        batch, each worker's warm-up)."""
        order = [i for i, count in enumerate(self.counts(n)) for _ in range(count)]
        random.Random(f"{stream}-{self.seed}").shuffle(order)
        return order

    def marked(self, n: int, arrival: str) -> list[int]:
        """The class of each of `n` arrivals of an open-loop schedule:
        Poisson, drawn in the shares; uniform, smooth weighted round-robin."""
        shares = [c.share for c in self.classes]
        if arrival == "poisson":
            rng = random.Random(f"classes-{self.seed}")
            return rng.choices(range(len(shares)), weights=shares, k=n)
        credit = [0.0] * len(shares)
        out = []
        for _ in range(n):
            credit = [c + s for c, s in zip(credit, shares, strict=True)]
            pick = max(range(len(shares)), key=lambda i: credit[i])
            credit[pick] -= 1.0
            out.append(pick)
        return out

    def calls(self, classes: Sequence[int], stream: str = "batch", stub_address: str | None = None) -> list[Call]:
        """The task of each entry of `classes`, its size drawn (seeded per `stream`)."""
        rng = random.Random(f"sizes-{stream}-{self.seed}")
        etas = random.Random(f"eta-{stream}-{self.seed}")
        out = []
        made = [0] * len(self.classes)  # a user's class cycles through its calls
        for i in classes:
            klass = self.classes[i]
            countdown = None
            if klass.countdown_ms is not None and etas.random() < (klass.eta_share or 1.0):
                countdown = klass.countdown_ms / 1000
            if klass.user is not None:
                call = klass.user.call(made[i])
                out.append(Call(i, klass.user.task, list(call.args), dict(call.kwargs), countdown))
            else:
                assert klass.task is None, "a user's class is resolved (resolve_users) before it is called"
                args = klass.spec.args(klass.size_ms(rng), stub_address)
                out.append(Call(i, klass.spec.task, args, None, countdown))
            made[i] += 1
        return out

    def alone(self, name: str) -> "Traffic":
        """The mix reduced to its class `name`, the whole of it (its tasks
        sent as in the mix, without the others)."""
        (klass,) = [c for c in self.classes if c.name == name]
        return dataclasses.replace(self, classes=(dataclasses.replace(klass, share=1.0, rate_per_s=None),))

    def share_of(self, name: str) -> float:
        return next(c.share for c in self.classes if c.name == name)

    @property
    def app(self) -> str | None:
        """The app of its user's classes (one for all); None: built-in workloads only."""
        return next((c.app for c in self.classes if c.app is not None), None)

    @property
    def first_user(self) -> UserTask | None:
        """The first resolved user's class's task: the workers run its app."""
        return next((c.user for c in self.classes if c.user is not None), None)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "seed": self.seed,
            "routing": self.routing,
            "lanes": list(self.lanes),
            "classes": [c.describe() for c in self.classes],
        }


def from_description(described: Mapping[str, Any]) -> Traffic:
    """The Traffic that Traffic.describe() wrote (a sweep's manifest keeps
    its mix so, for --resume): its classes as parsed, shares and all."""
    kept = set(TrafficClass.__dataclass_fields__)
    return Traffic(
        tuple(TrafficClass(**{k: v for k, v in c.items() if k in kept}) for c in described["classes"]),
        described["source"],
        described.get("seed", 0),
        described.get("routing", "shared"),
    )
