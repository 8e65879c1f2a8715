"""The tutorial's own command, `celery -A proj worker -l info`, against the
broker that `python -m bench broker` prints."""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from proj.celery import app as tutorial_app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class LineReader:
    """Lines of a child's output, read on a thread so waits can time out."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in stream], daemon=True).start()

    def until(self, pattern, timeout_s):
        deadline = time.monotonic() + timeout_s
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
            if re.search(pattern, seen[-1]):
                return seen
        raise AssertionError(f"no line matching {pattern!r} within {timeout_s} s; got {seen[-5:]}")


def test_tutorial_worker_runs_against_the_printed_broker():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    broker = subprocess.Popen(
        [sys.executable, "-m", "bench", "broker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = None
    try:
        lines = LineReader(broker.stdout).until(r"celery -A proj worker", 30)
        exports = dict(re.findall(r"export (\w+)='([^']*)'", "\n".join(lines)))
        assert set(exports) == {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "proj", "worker", "-l", "info", "-c", "2"],
            cwd=ROOT,
            env={**env, **exports},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        LineReader(worker.stdout).until(r"ready\.", 60)
        tutorial_app.conf.update(
            broker_url=exports["CELERY_BROKER_URL"], result_backend=exports["CELERY_RESULT_BACKEND"]
        )
        from proj.tasks import add, mul, xsum

        assert add.delay(4, 4).get(timeout=20) == 8
        assert mul.delay(3, 5).get(timeout=20) == 15
        assert xsum.delay([1, 2, 3]).get(timeout=20) == 6
    finally:
        for proc in (worker, broker):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
                proc.stdout.close()
