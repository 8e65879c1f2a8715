"""The worker side of the harness: how every measured worker is started.

    python -m bench.harness.worker_entry worker APP [celery worker options]
    python -m bench.harness.worker_entry inspect APP

`worker` does what `celery -A APP worker ...` does, plus what the harness
needs, without a line of the user's code changing:

1. patch for gevent/eventlet first, as Celery's own entry point does;
2. connect the recorder (Celery's signals are process-wide), before the
   app is imported;
3. import APP as `celery -A` does, from the current directory;
4. apply the harness's overrides, given as JSON in BENCH_CONF_OVERRIDES
   (the broker and result backend, unless the user asked for the app's own;
   task_acks_late, task_reject_on_worker_lost, worker_prefetch_multiplier,
   worker_soft_shutdown_timeout, worker_disable_prefetch,
   worker_eta_task_limit and a visibility timeout when the harness sets
   them), before the app's tasks are bound: a task takes
   task_acks_late when it is bound, so a setting given later (Celery's
   `task.acks_late=true` on the command line) reaches the configuration but
   not the tasks. broker_transport_options are merged into the app's own
   (MERGED_SETTINGS), not replaced: the harness sets one of them;
5. register the wake-up task under a name in the harness's own namespace
   (WAKEUP_TASK), refusing to start if the app already has that name;
6. start the worker.

`inspect` imports APP and prints, as one JSON line after MARKER, its task
names and the settings the result records (URLs redacted); when the app
does not import, the last line of the exception instead, and exit code 3.
It runs in a subprocess so the harness process never imports user code.

This module is run in the worker process; it imports only Celery and the
recorder, and the harness's url helpers.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at run time only after the pool's patching (see _worker)
    from celery import Celery

MARKER = "celery-bench-inspect:"
WAKEUP_TASK = "celery_bench.wakeup"
IMPORT_FAILED = 3  # exit code of `inspect` when the app does not import
# The settings recorded in a result (the app's own, before any override).
RECORDED_SETTINGS = (
    "task_serializer",
    "result_serializer",
    "accept_content",
    "task_routes",
    "task_time_limit",
    "task_soft_time_limit",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "worker_disable_prefetch",
    "worker_eta_task_limit",
    "task_default_queue",
    "task_always_eager",
    "broker_url",
    "result_backend",
)
# The overrides merged key by key into the app's own value (a dict), not replaced.
MERGED_SETTINGS = ("broker_transport_options",)


def _pool_of(argv):
    """The -P/--pool value of a worker command line (Celery's default: prefork)."""
    for i, arg in enumerate(argv):
        if arg in ("-P", "--pool") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--pool="):
            return arg.split("=", 1)[1]
    return "prefork"


def load_app(name: str, overrides: dict[str, Any] | None = None) -> Celery:
    """The Celery app `name` names, found as `celery -A` finds it, with its
    `include`/`imports` modules imported so every task is registered;
    `overrides` (settings) applied before its tasks are bound."""
    from celery.app.utils import find_app

    sys.path.insert(0, str(Path.cwd()))
    app = find_app(name)
    if overrides:
        merged = {key: {**(app.conf.get(key) or {}), **overrides[key]} for key in MERGED_SETTINGS if key in overrides}
        app.conf.update({**overrides, **merged})
    app.loader.import_default_modules()
    app.finalize(auto=True)
    return app


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def app_settings(app: Celery) -> dict[str, Any]:
    """The app's settings that a result records, URLs redacted."""
    from bench.harness.urls import redact

    out = {}
    for key in RECORDED_SETTINGS:
        value = app.conf.get(key)
        if key in ("broker_url", "result_backend"):
            value = redact(str(value)) if value else None
        out[key] = _jsonable(list(value) if isinstance(value, (tuple, set, frozenset)) else value)
    return out


def user_tasks(app: Celery) -> list[str]:
    """The app's registered task names, without Celery's built-in ones."""
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _inspect(name):
    try:
        app = load_app(name)
        # The broker URL with its password travels to the harness over this
        # pipe only, for --broker from-app; the settings hold it redacted.
        info = {"tasks": user_tasks(app), "settings": app_settings(app), "broker_url": app.conf.broker_url}
    except BaseException as exc:  # whatever the user's module raises, reported as one line
        last = f"{type(exc).__name__}: {exc}".strip().splitlines()[-1]
        print(MARKER + json.dumps({"error": last}), flush=True)
        return IMPORT_FAILED
    print(MARKER + json.dumps(info), flush=True)
    return 0


def _worker(name, worker_argv):
    from celery import maybe_patch_concurrency

    # Before anything imports sockets or threads: Celery's own entry point
    # patches gevent/eventlet here, from -P in the command line.
    maybe_patch_concurrency(["celery", "worker", *worker_argv])
    from bench.harness import recorder

    recorder.install(_pool_of(worker_argv))
    app = load_app(name, json.loads(os.environ.get("BENCH_CONF_OVERRIDES") or "{}"))
    if WAKEUP_TASK in app.tasks:
        print(f"error: the app already has a task named {WAKEUP_TASK}, which the harness reserves", file=sys.stderr)
        return 2

    @app.task(name=WAKEUP_TASK, ignore_result=True)
    def wakeup() -> None:
        """Ends a worker's blocking wait on its idle queue (see measure/load.py release)."""

    return app.start(argv=["worker", *worker_argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in ("worker", "inspect"):
        print("usage: python -m bench.harness.worker_entry {worker,inspect} APP [worker options]", file=sys.stderr)
        return 2
    if argv[0] == "inspect":
        return _inspect(argv[1])
    return _worker(argv[1], argv[2:])


if __name__ == "__main__":
    sys.exit(main())
