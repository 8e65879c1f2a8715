"""The hosts of a run on agents (run --hosts) in words: tasks, clock offset
and its bound, and each host's workers' resources."""

from bench.results.records import Resources, RunResult


def resources_words(r: Resources) -> str:
    """One host's workers in words: cores busy, CPU seconds, memory peaks."""

    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value / 2**20:.1f} MiB"

    return (
        f"{r.worker_cpu_s:.2f} CPU s = {r.worker_cpu_cores:.2f} cores busy "
        f"({r.worker_cpu_percent_of_usable:.0f}% of its cores); USS {mib(r.worker_uss_peak_bytes)}, "
        f"PSS {mib(r.worker_pss_peak_bytes)} (peak, {r.worker_processes} processes)"
    )


def hosts_text(result: RunResult) -> str:
    """Per host: tasks, clock offset and its bound, and a warning when a
    bound is not small against the window (text; the CLI prints it)."""
    if not result.hosts:
        return ""
    lines = ["hosts (times converted to the harness's clock):"]
    for h in result.hosts:
        lines.append(
            f"  {h.name:<12} {h.hostname:<14} {h.cores:g} cores  {h.workers} worker(s)  {h.tasks} tasks  "
            f"clock offset {h.offset_s * 1000:+.3f} ms ± {h.error_s * 1000:.3f} ms ({h.probes} round trips)"
        )
        if h.resources is not None:
            lines.append(f"  {'':<12} workers: {resources_words(h.resources)}")
    for h in result.hosts:
        if h.bound_too_wide:
            lines.append(
                f"warning: the clock offset of {h.name} is only known to ± {h.error_s * 1000:.1f} ms, "
                "more than 1% of the measured window; lengthen the run (--tasks)"
            )
    return "\n".join(lines)
