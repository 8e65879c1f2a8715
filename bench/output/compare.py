"""The report of `python -m bench compare`: text for a terminal, Markdown
for a pull request. The command's pipeline is bench/commands/compare.py."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.compare import (
    ALPHA,
    FAILED,
    FASTER,
    MIN_REPEATS,
    SAME,
    SLOWER,
    UNSTABLE,
    Comparison,
    percent,
)
from bench.analysis.stats import CV_WARN
from bench.output.terminal import aligned
from bench.results.compare import Results, label

FORMATS = ("text", "markdown")  # what `compare --format` chooses from


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


LATENCY_HEADER = [
    "point",
    "offered /s",
    "baseline p99",
    "candidate p99",
    "change",
    "95% CI of change",
    "p",
    "decision",
    "notes",
]


def _ms(value: float | None, n: int) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms (n={n})"


def _latency_rows(comparison: Comparison) -> list[list[str]]:
    keys = [c.key for c in comparison.latency]
    return [
        [
            label(c.key, keys),
            f"{c.rate_per_s:g}",
            _ms(c.baseline_p99_s, len(c.baseline.p99_s)),
            _ms(c.candidate_p99_s, len(c.candidate.p99_s)),
            percent(c.change),
            _ci(c.change_ci95),
            _p(c.p_value),
            c.decision,
            "; ".join(c.notes),
        ]
        for c in comparison.latency
    ]


LATENCY_TITLE = "sojourn p99 at the same offered rate (open loop; higher is slower)"


def _tally(comparison: Comparison) -> str:
    counts: dict[str, int] = {}
    for p in comparison.points:
        counts[p.decision] = counts.get(p.decision, 0) + 1
    order = (SLOWER, FAILED, FASTER, SAME, UNSTABLE)
    text = ", ".join(f"{counts[d]} {d}" for d in order if d in counts)
    noisy = sum(1 for p in comparison.points if p.unstable and p.decision != UNSTABLE)
    wrong = sum(1 for p in comparison.points if p.misbehaved)
    if comparison.latency:
        worse = len(comparison.latency_regressions)
        text += f"; p99 at {len(comparison.latency)} offered rate(s): {worse} worse"
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
        + (
            "; open loop, the same test on each repeat's p99 at one offered rate: higher is slower"
            if comparison.latency
            else ""
        )
    )


def _describe(results_: Results) -> str:
    hosts = ", ".join(sorted(results_.hostnames)) or "unknown host"
    return f"{results_.path} ({results_.kind}, {len(results_.points)} point(s), {hosts})"


def environment_words(comparison: Comparison) -> str:
    """ "celery 5.6.3 -> 5.7.0; cpu governor powersave -> performance": what
    differs between the two sides' environments."""
    return changes_words(comparison.environment_changes)


def changes_words(changes: Sequence[tuple[str, str, str]]) -> str:
    """ "celery 5.6.3 -> 5.7.0; cpu governor powersave -> performance": (fact, before, after) in words."""
    return "; ".join(f"{fact} {before} -> {after}" for fact, before, after in changes)


def format_text(comparison: Comparison) -> str:
    """The comparison as an aligned terminal table."""
    lines = [
        f"baseline:  {_describe(comparison.baseline)}",
        f"candidate: {_describe(comparison.candidate)}",
        *([f"environment differs: {environment_words(comparison)}"] if comparison.environment_changes else []),
        "",
        *aligned([HEADER, *_rows(comparison)], right={1, 2, 3, 5}),
    ]
    if comparison.latency:
        lines += [
            "",
            f"{LATENCY_TITLE}:",
            *aligned([LATENCY_HEADER, *_latency_rows(comparison)], right={1, 2, 3, 4, 6}),
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
    regressions, latency = comparison.regressions, comparison.latency_regressions
    what = "worse than" if latency or any(p.misbehaved for p in regressions) else "slower than"
    worse = len(regressions) + len(latency)
    title = f"{worse} point(s) {what} the baseline" if worse else "no significant regression"
    lines = [
        f"### celery-bench compare: {title}",
        "",
        f"Baseline `{comparison.baseline.path}`, candidate `{comparison.candidate.path}` "
        f"({', '.join(sorted(comparison.baseline.hostnames | comparison.candidate.hostnames)) or 'unknown host'}).",
        *(["", f"Environment differs: {environment_words(comparison)}."] if comparison.environment_changes else []),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---", "---:", "---", "---"]) + "|",
    ]
    for p, row in zip(comparison.points, _rows(comparison), strict=True):
        row[0] = f"`{row[0]}`"
        if p.regression:
            row[6] = f"**{row[6]}**"
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    if comparison.latency:
        lines += [
            "",
            f"**{LATENCY_TITLE[0].upper() + LATENCY_TITLE[1:]}**",
            "",
            "| " + " | ".join(LATENCY_HEADER) + " |",
            "|" + "|".join(["---", "---:", "---:", "---:", "---:", "---", "---:", "---", "---"]) + "|",
        ]
        for c, row in zip(comparison.latency, _latency_rows(comparison), strict=True):
            row[0] = f"`{row[0]}`"
            if c.regression:
                row[7] = f"**{row[7]}**"
            lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    one_sided = _one_sided(comparison, lambda names: ", ".join(f"`{n}`" for n in names))
    if one_sided:
        lines += ["", *(line[0].upper() + line[1:] + "." for line in one_sided)]
    lines += ["", f"{_tally(comparison)}.", "", f"<sub>{_rule(comparison)}.</sub>"]
    return "\n".join(lines)
