"""The two sides of an A/B benchmark, from `--baseline SPEC` and
`--candidate SPEC`, and the places they run from.

A SPEC is comma-separated items, any of:
    rev=REV            a git revision of the project under test, checked out
                       into a temporary worktree the worker imports the app from
    python=PATH        the worker's interpreter, or a virtualenv directory
                       (to measure a Celery upgrade or any dependency change)
    NAME=VALUE         a setting (bench.measure.settings: prefetch_multiplier,
                       result_backend, broker, ...), as with `--vary`
    REV or PATH        a bare item: an existing path is an interpreter or a
                       virtualenv, anything else a git revision
Nothing given for a part: the side uses the working tree as it is, the
harness's own interpreter, and the sweep's settings.

The harness itself (publishing, watching, statistics) is the one running
`ab`, the same for both sides: only what the worker runs differs.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.measure.settings import parse_value

GIT_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SideSpec:
    text: str  # as the user wrote it
    rev: str | None  # git revision of the project under test; None: its working tree as it is
    python: str | None  # interpreter or virtualenv path as given; None: the harness's interpreter
    settings: tuple[tuple[str, str], ...]  # (setting, value as written), validated

    def setting(self, name: str) -> bool | int | float | str | None:
        """The parsed value of `name`, or None when the side leaves it alone."""
        for key, text in self.settings:
            if key == name:
                return parse_value(key, text)
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.settings)


def parse_side(option: str, text: str) -> SideSpec:
    """`--baseline`/`--candidate` SPEC -> SideSpec; UsageError on bad input."""
    rev = python = None
    found: list[tuple[str, str]] = []
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{option}: empty; give a git revision, an interpreter or settings (e.g. rev=HEAD~1)")
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            if Path(item).exists():
                name, value = "python", item
            else:
                name, value = "rev", item
        name, value = name.strip(), value.strip()
        if not value:
            raise UsageError(f"{option}: {name}= needs a value")
        if name == "rev":
            if rev is not None:
                raise UsageError(f"{option}: two revisions ({rev}, {value}); give one")
            if value.startswith("-"):
                raise UsageError(f"{option}: {value!r} is not a git revision")
            rev = value
        elif name == "python":
            if python is not None:
                raise UsageError(f"{option}: two interpreters ({python}, {value}); give one")
            python = value
        else:
            parse_value(name, value, option=option)
            if any(key == name for key, _ in found):
                raise UsageError(f"{option}: {name} given twice")
            found.append((name, value))
    return SideSpec(text=text, rev=rev, python=python, settings=tuple(found))


def _git(repo, *args, timeout=GIT_TIMEOUT_S):
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed; a side given as a revision needs it") from None


def project_of(directory: Path) -> tuple[Path, str]:
    """(the git work tree holding `directory`, `directory`'s path inside it)."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"--project: {directory} is not in a git repository, so it has no revisions to check out")
    prefix = _git(directory, "rev-parse", "--show-prefix").stdout.strip()
    return Path(top.stdout.strip()), prefix


def resolve_rev(directory: Path, rev: str, option: str) -> str:
    """The full commit id of `rev` in the project's repository."""
    project_of(directory)
    found = _git(directory, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise UsageError(f"{option}: {rev!r} is not a commit of the git repository at {directory}")
    return found.stdout.strip()


def resolve_python(path: str, option: str) -> str:
    """An interpreter path: the file itself, or a virtualenv's bin/python."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / "bin" / "python"
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise UsageError(f"{option}: {path} is neither a Python interpreter nor a virtualenv (no bin/python)")
    return str(candidate.absolute())


def celery_version(python: str, project_root: Path, option: str) -> str:
    """The Celery version the side's worker will import; UsageError when that
    interpreter cannot import Celery at all (checked before anything runs)."""
    probe = subprocess.run(
        [python, "-c", "import celery; print(celery.__version__)"],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"{option}: {python} cannot import celery ({last})")
    return probe.stdout.strip()


@contextlib.contextmanager
def worktree(directory: Path, commit: str) -> Iterator[Path]:
    """The project at `commit`, checked out into a temporary git worktree;
    yields the path that corresponds to `directory` in it. Removed on exit."""
    top, prefix = project_of(directory)
    holder = Path(tempfile.mkdtemp(prefix="celery-bench-ab-"))
    tree = holder / commit[:12]
    added = _git(top, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    if added.returncode != 0:
        shutil.rmtree(holder, ignore_errors=True)
        raise UsageError(f"cannot check out {commit[:12]} into a worktree: {added.stderr.strip()}")
    try:
        yield tree / prefix
    finally:
        _git(top, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(holder, ignore_errors=True)
        _git(top, "worktree", "prune")
