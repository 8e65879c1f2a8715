"""The settings a worker runs with, read back from the worker itself.

A setting the harness records must be the setting the worker ran with. Once
the workers are ready, and before the measured window opens, each worker
node is asked by Celery's remote control (through the broker, so workers on
agents answer too):

    stats()            the pool (implementation, max-concurrency, for
                       prefork max-tasks-per-child and the scheduling
                       strategy its -O gave it), prefetch_count, the
                       broker's transport and the transport options its
                       connection was made with (the visibility timeout
                       kombu's Redis channel uses)
    conf()             task_acks_late, task_reject_on_worker_lost,
                       worker_prefetch_multiplier,
                       worker_soft_shutdown_timeout,
                       worker_disable_prefetch, worker_eta_task_limit,
                       worker_max_memory_per_child,
                       broker_transport_options, result_backend,
                       task_serializer (the settings changed from Celery's
                       defaults; a key absent is its default: asking for
                       every default makes the worker evaluate them, and it
                       logs two warnings while doing so)
    registered(...)    the measured task's own acks_late and
                       reject_on_worker_lost (a task takes them when it is
                       bound, and it may set its own)
    active_queues()    the queues it consumes

The prefetch multiplier is derived from prefetch_count, which is what the
consumer asks of the broker: Celery sets it to -c x multiplier (its
Consumer bootstep), and `--prefetch-multiplier` need not reach app.conf.
The -O a worker was given is not kept where remote control reaches it,
but what it decides is: the prefork pool's scheduling strategy, which its
write statistics name ("fair" or "fcfs"; Celery 5.7 gives "fair" to both
`-O default` and `-O fair`); the other pools take no strategy, and report
none.

`check` compares the harness's intent with the reports: a disagreement is a
harness bug, and the run fails with one line naming the setting, the value
meant and the value reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from celery.app.defaults import DEFAULTS

from bench.errors import RunFailed
from bench.harness.urls import redact

if TYPE_CHECKING:
    from celery import Celery

INSPECT_TIMEOUT_S = 10.0  # for one worker's answer to one inspect command, over every attempt, s
# A broadcast sent before the worker listens is lost (over Redis, remote
# control is publish/subscribe, and a worker subscribes once its event loop
# runs, which can be just after it said it is ready): ask again this often.
ATTEMPT_S = 1.0

# The settings read from conf() (Celery's defaults where the worker's table lacks them).
CONF_KEYS = (
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "worker_soft_shutdown_timeout",
    "worker_disable_prefetch",
    "worker_eta_task_limit",
    "worker_max_memory_per_child",
    "broker_transport_options",
    "result_backend",
    "task_serializer",
)
# The measured task's own attributes asked of registered().
TASK_ATTRIBUTES = ("acks_late", "reject_on_worker_lost")

# Celery's pool implementations (stats' `pool.implementation`) by the names
# the harness gives them.
POOL_NAMES = {
    "celery.concurrency.prefork:TaskPool": "prefork",
    "celery.concurrency.gevent:TaskPool": "gevent",
    "celery.concurrency.eventlet:TaskPool": "eventlet",
    "celery.concurrency.solo:TaskPool": "solo",
    "celery.concurrency.thread:TaskPool": "threads",
}


class SettingMismatch(RunFailed):
    """A worker ran with a setting other than the one the harness meant."""

    def __init__(self, message, reported):
        super().__init__(message)
        self.reported = reported  # {node: report}, as read_back returned it


def _ask(app, node, command, timeout_s, between, *args, **kwargs):
    """`node`'s answer to the inspect `command`, asked again every
    ATTEMPT_S until it answers or `timeout_s` passed (then RunFailed);
    `between()` after each attempt that got no answer (it may raise)."""
    deadline = time.monotonic() + timeout_s
    while True:
        attempt_s = max(0.1, min(ATTEMPT_S, deadline - time.monotonic()))
        inspect = app.control.inspect(destination=[node], timeout=attempt_s, limit=1)
        answers = getattr(inspect, command)(*args, **kwargs)
        if (answers and node in answers) or time.monotonic() >= deadline:
            return _one(answers, node, command, timeout_s)
        if between is not None:
            between()


def _one(answers, node, command, timeout_s=INSPECT_TIMEOUT_S):
    if not answers or node not in answers:
        raise RunFailed(
            f"worker {node} did not answer remote control ({command}) within {timeout_s:g} s: "
            "its settings cannot be read back (does the app disable worker_enable_remote_control?)"
        )
    return answers[node]


def _task_flag(registered, task, attribute):
    """The measured task's `attribute` (acks_late, reject_on_worker_lost)
    from `registered(*TASK_ATTRIBUTES)`'s lines ("name [acks_late=True
    reject_on_worker_lost=None]"): True or False (Celery's None reads as
    false); None when the task or the attribute is not there."""
    for line in registered or ():
        name, _, rest = str(line).partition(" [")
        if name == task:
            for item in rest.rstrip("]").split():
                key, _, value = item.partition("=")
                if key == attribute:
                    return value == "True"
            return None
    return None


def _visibility_timeout(transport_options):
    """The visibility timeout among transport options, s; None: not set
    (kombu's Redis transport then waits its own 3600 s)."""
    value = transport_options.get("visibility_timeout") if isinstance(transport_options, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _sched_strategy(pool):
    """The prefork pool's scheduling strategy from its stats ("fair",
    "fcfs"); None for a pool that has none (or an answer without it)."""
    writes = pool.get("writes")
    strategy = writes.get("strategy") if isinstance(writes, dict) else None
    return strategy if isinstance(strategy, str) else None


def report_of(
    stats: dict[str, Any],
    conf: dict[str, Any],
    registered: list[str] | None,
    queues: list[dict[str, Any]] | None,
    task: str,
    concurrency: int,
) -> dict[str, Any]:
    """One node's report (JSON-ready) from its four answers. `concurrency`:
    the -c the worker was given, which divides prefetch_count for the
    multiplier (solo reports a max-concurrency of 1 whatever -c says, and
    Celery multiplies -c)."""
    pool = stats.get("pool")
    if not isinstance(pool, dict):
        pool = {}
    implementation = pool.get("implementation")
    prefetch_count = stats.get("prefetch_count")
    max_per_child = pool.get("max-tasks-per-child")
    broker = stats.get("broker")
    if not isinstance(broker, dict):
        broker = {}
    multiplier = None
    if isinstance(prefetch_count, int) and concurrency:
        multiplier = (
            prefetch_count // concurrency if prefetch_count % concurrency == 0 else prefetch_count / concurrency
        )
    conf = {key: conf.get(key, DEFAULTS.get(key)) for key in CONF_KEYS}
    backend = conf.get("result_backend")
    return {
        "pid": stats.get("pid"),  # the worker's main process
        "pool": POOL_NAMES.get(implementation or "", implementation),
        "pool_implementation": implementation,
        "max_concurrency": pool.get("max-concurrency"),
        # prefork only: "N/A" when no limit; the other pools do not report it
        "max_tasks_per_child": 0 if max_per_child == "N/A" else max_per_child,
        # prefork only, KiB (0: no limit): the worker's setting, which its pool takes when no option overrides it
        # (the harness gives none; the pool's stats do not report it); None for the other pools, which ignore it
        "max_memory_per_child_kib": _memory_per_child(conf) if max_per_child is not None else None,
        "prefetch_count": prefetch_count,
        "prefetch_multiplier": multiplier,
        "conf_worker_prefetch_multiplier": conf.get("worker_prefetch_multiplier"),
        "conf_task_acks_late": conf.get("task_acks_late"),
        "task_acks_late": _task_flag(registered, task, "acks_late"),
        "conf_task_reject_on_worker_lost": conf.get("task_reject_on_worker_lost"),
        "task_reject_on_worker_lost": _task_flag(registered, task, "reject_on_worker_lost"),
        "soft_shutdown_timeout": conf.get("worker_soft_shutdown_timeout"),
        # prefork only: the strategy -O gave its pool (the other pools report None)
        "sched_strategy": _sched_strategy(pool),
        "disable_prefetch": conf.get("worker_disable_prefetch"),
        "eta_task_limit": conf.get("worker_eta_task_limit"),
        # the app's setting, and what the worker's broker connection was made with (what kombu uses)
        "conf_visibility_timeout": _visibility_timeout(conf.get("broker_transport_options")),
        "visibility_timeout": _visibility_timeout(broker.get("transport_options")),
        "result_backend": redact(str(backend)) if backend else backend,
        # its scheme alone: what workers on agents, each reaching the broker by its own address, share
        "result_backend_kind": backend_kind(backend),
        "task_serializer": conf.get("task_serializer"),
        "transport": broker.get("transport"),
        "queues": sorted(q.get("name") for q in queues or () if isinstance(q, dict)),
    }


def _memory_per_child(conf):
    """worker_max_memory_per_child, KiB, from conf(): 0 for none (Celery's None)."""
    value = conf.get("worker_max_memory_per_child")
    return 0 if value is None else value


def backend_kind(url: str | None) -> str | None:
    """A result backend URL's scheme ("disabled", "redis", "rpc"); None for none."""
    return str(url).partition("://")[0] or None if url else None


def read_back(
    app: Celery,
    nodes: Iterable[str],
    task: str,
    concurrency: int,
    timeout_s: float = INSPECT_TIMEOUT_S,
    between: Callable[[], object] | None = None,
) -> dict[str, dict[str, Any]]:
    """{node: report} for every node of `nodes` (see report_of), asked one
    node at a time; RunFailed naming a node that did not answer.
    `between()`: called while a node keeps silent (the fleet asks whether
    an agent said it is stopping, and raises that instead)."""
    out = {}
    for node in nodes:
        stats = _ask(app, node, "stats", timeout_s, between)
        conf = _ask(app, node, "conf", timeout_s, between)
        registered = _ask(app, node, "registered", timeout_s, between, *TASK_ATTRIBUTES)
        queues = _ask(app, node, "active_queues", timeout_s, between)
        out[node] = report_of(stats, conf, registered, queues, task, concurrency)
    return out


def _same(meant, got):
    if isinstance(meant, float) or isinstance(got, float):
        return meant is not None and got is not None and abs(float(meant) - float(got)) < 1e-9
    return meant == got


# What each intended setting is compared with in a node's report.
CHECKED = (
    ("pool", "pool"),
    ("concurrency", "max_concurrency"),
    ("prefetch_multiplier", "prefetch_multiplier"),
    ("acks_late", "task_acks_late"),
    ("reject_on_worker_lost", "task_reject_on_worker_lost"),
    ("soft_shutdown_timeout", "soft_shutdown_timeout"),
    ("visibility_timeout", "visibility_timeout"),
    ("sched_strategy", "sched_strategy"),
    ("disable_prefetch", "disable_prefetch"),
    ("eta_task_limit", "eta_task_limit"),
    ("max_tasks_per_child", "max_tasks_per_child"),
    ("max_memory_per_child_kib", "max_memory_per_child_kib"),
    ("result_backend", "result_backend"),
    ("result_backend_kind", "result_backend_kind"),
    ("serializer", "task_serializer"),
    ("cpus", "cpus"),  # added by the caller where it can see the process (see runner.read_settings)
    ("remap_sigterm", "remap_sigterm"),  # from the main process's environment, as cpus
)


def check(
    intended: Mapping[str, Any], reported: Mapping[str, Mapping[str, Any]], ignore: Collection[str] = ()
) -> dict[str, Any]:
    """The settings every node agrees on, {setting: value} for the names
    of CHECKED, after checking them against `intended` ({setting: value};
    a setting absent or None is not the harness's to set: whatever the
    worker reports is taken). SettingMismatch (one line) at the first
    disagreement, or when two nodes disagree. A value a node does not
    report (None: max_tasks_per_child outside prefork) is not checked, nor
    the settings named in `ignore`."""
    agreed: dict[str, Any] = {}
    for setting, key in CHECKED:
        if setting in ignore:
            agreed[setting] = None
            continue
        values = {node: report.get(key) for node, report in reported.items()}
        meant = intended.get(setting)
        for node, got in values.items():
            if got is None:
                continue
            if meant is not None and not _same(meant, got):
                raise SettingMismatch(
                    f"the worker ran with {setting}={got!r}, not the {meant!r} the harness meant "
                    f"(read back from {node}): a harness bug, please report it",
                    reported,
                )
        known = {node: got for node, got in values.items() if got is not None}
        if len({repr(v) for v in known.values()}) > 1:
            raise SettingMismatch(
                f"the workers ran with different {setting}: "
                + ", ".join(f"{node} {got!r}" for node, got in known.items())
                + ": a harness bug, please report it",
                reported,
            )
        agreed[setting] = next(iter(known.values()), None)
    return agreed
