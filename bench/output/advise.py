"""`advise`'s answer as a person reads it: the terminal summary, advise.md,
advise.html (the same Markdown as one page) and the figure of the model's
curves (dashed) beside the points measured."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.output import html
from bench.output.budget import budget_markdown, budget_terminal

Doc = Mapping[str, Any]


def _rate(value: float | None) -> str:
    return f"{value:,.1f}/s" if value is not None else "-"


def _mib(value: float | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value is not None else "-"


def _ci(p: Doc) -> str:
    if p.get("ci95_low_per_s") is None:
        return "no CI (one run)"
    return f"95% CI {p['ci95_low_per_s']:,.1f}-{p['ci95_high_per_s']:,.1f}"


def _error(p: Doc) -> str:
    return f"{p['model_error']:+.0%}" if p.get("model_error") is not None else "-"


def headline(doc: Doc) -> list[str]:
    rec = doc.get("recommendation")
    if rec is None:
        return ["No recommendation: nothing was measured."]
    lines = [
        f"Run:  {rec['command']}",
        f"      {_rate(rec['median_per_s'])} ({_ci(rec)}) for {doc['task']}; the model said "
        f"{_rate(rec['predicted_per_s'])} ({_error(rec)})",
    ]
    if rec.get("memory_bytes") is not None:
        lines.append(f"      memory: {_mib(rec['memory_bytes'])} (the worker tree's peak PSS)")
    runner = doc.get("runner_up")
    if runner is not None:
        gap = (
            f"{runner['loss']:.0%} less"
            if runner["loss"] >= 0
            else f"{-runner['loss']:.0%} more, within the tie: {rec['pool']} is the cheaper concurrency"
        )
        lines.append(f"Runner-up: {runner['pool']} -c {runner['concurrency']}, {_rate(runner['median_per_s'])}, {gap}")
    latency = doc.get("latency")
    if latency is not None:
        if latency.get("error"):
            lines.append(f"At {latency['rate_per_s']:g} tasks/s: the run failed ({latency['error']})")
        else:
            checks = "; ".join(
                f"{c['label']} {c['measured_s'] * 1e3:.1f} ms against {c['limit_s'] * 1e3:g} ms: "
                + ("met" if c["met"] else "MISSED")
                for c in latency["objectives"]
                if c["measured_s"] is not None
            )
            p99 = latency.get("sojourn_p99_s")
            lines.append(
                f"At {latency['rate_per_s']:g} tasks/s: sojourn p99 "
                + (f"{p99 * 1e3:.1f} ms" if p99 is not None else "-")
                + (f"; {checks}" if checks else "")
                + ("; the producer could not keep the rate" if latency.get("producer_limited") else "")
            )
    memory = doc.get("memory")
    if memory is not None:
        if memory["fits"]:
            lines.append(f"Memory: fits the {_mib(memory['budget_bytes'])} budget")
        else:
            alt = memory.get("alternative")
            lines.append(
                f"Memory: {_mib(memory['winner_bytes'])} is over the {_mib(memory['budget_bytes'])} budget"
                + (
                    f"; {alt['pool']} -c {alt['concurrency']} fits ({_mib(alt['memory_bytes'])}, {_rate(alt['per_s'])})"
                    if alt
                    else "; nothing measured fits"
                )
            )
    lines.append(f"Confidence: {doc['confidence']}: {doc['confidence_reason']}")
    return lines


def _points_rows(doc: Doc) -> list[list[str]]:
    rec = doc.get("recommendation") or {}
    rows = []
    for p in doc["points"]:
        chosen = (p["pool"], p["concurrency"]) == (rec.get("pool"), rec.get("concurrency"))
        rows.append(
            [
                p["pool"] + (" (chosen)" if chosen else ""),
                str(p["concurrency"]),
                _rate(p["median_per_s"]),
                _ci(p) if p.get("ci95_low_per_s") is not None else f"{len(p['values_per_s'])} run",
                _rate(p["predicted_per_s"]),
                _error(p),
                _mib(p.get("memory_bytes")),
            ]
        )
    return rows


POINT_HEADER = ["pool", "-c", "measured", "CI / runs", "model", "model error", "memory"]


def advise_terminal(doc: Doc) -> str:
    lines = [f"advise: {doc['task']}, on {doc['machine']['usable_cores']:g} usable cores", ""]
    lines += headline(doc)
    lines.append("")
    lines.append(f"Measured ({doc['runs']} runs in fresh workers, {doc['elapsed_s']:.0f} s in all):")
    widths = [max(len(r[i]) for r in [POINT_HEADER, *_points_rows(doc)]) for i in range(len(POINT_HEADER))]
    for row in [POINT_HEADER, *_points_rows(doc)]:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for item in doc["left_out"]:
        lines.append(f"  not measured further: {item['pool']}: {item['why']}")
    if said := budget_terminal(doc.get("budget")):  # advise documents from the budget line on
        lines += ["", said]
    return "\n".join(lines)


def advise_markdown(doc: Doc) -> str:
    out = [f"# advise: {doc['task']}", ""]
    rec = doc.get("recommendation")
    for line in headline(doc):
        if rec is not None and line.startswith("Run:"):
            line = f"Run: `{rec['command']}`"  # the line to copy, as code
        out.append(f"- {line.strip()}")
    demand = doc["demand"]
    out += [
        "",
        "![the model's curves and the points measured](advise.png)",
        "",
        "## What was measured",
        "",
        "| " + " | ".join(POINT_HEADER) + " |",
        "|" + "---|" * len(POINT_HEADER),
    ]
    out += ["| " + " | ".join(row) + " |" for row in _points_rows(doc)]
    out.append("")
    for item in doc["left_out"]:
        out.append(f"- not measured further: {item['pool']}: {item['why']}")
    if section := budget_markdown(doc.get("budget")):
        out += ["", section.rstrip("\n")]
    out += [
        "",
        "## The model",
        "",
        f"The task: {demand['cpu_s'] * 1e3:.3g} ms CPU + {demand['wait_s'] * 1e3:.3g} ms waiting per call "
        f"(medians, run alone); {_gil_words(demand.get('releases_gil'))}. "
        "Each pool is a closed queueing network solved by exact Mean Value Analysis: "
        "the task's waiting as a delay, its CPU on the cores (prefork) or behind the one interpreter lock "
        "(the other pools), and Celery's own per-task cost, measured here by no-op tasks:",
        "",
        "| pool | -c | no-ops/s | worker CPU per task |",
        "|---|---|---|---|",
    ]
    for p in doc["overheads"]["pools"]:
        out.append(
            f"| {p['pool']} | {p['concurrency']} | {p['noop_per_s']:,.0f} | {p['worker_cpu_per_task_s'] * 1e3:.3f} ms |"
        )
    out += ["", f"Measured {doc['overheads']['measured_utc']} on {doc['overheads']['broker']}.", ""]
    if doc["departures"]:
        out.append("Where a measurement left the model by more than 10% (the search followed the measurement):")
        out.append("")
        out += [f"- {d}" for d in doc["departures"]]
        out.append("")
    return "\n".join(out) + "\n"


def advise_html(doc: Doc, directory: str | Path) -> str:
    return html.render(advise_markdown(doc), directory)


def advise_figure(doc: Doc, path: Path) -> Path:
    from bench.output.plot_style import STYLE, single

    fig, ax = single(8.5, 6.0)
    measured_pools = {p["pool"] for p in doc["points"]}
    for pool, curve in doc["predicted"].items():
        cs = sorted(int(c) for c in curve)
        if len(cs) < 2:
            continue
        style = STYLE.get(pool, STYLE["prefork"])
        ax.plot(
            cs,
            [curve[str(c)] for c in cs],
            color=style["color"],
            linestyle="--",
            linewidth=1.2,
            alpha=0.9 if pool in measured_pools else 0.35,
            label=f"{pool}, model",
        )
    for pool in sorted(measured_pools):
        pts = sorted((p for p in doc["points"] if p["pool"] == pool), key=lambda p: p["concurrency"])
        style = STYLE.get(pool, STYLE["prefork"])
        low = [p["median_per_s"] - (p["ci95_low_per_s"] or p["median_per_s"]) for p in pts]
        high = [(p["ci95_high_per_s"] or p["median_per_s"]) - p["median_per_s"] for p in pts]
        ax.errorbar(
            [p["concurrency"] for p in pts],
            [p["median_per_s"] for p in pts],
            yerr=[low, high],
            color=style["color"],
            marker=style["marker"],
            linestyle="none",
            capsize=3,
            label=f"{pool}, measured (95% CI)",
        )
    rec = doc.get("recommendation")
    if rec is not None:
        ax.plot(
            [rec["concurrency"]],
            [rec["median_per_s"]],
            marker="*",
            markersize=22,
            markerfacecolor="none",  # the measured point and its CI stay visible inside it
            markeredgecolor="black",
            markeredgewidth=1.4,
            linestyle="none",
            label=f"advised: {rec['pool']} -c {rec['concurrency']}",
            zorder=5,
        )
    cores = doc["machine"]["usable_cores"]
    for x, label in ((cores, "cores"), (2 * cores, "2x cores")):
        ax.axvline(x, color="0.6", linestyle=":", linewidth=1, zorder=0)
        ax.annotate(
            label, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=8, color="0.4", ha="center", va="bottom"
        )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.set_xlabel("concurrency (-c)")
    ax.set_ylabel("throughput (tasks/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=3, frameon=False)
    fig.suptitle(f"advise: {doc['task']}, {cores:g} usable cores", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _gil_words(releases_gil: bool | None) -> str:
    """What the model took of the task's GIL (advise documents before the probe have no key: unknown)."""
    if releases_gil is None:
        return "whether its CPU releases the GIL is unknown, so threads are predicted as if it does (the higher bound)"
    return "its CPU releases the GIL, so threads compute on every core" if releases_gil else "its CPU holds the GIL"
