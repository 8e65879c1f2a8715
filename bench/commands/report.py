"""`python -m bench report SWEEP_DIR`: the sweep's report files, without Celery.

read the sweep -> analyze -> draw the figures (over time too, from each
point's median repeat's series) -> render the report -> write it beside
the sweep's data -> print its end and the files."""

from pathlib import Path

from bench.analysis.budget import NO_BUDGET, BudgetAsk, budget_json, measured_budget, sweep_pools
from bench.analysis.over_time import OverTime, Representative, median_repeat, over_time_groups
from bench.analysis.summary import analyze
from bench.commands import ReportRequest, sweep_dir
from bench.output import export, plot, plot_mix, plot_over_time
from bench.output.plot_series import read_series
from bench.results.sweep_records import SweepSummary
from bench.results.sweepdir import SweepDirFiles
from bench.sweep import store


def execute(request: ReportRequest) -> int:
    made = write_report(sweep_dir(request.sweep_dir), request.budget)
    print(made.text)
    print()
    for written in made.written:
        if written.suffix in (".md", ".html", ".csv") or written.name == "overview.png":
            print(written)
    return 0


def write_report(directory: str | Path, ask: BudgetAsk = NO_BUDGET) -> export.Report:
    """Write the figures, report.md, report.html and points.csv (with the
    open-loop sections when the sweep has open_loop.json, and the memory
    budget lines for `ask` where its runs sampled memory); returns them and
    the text the terminal ends with (an export.Report)."""
    files = SweepDirFiles(directory)
    summary, status = store.load_summary(files.path)
    analysis = analyze(summary, status)
    profile = files.read_profile()
    written = plot.figures(summary, files.path, analysis, profile["prediction"] if profile else None)
    checked = files.read_check()
    open_loop = files.read_open_loop()
    if open_loop is not None:  # a traffic mix's per-class p99 at each rate
        for name, fig in plot_mix.open_loop_mix_figure(open_loop, summary.config.traffic).items():
            written += plot.save(fig, files.path, name)
    over_time = sweep_over_time(summary, files)
    for name, fig in plot_over_time.over_time_figures(over_time).items():
        written += plot.save(fig, files.path, name)
    measured = export.when_measured(files.read_manifest())
    pools = sweep_pools([(point, files.repeats(point)) for point in summary.points])
    budget = budget_json(measured_budget(pools, ask.uptime_s, ask.budget_bytes), ask)
    made = export.report_files(
        summary, status, analysis, files.path, measured, profile, checked, open_loop, budget, over_time
    )
    for name, text in made.items():
        path = files.path / name
        path.write_text(text)
        written.append(path)
    return export.Report(written, export.terminal_end(summary, analysis, checked, open_loop, budget))


def sweep_over_time(summary: SweepSummary, files: SweepDirFiles) -> OverTime:
    """The sweep's groups over time and, for each point, the median by
    throughput of its ok repeats whose series is beside them (none before
    format version 26, nor in a sweep copied without its runs/)."""
    groups = over_time_groups(summary)
    chosen = {}
    for group in groups:
        for point in group.points:
            runs = []  # (name, throughput, its series file)
            for path, run in files.attempts(point):
                result = run.summary if run.ok else None
                series = result.series if result is not None else None
                if result is not None and series is not None and path.with_name(series.file).is_file():
                    runs.append((path.stem, result.throughput_per_s, path.with_name(series.file)))
            i = median_repeat([throughput for _, throughput, _ in runs])
            if i is not None:
                name, _, series_path = runs[i]
                rows = tuple(read_series(series_path))
                if rows:
                    chosen[point.key] = Representative(name, len(runs), rows)
    return OverTime(tuple(groups), chosen)


def measured_words(directory: str | Path) -> str | None:
    """When the sweep in `directory` ran, in words (export.when_measured)."""
    return export.when_measured(SweepDirFiles(directory).read_manifest())
