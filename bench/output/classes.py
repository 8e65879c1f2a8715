"""Terminal text for a traffic mix: per class, its share, throughput and
latency, and the time its tasks sat reserved in a worker while a slot of
the run was free (head-of-line blocking). Reporters return text; only
the CLI prints."""

from collections.abc import Mapping
from typing import Any

from bench.output.terminal import aligned
from bench.results.records import RunResult


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def class_rows(traffic: Mapping[str, Any], per_class: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """A header and a row per class: share, size, tasks, throughput,
    sojourn and reserved percentiles (ms), and the waits while a slot was free."""
    rows = [
        [
            "class",
            "share",
            "mean ms",
            "tasks",
            "tasks/s",
            "sojourn p50",
            "p99",
            "max",
            "reserved p99",
            "waited while a slot was free",
        ]
    ]
    for described in traffic["classes"]:
        fields = per_class.get(described["name"])
        if fields is None:
            continue
        rate = fields["throughput_per_s"]
        free = fields["reserved_while_free_s"]
        waited = fields["waited_while_free"]
        rows.append(
            [
                described["name"],
                f"{100 * described['share']:.3g}%",
                "-" if described.get("mean_ms") is None else f"{described['mean_ms']:.4g}",
                str(fields["tasks"]["succeeded"]),
                "-" if rate is None else f"{rate:.1f}",
                _ms(fields["sojourn_p50_s"]),
                _ms(fields["sojourn_p99_s"]),
                _ms(fields["sojourn_max_s"]),
                _ms(fields["reserved_p99_s"]),
                f"{waited} task{'s' if waited != 1 else ''}, {free:.2f} s in all" if waited else "none",
            ]
        )
    return rows


def _routing(traffic: Mapping[str, Any]) -> str:
    """ ", dedicated queues: default, slow" under dedicated routing; "" otherwise (older documents too)."""
    if traffic.get("routing") != "dedicated":
        return ""
    return f", dedicated queues: {', '.join(traffic['lanes'])}, worker i on queue i mod {len(traffic['lanes'])}"


def classes_summary(result: RunResult) -> str | None:
    """The per-class block of a traffic mix's run; None for one workload."""
    traffic = result.traffic
    per_class = result.classes if result.open_loop is None else result.open_loop.get("classes")
    if traffic is None or per_class is None:
        return None
    origin = "its publish" if result.open_loop is None else "its scheduled send time"
    lines = [
        "",
        f"  traffic: {len(traffic['classes'])} classes from {traffic['source']} (seed {traffic['seed']}"
        f"{_routing(traffic)}); latency from {origin}, ms",
    ]
    lines += [f"    {line}" for line in aligned(class_rows(traffic, per_class), right=range(1, 9))]
    lines.append(
        "  reserved: from the worker's consumer receiving a task to its start; waited while a slot was free: "
        f"over {1000 * traffic['free_wait_min_s']:g} ms of it with an idle slot that could have run it "
        "(prefetch held it)"
    )
    return "\n".join(lines)
