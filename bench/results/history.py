"""What `history` reads: every stored result under the paths given, each
reduced to its commit, when it was measured, where and with what, and the
values of each of its series (the series over time and their changes are
found in analysis/history.py).

A stored result is one of:
    a sweep directory      manifest.json, runs/<point>/rNN.json (or only
                           summary.json: a sweep kept without its runs)
    an ab directory        ab.json, baseline/, candidate/: the candidate side,
                           under the candidate's commit
    a run's result file    as `python -m bench run` writes it
    pytest-benchmark JSON  `--benchmark-autosave` / `--benchmark-json` output:
                           each benchmark's time per round (lower is better)
A directory that is none of these is searched, its subdirectories too
(hidden ones but `.benchmarks`, pytest-benchmark's storage, are left out)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.results.compare import ENVIRONMENT, PointKey, Results, SweepFiles, load_run, load_sweep, machine_facts
from bench.results.io import read_json, read_run, read_sweep_summary
from bench.results.schema import MANIFEST, RUN, SUMMARY, RunResult

AB_FILE = "ab.json"  # bench.ab.run writes it; read here, below that stage
AB_CANDIDATE = "candidate"

THROUGHPUT, TIME = "throughput", "time"  # a series' metric
UNITS = {THROUGHPUT: "tasks/s", TIME: "s"}

# pytest-benchmark's storage folder: hidden, and searched all the same.
BENCHMARKS_DIR = ".benchmarks"
# McGill, Tukey and Larsen (1978), the notch of a box plot: median +/- this
# x IQR / sqrt(n) is roughly its 95% CI, for a benchmark stored without its
# rounds (pytest-benchmark keeps them only with --benchmark-save-data).
NOTCH = 1.57


@dataclass(frozen=True)
class SeriesKey:
    """What makes two results' values one series."""

    name: str  # a sweep's point (sleep-50ms-gevent-c16) or a benchmark's fullname
    setting: str = ""  # what else tells points apart: "2 cpus, redis broker"; "" for benchmarks
    metric: str = THROUGHPUT  # THROUGHPUT (tasks/s, higher is better) or TIME (s per round, lower is better)

    @property
    def higher_is_better(self) -> bool:
        return self.metric == THROUGHPUT

    @property
    def unit(self) -> str:
        return UNITS[self.metric]


def series_label(key: SeriesKey, keys: Sequence[SeriesKey]) -> str:
    """The series' name, with its setting where settings differ between series."""
    if len({k.setting for k in keys}) > 1 and key.setting:
        return f"{key.name} ({key.setting})"
    return key.name


@dataclass(frozen=True)
class Sample:
    """One series' measurement in one stored result."""

    values: tuple[float, ...]  # each successful repeat's value (a benchmark's: each round's), in the key's unit
    failed: int = 0  # repeats that failed
    # A benchmark stored without its rounds: its median and the 95% CI from
    # its quartiles (NOTCH); None: computed from `values`.
    median: float | None = None  # in the key's unit
    ci95: tuple[float, float] | None = None  # in the key's unit


@dataclass(frozen=True)
class StoredResult:
    """One stored result, as `history` sets it in a series."""

    path: str  # where it was found
    kind: str  # "sweep", "ab", "run" or "pytest-benchmark"
    commit: str | None  # the git commit measured ("+dirty": with changes); None: not recorded
    measured: dt.datetime | None  # UTC, when it started (its first repeat); None: not recorded
    hostnames: frozenset[str]  # the machines it was measured on
    environment: tuple[tuple[str, str], ...]  # compare's ENVIRONMENT facts, (fact, value), in that order
    samples: Mapping[SeriesKey, Sample]  # each series it measured, in its own order


@dataclass(frozen=True)
class Found:
    """Every stored result under the paths given."""

    results: tuple[StoredResult, ...]  # in the order found
    skipped: tuple[str, ...]  # files that look like results and could not be read: "PATH: why"


# Opens a sweep directory as the sweep stage reads it (bench.sweep.store.SweepDir):
# passed in, since that stage sits above this one.
OpenSweep = Callable[[Path], SweepFiles]


def read_stored(paths: Sequence[str | Path], open_sweep: OpenSweep) -> Found:
    """The stored results under `paths`. A path given that does not exist,
    or a file given that is not a result, is a UsageError; files found
    inside directories that cannot be read are skipped and named."""
    results: list[StoredResult] = []
    skipped: list[str] = []
    seen: set[Path] = set()  # a result under two of the paths given is read once
    for given in map(Path, paths):
        if not given.exists():
            raise UsageError(f"{given}: no such file or directory")
        if given.is_file():
            result = _read_file(given)
            if result is None:
                raise UsageError(f"{given}: not a celery-bench run result or a pytest-benchmark JSON file")
            if given.resolve() not in seen:
                seen.add(given.resolve())
                results.append(result)
            continue
        for path in _candidates(given):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                found = _read_dir(path, open_sweep) if path.is_dir() else _read_file(path)
            except UsageError as exc:
                skipped.append(str(exc))
                continue
            if found is not None:
                results.append(found)
    return Found(tuple(results), tuple(skipped))


def _candidates(directory: Path) -> Iterator[Path]:
    """The sweep and ab directories and the JSON files under `directory`,
    not looking inside a sweep or an ab directory."""
    if _is_result_dir(directory):
        yield directory
        return
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            if not child.name.startswith(".") or child.name == BENCHMARKS_DIR:
                yield from _candidates(child)
        elif child.suffix == ".json":
            yield child


def _is_result_dir(path: Path) -> bool:
    return (path / AB_FILE).is_file() or (path / MANIFEST).is_file()


def _read_dir(path: Path, open_sweep: OpenSweep) -> StoredResult:
    if (path / AB_FILE).is_file():
        return ab_result(path, open_sweep)
    return sweep_result(open_sweep(path))


def _read_file(path: Path) -> StoredResult | None:
    """A run's result or a pytest-benchmark file; None for any other file
    (a profile, an export, JSON of another tool)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    if "benchmarks" in document and "machine_info" in document:
        return pytest_benchmark_result(path, document)
    if "schema_version" in document and document.get("kind", RUN) == RUN:
        return run_result(path)
    return None


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time as the documents write it (2026-01-02T03:04:05Z,
    or with an offset, or naive meaning UTC), in UTC; None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _earliest(times: Sequence[str | None]) -> dt.datetime | None:
    parsed = [t for t in map(parse_time, times) if t is not None]
    return min(parsed) if parsed else None


def _samples(results: Results) -> dict[SeriesKey, Sample]:
    return {_series_key(key): Sample(side.values_per_s, side.failed) for key, side in results.points.items()}


def _series_key(key: PointKey) -> SeriesKey:
    return SeriesKey(key.name, key.setting, THROUGHPUT)


def _first(values: Sequence[str | None]) -> str | None:
    return next((v for v in values if v), None)


def sweep_result(sweep: SweepFiles, kind: str = "sweep", commit: str | None = None) -> StoredResult:
    """A sweep directory: each point's repeats as compare reads them; a sweep
    kept without its runs/ gives each point's values from summary.json.
    Its commit: `commit`, else its user's app's (format 16), else the
    manifest's (the harness checkout's), else its runs'; its time: its first repeat's start, else the manifest's."""
    manifest = sweep.read_manifest()
    results = load_sweep(sweep)
    runs: list[RunResult] = [run for point in sweep.planned_points() for run in sweep.repeats(point)]
    samples = _samples(results)
    environment = results.environment
    if not runs:
        samples = _summary_samples(sweep.path, samples)
        facts = machine_facts(manifest.metadata) if manifest.metadata else {}
        environment = tuple((fact, facts[fact]) for fact in ENVIRONMENT if fact in facts)
    meta = manifest.metadata
    app = _app_commit(manifest.config.get("user_task"))
    harness = [meta.git_commit if meta else None, *(r.metadata.git_commit for r in runs)]
    commit = commit or app or _first([*(_app_commit(r.config.user_task) for r in runs), *harness])
    measured = _earliest([r.metadata.started_utc for r in runs]) or parse_time(manifest.created_utc)
    return StoredResult(str(sweep.path), kind, commit, measured, results.hostnames, environment, samples)


def _summary_samples(path: Path, planned: dict[SeriesKey, Sample]) -> dict[SeriesKey, Sample]:
    """Each planned point's values from summary.json, matched in plan order;
    UsageError when there is neither a run nor a summary to read."""
    if not (path / SUMMARY).is_file():
        raise UsageError(f"{path}: a sweep with no repeat and no {SUMMARY}: nothing measured to read")
    summary = read_sweep_summary(path / SUMMARY)
    if len(summary.points) != len(planned):
        raise UsageError(f"{path}: {SUMMARY} has {len(summary.points)} points, the plan {len(planned)}")
    return {
        key: Sample(point.throughput.values_per_s if point.throughput else (), point.failed_repeats)
        for key, point in zip(planned, summary.points, strict=True)
    }


def ab_result(path: Path, open_sweep: OpenSweep) -> StoredResult:
    """An ab directory: its candidate side, under the candidate's commit."""
    record = read_json(path / AB_FILE, "ab", "ab record")
    sides = record.get("sides")
    candidate = next((s for s in sides or () if isinstance(s, dict) and s.get("name") == AB_CANDIDATE), {})
    commit = candidate.get("commit") if isinstance(candidate.get("commit"), str) else None
    result = sweep_result(open_sweep(path / AB_CANDIDATE), "ab", commit)
    measured = result.measured or parse_time(record.get("created_utc"))
    return StoredResult(str(path), "ab", result.commit, measured, result.hostnames, result.environment, result.samples)


def run_result(path: Path) -> StoredResult:
    """A run's result document: one point, one repeat."""
    results = load_run(path)
    run = read_run(path)
    meta = run.metadata
    measured = parse_time(meta.started_utc)
    commit = _app_commit(run.config.user_task) or meta.git_commit
    return StoredResult(str(path), RUN, commit, measured, results.hostnames, results.environment, _samples(results))


def _app_commit(user_task: Any) -> str | None:
    """The commit of a user's app's checkout, where the result measured one
    and recorded it (format 16): what its history is about, rather than the
    harness's commit."""
    found = user_task.get("git_commit") if isinstance(user_task, dict) else None
    return found if isinstance(found, str) and found else None


def pytest_benchmark_result(path: Path, document: Mapping[str, Any]) -> StoredResult:
    """A pytest-benchmark file: each benchmark's time per round (its rounds
    where saved, else its median and the CI from its quartiles), its commit
    from commit_info, its machine from machine_info."""
    try:
        machine = document.get("machine_info") or {}
        commit_info = document.get("commit_info") or {}
        commit = commit_info.get("id")
        if commit in (None, "", "unversioned", "unknown"):
            commit = None
        elif commit_info.get("dirty"):
            commit += "+dirty"
        samples = {
            SeriesKey(str(bench["fullname"]), "", TIME): _benchmark_sample(bench["stats"])
            for bench in document["benchmarks"]
        }
        cpu = machine.get("cpu") or {}
        facts = {
            "python": " ".join(x for x in (machine.get("python_implementation"), machine.get("python_version")) if x),
            "git commit": commit,
            "cpu": cpu.get("brand_raw") if isinstance(cpu, dict) else None,
            "os": " ".join(x for x in (machine.get("system"), machine.get("release")) if x),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: malformed pytest-benchmark file ({type(exc).__name__}: {exc})") from None
    environment = tuple((fact, str(facts[fact])) for fact in ENVIRONMENT if facts.get(fact))
    measured = parse_time(document.get("datetime")) or parse_time(commit_info.get("time"))
    hostnames = frozenset([machine["node"]]) if machine.get("node") else frozenset()
    return StoredResult(str(path), "pytest-benchmark", commit, measured, hostnames, environment, samples)


def _benchmark_sample(stats: Mapping[str, Any]) -> Sample:
    data = stats.get("data")
    if data:
        return Sample(tuple(float(v) for v in data))
    median, iqr, rounds = float(stats["median"]), float(stats["iqr"]), int(stats["rounds"])
    half = NOTCH * iqr / math.sqrt(rounds) if rounds > 1 else None
    return Sample((median,), median=median, ci95=(median - half, median + half) if half is not None else None)
