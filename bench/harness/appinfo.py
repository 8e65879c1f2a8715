"""What a user's Celery app holds, learned by importing it in a subprocess
(worker_entry.py `inspect`), so the harness's own process never runs user
code: its task names, and the settings a result records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.harness.worker import PROJECT_ROOT
from bench.harness.worker_entry import IMPORT_FAILED, MARKER

INSPECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AppInfo:
    app: str  # what `celery -A` takes
    tasks: tuple[str, ...]  # registered task names, Celery's own left out
    settings: dict  # the app's own settings that a result records (URLs redacted)
    broker_url: str | None  # the app's broker URL with its credentials: never print or store it


def inspect_app(app: str, workdir: str | Path | None, timeout_s: float = INSPECT_TIMEOUT_S) -> AppInfo:
    """Import `app` from `workdir` in a subprocess. UsageError, quoting the
    last line of the exception, when it does not import."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.pop("BENCH_RECORD_DIR", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.harness.worker_entry", "inspect", app],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"--app {app}: importing it took over {timeout_s:.0f} s") from None
    found = [line[len(MARKER) :] for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if not found:
        last = (done.stderr.strip().splitlines() or ["it printed nothing"])[-1]
        raise UsageError(f"--app {app}: could not be inspected (exit {done.returncode}): {last}")
    info = json.loads(found[-1])
    if done.returncode == IMPORT_FAILED or "error" in info:
        raise UsageError(f"--app {app}: does not import from {workdir}: {info.get('error')}")
    return AppInfo(app, tuple(info["tasks"]), info["settings"], info.get("broker_url"))
