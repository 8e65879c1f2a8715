"""A sweep's report files as text: report.md (with the task's prediction
and the fidelity check when the sweep has them), report.html, points.csv,
and the text the terminal ends with. Renders only: bench/commands/report.py
reads the sweep and writes the files."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis.over_time import OverTime
from bench.analysis.summary import Analysis
from bench.output import csv as report_csv
from bench.output import html as report_html
from bench.output import markdown as report_markdown
from bench.output import mix
from bench.output.budget import budget_markdown, budget_terminal
from bench.output.check import check_markdown, check_text
from bench.output.openloop_plot import verdict_markdown
from bench.output.over_time import over_time_section
from bench.output.prediction import prediction_section
from bench.output.sweep_terminal import report_end
from bench.results.sweep_records import SweepManifest, SweepSummary


def when_measured(manifest: SweepManifest) -> str | None:
    """When the sweep ran, in words, from its manifest (never the clock:
    re-rendering an unchanged sweep must give the same files)."""
    start, end = manifest.created_utc, manifest.updated_utc
    if not start:
        return None
    start = start.replace("T", " ").removesuffix("Z")
    end = (end or "").replace("T", " ").removesuffix("Z")
    if end[:10] == start[:10]:
        end = end[11:]
    return f"{start} to {end} UTC" if end else f"from {start} UTC"


def report_files(
    summary: SweepSummary,
    status: str | None,
    analysis: Analysis,
    directory: str | Path,
    measured: str | None = None,
    profile: Mapping[str, Any] | None = None,
    checked: Mapping[str, Any] | None = None,
    open_loop: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
    over_time: OverTime | None = None,
) -> dict[str, str]:
    """{file name: text} of report.md, report.html and points.csv. The
    figures must be in `directory` already: report.html embeds them.
    `profile`: the swept task's profile document; `checked`: the fidelity
    check's document; `open_loop`: open_loop.json (sweep --rates), whose
    verdicts and a traffic mix's tables per rate end the report; `budget`:
    the memory budget section (analysis/budget.py budget_json); `over_time`:
    the points' repeats drawn over time, whose section ends the report (its
    figures, plot_over_time.py, in `directory` already)."""
    directory = Path(directory)
    markdown = report_markdown.render(summary, status, analysis, directory.name, measured=measured)
    if profile is not None:
        markdown = markdown.rstrip("\n") + "\n\n" + prediction_section(summary, profile)
    if checked is not None:
        markdown = markdown.rstrip("\n") + "\n" + check_markdown(checked)
    if open_loop is not None:
        markdown += verdict_markdown(dict(open_loop)) + mix.open_loop_section(open_loop)
    if section := budget_markdown(budget):
        markdown = markdown.rstrip("\n") + "\n\n" + section
    if over_time is not None and (section := over_time_section(over_time)):
        markdown = markdown.rstrip("\n") + "\n\n" + section
    return {
        "report.md": markdown,
        "report.html": report_html.render(markdown, directory),
        "points.csv": report_csv.render(summary),
    }


def terminal_end(
    summary: SweepSummary,
    analysis: Analysis,
    checked: Mapping[str, Any] | None = None,
    open_loop: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
) -> str:
    """The terminal's end of the report: throughput and verdict tables,
    warnings, the fidelity check's table, a traffic mix's
    recommendations at each open-loop rate, and the memory budget lines."""
    end = report_end(summary, analysis)
    if checked is not None:
        end = end.rstrip("\n") + "\n\n" + check_text(checked)
    mixed = mix.open_loop_terminal(open_loop) if open_loop is not None else []
    if mixed:
        end = end.rstrip("\n") + "\n\n" + "\n".join(mixed)
    if said := budget_terminal(budget):
        end = end.rstrip("\n") + "\n\n" + said
    return end


@dataclass(frozen=True)
class Report:
    written: list  # the paths written: figures, report.md, report.html, points.csv
    text: str  # the terminal's end of the report: throughput and verdict tables, warnings
