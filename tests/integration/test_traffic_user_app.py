"""A traffic mix of a user's own tasks (issue 24): the thumbnails example's
traffic.toml (thumbnails and slow reports of the `thumbs` app), drained
and at a rate, with the image server it needs on a port of its own."""

import json
import shutil
import socket
import subprocess
import sys

import pytest

from tests.helpers.cli import run_bench
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def thumbnails(tmp_path):
    """A copy of examples/thumbnails whose calls use an image server of its own (stopped after)."""
    workdir = tmp_path / "thumbnails"
    shutil.copytree(ROOT / "examples" / "thumbnails", workdir, ignore=shutil.ignore_patterns("results", "*.pid"))
    port = free_port()
    calls = workdir / "calls.jsonl"
    calls.write_text(calls.read_text().replace("127.0.0.1:8765", f"127.0.0.1:{port}"))
    server = [sys.executable, str(workdir / "image_server.py")]
    # its daemon keeps the output it inherits: none, so the start returns
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 30}
    subprocess.run([*server, "start", "--port", str(port)], check=True, **quiet)
    try:
        yield workdir
    finally:
        subprocess.run([*server, "stop"], **quiet)


def test_a_mix_of_the_apps_own_tasks_runs_drained_and_at_a_rate(thumbnails):
    out = thumbnails / "drained.json"
    proc = run_bench(
        "run", "--traffic", "traffic.toml", "-P", "threads", "-c", 4, "--tasks", 100, "--json", out, cwd=thumbnails
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["classes"]["thumbnail"]["tasks"]["succeeded"] == 98
    assert doc["classes"]["report"]["tasks"]["succeeded"] == 2
    assert doc["classes"]["report"]["service_p50_s"] >= 2.0  # query_ms = 2000
    assert doc["config"]["workload"] == "mix"
    assert doc["summary"]["ceiling_estimated"]  # the app's tasks have no profile: no physical ceiling claimed
    assert "a mix of 2 classes (thumbnail, report)" in proc.stdout

    out = thumbnails / "open.json"
    proc = run_bench(
        "run", "--traffic", "traffic.toml", "--workers", 2, "-P", "threads", "-c", 2, "--rate", 10, "--duration", 4,
        "--json", out, cwd=thumbnails,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    classes = doc["open_loop"]["classes"]
    assert classes["thumbnail"]["tasks"]["succeeded"] == classes["thumbnail"]["tasks"]["counted"] > 0
    assert doc["summary"]["tasks"]["missing"] == 0
    assert set(doc["samples"]["node"]) == {0, 1}  # both workers took tasks from the one queue


def test_a_users_own_task_runs_on_several_workers_drained_and_at_a_rate(thumbnails):
    drained, open_loop = thumbnails / "drained.json", thumbnails / "open.json"
    task = ["--app", "thumbs", "--task", "thumbs.report", "--args", "[20]", "--workers", 2, "-P", "threads", "-c", 2]
    proc = run_bench("run", *task, "--tasks", 24, "--json", drained, cwd=thumbnails)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(drained.read_text())
    assert doc["summary"]["tasks"]["succeeded"] == 24
    assert set(doc["samples"]["node"]) == {0, 1}
    proc = run_bench("run", *task, "--rate", 20, "--duration", 2, "--json", open_loop, cwd=thumbnails)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(open_loop.read_text())
    counted = doc["open_loop"]["tasks"]
    assert counted["counted"] == counted["scheduled"] == 40
    assert doc["open_loop"]["service_p50_s"] >= 0.02  # thumbs.report(20): 20 ms of its query
    assert set(doc["samples"]["node"]) == {0, 1}
