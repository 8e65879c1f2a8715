"""A run over time, from its per-second series (bench/analysis/series.py):
throughput with its stall seconds (and an open loop's offered rate), the
tasks in flight and the broker's queue depth, the latency of what
finished each second, and each worker process's memory with its births
and deaths (prefork recycling), the harness's own beside it. Drawn for a
soak at its end, and for any run by `python -m bench plot RUN.json`.

matplotlib is imported where a figure is drawn, not with the module:
`run` imports it for a soak's end, and a run that is not a soak should
not pay a quarter of a second of CPU for it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.results.records import RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIB = 2**20
MINUTES_PAST_S = 600  # a run longer than this is drawn in minutes


def series_figure(rows: Sequence[Mapping[str, Any]], title: str, offered_per_s: float | None = None) -> Figure:
    """Four panels sharing the time axis: completions a second (stall
    seconds shaded; an open loop's offered rate dashed), the tasks in flight
    and the broker's queue depth, sojourn p50 and p99 of what finished each
    second, and USS per worker process (a process born or gone in the
    window marked where it was) with the harness's RSS."""
    from bench.output.plot_style import subplots

    minutes = len(rows) > MINUTES_PAST_S
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    t = [row["t_s"] / scale for row in rows]
    fig, axes = subplots(10, 11, rows=4, layout="constrained")
    rate, queue, latency, memory = axes[:, 0]
    for ax in (queue, latency, memory):
        ax.sharex(rate)
    fig.suptitle(title)

    rate.plot(t, [row["completions"] for row in rows], color="tab:blue", linewidth=1, label="completions a second")
    if offered_per_s is not None:
        rate.axhline(offered_per_s, color="gray", linestyle="--", linewidth=1, label=f"offered ({offered_per_s:g}/s)")
    stalls = [x for x, row in zip(t, rows, strict=True) if row["stall"]]
    for x in stalls:
        rate.axvspan(x, x + 1 / scale, color="tab:red", alpha=0.25, linewidth=0)
    if stalls:
        rate.plot([], [], color="tab:red", alpha=0.4, linewidth=6, label=f"stall seconds ({len(stalls)})")
    rate.set_ylabel("tasks / s")
    rate.set_ylim(bottom=0)
    rate.legend(loc="lower right", fontsize="small")
    rate.grid(alpha=0.3)

    _queue(queue, t, rows)
    for key, style, name in (("sojourn_p50_s", "-", "sojourn p50"), ("sojourn_p99_s", "--", "sojourn p99")):
        points = [(x, row[key] * 1000) for x, row in zip(t, rows, strict=True) if row.get(key)]
        if points:
            latency.plot(*zip(*points, strict=True), style, color="tab:purple", linewidth=1, label=name)
    latency.set_ylabel("ms, of what finished")
    if latency.has_data():
        latency.set_yscale("log")
        latency.yaxis.set_major_formatter(plain_log_labels())  # 0.6, 2, 500 ms, not 6x10^-1
        latency.yaxis.set_minor_formatter(plain_log_labels(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        latency.margins(y=0.25)  # room for the legend over a flat line
        latency.legend(loc="upper right", fontsize="small")
    latency.grid(alpha=0.3, which="both")

    _memory(memory, t, rows)
    memory.set_xlabel(f"{unit} since the first task was sent")
    return fig


def plain_log_labels(**options: Any) -> Any:
    """A log axis's labels as plain numbers; minor ones where the axis spans few decades."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:g}"

    return Plain(**options)


def _queue(ax: Any, t: Sequence[float], rows: Sequence[Mapping[str, Any]]) -> None:
    in_flight = [row["in_flight"] for row in rows]
    ax.plot(t, in_flight, color="tab:blue", linewidth=1, label="in flight (not finished)")
    depth = [(x, row["queue_depth"]) for x, row in zip(t, rows, strict=True) if row.get("queue_depth") is not None]
    if depth:
        ax.plot(*zip(*depth, strict=True), color="tab:brown", linewidth=1, label="ready at the broker")
    ax.set_ylabel("tasks")
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize="small")  # a closed loop's in flight runs along the top, an open loop's at 0
    ax.grid(alpha=0.3)


def _memory(ax: Any, t: Sequence[float], rows: Sequence[Mapping[str, Any]]) -> None:
    lines: dict[int, tuple[list[float], list[float], bool]] = {}
    harness = [
        (x, row["harness_rss_bytes"] / MIB) for x, row in zip(t, rows, strict=True) if row.get("harness_rss_bytes")
    ]
    for x, row in zip(t, rows, strict=True):
        for proc in row.get("memory") or ():
            if proc.get("uss_bytes") is None:
                continue
            xs, ys, _main = lines.setdefault(proc["pid"], ([], [], bool(proc.get("main"))))
            xs.append(x)
            ys.append(proc["uss_bytes"] / MIB)
    first, last = (t[0], t[-1]) if t else (0.0, 0.0)
    children = 0
    for xs, ys, main in lines.values():
        if main:
            ax.plot(xs, ys, color="tab:green", linewidth=1.2, label="worker main process")
            continue
        ax.plot(xs, ys, color="tab:orange", linewidth=0.8, alpha=0.8, label="pool process" if not children else None)
        children += 1
        # recycling: a pool process born after the first second, or gone before the last
        if xs[0] > first:
            ax.plot(xs[0], ys[0], "^", color="tab:orange", markersize=4)
        if xs[-1] < last:
            ax.plot(xs[-1], ys[-1], "v", color="tab:orange", markersize=4)
    if harness:
        ax.plot(*zip(*harness, strict=True), ":", color="gray", linewidth=1, label="harness (RSS)")
    ax.set_ylabel("MiB (USS)")
    if ax.has_data():
        ax.legend(loc="best", fontsize="small")  # the harness line runs along the top
    ax.grid(alpha=0.3)


def series_title(config: Any, seconds: int) -> str:
    """`prefork -c 2, sleep 10 ms: 1,800 s, second by second` from a run's config (RunSettings)."""
    size = f" {config.task_ms:g} ms" if config.task_ms is not None else ""
    what = config.user_task["task"] if config.user_task else f"{config.workload}{size}"
    soak = " soak" if config.soak is not None else ""
    if config.soak is not None and config.soak.backlog is None:
        soak = " open-loop soak"
    return f"{config.pool} -c {config.concurrency}, {what}: {seconds:,} s{soak}, second by second"


def read_series(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_series_figure(result: RunResult, run_path: Path) -> list[Path]:
    """The figure of a run's series (its file beside the run document at
    `run_path`), titled from its config; [] without a series."""
    series = result.summary.series if result.summary is not None else None
    if series is None:
        return []
    title = series_title(result.config, series.seconds)
    offered = result.schedule["rate_per_s"] if result.schedule is not None else None
    return save_series_figure(run_path.with_name(series.file), title, offered)


def save_series_figure(series_path: Path, title: str, offered_per_s: float | None = None) -> list[Path]:
    """Draw the series at `series_path` (JSON Lines) beside it, as
    NAME.png and NAME.svg (NAME: the series file's name less .jsonl)."""
    fig = series_figure(read_series(series_path), title, offered_per_s)
    written = []
    from bench.output.plot import DPI, FORMATS, METADATA

    for fmt in FORMATS:
        out = series_path.with_suffix(f".{fmt}")
        fig.savefig(out, dpi=DPI, metadata=METADATA[fmt])
        written.append(out)
    return written
