"""`python -m bench report SWEEP_DIR`: the sweep's report files, without Celery.

read the sweep -> analyze -> draw the figures -> render the report -> write
it beside the sweep's data -> print its end and the files."""

from pathlib import Path

from bench.analysis.summary import analyze
from bench.commands import sweep_dir
from bench.output import export, plot, plot_mix
from bench.results.sweepdir import SweepDirFiles
from bench.sweep import store


def execute(path: str | Path) -> int:
    made = write_report(sweep_dir(path))
    print(made.text)
    print()
    for written in made.written:
        if written.suffix in (".md", ".html", ".csv") or written.name == "overview.png":
            print(written)
    return 0


def write_report(directory: str | Path) -> export.Report:
    """Write the figures, report.md, report.html and points.csv (with the
    open-loop sections when the sweep has open_loop.json); returns them and
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
    measured = export.when_measured(files.read_manifest())
    made = export.report_files(summary, status, analysis, files.path, measured, profile, checked, open_loop)
    for name, text in made.items():
        path = files.path / name
        path.write_text(text)
        written.append(path)
    return export.Report(written, export.terminal_end(summary, analysis, checked, open_loop))


def measured_words(directory: str | Path) -> str | None:
    """When the sweep in `directory` ran, in words (export.when_measured)."""
    return export.when_measured(SweepDirFiles(directory).read_manifest())
