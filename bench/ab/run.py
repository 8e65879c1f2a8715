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
from typing import TypeVar

from bench.ab import sides as sides_mod
from bench.ab.config import AbConfig, redact_spec, side_sweep
from bench.ab.sides import SideSpec
from bench.errors import Interrupted, UsageError
from bench.harness import machine
from bench.harness.appinfo import inspect_app
from bench.harness.broker import Broker
from bench.harness.urls import redact
from bench.measure import runner
from bench.measure.apptask import check_task, profile_times
from bench.measure.profile import profile_task, write_profile
from bench.results.compare import Results, load_sweep
from bench.results.io import SCHEMA_VERSION, write_atomic
from bench.results.schema import RunResult
from bench.sweep import rates, store
from bench.sweep.config import SweepConfig
from bench.sweep.plan import make_plan, run_config_for
from bench.sweep.point import Point
from bench.sweep.repeat import measure_repeat

T = TypeVar("T")
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
        user = self.sweep.user_task
        return {
            "name": self.name,
            "spec": redact_spec(self.spec),
            "commit": self.commit,
            "python": self.python,
            "celery": self.celery,
            "settings": {name: redact(text) for name, text in self.spec.settings},
            # a user's app: where this side's worker imported it from
            "workdir": user.workdir if user is not None else None,
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
            side_cfg = side_sweep(cfg.sweep, spec)
            if side_cfg.user_task is not None:
                side_cfg = side_task(side_cfg, cfg.project, root, f"--{name}", commit)
            out.append(Side(name, spec, side_cfg, root, python, commit, version))
        yield tuple(out)


def side_task(sweep: SweepConfig, project: Path, root: Path, option: str, commit: str | None) -> SweepConfig:
    """The sweep of a user's task as this side runs it: the app imported from
    the same place in the side's worktree (the working tree's own without a
    revision), checked to import and to hold the task there."""
    user = sweep.user_task
    assert user is not None  # only a user's task is moved into a side
    workdir = root / Path(user.workdir).relative_to(project) if commit else Path(user.workdir)
    where = f"{option} (commit {commit[:12]})" if commit else option
    try:
        info = inspect_app(user.app, workdir)
        check_task(user.task, info.tasks, user.app)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    moved = dataclasses.replace(user, workdir=str(workdir), git_commit=machine.git_commit(workdir))
    return dataclasses.replace(sweep, user_task=moved, app_info=info)


def profile_baseline(cfg: AbConfig, sides: Sequence[Side]) -> tuple[AbConfig, tuple[Side, ...], dict]:
    """A user's task profiled on the baseline side (cfg.profile_first), and
    the config and sides sized by that one profile, so both sides run the
    same batches; the profile document too (run_ab keeps it)."""
    assert cfg.profile_first is not None  # only called when a profile is to be made
    base = sides[0]
    run_cfg = dataclasses.replace(
        cfg.profile_first,
        user_task=base.sweep.user_task,
        app_info=base.sweep.app_info,
        project_root=base.project_root,
        worker_python=base.python,
    )
    with runner.services_for(run_cfg) as (broker, _stub):
        profile = profile_task(run_cfg, broker)
    times = profile_times(profile)
    sized = tuple(dataclasses.replace(s, sweep=dataclasses.replace(s.sweep, task_profile=times)) for s in sides)
    return dataclasses.replace(cfg, sweep=dataclasses.replace(cfg.sweep, task_profile=times)), sized, profile


def _utc_now():
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def balanced_order(plan: Sequence[T], repeats: int, seed: int, salt: str = "ab") -> list[tuple[int, T]]:
    """(side index, item) in run order, for items that are points (or points
    at a rate): round r shuffles the items (seeded) and runs each one's sides
    as AB in even rounds and BA in odd ones, so every item sees ABBA... and
    each side runs `repeats` times per item."""
    order = []
    for r in range(repeats):
        todo = list(plan)
        random.Random(f"{seed}-{salt}-{r}").shuffle(todo)
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

    def ran(self, side: Side, what: str, state: str) -> None:
        self.doc["order"].append({"side": side.name, "point": what, "state": state})
        self.write()

    def finish(self, status: str) -> None:
        self.doc["status"] = status
        self.write()


# Called after each repeat with (repeats done, repeats in all, its side,
# what it measured: the point's key, with " at R/s" open loop, its result)
Progress = Callable[[int, int, "Side", str, RunResult], object]


def run_ab(
    cfg: AbConfig, sides: Sequence[Side], report_progress: Progress | None = None, profile: dict | None = None
) -> tuple[Path, Path]:
    """Measure both sides interleaved; returns the two sweep directories.
    `profile`: the profile that sized a user's task (kept as profile.json)."""
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
    if profile is not None:
        write_profile(top / "profile.json", profile)
    order = balanced_order(plan, cfg.repeats, cfg.sweep.seed)
    # Open loop (--rates): every point at every rate, interleaved the same way.
    fixed = cfg.sweep.rates if isinstance(cfg.sweep.rates, tuple) else ()  # ab refuses "auto" (config.py)
    open_order = balanced_order([(p, r) for p in plan for r in fixed], cfg.repeats, cfg.sweep.seed, "ab-rates")
    total = len(order) + len(open_order)
    needs_stub = any(p.spec.needs_stub for p in plan)
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
                record.ran(side, point.key, doc.status.state)
                if report_progress:
                    report_progress(done, total, side, point.key, doc)
            ran: dict[tuple[int, Point, float], int] = {}  # (side, point, rate) -> repeats run
            for done, (index, (point, rate)) in enumerate(open_order, len(order) + 1):
                side, target = sides[index], targets[index]
                broker, stub = services[(side.sweep.broker_url, side.sweep.redis_server)]
                repeat = ran[(index, point, rate)] = ran.get((index, point, rate), 0) + 1
                doc = _measure_open_loop(side, target, point, rate, repeat, broker, stub)
                what = f"{point.key} at {rate:g}/s"
                record.ran(side, what, doc.status.state)
                if report_progress:
                    report_progress(done, total, side, what, doc)
    except (Interrupted, KeyboardInterrupt):
        for side, target in zip(sides, targets, strict=True):
            target.write_manifest(side.sweep, plan, status="interrupted")
        record.finish("interrupted")
        raise Interrupted(f"ab interrupted; what was measured is kept in {top}") from None
    for side, target in zip(sides, targets, strict=True):
        target.write_manifest(side.sweep, plan, status="complete")
        store.summarize(target, side.sweep, plan)
        if side.sweep.rates:
            rates.summarize(target, side.sweep, plan, machine.usable_cores())
    record.finish("complete")
    return targets[0].path, targets[1].path


def _measure_repeat(side: Side, target: store.SweepDir, point: Point, broker: Broker, stub: str | None) -> RunResult:
    """One repeat of `point` for `side`, in a fresh worker: its RunResult
    (a failure kept as a document, as a sweep keeps it)."""
    run_cfg = dataclasses.replace(
        run_config_for(side.sweep, point), project_root=side.project_root, worker_python=side.python
    )
    return measure_repeat(run_cfg, target.next_repeat_path(point), broker, stub)


def _measure_open_loop(
    side: Side, target: store.SweepDir, point: Point, rate: float, repeat: int, broker: Broker, stub: str | None
) -> RunResult:
    """Repeat `repeat` of `point` open loop at `rate` for `side`, where a
    sweep's --rates keeps it; both sides' n-th repeats share one schedule
    (its seed is the repeat's number)."""
    run_cfg = dataclasses.replace(
        run_config_for(side.sweep, point, rate=rate, duration=rates.duration_of(side.sweep), seed=repeat),
        project_root=side.project_root,
        worker_python=side.python,
    )
    return measure_repeat(run_cfg, target.open_loop_path(point, rate, repeat), broker, stub)


def results(sides: Sequence[Side], baseline_dir: Path, candidate_dir: Path) -> tuple[Results, Results]:
    """The two sweeps as `compare` reads them, named after their sides. A
    side's own settings (its broker, say) are the treatment, not a different
    point: the candidate's points take the baseline's keys, in plan order."""
    base, cand = load_sweep(store.SweepDir(baseline_dir)), load_sweep(store.SweepDir(candidate_dir))
    if list(base.points) != list(cand.points) and len(base.points) == len(cand.points):
        renamed = dict(zip(cand.points, base.points, strict=True))
        cand = dataclasses.replace(
            cand,
            points={renamed[key]: side for key, side in cand.points.items()},
            latency={(renamed[key], rate): side for (key, rate), side in cand.latency.items()},
        )
    return (
        dataclasses.replace(base, path=f"{sides[0].label} ({baseline_dir})"),
        dataclasses.replace(cand, path=f"{sides[1].label} ({candidate_dir})"),
    )
