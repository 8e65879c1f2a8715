"""The profile of a user's task as text: what a call is made of, and the
predicted best configuration per pool with its basis."""

from collections.abc import Mapping, Sequence
from typing import Any

from bench.analysis.advise import MIN_EFFECT
from bench.harness.sizes import size_words
from bench.output.budget import budget_sentence, budget_terms, uptime_words


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def _rate(value):
    return "overhead-bound" if value is None else f"{value:.1f}/s"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Table rows indented, each column but the last padded to its widest."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join([*(r[i].ljust(w) for i, w in enumerate(widths)), r[-1]]).rstrip() for r in rows]


def profile_table(doc: Mapping[str, Any]) -> str:
    """The terminal text of a profile document."""
    call, mem, pred = doc["per_call"], doc["memory"], doc["prediction"]
    lines = [
        f"profile of {doc['task']} (app {doc['app']}): {call['calls']} calls one at a time (solo), "
        f"after {doc['config']['warmup']} warm-up",
        "",
        f"  wall service time   {_ms(call['wall_s'])} median, p90 {_ms(call['wall_p90_s'])}"
        + (f" (95% CI of the median +-{call['wall_ci95_rel'] / 2:.1%})" if call["wall_ci95_rel"] is not None else ""),
        f"  CPU time            {_ms(call['cpu_s'])} median (the task's own thread)",
        f"  waiting             {_ms(call['wait_s'])} median (wall - CPU): {call['waiting_share']:.0%} of a call",
    ]
    if mem["rss_growth_bytes"] is not None:
        lines.append(
            f"  memory growth       {mem['rss_growth_bytes'] / 2**20:+.2f} MiB RSS over the calls "
            f"({mem['rss_growth_per_call_bytes'] / 1024:+.2f} KiB per call)"
        )
    gil = doc.get("gil")  # profile documents of version 2 on
    if gil is not None:
        verdict = {True: "releases it", False: "holds it", None: "unknown"}[gil["releases_gil"]]
        lines.append(f"  GIL                 {verdict}: {gil['basis']}")
    if not call["stable"]:
        lines.append("  ! unstable: the median's 95% CI is wide; profile more calls (--calls)")
    lines += ["", f"predicted on {pred['cores']:g} cores (C = CPU, W = waiting per call):", ""]
    rows = [("pool", "best -c", "throughput there", "basis")]
    for p in pred["pools"]:
        best = "-" if p["best_c"] is None else str(p["best_c"])
        rate = _rate(p["per_s"])
        if p.get("best_c_if_gil_released") is not None:
            best += f" ({p['best_c_if_gil_released']})"
            rate += f" ({_rate(p['per_s_if_gil_released'])})"
        rows.append((p["pool"], best, rate, p["basis"]))
    lines += _aligned(rows)
    if any(p.get("best_c_if_gil_released") is not None for p in pred["pools"]):
        lines.append("  (threads: if the task's CPU holds the GIL; in brackets, if it releases it)")
    lines += ["", f"favoured: {pred['favoured']}: {pred['reason']}"]
    lines += model_lines(doc.get("model"))
    lines += budget_lines(doc)
    return "\n".join(lines)


BUDGET_VERSION = 3  # the profile document's version that has the budget


def model_lines(model: Mapping[str, Any] | None) -> list[str]:
    """The prediction with Celery's per-task cost (the model's knee of each
    pool), or how to get it; nothing for a profile from before version 4."""
    if model is None:
        return []
    if model.get("missing"):
        return [
            "",
            f"with Celery's own per-task cost: not predicted: {model['missing']}; `python -m bench advise` "
            "measures it once (about a minute), and profile uses it from then on",
        ]
    lines = [
        "",
        f"with Celery's own per-task cost (the model, on each pool's sweep grid; measured {model['broker']}, "
        f"{model['overheads_measured_utc']}):",
        "",
    ]
    rows = [("pool", "best -c", "throughput there")]
    for p in model["pools"]:
        best, rate = str(p["best_c"]), _rate(p["per_s"])
        if p.get("best_c_if_gil_released") is not None:
            best += f" ({p['best_c_if_gil_released']})"
            rate += f" ({_rate(p['per_s_if_gil_released'])})"
        rows.append((p["pool"], best, rate))
    lines += _aligned(rows)
    lines.append(f"  (best -c: the smallest within {MIN_EFFECT:.0%} of the pool's best; `advise` measures around it)")
    if any(p.get("best_c_if_gil_released") is not None for p in model["pools"]):
        lines.append("  (threads: if the task's CPU holds the GIL; in brackets, if it releases it)")
    if model.get("not_measured"):
        lines.append(
            f"  not modelled: {', '.join(model['not_measured'])}: Celery's cost there is not measured "
            "(`advise --pools` with them measures it)"
        )
    return lines


def budget_lines(doc: Mapping[str, Any]) -> list[str]:
    """A profile's budget section: its lines, or how to ask for one (from version 3 on)."""
    if doc.get("budget") is None and doc.get("schema_version", 0) >= BUDGET_VERSION:
        return ["", "memory budget: not asked; --memory-budget SIZE or --uptime TIME measures it (two prefork runs)"]
    return budget_table(doc.get("budget"))


def budget_table(budget: Mapping[str, Any] | None) -> list[str]:
    if not budget:
        return []
    if budget.get("error"):
        return ["", f"memory budget: not measured: {budget['error']}"]
    ask = f"after {uptime_words(budget['uptime_s'])}"
    if budget["budget_bytes"] is not None:
        ask += f", within {size_words(budget['budget_bytes'])}"
    lines = ["", f"memory {ask} (the worker tree's PSS: base + -c x a slot + growth x tasks):", ""]
    for line in budget["pools"]:
        lines.append(f"  {budget_sentence(line, budget['uptime_s'], budget['budget_bytes'])}")
        lines.append(f"      = {budget_terms(line)}")
    prefork = next((p for p in budget["pools"] if p["pool"] == "prefork"), None)
    if prefork is not None:
        lines.append(f"  prefork: {prefork['basis']}")
    return lines
