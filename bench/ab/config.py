"""The options of `python -m bench ab`, turned once into a frozen,
validated config: both sides resolved (revisions to commits, interpreters
to paths) and every point of both checked before anything starts."""

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ab import sides as sides_mod
from bench.ab.sides import SideSpec
from bench.analysis.compare import DEFAULT_THRESHOLD
from bench.errors import UsageError
from bench.harness.urls import redact
from bench.measure.config import RunConfig
from bench.sweep.config import SweepConfig
from bench.sweep.plan import make_plan, run_config_for

# ab's own defaults: one pool and workload, the quick profile (CI-sized).
AB_POOLS = ("prefork",)
AB_WORKLOADS = ("sleep",)
AB_PROFILE = "quick"
# The settings a side may set, and the SweepConfig field each one replaces.
SIDE_FIELDS = {"prefetch_multiplier": "prefetch_multiplier", "result_backend": "result_backend", "broker": "broker_url"}


@dataclass(frozen=True)
class AbConfig:
    baseline: SideSpec
    candidate: SideSpec
    sweep: SweepConfig  # the points, the repeats a side (min_repeats), the seed, the shared settings
    project: Path  # the project under test: revisions come from its git repository
    output_dir: Path  # ab-<stamp>/ is made in here
    commits: tuple[str | None, str | None]  # each side's resolved commit (None: the working tree)
    pythons: tuple[str, str]  # each side's worker interpreter (resolved path)
    threshold: float = DEFAULT_THRESHOLD  # the minimum effect, as a fraction (0.05 is 5%)
    format: str = "text"  # text | markdown
    fail_on_unstable: bool = False  # exit 3 when a point is too unstable to decide
    # A user's task without a profile given: the run that profiles it on the
    # baseline side first, so both sides' batches are sized alike; else None.
    profile_first: RunConfig | None = None

    @property
    def repeats(self) -> int:
        """Repeats a side, the same for both (the order must stay balanced)."""
        return self.sweep.min_repeats

    @property
    def specs(self) -> tuple[SideSpec, SideSpec]:
        return self.baseline, self.candidate


def redact_spec(spec: SideSpec) -> str:
    """The spec as written, with any broker password hidden."""
    return ",".join(redact(item.strip()) for item in spec.text.split(","))


def side_sweep(base: SweepConfig, spec: SideSpec, option: str = "--baseline") -> SweepConfig:
    """The sweep's options with a side's settings in place of the shared ones."""
    changes: dict[str, Any] = {}  # SweepConfig field -> the side's value, whichever field the setting names
    for name, _ in spec.settings:
        if name not in SIDE_FIELDS:
            raise UsageError(
                f"{option}: the setting {name} cannot be set per side yet; choose from {', '.join(SIDE_FIELDS)}"
            )
        changes[SIDE_FIELDS[name]] = spec.setting(name)
    if changes.get("broker_url") is not None:
        changes["redis_server"] = None
    return dataclasses.replace(base, **changes)


def build_ab_config(
    *,
    baseline: str,
    candidate: str,
    sweep: SweepConfig,
    project: str | Path | None = None,
    output_dir: str | Path = "results",
    threshold: float = DEFAULT_THRESHOLD,
    fmt: str = "text",
    fail_on_unstable: bool = False,
    profile_first: RunConfig | None = None,
) -> AbConfig:
    """Validate everything `ab` needs before anything starts: both specs, the
    revisions (resolved to commits), the interpreters, every point of both
    sides. UsageError (exit 2) on bad input."""
    specs = (sides_mod.parse_side("--baseline", baseline), sides_mod.parse_side("--candidate", candidate))
    if sweep.rates == "auto":
        raise UsageError("--rates: auto would offer each side its own rates; give the rates in tasks/s")
    project = Path(project or ".").resolve()
    if not project.is_dir():
        raise UsageError(f"--project: {project} is not a directory")
    commits, pythons = [], []
    for option, spec in zip(("--baseline", "--candidate"), specs, strict=True):
        if spec.rev and sweep.user_task is not None:
            check_inside(Path(sweep.user_task.workdir), project, option)
        commits.append(sides_mod.resolve_rev(project, spec.rev, option) if spec.rev else None)
        pythons.append(sides_mod.resolve_python(spec.python, option) if spec.python else sys.executable)
        side_cfg = side_sweep(sweep, spec, option)
        for point in make_plan(side_cfg):
            run_config_for(side_cfg, point)
    return AbConfig(
        baseline=specs[0],
        candidate=specs[1],
        sweep=sweep,
        project=project,
        output_dir=Path(output_dir),
        commits=(commits[0], commits[1]),
        pythons=(pythons[0], pythons[1]),
        threshold=threshold,
        format=fmt,
        fail_on_unstable=fail_on_unstable,
        profile_first=profile_first,
    )


def check_inside(workdir: Path, project: Path, option: str) -> None:
    """A side checked out from a revision imports the app from the same
    place in its worktree, so the app's directory must be in the project."""
    if not workdir.is_relative_to(project):
        raise UsageError(
            f"{option}: the app is imported from {workdir}, outside the project {project} whose revisions "
            "are checked out; give --project the repository holding the app, or --workdir a directory in it"
        )
