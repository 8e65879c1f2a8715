"""Terminal text for open-loop results and capacity searches. Reporters
return text; only the CLI prints."""

from collections.abc import Mapping
from typing import Any

from bench.results.records import RunResult


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def open_loop_summary(result: RunResult) -> str:
    """The open-loop block of a run's terminal summary (a RunResult)."""
    ol, sched = result.open_loop, result.schedule
    assert ol is not None, "an open-loop run's result"
    assert sched is not None, "an open-loop run's result"
    tasks = ol["tasks"]
    send_rate = ol["achieved_send_rate_per_s"]
    lines = [
        "",
        f"  open loop: {sched['arrival']} arrivals at {ol['offered_rate_per_s']:g} tasks/s; "
        f"{sched['warmup_s']:g} s warm-up, then a {sched['duration_s']:g} s window",
        f"  counted         {tasks['counted']} of {tasks['scheduled']} tasks scheduled in the window "
        f"({tasks['warmup']} warm-up tasks not counted; {tasks['not_finished']} never finished, "
        f"{tasks['failed']} failed)",
        f"  offered         {ol['offered_rate_per_s']:10.1f} tasks/s",
        f"  sent            {send_rate:10.1f} tasks/s  ({100 * ol['send_rate_share']:.1f}% of the schedule)"
        if send_rate is not None
        else "  sent                     -  (tasks of the window were never sent)",
        f"  completed       {ol['achieved_completion_rate_per_s']:10.1f} tasks/s  (inside the window)",
        _backlog_line(ol),
        f"  send lag (ms)   p50 {_ms(ol['send_lag_p50_s'])}  p99 {_ms(ol['send_lag_p99_s'])}  "
        f"max {_ms(ol['send_lag_max_s'])}  (bound on p99: {_ms(ol['send_lag_p99_bound_s'])})",
        "  latency from the scheduled send time (ms)",
        "                      p50      p90      p99    p99.9      max",
    ]
    for kind, label in (
        ("wait", "queue wait"),
        ("service", "service"),
        ("sojourn", "sojourn"),
        ("sojourn_from_sent", "(from sent)"),
    ):
        vals = "".join(f"{_ms(ol[f'{kind}_{p}_s']):>9}" for p in ("p50", "p90", "p99", "p999", "max"))
        lines.append(f"    {kind if label is None else label:<14}{vals}")
    lines.append("  (from sent: measured from the actual send, for reference; it hides a producer's stalls)")
    if ol["producer_limited"]:
        lines.append(f"  !!! PRODUCER-LIMITED: {ol['producer_reason']}; not a latency result at this rate !!!")
    return "\n".join(lines)


def _backlog_line(ol: Mapping[str, Any]) -> str:
    if ol["backlog_at_end"] is None:  # a soak counts what was in flight, started or not
        what, n = "tasks sent and not finished at the window's end", ol.get("in_flight_at_end")
    else:
        what, n = "tasks sent but not started at the window's end", ol["backlog_at_end"]
    return f"  backlog         {'-' if n is None else n:>10} {what}; drain {_ms(ol['drain_s'])} ms"


def capacity_summary(result: Mapping[str, Any]) -> str:
    """The capacity search's terminal text."""
    objective = ", ".join(f"{o['percentile_label']} <= {o['limit_s'] * 1000:g} ms" for o in result["objectives"])
    lines = [
        f"{result['point']['pool']} -c {result['point']['concurrency']}  "
        f"{result['point'].get('task') or result['point']['workload']}"
        f"  objective: {objective}",
        f"  drain throughput {result['drain_throughput_per_s']:.1f} tasks/s (the search's start)",
        "",
        "  rate/s   repeats  meets     "
        + "  ".join(f"{o['percentile_label']} ms (median [95% CI])" for o in result["objectives"]),
    ]
    for tried in result["tried"]:
        cells = []
        for est in tried["percentiles"]:
            cells.append(_estimate_ms(est))
        verdict = "yes" if tried["meets"] else ("prod-lim" if tried["producer_limited"] else "no")
        lines.append(f"  {tried['rate_per_s']:7.1f}  {tried['repeats']:7d}  {verdict:<9} " + "  ".join(cells))
    lines.append("")
    found = result["capacity"]
    if found is None:
        lines.append(f"  no rate tried meets the objective: {result['recommendation']}")
        return "\n".join(lines)
    hi = found["first_failing_rate_per_s"]
    lines.append(
        f"  capacity: {found['rate_per_s']:.1f} tasks/s meets {objective}"
        + (f" (the capacity lies in [{found['rate_per_s']:.1f}, {hi:.1f}) tasks/s)" if hi is not None else "")
    )
    for est in found["percentiles"]:
        lines.append(f"    {est['percentile_label']} at that rate: {_estimate_ms(est)} ms")
    lines.append(f"  recommendation: {result['recommendation']}")
    return "\n".join(lines)


def _estimate_ms(est):
    if est["median_s"] is None:
        return "-"
    if est["ci_low_s"] is None:
        return f"{est['median_s'] * 1000:.1f}"
    return f"{est['median_s'] * 1000:.1f} [{est['ci_low_s'] * 1000:.1f}, {est['ci_high_s'] * 1000:.1f}]"
