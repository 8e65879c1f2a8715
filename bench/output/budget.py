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
        return f"{said}; even -c 1 needs {size_words(line['least_bytes'])}: no -c fits {budget}"
    return f"{said}; -c {line['fits_c']} fits {budget} ({size_words(line['fits_bytes'])})"


def budget_terms(line: Mapping[str, Any]) -> str:
    """How the line was reached: the terms, with the numbers."""
    growth = f" + {line['kib_per_task']:.3g} KiB x {line['tasks']:,} tasks" if line["kib_per_task"] else ""
    slot = f" + {line['at_c']} x {size_words(line['per_slot_bytes'])}" if line["pool"] != "solo" else ""
    return f"{size_words(line['base_bytes'])}{slot}{growth} (at {line['per_s_at_c']:,.1f} tasks/s)"


def budget_lines(budget: Mapping[str, Any] | None) -> list[str]:
    """The sentences of a document's `budget` section, one per pool; none
    for a document without one."""
    if not budget:
        return []
    return [budget_sentence(line, budget["uptime_s"], budget["budget_bytes"]) for line in budget["pools"]]
