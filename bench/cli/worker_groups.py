"""The option groups of a worker's settings, shared by the subcommands
that measure (run, sweep, capacity, ab, advise): its own options, what
happens to tasks in flight when it stops, prefetching, limits like a pod's
and deploy events; each option declared once with the request field it
fills (parser.option), its help showing the configs' own defaults."""

import argparse

from bench.cli import option_types
from bench.cli.parser import Container, option
from bench.measure.config import (
    DEFAULT_LOGLEVEL,
    DEFAULT_PREFETCH_MULTIPLIER,
    DEFAULT_RESULT_BACKEND,
    DEFAULT_STOP_GRACE_S,
    LOGLEVELS,
    MAX_GREEN_CONCURRENCY,
    MAX_THREADS,
    RESULT_BACKENDS,
)
from bench.measure.settings import OPTIMIZATIONS


def add_worker_options(parser: argparse.ArgumentParser, loglevel: bool = False) -> None:
    """The worker's settings, the same for one run and for every run of a sweep."""
    group = parser.add_argument_group("the worker")
    option(
        group,
        "--prefetch-multiplier",
        fills="prefetch_multiplier",
        type=option_types.whole(0),
        metavar="N",
        help=f"the worker's --prefetch-multiplier; 0: no limit (default: {DEFAULT_PREFETCH_MULTIPLIER})",
    )
    if loglevel:
        option(
            group,
            "--loglevel",
            fills="loglevel",
            choices=LOGLEVELS,
            help="the worker's log level; info writes two log lines per task, which costs time "
            f"(default: {DEFAULT_LOGLEVEL})",
        )
    option(
        group,
        "--result-backend",
        fills="result_backend",
        choices=RESULT_BACKENDS,
        help="none: keep no results (Celery's default); broker: store every result in the broker's "
        f"Redis, or send it back over RPC with AMQP, as the tutorial does (default: {DEFAULT_RESULT_BACKEND})",
    )
    option(
        group,
        "--force",
        fills="force",
        action="store_true",
        default=None,
        help="allow a -c above the safe limit (prefork: 32 processes per core, at least 64; "
        f"gevent/eventlet: {MAX_GREEN_CONCURRENCY} greenlets; threads: {MAX_THREADS})",
    )


def add_shutdown_options(parser: argparse.ArgumentParser) -> None:
    """What happens to tasks in flight when a worker stops or dies (run and
    sweep; each is also a --vary axis)."""
    group = parser.add_argument_group("tasks in flight when a worker stops or dies")
    option(
        group,
        "--acks-late",
        fills="acks_late",
        action="store_true",
        default=None,
        help="task_acks_late: a task's message is acknowledged after it ran, not when it started, so a task "
        "whose worker dies is delivered again (default: Celery's off, or your app's)",
    )
    option(
        group,
        "--reject-on-worker-lost",
        fills="reject_on_worker_lost",
        action="store_true",
        default=None,
        help="task_reject_on_worker_lost: with acks_late (--acks-late, --vary acks_late=true, or your app's), a task "
        "whose pool process died is requeued, not failed (default: off)",
    )
    option(
        group,
        "--soft-shutdown-timeout",
        fills="soft_shutdown_timeout",
        type=option_types.seconds(zero_allowed=True),
        metavar="SECONDS",
        help="worker_soft_shutdown_timeout: on a cold shutdown, running tasks get this long to finish, e.g. 10s; "
        "above 0 the worker also gets REMAP_SIGTERM=SIGQUIT, so SIGTERM is that shutdown, as under "
        "Kubernetes (default: Celery's 0)",
    )
    option(
        group,
        "--visibility-timeout",
        fills="visibility_timeout",
        type=option_types.seconds(zero_allowed=False),
        metavar="SECONDS",
        help="Redis brokers only: a message taken and not acknowledged is delivered again once older than this, "
        "when kombu sweeps for such messages (seen at a worker's start only: docs/deploys.md) "
        "(broker_transport_options; default: kombu's 3600)",
    )


def add_prefetch_options(parser: argparse.ArgumentParser) -> None:
    """Who waits (run; each is also a --vary axis of a sweep): how a worker
    takes messages from the broker and hands them to its pool."""
    group = parser.add_argument_group("who waits: prefetching and handing tasks to the pool")
    option(
        group,
        "--optimization",
        fills="optimization",
        choices=OPTIMIZATIONS,
        help="the worker's -O: how the prefork pool hands tasks to its processes; fair writes a task only to an "
        "idle process, so a short task never waits behind a long one (Celery 5.7 runs fair for both; the other "
        "pools ignore it) (default: not passed, the worker's own)",
    )
    option(
        group,
        "--disable-prefetch",
        fills="disable_prefetch",
        action="store_true",
        default=None,
        help="worker_disable_prefetch, Redis brokers only: the worker takes a message only when a pool slot is "
        "free, so tasks wait in the broker where any worker can take them, not reserved by a busy one "
        "(default: off)",
    )
    option(
        group,
        "--eta-task-limit",
        fills="eta_task_limit",
        type=option_types.whole(1),
        metavar="N",
        help="worker_eta_task_limit: the prefetch count a worker raises for each ETA or countdown task it holds "
        "(it takes them early and waits) stops at N, so one worker cannot hoard scheduled tasks "
        "(default: no limit)",
    )


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """Limits like a pod's (run and sweep): each worker in a cgroup of its own."""
    group = parser.add_argument_group("limits like a pod's (each worker in a cgroup of its own: needs root)")
    option(
        group,
        "--cpu-limit",
        fills="cpu_limit",
        type=option_types.cpu_limit,
        metavar="CORES",
        help="each worker's CPU quota in cores, as a container's CPU limit, e.g. 0.5 or 1.5; the ceiling uses it "
        "(default: none)",
    )
    option(
        group,
        "--memory-limit",
        fills="memory_limit",
        type=option_types.size_bytes,
        metavar="SIZE",
        help="each worker's memory limit (its main process and pool children together), swap off, e.g. 512MiB "
        "(default: none)",
    )


def add_deploy_options(parser: argparse.ArgumentParser) -> None:
    """Deploy events (run and sweep): one a run, a time after the measured batch's release."""
    group = parser.add_argument_group(
        "deploy events (one a run, timed from the measured batch's release; counts the tasks lost, redelivered, "
        "interrupted and run twice)"
    )
    _deploy_time(
        group,
        "--stop-at",
        "stop_at",
        "stop worker 0 as an orchestrator does, e.g. 3s: SIGTERM (Celery's warm shutdown), a fresh worker "
        "started at once, SIGKILL after --stop-grace (default: none)",
    )
    _deploy_time(
        group,
        "--stop-grace",
        "stop_grace",
        "the orchestrator's grace between a stop's SIGTERM and its SIGKILL (--stop-at, --rolling-restart) "
        f"(default: {DEFAULT_STOP_GRACE_S:g}s, Kubernetes' terminationGracePeriodSeconds)",
    )
    _deploy_time(
        group,
        "--kill-at",
        "kill_at",
        "crash worker 0 (SIGKILL to it and its pool processes), e.g. 3s; a fresh worker is started at once "
        "(default: none)",
    )
    _deploy_time(
        group,
        "--kill-child-at",
        "kill_child_at",
        "SIGKILL one prefork pool process of worker 0 in the middle of a task (what the OOM killer picks), "
        "e.g. 3s (default: none)",
    )
    _deploy_time(
        group,
        "--rolling-restart",
        "rolling_restart",
        "from TIME, restart the --workers one at a time as a rolling update does: a fresh worker, and once "
        "it is ready, the old one stopped as --stop-at stops it (default: none)",
    )
    _deploy_time(
        group,
        "--broker-restart-at",
        "broker_restart_at",
        "restart the embedded broker, e.g. 3s: SIGTERM, then the same server on its port again; it keeps "
        "nothing on disk, so what it held is lost, as with any broker restarted without persistence; the "
        "workers reconnect (default: none)",
    )


def _deploy_time(group: Container, flag: str, fills: str, help_text: str) -> None:
    """A deploy event's option: a time after the measured batch's release."""
    option(group, flag, fills=fills, type=option_types.duration, metavar="TIME", help=help_text)
