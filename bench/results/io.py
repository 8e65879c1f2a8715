"""Result documents on disk: written atomically, read back checked, and
typed (the format is in schema.py, its history in versions.py)."""

import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from bench.errors import RunFailed, UsageError
from bench.results.schema import (
    RUN,
    SWEEP_SUMMARY,
    RunResult,
    SweepSummary,
    run_from_json,
    run_to_json,
    sweep_summary_from_json,
)
from bench.results.versions import SCHEMA_VERSION as SCHEMA_VERSION  # bench.ab writes it from here
from bench.results.versions import unreadable

RUN_PARTS = ("config", "summary", "metadata")  # what every run document has

T = TypeVar("T")


def write_atomic(path: str | Path, document: Any) -> Path:
    """Write JSON to a temporary file beside `path`, then rename it into
    place: a reader never sees half a file, an interruption leaves none."""

    def write(fh: TextIO) -> None:
        json.dump(document, fh, indent=1, allow_nan=False)
        fh.write("\n")

    return _atomic(path, write)


def write_lines_atomic(path: str | Path, rows: Iterable[Any]) -> Path:
    """Write JSON Lines (one object a line) as write_atomic writes JSON."""

    def write(fh: TextIO) -> None:
        for row in rows:
            fh.write(json.dumps(row, allow_nan=False) + "\n")

    return _atomic(path, write)


def _atomic(path: str | Path, write: Callable[[TextIO], None]) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write results to {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except OSError as exc:  # the disk filled, a quota, an I/O error
        Path(tmp).unlink(missing_ok=True)
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}; files written before are intact") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(directory: str | Path) -> None:
    """Fail now, before anything is measured, if results cannot be written
    into `directory` (created if missing)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {directory}: {exc.strerror or exc}") from None


def read_json(path: str | Path, kind: str | None, what: str, required: Collection[str] = ()) -> dict[str, Any]:
    """A JSON document of this harness, checked: its schema_version one this
    code reads, its `kind` (a document without one is a run; None: any
    kind), the `required` keys present. UsageError naming the file
    otherwise; `what` names the document in messages ("sweep manifest")."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or "schema_version" not in document:
        raise UsageError(f"{path}: not a celery-bench {what} (no schema_version)")
    why = unreadable(document["schema_version"])
    if why is not None:
        raise UsageError(f"{path}: {why}")
    if kind is not None and document.get("kind", RUN) != kind:
        raise UsageError(f"{path}: not a celery-bench {what}")
    for key in required:
        if key not in document:
            raise UsageError(f"{path}: missing {key!r}")
    return document


def typed(path: str | Path, document: dict[str, Any], parse: Callable[[dict[str, Any]], T]) -> T:
    """`parse(document)`; UsageError naming the file when it is malformed."""
    try:
        return parse(document)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{Path(path)}: malformed document ({type(exc).__name__}: {exc})") from None


def read_run(path: str | Path, kind: str = RUN) -> RunResult:
    """A run's result document, typed."""
    return typed(path, read_json(path, kind, "result", RUN_PARTS), run_from_json)


def write_run(path: str | Path, result: RunResult) -> Path:
    return write_atomic(path, run_to_json(result))


def read_sweep_summary(path: str | Path) -> SweepSummary:
    document = read_json(path, SWEEP_SUMMARY, "sweep summary")
    if not isinstance(document.get("points"), list):
        raise UsageError(f"{path}: no points")
    return typed(path, document, sweep_summary_from_json)
