"""The report of `python -m bench compare`: text for a terminal, Markdown
for a pull request; and the command's pipeline (read, decide, format)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.compare import (
    ALPHA,
    DEFAULT_THRESHOLD,
    FAILED,
    FASTER,
    MIN_REPEATS,
    SAME,
    SLOWER,
    UNSTABLE,
    Comparison,
    compare,
    outcome,
    percent,
)
from bench.analysis.stats import CV_WARN
from bench.errors import BenchError, UsageError
from bench.output.terminal import aligned
from bench.results.compare import Results, label, load_run, load_sweep
from bench.sweep.store import SweepDir

FORMATS = ("text", "markdown")


@dataclass(frozen=True)
class CompareConfig:
    baseline: Path  # a run's result file or a sweep directory
    candidate: Path  # the same kind
    threshold: float  # fraction: 0.05 is 5%
    format: str  # text | markdown
    fail_on_unstable: bool  # exit 3 when a point is too unstable to decide
    allow_different_hosts: bool  # compare results from different machines anyway


def parse_percent(text: str) -> float:
    """`--threshold`: a percentage ("5", "5%", "2.5") as a fraction."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 5 or 2.5%, got {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 100 (percent), got {text!r}")
    return value / 100


def build_compare_config(
    *, baseline, candidate, threshold=DEFAULT_THRESHOLD, fmt="text", fail_on_unstable=False, allow_different_hosts=False
) -> CompareConfig:
    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold: must be at least 0% and below 100%, got {threshold:.0%}")
    return CompareConfig(Path(baseline), Path(candidate), threshold, fmt, fail_on_unstable, allow_different_hosts)


def _rate(value: float | None, n: int) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} (n={n})"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{percent(value[0])} to {percent(value[1])}"


def _rows(comparison: Comparison) -> list[list[str]]:
    keys = [p.key for p in comparison.points]
    rows = []
    for p in comparison.points:
        rows.append(
            [
                label(p.key, keys),
                _rate(p.baseline_median_per_s, len(p.baseline.values_per_s)),
                _rate(p.candidate_median_per_s, len(p.candidate.values_per_s)),
                percent(p.change),
                _ci(p.change_ci95),
                _p(p.p_value),
                _decision(p),
                "; ".join(p.notes),
            ]
        )
    return rows


RAN_TWICE_OR_LOST = "ran tasks twice or lost some"  # the decision cell's addition for such a candidate


def _decision(p) -> str:
    """The decision, and what the candidate did wrong where the baseline did not."""
    return f"{p.decision}; {RAN_TWICE_OR_LOST}" if p.misbehaved else p.decision


HEADER = ["point", "baseline /s", "candidate /s", "change", "95% CI of change", "p", "decision", "notes"]


def _tally(comparison: Comparison) -> str:
    counts: dict[str, int] = {}
    for p in comparison.points:
        counts[p.decision] = counts.get(p.decision, 0) + 1
    order = (SLOWER, FAILED, FASTER, SAME, UNSTABLE)
    text = ", ".join(f"{counts[d]} {d}" for d in order if d in counts)
    noisy = sum(1 for p in comparison.points if p.unstable and p.decision != UNSTABLE)
    wrong = sum(1 for p in comparison.points if p.misbehaved)
    return (
        text
        + (f"; {noisy} with an unstable side" if noisy else "")
        + (f"; {wrong} whose candidate {RAN_TWICE_OR_LOST}" if wrong else "")
    )


def _rule(comparison: Comparison) -> str:
    return (
        f"slower/faster: the 95% CI of the ratio of medians excludes 1 or Mann-Whitney p < {ALPHA:g}, "
        f"and the change is at least {comparison.threshold:.0%}; fewer than {MIN_REPEATS} repeats a side "
        f"is unstable; a side with CV > {CV_WARN:.0%} is flagged unstable; a candidate that ran tasks twice or "
        "lost some where the baseline did not is a regression whatever its throughput"
    )


def _describe(results_: Results) -> str:
    hosts = ", ".join(sorted(results_.hostnames)) or "unknown host"
    return f"{results_.path} ({results_.kind}, {len(results_.points)} point(s), {hosts})"


def format_text(comparison: Comparison) -> str:
    """The comparison as an aligned terminal table."""
    lines = [
        f"baseline:  {_describe(comparison.baseline)}",
        f"candidate: {_describe(comparison.candidate)}",
        "",
        *aligned([HEADER, *_rows(comparison)], right={1, 2, 3, 5}),
    ]
    lines += _one_sided(comparison, lambda names: ", ".join(names))
    lines += ["", _tally(comparison), _rule(comparison)]
    return "\n".join(lines)


def _one_sided(comparison: Comparison, join) -> list[str]:
    out = []
    everything = [*comparison.baseline.points, *comparison.candidate.points]
    for side, keys in (("baseline", comparison.baseline_only), ("candidate", comparison.candidate_only)):
        if keys:
            out.append(f"only in the {side} (not compared): {join([label(k, everything) for k in keys])}")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub-flavoured markdown, for a pull-request comment."""
    regressions = comparison.regressions
    what = "worse than" if any(p.misbehaved for p in regressions) else "slower than"
    title = f"{len(regressions)} point(s) {what} the baseline" if regressions else "no significant regression"
    lines = [
        f"### celery-bench compare: {title}",
        "",
        f"Baseline `{comparison.baseline.path}`, candidate `{comparison.candidate.path}` "
        f"({', '.join(sorted(comparison.baseline.hostnames | comparison.candidate.hostnames)) or 'unknown host'}).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---", "---:", "---", "---"]) + "|",
    ]
    for p, row in zip(comparison.points, _rows(comparison), strict=True):
        row[0] = f"`{row[0]}`"
        if p.regression:
            row[6] = f"**{row[6]}**"
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    one_sided = _one_sided(comparison, lambda names: ", ".join(f"`{n}`" for n in names))
    if one_sided:
        lines += ["", *(line[0].upper() + line[1:] + "." for line in one_sided)]
    lines += ["", f"{_tally(comparison)}.", "", f"<sub>{_rule(comparison)}.</sub>"]
    return "\n".join(lines)


def load(path: str | Path, side: str = "result") -> Results:
    """A run result file or a sweep directory; UsageError naming the path
    otherwise, or when it holds no successful repeat to compare (e.g. a
    sweep shipped without its runs/, such as results/reference)."""
    path = Path(path)
    results = load_sweep(SweepDir(path)) if path.is_dir() else load_run(path)
    if not any(p.values_per_s or p.failed for p in results.points.values()):
        raise UsageError(f"{side} {path}: no repeats to compare (no runs/ with repeat results)")
    if side == "baseline" and not any(p.values_per_s for p in results.points.values()):
        raise UsageError(f"{side} {path}: no successful repeats to compare against (every repeat failed)")
    return results


def command(cfg: CompareConfig) -> tuple[str, BenchError | None]:
    """`python -m bench compare`: the report's text, and the error to end
    with (None: exit 0). Prints nothing."""
    comparison = compare(
        load(cfg.baseline, "baseline"),
        load(cfg.candidate, "candidate"),
        cfg.threshold,
        allow_different_hosts=cfg.allow_different_hosts,
    )
    text = format_markdown(comparison) if cfg.format == "markdown" else format_text(comparison)
    return text, outcome(comparison, cfg.fail_on_unstable)
