"""From a sweep directory to the files a person reads: the figures, report.md,
report.html and points.csv, all written beside the sweep's data."""

import datetime as dt
from pathlib import Path

from bench.analysis.summary import analyze
from bench.errors import UsageError
from bench.output import csv as report_csv
from bench.output import html as report_html
from bench.output import markdown as report_markdown
from bench.output import plot
from bench.output.prediction import prediction_section
from bench.results.io import read_json
from bench.sweep import store as sweep


def load_summary(sweep_dir):
    """The sweep's summary.json, made from its runs if it is missing (an
    interrupted sweep); UsageError naming the file when it is not usable."""
    target = sweep.SweepDir(sweep_dir)
    if not target.path.is_dir():
        raise UsageError(f"{target.path}: not a directory")
    manifest = target.read_manifest()
    path = target.path / sweep.SUMMARY
    if not path.exists():
        _, cfg, plan = sweep.resume(target.path, measuring=False)
        return sweep.summarize(target, cfg, plan), manifest
    summary = read_json(path, "sweep-summary", "sweep summary")
    if not isinstance(summary.get("points"), list):
        raise UsageError(f"{path}: no points")
    return summary, manifest


def load_profile(sweep_dir):
    """The profile of the swept user's task (profile.json), or None."""
    path = Path(sweep_dir) / "profile.json"
    return read_json(path, "profile", "task profile") if path.exists() else None


def plot_sweep(sweep_dir):
    """Write the figures; returns their paths."""
    summary, _ = load_summary(sweep_dir)
    profile = load_profile(sweep_dir)
    prediction = profile["prediction"] if profile else None
    return plot.figures(summary, Path(sweep_dir), analyze(summary).verdicts, prediction)


def report_sweep(sweep_dir, now=None):
    """Write the figures, report.md, report.html and points.csv; returns their paths."""
    directory = Path(sweep_dir)
    summary, manifest = load_summary(directory)
    analysis = analyze(summary)
    profile = load_profile(directory)
    written = plot.figures(summary, directory, analysis.verdicts, profile["prediction"] if profile else None)
    now = now or dt.datetime.now(dt.UTC)
    markdown = report_markdown.render(summary, manifest, analysis, directory.name, now=now)
    if profile is not None:
        markdown = markdown.rstrip("\n") + "\n\n" + prediction_section(summary, profile)
    for name, text in (
        ("report.md", markdown),
        ("report.html", report_html.render(markdown, directory)),
        ("points.csv", report_csv.render(summary)),
    ):
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
