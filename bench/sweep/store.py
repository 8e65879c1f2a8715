"""A sweep's files with its config and plan typed: what the sweep stage
adds to their on-disk format (bench/results/sweepdir.py), to start a sweep,
continue it and summarize it. Reads and writes without Celery."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.analysis.summarize import summarize_point, summarize_sweep
from bench.errors import UsageError
from bench.harness import machine
from bench.harness.urls import redact
from bench.results.io import read_sweep_summary, write_atomic
from bench.results.schema import SUMMARY, sweep_summary_to_json, utc_now
from bench.results.sweep_records import SweepSummary
from bench.results.sweepdir import SweepDirFiles
from bench.sweep.config import SweepConfig
from bench.sweep.point import Point

__all__ = ["SweepDir", "load_summary", "resume", "summarize", "summary_of"]


class SweepDir(SweepDirFiles):
    """The files of one sweep on disk, its plan read back as Points."""

    @classmethod
    def create(cls, output_dir: str | Path, cfg: SweepConfig, plan: list[Point]) -> SweepDir:
        stamp = utc_now().strftime("%Y%m%dT%H%M%S")
        sweep = cls(Path(output_dir) / f"sweep-{stamp}-{cfg.profile}")
        sweep.make()
        sweep.write_manifest(cfg, plan, status="planned", metadata=machine.describe())
        return sweep

    def planned_points(self) -> list[Point]:
        """The sweep's plan, from its manifest."""
        manifest = self.read_manifest()
        try:
            return [Point.from_json(p) for p in manifest.plan]
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{self.path}: malformed manifest ({type(exc).__name__}: {exc})") from None


def resume(
    path: str | Path, broker_url: str | None = None, measuring: bool = True
) -> tuple[SweepDir, SweepConfig, list[Point]]:
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


def summary_of(sweep: SweepDir, cfg: SweepConfig, plan: list[Point]) -> SweepSummary:
    """Every point's summary, in plan order (a SweepSummary); writes nothing."""
    manifest = sweep.read_manifest()
    points = [summarize_point(p.stored(), sweep.attempts(p), cfg.ci_target) for p in plan]
    return summarize_sweep(cfg.to_json(), manifest.metadata, manifest.status, points)


def summarize(sweep: SweepDir, cfg: SweepConfig, plan: list[Point]) -> SweepSummary:
    """Write summary.json: every point's summary, in plan order."""
    summary = summary_of(sweep, cfg, plan)
    write_atomic(sweep.path / SUMMARY, sweep_summary_to_json(summary))
    return summary


def load_summary(sweep_dir: str | Path) -> tuple[SweepSummary, str]:
    """The sweep's summary (a SweepSummary) and its status in the manifest.
    Read from summary.json, or made in memory from its runs when that is
    missing (an interrupted sweep): a read-only command writes nothing
    there. UsageError naming the file when it is not usable."""
    target = SweepDir(sweep_dir)
    if not target.path.is_dir():
        raise UsageError(f"{target.path}: not a directory")
    status = target.read_manifest().status
    path = target.path / SUMMARY
    if not path.exists():
        _, cfg, plan = resume(target.path, measuring=False)
        return summary_of(target, cfg, plan), status
    return read_sweep_summary(path), status
