"""`sweep --check` in words: each point's median repeat against a plain
worker (bench/sweep/check.py measures; bench/output/reference.py compares)."""

from collections.abc import Mapping
from typing import Any

from bench.output import reference as words
from bench.results.records import RunResult

AGREE_WITHIN = words.AGREE_WITHIN


def comparison(run_result: RunResult, reference_result: words.ReferenceResult) -> dict[str, Any]:
    """The figures of one check, as check.json keeps them: both sides'
    steady state, their ratio, the verdict line and what each side found."""
    harness, plain = words.harness_side(run_result), words.reference_side(reference_result)
    # The verdict's own figure: the plain worker without task events (its
    # queue's depth) where it has one, else the pass with events
    depth = plain.depth_steady_throughput_per_s
    reference_steady = depth if depth is not None else plain.steady_throughput_per_s
    return {
        "harness_steady_per_s": harness.steady_throughput_per_s,
        "reference_steady_per_s": reference_steady,
        "reference_counted_by": "queue depth, no events" if depth is not None else "task events (-E)",
        "reference_events_steady_per_s": plain.steady_throughput_per_s,
        "ratio": words.ratio(harness.steady_throughput_per_s, reference_steady),
        "harness_findings": sorted(words.finding_kinds(harness.health)),
        "reference_findings": sorted(words.finding_kinds(plain.health)),
        "verdict": words.verdict(harness, plain),
    }


def _num(value):
    return "-" if value is None else f"{value:.1f}"


def _agrees(entry):
    r = entry.get("ratio")
    return r is not None and abs(r - 1) <= AGREE_WITHIN


def check_rows(document: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(point, harness, plain worker, ratio, findings) per point, as text."""
    rows = []
    for entry in document["points"]:
        if "skipped" in entry:
            rows.append((entry["point"], "-", "-", "-", f"not checked: {entry['skipped']}"))
            continue
        found_h, found_r = entry.get("harness_findings") or [], entry.get("reference_findings") or []
        findings = (
            "none"
            if not (found_h or found_r)
            else f"harness: {', '.join(found_h) or 'none'}; " + (f"plain worker: {', '.join(found_r) or 'none'}")
        )
        ratio = entry.get("ratio")
        mark = "" if _agrees(entry) or ratio is None else " *"
        rows.append(
            (
                entry["point"],
                _num(entry.get("harness_steady_per_s")),
                _num(entry.get("reference_steady_per_s")),
                ("-" if ratio is None else f"{ratio:.2f}") + mark,
                findings,
            )
        )
    return rows


HEADER = ("point", "harness tasks/s", "plain worker tasks/s", "ratio", "misbehaviour found")


def check_text(document: Mapping[str, Any]) -> str:
    """The terminal's table of a sweep's check, and a line on what it says."""
    rows = [HEADER, *check_rows(document)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = ["Fidelity check: each point's median repeat against a plain `celery worker` (steady state)"]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines.append(_conclusion(document))
    return "\n".join(lines)


def check_markdown(document: Mapping[str, Any]) -> str:
    """The report's section on the check."""
    lines = [
        "",
        "## Fidelity check: the harness against a plain worker",
        "",
        "Each point's median repeat against the same configuration run by a plain `celery -A APP worker`"
        " (`sweep --check`; figures: steady state, tasks/s; the plain worker's without task events, counted by"
        " its queue's depth). `*`: outside "
        f"{AGREE_WITHIN:.0%}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in check_rows(document)]
    lines += ["", _conclusion(document), ""]
    return "\n".join(lines)


def _conclusion(document):
    checked = [e for e in document["points"] if "skipped" not in e]
    off = [e["point"] for e in checked if e.get("ratio") is not None and not _agrees(e)]
    if not checked:
        return "no point could be checked"
    if not off:
        every = "the checked point agrees" if len(checked) == 1 else f"all {len(checked)} checked points agree"
        return f"{every} with a plain worker within {AGREE_WITHIN:.0%}"
    return (
        f"{len(off)} of {len(checked)} checked points differ from a plain worker by more than {AGREE_WITHIN:.0%}: "
        + ", ".join(off)
        + " (see check.json for each verdict)"
    )
