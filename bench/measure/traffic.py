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
"""

import math
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.workloads import WORKLOADS, Workload

DISTRIBUTIONS = ("fixed", "exponential", "lognormal", "two-point")
Z99 = 2.3263478740408408  # the standard normal's 99th percentile: lognormal sigma from p50 and p99
MAX_TASK_MS = 60_000.0  # as a run's --task-ms
MAX_CLASSES = 16
CLASS_KEYS = frozenset(
    {"name", "workload", "task_ms", "weight", "rate", "distribution", "p50_ms", "p99_ms", "long_ms", "long_share"}
)


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

    @property
    def spec(self) -> Workload:
        return WORKLOADS[self.workload]

    @property
    def mean_ms(self) -> float | None:
        """The mean size of a task of this class, ms (None: sizeless)."""
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
        for key in ("task_ms", "rate_per_s", "p50_ms", "p99_ms", "long_ms", "long_share"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["distribution"] = self.distribution
        out["mean_ms"] = self.mean_ms
        return out


@dataclass(frozen=True)
class Call:
    """One task of the mix: its class (index), task name and arguments."""

    klass: int
    task: str
    args: list[Any]


@dataclass(frozen=True)
class Traffic:
    classes: tuple[TrafficClass, ...]
    source: str  # where it was read from, for the record
    seed: int = 0  # the run's --seed: shuffles a drained mix, marks open-loop arrivals, draws sizes

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def own_rate_per_s(self) -> float | None:
        """The sum of the classes' own rates; None: they give weights."""
        rates = [c.rate_per_s for c in self.classes]
        return math.fsum(r for r in rates if r is not None) if all(r is not None for r in rates) else None

    def drained(self, n: int, stream: str = "batch") -> list[int]:
        """The class of each of `n` tasks of a drained batch: every class in
        its exact share (largest remainders), shuffled (seeded per `stream`:
        the batch, each worker's warm-up)."""
        exact = [c.share * n for c in self.classes]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
        for i in by_remainder[: n - sum(counts)]:
            counts[i] += 1
        order = [i for i, count in enumerate(counts) for _ in range(count)]
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
        out = []
        for i in classes:
            klass = self.classes[i]
            out.append(Call(i, klass.spec.task, klass.spec.args(klass.size_ms(rng), stub_address)))
        return out

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "seed": self.seed, "classes": [c.describe() for c in self.classes]}


def read(path: str | Path, option: str = "--traffic") -> Traffic:
    """The traffic of a file: a traffic TOML ([[class]] tables) or a
    pyproject.toml / celery-bench.toml with [tool.celery-bench.traffic];
    UsageError (one line) for anything it cannot take."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option}: {path} is not valid TOML ({exc})") from None
    table = data.get("tool", {}).get("celery-bench", {}).get("traffic") if "tool" in data else data
    if "tool" not in data and "traffic" in data:  # a celery-bench.toml whose table is optional
        table = data["traffic"]
    if not isinstance(table, Mapping):
        raise UsageError(f"{option}: {path} has no traffic: [[class]] tables, or [tool.celery-bench.traffic]")
    return parse(table, str(path), option)


def parse(table: Mapping[str, Any], source: str, option: str = "--traffic") -> Traffic:
    """The traffic of a TOML table holding [[class]] entries, checked."""
    unknown = sorted(set(table) - {"class"})
    if unknown:
        raise UsageError(f"{option}: unknown key {unknown[0]!r} in {source}; a traffic file holds [[class]] tables")
    raw = table.get("class")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, Mapping) for c in raw):
        raise UsageError(f"{option}: {source} lists no [[class]] tables")
    if len(raw) > MAX_CLASSES:
        raise UsageError(f"{option}: {len(raw)} classes in {source}; at most {MAX_CLASSES}")
    checked = [_one_class(c, i, option) for i, c in enumerate(raw)]
    names = [c["name"] for c in checked]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{option}: the class name {dupes[0]!r} is given twice; each class needs its own name")
    has_rate = [c["rate"] is not None for c in checked]
    if any(has_rate) and not all(has_rate):
        raise UsageError(f"{option}: give every class a weight, or every class a rate, not some of each")
    amounts = [c["rate"] if c["rate"] is not None else c["weight"] for c in checked]
    total = math.fsum(amounts)
    return Traffic(
        tuple(
            TrafficClass(
                name=c["name"],
                workload=c["workload"],
                task_ms=c["task_ms"],
                share=amount / total,
                rate_per_s=c["rate"],
                distribution=c["distribution"],
                p50_ms=c["p50_ms"],
                p99_ms=c["p99_ms"],
                long_ms=c["long_ms"],
                long_share=c["long_share"],
            )
            for c, amount in zip(checked, amounts, strict=True)
        ),
        source,
    )


def _number(entry, key, where, option, *, positive=True, at_most=None):
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{option}: {where}: {key} must be a number, got {value!r}")
    if positive and value <= 0:
        raise UsageError(f"{option}: {where}: {key} must be above 0, got {value:g}")
    if at_most is not None and value > at_most:
        raise UsageError(f"{option}: {where}: {key} must be at most {at_most:g}, got {value:g}")
    return float(value)


def _one_class(entry: Mapping[str, Any], index: int, option: str) -> dict[str, Any]:
    name = entry.get("name")
    where = f"class {name!r}" if isinstance(name, str) and name else f"class {index + 1}"
    if not isinstance(name, str) or not name.strip() or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(f'{option}: {where} needs a name: letters, digits, -, _ or . (e.g. name = "short")')
    unknown = sorted(set(entry) - CLASS_KEYS)
    if unknown:
        hint = "; a user's task as a class is not supported yet" if unknown[0] in ("app", "task", "args") else ""
        raise UsageError(
            f"{option}: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(CLASS_KEYS))}){hint}"
        )
    workload = entry.get("workload", "sleep")
    if workload not in WORKLOADS:
        raise UsageError(f"{option}: {where}: unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    if WORKLOADS[workload].needs_stub:
        raise UsageError(f"{option}: {where}: the {workload} workload is not supported in a mix yet")
    distribution = entry.get("distribution", "fixed")
    if distribution not in DISTRIBUTIONS:
        raise UsageError(
            f"{option}: {where}: unknown distribution {distribution!r}; choose from {', '.join(DISTRIBUTIONS)}"
        )
    out = {
        "name": name,
        "workload": workload,
        "distribution": distribution,
        "weight": _number(entry, "weight", where, option),
        "rate": _number(entry, "rate", where, option, at_most=100_000.0),
        "task_ms": _number(entry, "task_ms", where, option, at_most=MAX_TASK_MS),
        "p50_ms": _number(entry, "p50_ms", where, option, at_most=MAX_TASK_MS),
        "p99_ms": _number(entry, "p99_ms", where, option, at_most=MAX_TASK_MS),
        "long_ms": _number(entry, "long_ms", where, option, at_most=MAX_TASK_MS),
        "long_share": _number(entry, "long_share", where, option, at_most=1.0),
    }
    if out["weight"] is not None and out["rate"] is not None:
        raise UsageError(f"{option}: {where}: give a weight or a rate, not both")
    if out["weight"] is None and out["rate"] is None:
        raise UsageError(f"{option}: {where} needs a weight (its share of the arrivals) or a rate (tasks/s)")
    sized = WORKLOADS[workload].sized
    if not sized:
        given = [k for k in ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share") if out[k] is not None]
        if given or distribution != "fixed":
            leave = given[0] if given else "distribution"
            raise UsageError(f"{option}: {where}: the {workload} workload has no size; leave out {leave}")
        return out
    needs = {
        "fixed": ("task_ms",),
        "exponential": ("task_ms",),
        "lognormal": ("p50_ms", "p99_ms"),
        "two-point": ("task_ms", "long_ms", "long_share"),
    }[distribution]
    extra = [
        k for k in ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share") if out[k] is not None and k not in needs
    ]
    if extra:
        raise UsageError(f"{option}: {where}: {extra[0]} is not a parameter of the {distribution} distribution")
    if out["task_ms"] is None and "task_ms" in needs and distribution == "fixed":
        out["task_ms"] = WORKLOADS[workload].default_task_ms
    missing = [k for k in needs if out[k] is None]
    if missing:
        raise UsageError(f"{option}: {where}: the {distribution} distribution needs {missing[0]}")
    if distribution == "lognormal" and out["p99_ms"] <= out["p50_ms"]:
        raise UsageError(f"{option}: {where}: p99_ms must be above p50_ms")
    return out


def from_description(described: Mapping[str, Any]) -> Traffic:
    """The Traffic that Traffic.describe() wrote (a sweep's manifest keeps
    its mix so, for --resume): its classes as parsed, shares and all."""
    kept = set(TrafficClass.__dataclass_fields__)
    return Traffic(
        tuple(TrafficClass(**{k: v for k, v in c.items() if k in kept}) for c in described["classes"]),
        described["source"],
        described.get("seed", 0),
    )
