"""From a sweep directory to the files a person reads: the figures, report.md,
report.html and points.csv, all written beside the sweep's data."""

from dataclasses import dataclass
from pathlib import Path

from bench.analysis.summary import analyze
from bench.errors import UsageError
from bench.output import csv as report_csv
from bench.output import html as report_html
from bench.output import markdown as report_markdown
from bench.output import plot
from bench.output.check import check_markdown, check_text
from bench.output.prediction import prediction_section
from bench.output.terminal import report_end
from bench.results.io import read_json, read_sweep_summary
from bench.results.schema import CHECK_SUMMARY
from bench.sweep import store as sweep


def load_summary(sweep_dir):
    """The sweep's summary (a SweepSummary) and its status in the manifest.
    Read from summary.json, or made in memory from its runs when that is
    missing (an interrupted sweep): a read-only command writes nothing
    there. UsageError naming the file when it is not usable."""
    target = sweep.SweepDir(sweep_dir)
    if not target.path.is_dir():
        raise UsageError(f"{target.path}: not a directory")
    status = target.read_manifest().status
    path = target.path / sweep.SUMMARY
    if not path.exists():
        _, cfg, plan = sweep.resume(target.path, measuring=False)
        return sweep.summary_of(target, cfg, plan), status
    return read_sweep_summary(path), status


def measured_words(directory):
    """When the sweep ran, in words, from its manifest (never the clock:
    re-rendering an unchanged sweep must give the same files)."""
    manifest = sweep.SweepDir(directory).read_manifest()
    start, end = manifest.created_utc, manifest.updated_utc
    if not start:
        return None
    start = start.replace("T", " ").removesuffix("Z")
    end = (end or "").replace("T", " ").removesuffix("Z")
    if end[:10] == start[:10]:
        end = end[11:]
    return f"{start} to {end} UTC" if end else f"from {start} UTC"


def load_profile(sweep_dir):
    """The profile of the swept user's task (profile.json), or None."""
    path = Path(sweep_dir) / "profile.json"
    return read_json(path, "profile", "task profile") if path.exists() else None


def plot_sweep(sweep_dir):
    """Write the figures; returns their paths."""
    summary, status = load_summary(sweep_dir)
    profile = load_profile(sweep_dir)
    prediction = profile["prediction"] if profile else None
    return plot.figures(summary, Path(sweep_dir), analyze(summary, status), prediction)


def load_check(sweep_dir):
    """The sweep's fidelity check (check.json, `sweep --check`), or None."""
    path = Path(sweep_dir) / CHECK_SUMMARY
    return read_json(path, "sweep-check", "fidelity check") if path.exists() else None


@dataclass(frozen=True)
class Report:
    written: list  # the paths written: figures, report.md, report.html, points.csv
    text: str  # the terminal's end of the report: throughput and verdict tables, warnings


def report(sweep_dir):
    """Write the figures, report.md, report.html and points.csv; returns
    them and the text the terminal ends with."""
    directory = Path(sweep_dir)
    summary, status = load_summary(directory)
    analysis = analyze(summary, status)
    profile = load_profile(directory)
    written = plot.figures(summary, directory, analysis, profile["prediction"] if profile else None)
    markdown = report_markdown.render(summary, status, analysis, directory.name, measured=measured_words(directory))
    if profile is not None:
        markdown = markdown.rstrip("\n") + "\n\n" + prediction_section(summary, profile)
    checked = load_check(directory)
    if checked is not None:
        markdown = markdown.rstrip("\n") + "\n" + check_markdown(checked)
    for name, text in (
        ("report.md", markdown),
        ("report.html", report_html.render(markdown, directory)),
        ("points.csv", report_csv.render(summary)),
    ):
        path = directory / name
        path.write_text(text)
        written.append(path)
    end = report_end(summary, analysis)
    if checked is not None:
        end = end.rstrip("\n") + "\n\n" + check_text(checked)
    return Report(written, end)


def report_sweep(sweep_dir):
    """Write the figures, report.md, report.html and points.csv; returns their paths."""
    return report(sweep_dir).written
