"""Words for people that the records and the stages below the output build
("2 hosts", "cpu 20 ms"). They live here, not in bench/output, because the
analysis (curve labels), the sweep's plan and the fleet's ceilings use them,
and those stages may not import the output (tests/unit/test_architecture.py)."""

from bench.results.records import point_name


def host_words(count: int) -> str:
    """ "1 host", "2 hosts": a point's host count (--host-counts), as its
    variant and its curve's name say it."""
    return f"{count} host{'s' if count != 1 else ''}"


def point_label(workload: str, task_ms: float | None = None, pinned: int | None = None, task: str | None = None) -> str:
    """A point or a group of points (its point_name), for people: "cpu 20 ms",
    "sleep 50 ms (1 CPU)"; a user's `task` by its name, "orders.place" (its
    size is an estimate from its profile, not what the user asked for)."""
    size = f" {task_ms:g} ms" if task_ms is not None else ""
    pin = f" ({pinned} CPU)" if pinned else ""
    return f"{task}{pin}" if task is not None else f"{workload}{size}{pin}"


def task_named(key: str, workload: str, task_ms: float | None, task: str | None) -> str:
    """A point's or a figure's key (point_name) for people: a user's task by
    its name, "orders.place-threads-c4" for "task-25.246ms-threads-c4"; any
    other key as it is."""
    if task is None:
        return key
    return task + key.removeprefix(point_name(workload, task_ms))


def recycles_nothing_words(pool: str) -> str:
    """Why a recycling setting (max_tasks_per_child, max_memory_per_child)
    does nothing in `pool`: run refuses it and a sweep leaves it out with these words."""
    return (
        f"only prefork replaces its pool processes; {pool} runs every task in the worker's own process, which is "
        "never replaced (celery/celery#6312)"
    )
