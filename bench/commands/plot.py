"""`python -m bench plot SWEEP_DIR`: the sweep's figures, without Celery.

read the sweep -> analyze -> draw and write the figures -> say how many."""

from pathlib import Path

from bench.analysis.summary import analyze
from bench.commands import sweep_dir
from bench.output import plot
from bench.results.sweepdir import SweepDirFiles
from bench.sweep import store


def execute(path: str | Path) -> int:
    found = sweep_dir(path)
    summary, status = store.load_summary(found)
    profile = SweepDirFiles(found).read_profile()
    prediction = profile["prediction"] if profile else None
    written = plot.figures(summary, found, analyze(summary, status), prediction)
    print(f"{len(written)} figures in {found}")
    return 0
