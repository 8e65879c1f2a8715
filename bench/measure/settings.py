"""The deployment settings a user can vary (`sweep --vary NAME=V1,V2` and the
settings of an `ab` side): their names, and each value parsed once from text.

Pure: no Celery, no network. A value is kept as the user wrote it (`text`)
for names and labels, and parsed (`value`) for the worker.
"""

from dataclasses import dataclass

from bench.errors import UsageError
from bench.harness.urls import check_url, redact

EMBEDDED = "embedded"  # the `broker` value for the harness's private server


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
        Setting("max_tasks_per_child", "replace a pool process after this many tasks (0: never)"),
        Setting("workers", "worker nodes on this host, each with the pool and -c"),
    )
}

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _whole(name, text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}: expected a whole number, got {text!r}") from None
    if value < minimum:
        raise UsageError(f"{name}: must be at least {minimum}, got {value}")
    return value


def parse_value(name: str, text: str, option: str = "--vary") -> bool | int | str | None:
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
    if name == "workers":
        return _whole(where, text, 1)
    if name == "acks_late":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UsageError(f"{where}: expected true or false, got {text!r}")
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
