"""The tutorial's own command, `celery -A proj worker -l info`, against the
broker that `python -m bench broker` prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from proj.celery import app as tutorial_app
from tests.helpers.cli import start_bench
from tests.helpers.paths import ROOT
from tests.helpers.waiting import LineReader

pytestmark = pytest.mark.integration


def test_tutorial_worker_runs_against_the_printed_broker():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    broker = start_bench("broker", env={"PYTHONUNBUFFERED": "1"}, stderr=subprocess.STDOUT)
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
