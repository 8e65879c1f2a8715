"""What a sweep's numbers say: the verdict per pool x workload, the USL fit
per curve, and the warnings a reader must see. Pure, from a sweep's summary
(which summarize.py builds from its repeats)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.analysis.groups import (
    NOOP,
    curve_name,
    group_key,
    group_name,
    groups,
    is_overhead_probe,
    overhead_rates,
    plural,
)
from bench.analysis.model import USLFit, extrapolated, fit_usl, peak_words
from bench.analysis.verdict import Best, Verdict, best_of, verdicts
from bench.results.schema import PointSummary, SweepSummary


@dataclass(frozen=True)
class Note:
    """One warning, and what it qualifies."""

    text: str  # in words, naming the point when it is about one
    key: str | None = None  # the figure key (workload) it qualifies; None: the whole sweep
    pool: str | None = None  # the pool it qualifies; None: every pool of `key`
    # What it is in a few words ("wide CI", "best at the largest -c tried
    # (16)"): the verdict table's one-line summary counts notes by it.
    about: str | None = None
    c: int | None = None  # the -c of the point it is about; None: its whole curve, or none


# What each warning a point stores is, in a few words, by how its text
# starts (summarize.py's summarize_point writes them; summary.json keeps them as text).
POINT_WARNINGS = (
    (re.compile(r"wide: "), "wide CI"),
    (re.compile(r"unstable: "), "unstable"),
    (re.compile(r"\d+ repeats? failed: "), "failed repeats"),
    (re.compile(r"Celery misbehaved "), "Celery misbehaved"),
    (re.compile(r"under its deploy event "), "deploy event"),
    (re.compile(r"as its settings ask, "), "recycled as asked"),
    (re.compile(r"its hosts differ in cores"), "hosts differ in cores"),
    (re.compile(r"planned for "), "other cores than planned"),
)


def warning_about(text: str) -> str:
    """What a point's stored warning is, in a few words ("wide CI")."""
    return next((about for pattern, about in POINT_WARNINGS if pattern.match(text)), "warned")


Overheads = dict[tuple[str, int | None], tuple[float, PointSummary]]


@dataclass(frozen=True)
class Analysis:
    verdicts: dict[str, dict[str, Verdict]]  # {figure key: {pool: Verdict}}
    fits: dict[str, dict[str, USLFit]]  # {figure key: {pool: USLFit}}
    notes: list[Note]  # every warning a reader must see, sweep-wide ones first
    bests: dict[str, dict[str, Best]] = field(default_factory=dict)  # {figure key: {pool: Best}}
    # {(pool, pinned CPUs or None): (tasks/s, noop PointSummary)}
    overheads: Overheads = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """Every warning as one line of text."""
        return [n.text for n in self.notes]

    def notes_for(self, key: str, pool: str) -> list[str]:
        """The warnings that qualify one verdict row."""
        return [n.text for n in self.row_notes(key, pool)]

    def row_notes(self, key: str, pool: str) -> list[Note]:
        """The notes that qualify one verdict row."""
        return [n for n in self.notes if n.key == key and n.pool in (pool, None)]

    def sweep_notes(self) -> list[str]:
        """The warnings about the sweep as a whole."""
        return [n.text for n in self.notes if n.key is None]


def analyze(summary: SweepSummary, status: str | None = None) -> Analysis:
    """The analysis of a SweepSummary; `status`: the sweep's status in its
    manifest when it is truer than the summary's (a killed sweep)."""
    status = status or summary.status
    fits: dict[str, dict[str, USLFit]] = {}
    bests: dict[str, dict[str, Best]] = {}
    notes = _completeness(summary, status)
    for key, curves in groups(summary).items():
        for pool, curve in curves.items():
            best = bests.setdefault(key, {})[pool] = best_of({p.concurrency: p.throughput for p in curve.points})
            if curve.pool == "solo":
                fits.setdefault(key, {})[pool] = USLFit(False, "solo runs one task at a time: -c does not apply")
                continue
            named = f"{group_name(curve.points[0])}-{pool}"  # a user's task by its name
            if best.warning:
                edge = f"best at the {best.edge} -c tried ({best.c})"
                notes.append(Note(f"{named}: {best.warning}", key, pool, edge))
            fit = fits.setdefault(key, {})[pool] = fit_usl(curve.c, curve.medians())
            measured = [p.concurrency for p in curve.points if p.median_per_s is not None]
            if measured and extrapolated(fit, measured):
                peak = f"{named}: USL peak at -c {peak_words(fit, measured)}"
                notes.append(Note(peak, key, pool, "USL peak extrapolated"))
    for point in summary.points:
        probe = is_overhead_probe(point, summary)
        figure, line = (None, None) if probe else (group_key(point), curve_name(point))
        for text in point.warnings:
            notes.append(Note(f"{point.name}: {text}", figure, line, warning_about(text), point.concurrency))
        efficiency = point.efficiency
        if efficiency is not None and efficiency > 1:
            if point.task is not None:  # a user's task: the ceiling is estimated from its profile
                text = f"{point.name}: above its ceiling estimated from the profile ({efficiency:.1%})"
            else:
                text = f"{point.name}: above its physical ceiling ({efficiency:.1%}): a harness bug"
            notes.append(Note(text, figure, line, "above its ceiling", point.concurrency))
    found: dict[str, dict[str, Verdict]] = verdicts(summary)
    return Analysis(found, fits, notes, bests, overhead_rates(summary))


def _completeness(summary, status):
    """Sweep-wide notes: a sweep that did not finish, points never measured
    or short of their repeats."""
    notes = []
    points = summary.points
    unmeasured = [p for p in points if p.repeats == 0 and p.failed_repeats == 0]
    least = summary.config.min_repeats or 1
    short = [p for p in points if 0 < p.repeats + p.failed_repeats < least]
    if status and status != "complete":
        # "measured" counts points with their minimum of successful repeats:
        # a point whose repeats all failed was tried, not measured.
        done = sum(1 for p in points if p.repeats >= least)
        failing = [p for p in points if p.failed_repeats and p.repeats < least]
        text = f"sweep {status}: {done} of {plural(len(points), 'planned point')} measured"
        if failing:
            names = ", ".join(p.name for p in failing[:5]) + (", ..." if len(failing) > 5 else "")
            text += f"; {plural(len(failing), 'point')} stopped by failed repeats: {names}"
        notes.append(Note(text + "; resume it with `python -m bench sweep --resume DIR`"))
    if unmeasured:
        names = ", ".join(p.name for p in unmeasured[:5]) + (", ..." if len(unmeasured) > 5 else "")
        notes.append(Note(f"{plural(len(unmeasured), 'point')} not measured: {names}"))
    if short:
        names = ", ".join(p.name for p in short[:5]) + (", ..." if len(short) > 5 else "")
        notes.append(Note(f"{plural(len(short), 'point')} with fewer than {plural(least, 'repeat')}: {names}"))
    return notes


def binding_ceiling(
    point: PointSummary, overheads: Mapping[tuple[str, int | None], tuple[float, PointSummary]]
) -> tuple[float, str] | tuple[None, None]:
    """The lower of a point's physical ceiling and its pool's no-op rate
    (tasks/s), and which it is; (None, None) when neither is known."""
    rate = overheads.get((point.pool, point.pinned))
    options = []
    if point.ceiling_per_s is not None:
        options.append((point.ceiling_per_s, "physical ceiling"))
    if rate is not None and point.workload != NOOP:
        options.append((rate[0], "no-op rate"))
    return min(options) if options else (None, None)
