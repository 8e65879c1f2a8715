"""Words for people that the records and the stages below the output build
("2 hosts", "cpu 20 ms"). They live here, not in bench/output, because the
analysis (curve labels), the sweep's plan and the fleet's ceilings use them,
and those stages may not import the output (tests/unit/test_architecture.py)."""


def host_words(count: int) -> str:
    """ "1 host", "2 hosts": a point's host count (--host-counts), as its
    variant and its curve's name say it."""
    return f"{count} host{'s' if count != 1 else ''}"


def point_label(workload: str, task_ms: float | None = None, pinned: int | None = None) -> str:
    """A point or a group of points (its point_name), for people: "cpu 20 ms",
    "sleep 50 ms (1 CPU)"."""
    size = f" {task_ms:g} ms" if task_ms is not None else ""
    pin = f" ({pinned} CPU)" if pinned else ""
    return f"{workload}{size}{pin}"
