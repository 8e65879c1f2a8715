"""`python -m bench plot SWEEP_DIR`: the sweep's figures, without Celery;
`python -m bench plot RUN.json`: a run's figure over time, from its series.

read the sweep -> analyze -> draw and write the figures (over time too,
as report draws them) -> say how many."""

from pathlib import Path

from bench.analysis.summary import analyze
from bench.commands import sweep_dir
from bench.commands.report import sweep_over_time
from bench.errors import UsageError
from bench.output import plot, plot_over_time
from bench.output.plot_series import run_series_figure
from bench.results.io import read_run
from bench.results.sweepdir import SweepDirFiles
from bench.sweep import store


def execute(path: str | Path) -> int:
    if Path(path).is_file():
        return run_over_time(Path(path))
    found = sweep_dir(path)
    summary, status = store.load_summary(found)
    profile = SweepDirFiles(found).read_profile()
    prediction = profile["prediction"] if profile else None
    written = plot.figures(summary, found, analyze(summary, status), prediction)
    for name, fig in plot_over_time.over_time_figures(sweep_over_time(summary, SweepDirFiles(found))).items():
        written += plot.save(fig, found, name)
    print(f"{len(written)} figures in {found}")
    return 0


def run_over_time(path: Path) -> int:
    """A run document's per-second series drawn beside the series file."""
    result = read_run(path)
    series = result.summary.series if result.summary is not None else None
    if series is None:
        raise UsageError(f"{path}: this run has no per-second series (runs record one from format version 26)")
    series_path = path.with_name(series.file)
    if not series_path.is_file():
        raise UsageError(f"{path}: its series {series.file} is not beside it")
    written = run_series_figure(result, path)
    print(f"over time: {', '.join(str(p) for p in written)}")
    return 0
