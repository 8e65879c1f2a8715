"""`python -m bench history DIR...`: stored results over time, the changes
in each series, and `--check` for a nightly job; without Celery.

find and read the stored results -> the series and their changes -> the
table printed -> the page and the JSON written -> the check's exit code."""

import sys
from pathlib import Path

from bench.analysis.history import History, Series, build_history, outcome
from bench.commands import HistoryRequest
from bench.errors import UsageError
from bench.output import history_page, plot_history
from bench.output.history import document, format_markdown, format_text
from bench.results.history import read_stored
from bench.results.io import write_atomic
from bench.sweep.store import SweepDir


def execute(request: HistoryRequest) -> int:
    found = read_stored(request.paths, SweepDir)
    for skipped in found.skipped:
        print(f"note: left out {skipped}", file=sys.stderr)
    history = build_history(found.results, request.threshold)
    print(format_markdown(history) if request.format == "markdown" else format_text(history))
    if request.html is not None:
        print(f"wrote {write_page(request.html, history_page.render(history, draw))}", file=sys.stderr)
    if request.json is not None:
        print(f"wrote {write_atomic(request.json, document(history))}", file=sys.stderr)
    failure = outcome(history) if request.check else None
    if failure is not None:
        raise failure
    return 0


def draw(history: History, series: Series, label: str) -> bytes:
    """One series' figure as PNG (history_page.Draw)."""
    return plot_history.png(plot_history.series_figure(history, series, label))


def write_page(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise UsageError(f"--html: cannot write {path}: {exc.strerror or exc}") from None
    return path
