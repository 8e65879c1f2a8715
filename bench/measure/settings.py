"""The deployment settings a user can vary (`sweep --vary NAME=V1,V2` and the
settings of an `ab` side): their names, and each value parsed once from text.

Pure: no Celery, no network. A value is kept as the user wrote it (`text`)
for names and labels, and parsed (`value`) for the worker.
"""

from dataclasses import dataclass

from bench.errors import UsageError
from bench.harness.cgroups import check_cpu_limit, check_memory_limit
from bench.harness.sizes import parse_kib, parse_size
from bench.harness.urls import check_url, redact
from bench.measure.traffic import ROUTINGS

EMBEDDED = "embedded"
# The worker's -O, as Celery's `worker` command takes it. In Celery 5.7 both give the
# prefork pool the fair strategy (asynpool.SCHED_STRATEGIES maps "default" and "fair" to
# SCHED_STRATEGY_FAIR); the other pools take no strategy.
OPTIMIZATIONS = ("default", "fair")  # the `broker` value for the harness's private server


@dataclass(frozen=True)
class Setting:
    name: str
    summary: str


SETTINGS = {
    s.name: s
    for s in (
        Setting("prefetch_multiplier", "the worker's --prefetch-multiplier (0: no limit)"),
        Setting("acks_late", "task_acks_late: acknowledge after the task ran (true/false)"),
        Setting("broker", "embedded (the private server) or a redis:// or amqp:// URL"),
        Setting("result_backend", "none (keep no results) or broker (keep them in the broker)"),
        Setting("max_tasks_per_child", "prefork only: replace a pool process after this many tasks (0: never)"),
        Setting(
            "max_memory_per_child",
            "prefork only: replace a pool process once its peak RSS passes this size after a task, e.g. 200MiB "
            "(0: never)",
        ),
        Setting("workers", "worker nodes on this host, each with the pool and -c"),
        Setting("cpu_limit", "each worker's CPU quota in cores, in a cgroup of its own (--cpu-limit)"),
        Setting("memory_limit", "each worker's memory limit, swap off, e.g. 512MiB (--memory-limit)"),
        Setting(
            "reject_on_worker_lost",
            "task_reject_on_worker_lost: with acks_late, a task whose pool process died is requeued (true/false)",
        ),
        Setting(
            "soft_shutdown_timeout",
            "worker_soft_shutdown_timeout in seconds, e.g. 0 or 10s; above 0 with REMAP_SIGTERM=SIGQUIT",
        ),
        Setting("visibility_timeout", "Redis only: seconds before an unacknowledged message is delivered again"),
        Setting("optimization", "the worker's -O: default or fair (how prefork hands tasks to its processes)"),
        Setting(
            "disable_prefetch",
            "Redis only: worker_disable_prefetch, take a message only for a free slot (true/false)",
        ),
        Setting("eta_task_limit", "worker_eta_task_limit: the most ETA/countdown tasks a worker holds (1 or more)"),
        Setting(
            "alone",
            "none (a traffic mix, whole) or the name of one of its classes, run alone at its share of the rate: "
            "the baseline of its p99 without the others",
        ),
        Setting(
            "routing",
            "a traffic mix's queues: shared (every class on one) or dedicated (each class's queue its own workers)",
        ),
    )
}

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}  # longest first where one ends another


def parse_seconds(text: str, zero_allowed: bool) -> float:
    """A time in seconds, written as 10, 10s, 500ms, 2m or 1.5h: a finite
    number, above 0 (or 0 and more with `zero_allowed`); ValueError saying
    what was expected."""
    number, scale = text.strip(), 1.0
    for unit in sorted(_UNITS, key=len, reverse=True):
        if number.endswith(unit):
            number, scale = number[: -len(unit)].strip(), _UNITS[unit]
            break
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"expected seconds, such as 10, 10s, 500ms or 2m, got {text!r}") from None
    least = "0 or more" if zero_allowed else "above 0"
    if not (value >= 0 if zero_allowed else value > 0) or value == float("inf"):
        raise ValueError(f"must be seconds {least}, got {text!r}")
    return value


def _whole(name, text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}: expected a whole number, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"{name}: must be at least {minimum}, got {value}")
    return value


def parse_value(name: str, text: str, option: str = "--vary") -> bool | int | float | str | None:
    """The typed value of setting `name` written as `text`; UsageError
    (naming `option`) for an unknown setting or a bad value."""
    text = text.strip()
    where = f"{option} {name}"
    if name not in SETTINGS:
        raise UsageError(f"{option}: unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
    if name == "prefetch_multiplier":
        return _whole(where, text, 0)
    if name == "max_tasks_per_child":
        return _whole(where, text, 0)
    if name == "max_memory_per_child":
        try:
            return parse_kib(text)  # KiB, Celery's unit
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if name == "workers":
        return _whole(where, text, 1)
    if name == "eta_task_limit":
        return _whole(where, text, 1)
    if name == "alone":
        if not text.replace("-", "_").replace(".", "_").isidentifier():
            raise UsageError(f"{where}: expected none or a class name of the traffic, got {text!r}")
        return text
    if name == "routing":
        if text not in ROUTINGS:
            raise UsageError(f"{where}: expected {' or '.join(ROUTINGS)}, got {text!r}")
        return text
    if name == "optimization":
        if text not in OPTIMIZATIONS:
            raise UsageError(f"{where}: expected {' or '.join(OPTIMIZATIONS)}, got {text!r}")
        return text
    if name in ("acks_late", "reject_on_worker_lost", "disable_prefetch"):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UsageError(f"{where}: expected true or false, got {text!r}")
    if name in ("soft_shutdown_timeout", "visibility_timeout"):
        try:
            return parse_seconds(text, zero_allowed=name == "soft_shutdown_timeout")
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if name == "cpu_limit":
        try:
            cores = float(text)
            check_cpu_limit(cores)
        except ValueError as exc:
            detail = str(exc) if "must" in str(exc) else f"expected cores, such as 0.5 or 1.5, got {text!r}"
            raise UsageError(f"{where}: {detail}") from None
        return cores
    if name == "memory_limit":
        try:
            size = parse_size(text)
            check_memory_limit(size)
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from None
        return size
    if name == "result_backend":
        if text not in ("none", "broker"):
            raise UsageError(f"{where}: expected none or broker, got {text!r}")
        return text
    # broker
    if text == EMBEDDED:
        return None
    check_url(text)
    return text


def label(name: str, text: str) -> str:
    """How a value is shown in tables, legends and point names (a broker
    URL without its password)."""
    return f"{name}={redact(text)}"
