"""The files of one sweep directory, read and written without Celery: the
on-disk format of a sweep, whatever stage reads it.

A sweep directory holds:
    manifest.json           the sweep's config, plan, machine, status
    runs/<point>/rNN.json   one result document per repeat (as `run` writes)
    summary.json            per-point summaries, written at the end
    profile.json            a user's task's profile (a sweep of that task)
    check.json              the fidelity check (`sweep --check`)
    open_loop/<point>/rate-<R>-rNN.json
                            the point run open loop at R tasks/s (`--rates`)
    .lock                   held by the one process measuring it (sweeplock.py)
A repeat interrupted half-way is kept as rNN.interrupted.json and redone on
resume; a repeat that failed is kept and counted as an attempt.

Points and configs are the sweep stage's types (bench.sweep.plan): here
they are only stored (`to_json`) and found by their `key`, so this module
needs nothing above the results."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, overload

from bench.errors import UsageError
from bench.results import sweeplock
from bench.results.io import read_json, read_run, typed, write_atomic
from bench.results.schema import (
    CHECK_SUMMARY,
    MANIFEST,
    RUNS,
    SUMMARY,
    SWEEP,
    RunResult,
    SweepManifest,
    manifest_from_json,
    manifest_to_json,
    metadata_from_json,
    utc_now,
    utc_text,
)

PROFILE = "profile.json"
OPEN_LOOP_SUMMARY = "open_loop.json"  # sweep --rates: per point and rate (bench/sweep/rates.py writes it)
OPEN_LOOP = "open_loop"

__all__ = ["CHECK_SUMMARY", "MANIFEST", "PROFILE", "RUNS", "SUMMARY", "Found", "SweepDirFiles", "find_sweep"]


class Stored(Protocol):
    """A sweep's config or point as the manifest stores it."""

    def to_json(self) -> dict: ...


class Keyed(Protocol):
    """A point of the plan, as its directory under runs/ names it."""

    @property
    def key(self) -> str: ...


class SweepDirFiles:
    """The files of one sweep on disk."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self._docs: dict[Path, RunResult] = {}  # repeat files never change once written

    def make(self) -> None:
        """Create the directory itself; UsageError when it cannot be."""
        try:
            self.path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise UsageError(f"--output-dir: cannot create {self.path}: {exc.strerror}") from None

    def write_manifest(
        self, cfg: Stored, plan: Sequence[Stored], status: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """`metadata`: the machine (machine.describe()); None: keep the one written before."""
        previous = self.read_manifest(check=False)
        now = utc_text(utc_now(), timespec="seconds")
        manifest = SweepManifest(
            status=status,
            config=cfg.to_json(),
            plan=tuple(p.to_json() for p in plan),
            metadata=metadata_from_json(metadata) if metadata else previous.metadata if previous else None,
            created_utc=previous.created_utc if previous else now,
            updated_utc=now,
        )
        write_atomic(self.path / MANIFEST, manifest_to_json(manifest))

    @overload
    def read_manifest(self, check: Literal[True] = True) -> SweepManifest: ...
    @overload
    def read_manifest(self, check: bool) -> SweepManifest | None: ...
    def read_manifest(self, check: bool = True) -> SweepManifest | None:
        """The SweepManifest, its status made true: a sweep that says it is
        running (or planned) while no process holds its lock was killed.
        None when there is none and `check` is False."""
        path = self.path / MANIFEST
        if not path.exists():
            if check:
                raise UsageError(f"{self.path}: not a sweep directory (no {MANIFEST})")
            return None
        manifest = typed(path, read_json(path, SWEEP, "sweep manifest"), manifest_from_json)
        if manifest.status in ("running", "planned") and not sweeplock.held(self.path):
            manifest = dataclasses.replace(manifest, status="interrupted")
        return manifest

    def point_dir(self, point: Keyed) -> Path:
        return self.path / RUNS / point.key

    def _repeat_files(self, point):
        """The point's finished repeat files; a repeat interrupted half-way
        (rNN.interrupted.json) is not one."""
        found = sorted(self.point_dir(point).glob("r*.json"))
        return [path for path in found if not path.name.endswith(".interrupted.json")]

    def _read(self, path):
        if path not in self._docs:
            self._docs[path] = read_run(path)
        return self._docs[path]

    def attempts(self, point: Keyed) -> list[tuple[Path, RunResult]]:
        """The point's finished repeats (ok or failed) as (path, RunResult);
        a file that is not a result is skipped (never half-written, with
        atomic writes: unreadable means not ours)."""
        found = []
        for path in self._repeat_files(point):
            try:
                found.append((path, self._read(path)))
            except UsageError:
                continue
        return found

    def repeats(self, point: Keyed) -> list[RunResult]:
        """The point's finished repeats (ok or failed) as RunResults, in
        order; UsageError naming a file that is not a result document."""
        return [self._read(path) for path in self._repeat_files(point)]

    def next_repeat_path(self, point: Keyed) -> Path:
        taken = {p.name.split(".")[0] for p in self.point_dir(point).glob("r*.json")}
        n = 1
        while f"r{n:02d}" in taken:
            n += 1
        return self.point_dir(point) / f"r{n:02d}.json"

    def open_loop_path(self, point: Keyed, rate: float, repeat: int) -> Path:
        """Where repeat `repeat` of `point` run open loop at `rate` tasks/s goes."""
        return self.path / OPEN_LOOP / point.key / f"rate-{rate:g}-r{repeat:02d}.json"

    def open_loop_runs(self, point: Keyed) -> dict[float, list[RunResult]]:
        """The point's finished open-loop repeats, by offered rate (ascending),
        each rate's in repeat order; a file that is not a result is skipped."""
        by_rate: dict[float, list[RunResult]] = {}
        for path in sorted((self.path / OPEN_LOOP / point.key).glob("rate-*-r*.json")):
            try:
                rate = float(path.name.removeprefix("rate-").rsplit("-r", 1)[0])
                by_rate.setdefault(rate, []).append(self._read(path))
            except (ValueError, UsageError):
                continue
        return dict(sorted(by_rate.items()))

    def read_profile(self) -> dict | None:
        """The profile of the swept user's task (profile.json), or None."""
        path = self.path / PROFILE
        return read_json(path, "profile", "task profile") if path.exists() else None

    def read_open_loop(self) -> dict | None:
        """The sweep's open-loop summary (open_loop.json, `sweep --rates`), or None."""
        path = self.path / OPEN_LOOP_SUMMARY
        return read_json(path, "sweep-open-loop", "open-loop summary") if path.exists() else None

    def read_check(self) -> dict | None:
        """The sweep's fidelity check (check.json, `sweep --check`), or None."""
        path = self.path / CHECK_SUMMARY
        return read_json(path, "sweep-check", "fidelity check") if path.exists() else None


@dataclass(frozen=True)
class Found:
    """The sweep a path names, and how it was found."""

    path: Path  # the sweep directory
    note: str | None  # said to the user when the path was a folder of sweeps


def find_sweep(path: str | Path) -> Found:
    """The sweep directory `path` names: itself, or, for a folder that holds
    sweeps (e.g. results/), the only one inside or else the latest (by its
    name, which starts with its UTC start time), with a note saying so."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return Found(path, None)
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory (no such sweep)")
    inside = sorted((d for d in path.iterdir() if (d / MANIFEST).is_file()), key=lambda d: d.name)
    if not inside:
        raise UsageError(f"{path}: not a sweep directory (no {MANIFEST}), and no sweep inside it")
    if len(inside) == 1:
        return Found(inside[0], f"using the sweep in {path}: {inside[0]}")
    others = ", ".join(d.name for d in inside[:-1][-3:])
    return Found(inside[-1], f"{path} holds {len(inside)} sweeps; using the latest, {inside[-1]} (others: {others})")
