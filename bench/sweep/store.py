"""The files of one sweep on disk, read and written without Celery.

A sweep directory holds:
    manifest.json           the sweep's config, plan, machine, status
    runs/<point>/rNN.json   one result document per repeat (as `run` writes)
    summary.json            per-point summaries, written at the end
A repeat interrupted half-way is kept as rNN.interrupted.json and redone on
resume; a repeat that failed is kept and counted as an attempt.
"""

import dataclasses
import datetime as dt
import json
from pathlib import Path

from bench.analysis.summary import summarize_point
from bench.errors import UsageError
from bench.harness import machine
from bench.harness.urls import redact
from bench.results.io import SCHEMA_VERSION, read_json, write_atomic
from bench.sweep import lock
from bench.sweep.plan import Point, SweepConfig

MANIFEST, SUMMARY, RUNS = "manifest.json", "summary.json", "runs"


def _utc_now():
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SweepDir:
    """The files of one sweep on disk."""

    def __init__(self, path):
        self.path = Path(path)
        self._docs = {}  # path -> document: repeat files never change once written

    @classmethod
    def create(cls, output_dir, cfg, plan):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        sweep = cls(Path(output_dir) / f"sweep-{stamp}-{cfg.profile}")
        try:
            sweep.path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise UsageError(f"--output-dir: cannot create {sweep.path}: {exc.strerror}") from None
        sweep.write_manifest(cfg, plan, status="planned", metadata=machine.describe())
        return sweep

    def write_manifest(self, cfg, plan, status, metadata=None):
        previous = self.read_manifest(check=False) or {}
        write_atomic(
            self.path / MANIFEST,
            {
                "schema_version": SCHEMA_VERSION,
                "kind": "sweep",
                "status": status,
                "config": cfg.to_json(),
                "plan": [p.to_json() for p in plan],
                "metadata": metadata or previous.get("metadata"),
                "created_utc": previous.get("created_utc", _utc_now()),
                "updated_utc": _utc_now(),
            },
        )

    def read_manifest(self, check=True):
        """The manifest, its status made true: a sweep that says it is
        running (or planned) while no process holds its lock was killed."""
        path = self.path / MANIFEST
        if not path.exists():
            if check:
                raise UsageError(f"{self.path}: not a sweep directory (no {MANIFEST})")
            return None
        manifest = read_json(path, "sweep", "sweep manifest")
        if manifest.get("status") in ("running", "planned") and not lock.held(self.path):
            manifest["status"] = "interrupted"
        return manifest

    def point_dir(self, point):
        return self.path / RUNS / point.key

    def attempts(self, point):
        """The point's finished repeats (ok or failed) as (path, document)."""
        found = []
        for path in sorted(self.point_dir(point).glob("r*.json")):
            if path.name.endswith(".interrupted.json"):
                continue
            if path not in self._docs:
                try:
                    self._docs[path] = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # never half-written (atomic writes): unreadable means not ours
            found.append((path, self._docs[path]))
        return found

    def next_repeat_path(self, point):
        taken = {p.name.split(".")[0] for p in self.point_dir(point).glob("r*.json")}
        n = 1
        while f"r{n:02d}" in taken:
            n += 1
        return self.point_dir(point) / f"r{n:02d}.json"


def resume(path, broker_url=None, measuring=True):
    """The config and plan of the sweep in `path`, to continue it. A broker
    URL with a password was stored redacted: `broker_url` must give it again."""
    sweep = SweepDir(path)
    manifest = sweep.read_manifest()
    cfg = SweepConfig.from_json(manifest["config"])
    stored = cfg.broker_url
    if broker_url is not None:
        if redact(broker_url) != stored:
            raise UsageError(f"--broker: {redact(broker_url)} is not the sweep's broker {stored}")
        cfg = dataclasses.replace(cfg, broker_url=broker_url)
    elif measuring and stored is not None and ":**@" in stored:
        raise UsageError(f"--resume: the sweep used {stored}; give its URL again with --broker")
    plan = [Point.from_json(p) for p in manifest["plan"]]
    return sweep, cfg, plan


def summarize(sweep, cfg, plan):
    """Write summary.json: every point's summary, in plan order."""
    manifest = sweep.read_manifest()
    points = [summarize_point(p, sweep.attempts(p), cfg.ci_target) for p in plan]
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep-summary",
        "config": cfg.to_json(),
        "metadata": manifest.get("metadata"),
        "status": manifest.get("status"),
        "points": points,
    }
    write_atomic(sweep.path / SUMMARY, document)
    return document
