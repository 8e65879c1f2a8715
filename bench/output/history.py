"""What `python -m bench history` says: the changes found as a terminal
table or Markdown, and as a JSON document (the page is
output/history_page.py). The pipeline is bench/commands/history.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bench.analysis.history import (
    PENALTY,
    Change,
    EnvironmentChange,
    History,
    newest_failures,
    newest_regressions,
    short_commit,
)
from bench.output.compare import changes_words
from bench.output.terminal import aligned
from bench.results.history import THROUGHPUT, SeriesKey, StoredResult, series_label

HEADER = [
    "series",
    "commit",
    "measured (UTC)",
    "before",
    "after",
    "change",
    "95% CI of change",
    "p",
    "results before|after",
]


def value_words(value: float, key: SeriesKey) -> str:
    """ "812.4/s" for a throughput; "12.3 ms" or "1.24 s" for a time."""
    if key.metric == THROUGHPUT:
        return f"{value:.1f}/s" if value < 10_000 else f"{value:,.0f}/s"
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def when(result: StoredResult) -> str:
    """ "2026-12-04 03:00": when a result was measured, in UTC; "?" when unknown."""
    return "?" if result.measured is None else result.measured.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def p_words(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def percent(value: float) -> str:
    return f"{value * 100:+.1f}%"


def ci_words(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"{percent(ci[0])} to {percent(ci[1])}"


def result_words(history: History, index: int) -> str:
    """ "result 4 (d4e5f6a7b8, 2026-12-04 03:00)": a result as people find it."""
    result = history.results[index]
    return f"result {index + 1} ({short_commit(result.commit)}, {when(result)})"


def change_row(history: History, change: Change) -> list[str]:
    keys = [s.key for s in history.series]
    result = history.results[change.at]
    return [
        series_label(change.key, keys),
        short_commit(result.commit),
        when(result),
        value_words(change.before, change.key),
        value_words(change.after, change.key),
        percent(change.change),
        ci_words(change.change_ci95),
        p_words(change.p_value),
        f"{change.results_before} | {change.results_after}",
    ]


def environment_lines(history: History) -> list[str]:
    return [
        f"environment differs at {result_words(history, e.at)}: {changes_words(e.changes)}"
        for e in history.environment_changes
    ]


def environment_at(history: History, index: int) -> EnvironmentChange | None:
    return next((e for e in history.environment_changes if e.at == index), None)


def headline(history: History) -> str:
    """ "6 results from 2026-12-01 03:00 to 2026-12-06 03:00 UTC, 3 series, on vm1"."""
    first, last = history.results[0], history.results[-1]
    hosts = sorted({h for r in history.results for h in r.hostnames})
    where = f", on {', '.join(hosts)}" if hosts else ""
    return f"{len(history.results)} results from {when(first)} to {when(last)} UTC, {len(history.series)} series{where}"


def newest_words(history: History) -> str:
    """What the newest result is: the answer of `--check`."""
    worse, failed = newest_regressions(history), newest_failures(history)
    where = result_words(history, history.newest)
    if not worse and not failed:
        return f"the newest, {where}: no step for the worse"
    parts = [f"{c.key.name} {percent(c.change)}" for c in worse] + [f"{k.name} failed" for k in failed]
    return f"the newest, {where}: a step for the worse in {len(parts)} series ({', '.join(parts)})"


def rule(history: History) -> str:
    return (
        "a change: where ruptures' PELT places one (penalty "
        f"{PENALTY:g} x noise^2 x ln n) on the log of each result's median, kept when it is at least "
        f"{history.threshold:.0%} and Student's t-test of the results either side gives p < {history.alpha:g}"
    )


def _unchanged(history: History) -> list[SeriesKey]:
    return [s.key for s in history.series if not s.changes]


def _names(keys: Sequence[SeriesKey], every: Sequence[SeriesKey], limit: int = 6) -> str:
    shown = ", ".join(series_label(k, every) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def format_text(history: History) -> str:
    """The history as the terminal shows it: the changes found, as a table."""
    changes = history.changes
    keys = [s.key for s in history.series]
    lines = [headline(history), *environment_lines(history), ""]
    if changes:
        lines.append(f"{len(changes)} change(s) found:")
        lines += aligned([HEADER, *(change_row(history, c) for c in changes)], right={3, 4, 5, 7, 8})
    else:
        lines.append("no change found")
    unchanged = _unchanged(history)
    if changes and unchanged:
        lines.append(f"no change in {len(unchanged)} series: {_names(unchanged, keys)}")
    lines += ["", newest_words(history), rule(history)]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(history: History) -> str:
    """The history as GitHub-flavoured Markdown (a job summary, an issue)."""
    changes = history.changes
    title = f"{len(changes)} change(s) found" if changes else "no change found"
    lines = [f"### celery-bench history: {title}", "", headline(history) + "."]
    lines += [f"- {line[0].upper()}{line[1:]}." for line in environment_lines(history)]
    if changes:
        lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "|".join(["---", "---", "---", *["---:"] * 6]) + "|"]
        for change in changes:
            row = change_row(history, change)
            row[0] = f"`{row[0]}`"
            if change.worse:
                row[5] = f"**{row[5]}**"
            lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    lines += [
        "",
        newest_words(history)[0].upper() + newest_words(history)[1:] + ".",
        "",
        f"<sub>{rule(history)}.</sub>",
    ]
    return "\n".join(lines)


def _key_json(key: SeriesKey) -> dict[str, Any]:
    return {"series": key.name, "setting": key.setting, "metric": key.metric, "unit": key.unit}


def document(history: History) -> dict[str, Any]:
    """The history as JSON (`--json`): the results, every series' levels and
    the changes found, for a dashboard or a bot."""
    results = history.results
    return {
        "kind": "history",
        "threshold": history.threshold,
        "alpha": history.alpha,
        "results": [
            {
                "index": i,
                "path": r.path,
                "kind": r.kind,
                "commit": r.commit,
                "measured_utc": r.measured.isoformat() if r.measured else None,
                "hostnames": sorted(r.hostnames),
                "environment": dict(r.environment),
            }
            for i, r in enumerate(results)
        ],
        "environment_changes": [
            {"at": e.at, "changes": [{"fact": f, "before": b, "after": a} for f, b, a in e.changes]}
            for e in history.environment_changes
        ],
        "changes": [
            {
                **_key_json(c.key),
                "at": c.at,
                "commit": results[c.at].commit,
                "before": c.before,
                "after": c.after,
                "change": c.change,
                "change_ci95": list(c.change_ci95) if c.change_ci95 else None,
                "p_value": c.p_value,
                "worse": c.worse,
                "results_before": c.results_before,
                "results_after": c.results_after,
            }
            for c in history.changes
        ],
        "newest_for_the_worse": [c.key.name for c in newest_regressions(history)]
        + [k.name for k in newest_failures(history)],
        "series": [
            {
                **_key_json(s.key),
                "levels": [
                    {"result": lv.result, "median": lv.median, "ci95": list(lv.ci95) if lv.ci95 else None}
                    for lv in s.levels
                ],
                "failed_at": list(s.failed_at),
            }
            for s in history.series
        ],
    }
