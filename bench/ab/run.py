"""`python -m bench ab`: measure two sides on this machine, in this job,
interleaved, and hand the two sweeps to `compare`.

Every repeat runs in a fresh worker. For each point the two sides alternate
in a balanced order, round by round: AB, BA, AB, BA... (ABBA), so slow drift
of the machine weighs on both sides alike; the points are shuffled in each
round as a sweep shuffles them. Each side's repeats form an ordinary sweep
directory, so the decision is `compare` of the two directories:

    <output-dir>/ab-<utc stamp>/
        ab.json        both sides (spec, commit, interpreter, Celery version),
                       the order the repeats ran in, the status
        baseline/      a sweep directory (manifest.json, runs/<point>/rNN.json)
        candidate/     the same for the candidate
"""

import contextlib
import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ab import sides as sides_mod
from bench.ab.config import AbConfig, redact_spec, side_sweep
from bench.ab.sides import SideSpec
from bench.errors import Interrupted, UsageError
from bench.harness import machine
from bench.harness.broker import Broker
from bench.harness.urls import redact
from bench.measure import runner
from bench.results.compare import Results, load_sweep
from bench.results.io import SCHEMA_VERSION, write_atomic
from bench.results.schema import RunResult
from bench.sweep import store
from bench.sweep.config import SweepConfig
from bench.sweep.plan import Point, make_plan, run_config_for
from bench.sweep.repeat import measure_repeat
from bench.workloads import WORKLOADS

AB_FILE = "ab.json"
NAMES = ("baseline", "candidate")


@dataclass(frozen=True)
class Side:
    name: str  # baseline | candidate
    spec: SideSpec
    sweep: SweepConfig  # the shared options with this side's settings
    project_root: Path  # where its worker imports the app from
    python: str  # its worker's interpreter
    commit: str | None  # the revision checked out; None: the project's working tree
    celery: str  # the Celery version its worker imports

    def describe(self) -> dict:
        return {
            "name": self.name,
            "spec": redact_spec(self.spec),
            "commit": self.commit,
            "python": self.python,
            "celery": self.celery,
            "settings": {name: redact(text) for name, text in self.spec.settings},
        }

    @property
    def label(self) -> str:
        """How the side is named in the comparison: its spec and its commit."""
        parts = [redact_spec(self.spec)]
        if self.commit and self.spec.rev != self.commit:
            parts.append(f"commit {self.commit[:12]}")
        return f"{self.name}: " + ", ".join(parts)


@contextlib.contextmanager
def prepared(cfg: AbConfig) -> Iterator[tuple[Side, ...]]:
    """Both sides, ready to run: revisions checked out into temporary
    worktrees (removed on exit), interpreters probed for Celery."""
    with contextlib.ExitStack() as stack:
        out = []
        for name, spec, commit, python in zip(NAMES, cfg.specs, cfg.commits, cfg.pythons, strict=True):
            root = stack.enter_context(sides_mod.worktree(cfg.project, commit)) if commit else cfg.project
            version = sides_mod.celery_version(python, root, f"--{name}")
            out.append(Side(name, spec, side_sweep(cfg.sweep, spec), root, python, commit, version))
        yield tuple(out)


def _utc_now():
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def balanced_order(plan: list[Point], repeats: int, seed: int) -> list[tuple[int, Point]]:
    """(side index, point) in run order: round r shuffles the points (seeded)
    and runs each point's sides as AB in even rounds and BA in odd ones, so
    every point sees ABBA... and each side runs `repeats` times per point."""
    order = []
    for r in range(repeats):
        todo = list(plan)
        random.Random(f"{seed}-ab-{r}").shuffle(todo)
        sides = (0, 1) if r % 2 == 0 else (1, 0)
        order += [(side, point) for point in todo for side in sides]
    return order


class _Record:
    """ab.json: the sides and the order the repeats ran in, rewritten after
    every repeat so an interrupted run still says what it did."""

    def __init__(self, path: Path, cfg: AbConfig, sides: Sequence[Side]):
        self.path = path
        self.doc = {
            "schema_version": SCHEMA_VERSION,
            "kind": "ab",
            "status": "running",
            "project": str(cfg.project),
            "repeats_per_side": cfg.repeats,
            "seed": cfg.sweep.seed,
            "sides": [s.describe() for s in sides],
            "order": [],
            "created_utc": _utc_now(),
        }
        self.write()

    def write(self) -> None:
        self.doc["updated_utc"] = _utc_now()
        write_atomic(self.path, self.doc)

    def ran(self, side: Side, point: Point, state: str) -> None:
        self.doc["order"].append({"side": side.name, "point": point.key, "state": state})
        self.write()

    def finish(self, status: str) -> None:
        self.doc["status"] = status
        self.write()


# Called after each repeat with (repeats done, repeats in all, its side, its point, its result)
Progress = Callable[[int, int, "Side", Point, RunResult], object]


def run_ab(cfg: AbConfig, sides: Sequence[Side], report_progress: Progress | None = None) -> tuple[Path, Path]:
    """Measure both sides interleaved; returns the two sweep directories."""
    plan = make_plan(cfg.sweep)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    top = cfg.output_dir / f"ab-{stamp}"
    try:
        top.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise UsageError(f"--output-dir: cannot create {top}: {exc.strerror}") from None
    targets = []
    for side in sides:
        target = store.SweepDir(top / side.name)
        target.path.mkdir()
        metadata = machine.describe()  # the side itself is described in ab.json
        target.write_manifest(side.sweep, plan, status="running", metadata=metadata)
        targets.append(target)
    record = _Record(top / AB_FILE, cfg, sides)
    order = balanced_order(plan, cfg.repeats, cfg.sweep.seed)
    needs_stub = any(WORKLOADS[p.workload].needs_stub for p in plan)
    try:
        with contextlib.ExitStack() as stack:
            services = {}  # one broker per distinct broker setting: both sides share the embedded one
            for side in sides:
                key = (side.sweep.broker_url, side.sweep.redis_server)
                if key not in services:
                    services[key] = stack.enter_context(runner.services(*key, needs_stub))
            for done, (index, point) in enumerate(order, 1):
                side, target = sides[index], targets[index]
                broker, stub = services[(side.sweep.broker_url, side.sweep.redis_server)]
                doc = _measure_repeat(side, target, point, broker, stub)
                record.ran(side, point, doc.status.state)
                if report_progress:
                    report_progress(done, len(order), side, point, doc)
    except (Interrupted, KeyboardInterrupt):
        for side, target in zip(sides, targets, strict=True):
            target.write_manifest(side.sweep, plan, status="interrupted")
        record.finish("interrupted")
        raise Interrupted(f"ab interrupted; what was measured is kept in {top}") from None
    for side, target in zip(sides, targets, strict=True):
        target.write_manifest(side.sweep, plan, status="complete")
        store.summarize(target, side.sweep, plan)
    record.finish("complete")
    return targets[0].path, targets[1].path


def _measure_repeat(side: Side, target: store.SweepDir, point: Point, broker: Broker, stub: str | None) -> RunResult:
    """One repeat of `point` for `side`, in a fresh worker: its RunResult
    (a failure kept as a document, as a sweep keeps it)."""
    run_cfg = dataclasses.replace(
        run_config_for(side.sweep, point), project_root=side.project_root, worker_python=side.python
    )
    return measure_repeat(run_cfg, target.next_repeat_path(point), broker, stub)


def results(sides: Sequence[Side], baseline_dir: Path, candidate_dir: Path) -> tuple[Results, Results]:
    """The two sweeps as `compare` reads them, named after their sides. A
    side's own settings (its broker, say) are the treatment, not a different
    point: the candidate's points take the baseline's keys, in plan order."""
    base, cand = load_sweep(store.SweepDir(baseline_dir)), load_sweep(store.SweepDir(candidate_dir))
    if list(base.points) != list(cand.points) and len(base.points) == len(cand.points):
        cand = dataclasses.replace(cand, points=dict(zip(base.points, cand.points.values(), strict=True)))
    return (
        dataclasses.replace(base, path=f"{sides[0].label} ({baseline_dir})"),
        dataclasses.replace(cand, path=f"{sides[1].label} ({candidate_dir})"),
    )
