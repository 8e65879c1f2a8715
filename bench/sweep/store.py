"""The files of one sweep on disk, read and written without Celery.

A sweep directory holds:
    manifest.json           the sweep's config, plan, machine, status
    runs/<point>/rNN.json   one result document per repeat (as `run` writes)
    summary.json            per-point summaries, written at the end
A repeat interrupted half-way is kept as rNN.interrupted.json and redone on
resume; a repeat that failed is kept and counted as an attempt.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.summary import summarize_point, summarize_sweep
from bench.errors import UsageError
from bench.harness import machine
from bench.harness.urls import redact
from bench.results.io import read_json, read_run, typed, write_atomic
from bench.results.schema import (
    MANIFEST,
    RUNS,
    SUMMARY,
    SWEEP,
    SweepManifest,
    manifest_from_json,
    manifest_to_json,
    metadata_from_json,
    sweep_summary_to_json,
    utc_now,
    utc_text,
)
from bench.sweep import lock
from bench.sweep.plan import Point, SweepConfig

__all__ = ["MANIFEST", "RUNS", "SUMMARY", "SweepDir", "resume", "summarize", "summary_of"]


class SweepDir:
    """The files of one sweep on disk."""

    def __init__(self, path):
        self.path = Path(path)
        self._docs = {}  # path -> document: repeat files never change once written

    @classmethod
    def create(cls, output_dir, cfg, plan):
        stamp = utc_now().strftime("%Y%m%dT%H%M%S")
        sweep = cls(Path(output_dir) / f"sweep-{stamp}-{cfg.profile}")
        try:
            sweep.path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise UsageError(f"--output-dir: cannot create {sweep.path}: {exc.strerror}") from None
        sweep.write_manifest(cfg, plan, status="planned", metadata=machine.describe())
        return sweep

    def write_manifest(self, cfg, plan, status, metadata=None):
        """`metadata`: the machine (machine.describe()); None: keep the one written before."""
        previous = self.read_manifest(check=False)
        now = utc_text(utc_now(), timespec="seconds")
        manifest = SweepManifest(
            status=status,
            config=cfg.to_json(),
            plan=tuple(p.to_json() for p in plan),
            metadata=metadata_from_json(metadata) if metadata else previous and previous.metadata,
            created_utc=previous.created_utc if previous else now,
            updated_utc=now,
        )
        write_atomic(self.path / MANIFEST, manifest_to_json(manifest))

    def read_manifest(self, check=True):
        """The SweepManifest, its status made true: a sweep that says it is
        running (or planned) while no process holds its lock was killed.
        None when there is none and `check` is False."""
        path = self.path / MANIFEST
        if not path.exists():
            if check:
                raise UsageError(f"{self.path}: not a sweep directory (no {MANIFEST})")
            return None
        manifest = typed(path, read_json(path, SWEEP, "sweep manifest"), manifest_from_json)
        if manifest.status in ("running", "planned") and not lock.held(self.path):
            manifest = dataclasses.replace(manifest, status="interrupted")
        return manifest

    def planned_points(self):
        """The sweep's plan, from its manifest."""
        manifest = self.read_manifest()
        try:
            return [Point.from_json(p) for p in manifest.plan]
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{self.path}: malformed manifest ({type(exc).__name__}: {exc})") from None

    def point_dir(self, point):
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

    def attempts(self, point):
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

    def repeats(self, point):
        """The point's finished repeats (ok or failed) as RunResults, in
        order; UsageError naming a file that is not a result document."""
        return [self._read(path) for path in self._repeat_files(point)]

    def next_repeat_path(self, point):
        taken = {p.name.split(".")[0] for p in self.point_dir(point).glob("r*.json")}
        n = 1
        while f"r{n:02d}" in taken:
            n += 1
        return self.point_dir(point) / f"r{n:02d}.json"


@dataclass(frozen=True)
class Found:
    """The sweep a path names, and how it was found."""

    path: Path  # the sweep directory
    note: str | None  # said to the user when the path was a folder of sweeps


def find_sweep(path):
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


def resume(path, broker_url=None, measuring=True):
    """The config and plan of the sweep in `path`, to continue it. A broker
    URL with a password was stored redacted: `broker_url` must give it again."""
    sweep = SweepDir(path)
    manifest = sweep.read_manifest()
    cfg = SweepConfig.from_json(manifest.config)
    stored = cfg.broker_url
    if broker_url is not None:
        if redact(broker_url) != stored:
            raise UsageError(f"--broker: {redact(broker_url)} is not the sweep's broker {stored}")
        cfg = dataclasses.replace(cfg, broker_url=broker_url)
    elif measuring and stored is not None and ":**@" in stored:
        raise UsageError(f"--resume: the sweep used {stored}; give its URL again with --broker")
    plan = sweep.planned_points()
    hidden = sorted({text for p in plan for _, text in p.settings if ":**@" in text})
    if measuring and hidden:
        raise UsageError(f"--resume: the sweep varies brokers with passwords ({', '.join(hidden)}); it cannot resume")
    return sweep, cfg, plan


def summary_of(sweep, cfg, plan):
    """Every point's summary, in plan order (a SweepSummary); writes nothing."""
    manifest = sweep.read_manifest()
    points = [summarize_point(p.stored(), sweep.attempts(p), cfg.ci_target) for p in plan]
    return summarize_sweep(cfg.to_json(), manifest.metadata, manifest.status, points)


def summarize(sweep, cfg, plan):
    """Write summary.json: every point's summary, in plan order."""
    summary = summary_of(sweep, cfg, plan)
    write_atomic(sweep.path / SUMMARY, sweep_summary_to_json(summary))
    return summary
