"""The memory budget line in words (profile, the sweep report, advise): per
pool, what its -c needs after the uptime, and the largest -c that fits,
e.g. "prefork -c 16 needs 1.4 GiB after 8 h at this slope; -c 10 fits
1 GiB"."""

from collections.abc import Mapping
from typing import Any

from bench.harness.sizes import size_words


def uptime_words(seconds: float) -> str:
    """8 h, 30 min, 90 s: the uptime as people say it."""
    for unit, scale in (("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def budget_sentence(line: Mapping[str, Any], uptime_s: float, budget_bytes: int | None) -> str:
    """One pool's line (a `line_json` dict)."""
    growth = " at this slope" if line["kib_per_task"] else ""
    said = f"{line['pool']} -c {line['at_c']} needs {size_words(line['needs_bytes'])} after {uptime_words(uptime_s)}"
    said += growth
    if budget_bytes is None:
        return said
    budget = size_words(budget_bytes)
    if line["fits"]:
        return f"{said}: fits {budget}"
    if line["fits_c"] is None:
        said = f"{said}; even -c 1 needs {size_words(line['least_bytes'])}: no -c fits {budget}"
        if line["kib_per_task"] and line["pool"] == "prefork":  # the growth does not fit: a child must go
            said += " (--max-tasks-per-child bounds a child's growth; this line does not count it)"
        return said
    return f"{said}; -c {line['fits_c']} fits {budget} ({size_words(line['fits_bytes'])})"


def budget_terms(line: Mapping[str, Any]) -> str:
    """How the line was reached: the terms, with the numbers."""
    growth = f" + {line['kib_per_task']:.3g} KiB x {line['tasks']:,} tasks" if line["kib_per_task"] else ""
    slot = f" + {line['at_c']} x {size_words(line['per_slot_bytes'])}" if line["pool"] != "solo" else ""
    return f"{size_words(line['base_bytes'])}{slot}{growth} (at {line['per_s_at_c']:,.1f} tasks/s)"


def _who(line: Mapping[str, Any]) -> str:
    return f"{line['pool']} ({line['label']})" if line.get("label") else line["pool"]


def budget_markdown(budget: Mapping[str, Any] | None) -> str:
    """The sweep report's (and advise's) section: each curve's line, its
    terms, and how they were measured; "" without lines."""
    if not budget or not budget["pools"]:
        return ""
    ask = f"after {uptime_words(budget['uptime_s'])}"
    if budget["budget_bytes"] is not None:
        ask += f", within {size_words(budget['budget_bytes'])}"
    out = [
        "## Memory budget",
        "",
        f"The worker tree's PSS {ask}, at each curve's best -c measured: what a worker holds after warm-up, "
        "what each slot adds (fitted over the -c measured), and what it keeps per task at the throughput "
        "measured there (a slope whose 95% CI includes 0, or a young worker's, is taken as none).",
        "",
        "| curve | line | = base + slots + growth | measured |",
        "|---|---|---|---|",
    ]
    for line in budget["pools"]:
        said = budget_sentence(line, budget["uptime_s"], budget["budget_bytes"])
        out.append(f"| {_who(line)} | {said} | {budget_terms(line)} | {line['basis']} |")
    return "\n".join(out) + "\n"


def budget_terminal(budget: Mapping[str, Any] | None) -> str:
    """The sentences for the terminal, one per curve, under a heading; "" without lines."""
    if not budget or not budget["pools"]:
        return ""
    said = [
        f"  {_who(line)}: {budget_sentence(line, budget['uptime_s'], budget['budget_bytes'])}"
        for line in budget["pools"]
    ]
    return "\n".join(["memory budget (the worker tree's PSS):", *said])
