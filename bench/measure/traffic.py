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
"""

import dataclasses
import json
import math
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.harness.appinfo import AppInfo
from bench.measure.apptask import UserTask, build_user_task, check_task, resolve_user_task
from bench.workloads import WORKLOADS, Workload, unprofiled_workload

DISTRIBUTIONS = ("fixed", "exponential", "lognormal", "two-point")
Z99 = 2.3263478740408408  # the standard normal's 99th percentile: lognormal sigma from p50 and p99
MAX_TASK_MS = 60_000.0  # as a run's --task-ms
MAX_CLASSES = 16
SIZE_KEYS = ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share")
USER_KEYS = ("app", "task", "args", "kwargs", "args_file")
ETA_KEYS = ("countdown_ms", "eta_share")
CLASS_KEYS = frozenset(
    {"name", "workload", "weight", "rate", "distribution", "queue", *SIZE_KEYS, *USER_KEYS, *ETA_KEYS}
)
MAX_COUNTDOWN_MS = 3_600_000.0
ROUTINGS = ("shared", "dedicated")
DEFAULT_QUEUE = "default"  # the lane of the classes that name no queue, under dedicated routing
USER_WORKLOAD = "task"  # a user's task's workload name (config.USER_TASK_WORKLOAD)


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
    return parse(table, str(path), option, base=path.parent)


def parse(table: Mapping[str, Any], source: str, option: str = "--traffic", base: Path | None = None) -> Traffic:
    """The traffic of a TOML table holding [[class]] entries, checked."""
    unknown = sorted(set(table) - {"class"})
    if unknown:
        raise UsageError(f"{option}: unknown key {unknown[0]!r} in {source}; a traffic file holds [[class]] tables")
    raw = table.get("class")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, Mapping) for c in raw):
        raise UsageError(f"{option}: {source} lists no [[class]] tables")
    if len(raw) > MAX_CLASSES:
        raise UsageError(f"{option}: {len(raw)} classes in {source}; at most {MAX_CLASSES}")
    checked = [_one_class(c, i, option, base or Path.cwd()) for i, c in enumerate(raw)]
    names = [c["name"] for c in checked]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{option}: the class name {dupes[0]!r} is given twice; each class needs its own name")
    has_rate = [c["rate"] is not None for c in checked]
    if any(has_rate) and not all(has_rate):
        raise UsageError(f"{option}: give every class a weight, or every class a rate, not some of each")
    apps = {c["app"] for c in checked}
    if len(apps) > 1:
        named = sorted(a for a in apps if a is not None)
        what = f"the apps {', '.join(named)}" if None not in apps else f"built-in workloads and the app {named[0]}"
        raise UsageError(
            f"{option}: a mix runs in one app's workers, and {source} names {what}; give every class a "
            "workload, or every class a task of one app"
        )
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
                app=c["app"],
                task=c["task"],
                args=c["args"],
                kwargs=c["kwargs"],
                args_file=c["args_file"],
                queue=c["queue"],
                countdown_ms=c["countdown_ms"],
                eta_share=c["eta_share"],
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


def _one_class(entry: Mapping[str, Any], index: int, option: str, base: Path) -> dict[str, Any]:
    name = entry.get("name")
    where = f"class {name!r}" if isinstance(name, str) and name else f"class {index + 1}"
    if not isinstance(name, str) or not name.strip() or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(f'{option}: {where} needs a name: letters, digits, -, _ or . (e.g. name = "short")')
    unknown = sorted(set(entry) - CLASS_KEYS)
    if unknown:
        raise UsageError(f"{option}: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(CLASS_KEYS))})")
    user = {key: entry.get(key) for key in USER_KEYS}
    queue = entry.get("queue")
    if queue is not None and (not isinstance(queue, str) or not queue.replace("-", "_").isidentifier()):
        raise UsageError(f"{option}: {where}: queue must be a name of letters, digits, - and _, got {queue!r}")
    eta = _eta(entry, where, option)
    user_given = [key for key in USER_KEYS if user[key] is not None]
    if user_given:
        return {**_user_class(entry, name, where, option, base, user), "queue": queue, **eta}
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
        **dict.fromkeys(USER_KEYS),
        **eta,
        "queue": queue,
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


def _eta(entry: Mapping[str, Any], where: str, option: str) -> dict[str, float | None]:
    """A class's countdown and the share of its tasks sent with it, checked."""
    countdown = _number(entry, "countdown_ms", where, option, at_most=MAX_COUNTDOWN_MS)
    share = _number(entry, "eta_share", where, option, at_most=1.0)
    if share is not None and countdown is None:
        raise UsageError(f"{option}: {where}: eta_share is the share sent with a countdown; give countdown_ms too")
    return {"countdown_ms": countdown, "eta_share": share}


def _user_class(
    entry: Mapping[str, Any], name: str, where: str, option: str, base: Path, user: Mapping[str, Any]
) -> dict[str, Any]:
    """A class that is a task of the user's app: checked as written (the app is imported later)."""
    built_in = [key for key in ("workload", "distribution", *SIZE_KEYS) if key in entry]
    if built_in:
        raise UsageError(f"{option}: {where}: {built_in[0]} is for a built-in workload; a task of your app has none")
    if not isinstance(user["app"], str) or not isinstance(user["task"], str):
        raise UsageError(f'{option}: {where}: a task of your app needs app = "MODULE" and task = "NAME"')
    if user["args"] is not None and not isinstance(user["args"], list):
        raise UsageError(f"{option}: {where}: args must be a list, got {user['args']!r}")
    if user["kwargs"] is not None and not isinstance(user["kwargs"], Mapping):
        raise UsageError(f"{option}: {where}: kwargs must be a table, got {user['kwargs']!r}")
    if user["args_file"] is not None and not isinstance(user["args_file"], str):
        raise UsageError(f"{option}: {where}: args_file must be a path, got {user['args_file']!r}")
    if user["args_file"] is not None and (user["args"] is not None or user["kwargs"] is not None):
        raise UsageError(f"{option}: {where}: args_file gives every call's arguments; leave out args and kwargs")
    weight = _number(entry, "weight", where, option)
    rate = _number(entry, "rate", where, option, at_most=100_000.0)
    if (weight is None) == (rate is None):
        raise UsageError(f"{option}: {where} needs a weight (its share of the arrivals) or a rate, one of them")
    return {
        **dict.fromkeys(SIZE_KEYS),
        "name": name,
        "workload": USER_WORKLOAD,
        "distribution": "fixed",
        "weight": weight,
        "rate": rate,
        "app": user["app"],
        "task": user["task"],
        "args": None if user["args"] is None else tuple(user["args"]),
        "kwargs": None if user["kwargs"] is None else tuple(sorted(user["kwargs"].items())),
        "args_file": None if user["args_file"] is None else str((base / user["args_file"]).resolve()),
    }


def resolve_users(mix: Traffic, workdir: str | None = None) -> tuple[Traffic, AppInfo | None]:
    """The mix with each user's class resolved: its app imported (once, in
    a subprocess, from `workdir` or the current directory), its task
    checked against the app's, its calls read; and the app's AppInfo
    (None: built-in workloads only). UsageError names the class."""
    if mix.app is None:
        return mix, None
    info = None
    classes = []
    for klass in mix.classes:
        if klass.task is None:
            classes.append(klass)
            continue
        options = {
            "app": klass.app,
            "task": klass.task,
            "args": None if klass.args is None else json.dumps(list(klass.args)),
            "kwargs": None if klass.kwargs is None else json.dumps(dict(klass.kwargs)),
            "args_file": klass.args_file,
            "workdir": workdir,
        }
        try:
            if info is None:
                user, info = resolve_user_task(**options)
            else:
                user = build_user_task(**options)
                if user is not None:
                    check_task(user.task, list(info.tasks), user.app)
        except UsageError as exc:
            raise UsageError(f"--traffic: class {klass.name!r}: {exc}") from None
        classes.append(dataclasses.replace(klass, user=user))
    return dataclasses.replace(mix, classes=tuple(classes)), info


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
