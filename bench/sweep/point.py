"""A point of a sweep: its pool, -c, workload and size, its varied
settings, and the names and JSON it is kept under (planned in plan.py)."""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.harness.urls import redact
from bench.measure.config import USER_TASK_WORKLOAD, run_workload
from bench.measure.settings import label
from bench.results.schema import point_name
from bench.results.words import host_words
from bench.workloads import MIX_WORKLOAD, WORKLOADS, Workload, mix_workload


@dataclass(frozen=True)
class Point:
    pool: str
    concurrency: int
    workload: str
    task_ms: float | None
    cpus: tuple[int, ...] | None  # the worker's pinned CPUs; None: all usable
    cores: float  # what ceilings and the -c list are based on
    tasks: int  # per repeat, over all the workers
    warmup: int  # per worker
    task: str | None = None  # a user's task: its registered name (workload "task")
    profile: tuple[float, float] | None = None  # a user's task: (CPU s, waiting s) per call, from its profile
    workers: int = 1  # worker nodes, each with the pool and -c
    # The varied settings (--vary) other than workers: (name, value as
    # written), in the order the axes were given; () when nothing varies.
    settings: tuple[tuple[str, str], ...] = ()
    host_count: int | None = None  # --host-counts: runs on the first this many of --hosts; None: on all (or here)
    # A traffic mix (workload "mix", task_ms its classes' mean): each class's (workload, mean ms or None, share),
    # what its ceiling and batch size come from; None: one workload
    mix: tuple[tuple[str, float | None, float], ...] | None = None

    @property
    def spec(self) -> Workload:
        """The point's Workload (a user's task sized by its profile, a mix
        by its classes' weighted demands)."""
        if self.workload == MIX_WORKLOAD:
            assert self.mix is not None  # a mix's point is planned with its classes
            return mix_workload([_Demand(WORKLOADS[name], mean_ms, share) for name, mean_ms, share in self.mix])
        if self.workload != USER_TASK_WORKLOAD:
            return WORKLOADS[self.workload]
        assert self.task is not None  # a user's task point is planned with its name
        return run_workload(self.workload, NamedTask(self.task), self.profile)

    @property
    def key(self) -> str:
        """The point's name, also its directory: workers and settings only
        where they are set, so a sweep without them keeps its old keys."""
        pinned = len(self.cpus) if self.cpus else None
        shape = f"-w{self.workers}" if self.workers != 1 else ""
        fleet = f"-hosts{self.host_count}" if self.host_count is not None else ""
        varied = "".join(f"-{name}={_slug(text)}" for name, text in self.settings)
        return point_name(self.workload, self.task_ms, self.pool, self.concurrency, pinned) + shape + fleet + varied

    @property
    def variant(self) -> str:
        """What, besides the pool, tells this point's curve from the others
        in its figure: "2 workers", "prefetch_multiplier=1"; "" for none."""
        parts = [f"{self.workers} workers"] if self.workers != 1 else []
        parts += [host_words(self.host_count)] if self.host_count is not None else []
        parts += [label(name, text) for name, text in self.settings]
        return ", ".join(parts)

    @property
    def total_concurrency(self) -> int:
        """-c over all the workers: what shapes of one size share."""
        return self.concurrency * self.workers

    def stored(self) -> "Point":
        """The point as its files hold it: broker URLs in its settings
        without their passwords (the key stays the same)."""
        return replace(self, settings=tuple((name, redact(text)) for name, text in self.settings))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpus"] = list(self.cpus) if self.cpus else None
        out["settings"] = [[name, redact(text)] for name, text in self.settings]  # no broker password on disk
        out["key"] = self.key
        out["variant"] = self.variant
        out["total_concurrency"] = self.total_concurrency
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Point":
        fields = {k: v for k, v in data.items() if k not in ("key", "variant", "total_concurrency")}
        fields["cpus"] = tuple(fields["cpus"]) if fields["cpus"] else None
        fields["settings"] = tuple(tuple(pair) for pair in fields.get("settings") or ())
        if fields.get("profile") is not None:
            fields["profile"] = tuple(fields["profile"])
        if fields.get("mix") is not None:
            fields["mix"] = tuple(tuple(c) for c in fields["mix"])
        return cls(**fields)


def _slug(text):
    """A setting's value as part of a directory name (a URL without its
    password, with / and : made safe)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", redact(text)).strip("_")


@dataclass(frozen=True)
class NamedTask:
    task: str  # what run_workload needs of a user's task: its name


@dataclass(frozen=True)
class _Demand:
    """One class of a mix as its ceiling sees it (bench.workloads.Demand)."""

    spec: Workload
    mean_ms: float | None
    share: float
