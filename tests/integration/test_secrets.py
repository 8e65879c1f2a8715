"""Credentials never leak; the private broker and the stub server keep to
127.0.0.1; workers accept JSON only."""

import socket
import time
from pathlib import Path

import psutil
import pytest
import redis

from bench.harness import broker as broker_mod
from bench.harness import netstub
from bench.harness.worker import WorkerSpec, running
from bench.measure import load
from bench.measure.observe import RecordReader
from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def every_file_text(directory):
    return "".join(p.read_text(errors="replace") for p in Path(directory).rglob("*") if p.is_file())


def listening_addresses(pid):
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet") if c.status == "LISTEN"}


def test_a_broker_password_appears_nowhere_the_harness_writes(tmp_path):
    # A broker of our own whose password we know, used as the user's --broker.
    with broker_mod.embedded() as own:
        password = own.url.split(":")[2].split("@")[0]
        assert len(password) > 20
        run = run_bench("run", "-P", "solo", "--tasks", 10, "--warmup", 2, "--task-ms", 5, "--broker", own.url,
                        "--output-dir", tmp_path / "runs")  # fmt: skip
        assert run.returncode == 0, run.stderr
        sweep = run_bench("sweep", "--pools", "solo", "--workloads", "noop", "--profile", "quick", "--repeats", 1,
                          "--broker", own.url, "--output-dir", tmp_path / "sweeps")  # fmt: skip
        assert sweep.returncode == 0, sweep.stderr
        broken = run_bench("run", "--broker", own.url.replace("127.0.0.1", "127.0.0.1:1"), timeout=60)
    written = every_file_text(tmp_path)
    assert "report.md" in "".join(p.name for p in tmp_path.rglob("*"))
    for text in (run.stdout, run.stderr, sweep.stdout, sweep.stderr, broken.stderr, written):
        assert password not in text
    assert ":**@" in written  # the URL is recorded, redacted


def test_the_private_broker_is_loopback_only_password_protected_and_keeps_nothing():
    with broker_mod.embedded() as own:
        assert listening_addresses(own.pid) == {"127.0.0.1"}
        port = int(own.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
        client = redis.Redis.from_url(own.url, socket_timeout=5)
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        workdir = Path(client.config_get("dir")["dir"])
        password = own.url.split(":")[2].split("@")[0]
        client.close()
        # Its configuration came on stdin and its log goes to an unnamed
        # file: no path on its command line, no file anywhere near holds the
        # password, and nothing was written into its directory.
        assert not any("/" in arg for arg in psutil.Process(own.pid).cmdline()[1:])
        assert not any(password in text for text in files_near(workdir))
        assert not any(name in {p.name for p in workdir.iterdir()} for name in ("dump.rdb", "appendonlydir"))
    assert not any(password in text for text in files_near(workdir))


def files_near(directory):
    """The text of the files in `directory` and one level below (the
    harness's own temporary folders), that this user may read."""
    for path in [*directory.glob("*"), *directory.glob("celery-bench-*/*")]:
        try:
            if path.is_file() and path.stat().st_size < 1_000_000:
                yield path.read_text(errors="replace")
        except OSError:
            continue


def test_the_stub_server_listens_on_loopback_only():
    with netstub.running() as address:
        host, port = address.split(":")
        assert host == "127.0.0.1"
        pid = next(c.pid for c in psutil.net_connections(kind="inet") if c.laddr.port == int(port) and c.pid)
        assert listening_addresses(pid) == {"127.0.0.1"}
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"1\n")
            with conn.makefile("rb") as reply:
                assert reply.readline() == b"ok\n"


def test_workers_refuse_pickled_messages(tmp_path):
    with broker_mod.embedded() as own:
        app = load.client_app(own)
        app.conf.accept_content = ["json", "pickle"]
        spec = WorkerSpec("solo", 1, "celery-bench.pickle-test", "bench-pickle@test", 4, "warning", "none")
        (tmp_path / "records").mkdir()
        with running(spec, own, tmp_path / "records", tmp_path / "worker.log", tmp_path / "tmp") as worker:
            app.send_task("proj.tasks.noop", queue=spec.queue, task_id="pickled", serializer="pickle")
            app.send_task("proj.tasks.noop", queue=spec.queue, task_id="plain-json")
            reader = RecordReader(tmp_path / "records")
            seen = {}
            deadline = time.monotonic() + 20
            while "plain-json" not in seen and time.monotonic() < deadline:
                seen.update({r["id"]: r for r in reader.read_new()})
                time.sleep(0.05)
            assert "plain-json" in seen
            assert "pickled" not in seen
            assert not worker.exited()
        app.close()
        log = (tmp_path / "worker.log").read_text()
        assert "ContentDisallowed" in log or "Refusing to deserialize" in log, log[-2000:]
        record = seen["plain-json"]  # the JSON message ran and was recorded in full
        assert record["state"] == "SUCCESS"
        assert record["started"] <= record["finished"]
        assert record["pid"] == worker.pid  # solo: the worker's one process ran it
