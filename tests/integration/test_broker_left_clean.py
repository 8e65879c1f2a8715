"""On the user's own broker a run leaves nothing behind: after a run that
succeeded, and after one that was interrupted, the broker's keys (Redis)
or queues and exchanges (RabbitMQ) are as they were."""

import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from bench.harness import scratch
from tests.helpers.cli import start_bench

# The local Redis and RabbitMQ are checked as found: the tests that use them take turns.
pytestmark = [pytest.mark.integration, pytest.mark.local_brokers]
REDIS_DB = 13  # a database of the local Redis that nothing else here uses
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def redis_state(client):
    """Every key with its type and size."""
    out = {}
    for key in client.scan_iter(match="*"):
        kind = client.type(key).decode()
        size = {"set": client.scard, "zset": client.zcard, "list": client.llen, "hash": client.hlen}.get(kind)
        out[key.decode(errors="replace")] = (kind, size(key) if size else None)
    return out


@pytest.fixture
def local_redis():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no local Redis on 127.0.0.1:6379")
    client.set("celery-bench-test:user-data", "kept")
    client.sadd("_kombu.binding.users-own-exchange", "rk\x06\x16users-own-queue")
    yield client
    client.delete("celery-bench-test:user-data", "_kombu.binding.users-own-exchange")
    client.close()


@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_a_run_leaves_the_users_redis_as_it_found_it(tmp_path, local_redis, pool):
    before = redis_state(local_redis)
    proc = start_bench("run", "-P", pool, "-c", 2, "--tasks", 30, "--task-ms", 5, "--broker", REDIS_URL,
                       "--json", tmp_path / "r.json")  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert redis_state(local_redis) == before


def test_an_interrupted_run_leaves_the_users_redis_as_it_found_it(tmp_path, local_redis):
    before = redis_state(local_redis)
    out = tmp_path / "r.json"
    proc = start_bench("run", "-P", "gevent", "-c", 2, "--tasks", 2000, "--task-ms", 20, "--warmup", 0,
                       "--broker", REDIS_URL, "--json", out)  # fmt: skip
    deadline = time.monotonic() + 90
    while not tasks_recorded(proc):  # the measured batch is under way (no warm-up)
        assert time.monotonic() < deadline, "the run never started its batch"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert json.loads(out.read_text())["status"]["state"] == "interrupted"
    assert redis_state(local_redis) == before


def tasks_recorded(proc):
    """Tasks the run's worker has recorded (its scratch folder names the harness's pid)."""
    count = 0
    for owner in Path(tempfile.gettempdir()).glob(f"{scratch.PREFIX}run-*/{scratch.OWNER}"):
        try:
            if owner.read_text().split()[0] == str(proc.pid):
                count += sum(f.read_bytes().count(b"\n") for f in owner.parent.glob("records/tasks-*.jsonl"))
        except OSError:
            continue
    return count


def rabbit_names(what):
    listed = subprocess.run(["rabbitmqctl", f"list_{what}", "-q", "name"], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    return set(listed.stdout.split())


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="no rabbitmqctl to list the broker's state")
def test_a_run_leaves_the_users_rabbitmq_without_its_queues_and_exchanges(tmp_path):
    out = tmp_path / "r.json"
    proc = start_bench(
        "run", "-P", "gevent", "-c", 2, "--tasks", 30, "--task-ms", 5, "--broker", AMQP_URL, "--json", out
    )
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 1 and "cannot reach broker" in err:
        pytest.skip("no local RabbitMQ on 127.0.0.1:5672")
    assert proc.returncode == 0, err
    run_id = json.loads(out.read_text())["run_id"]
    left = {n for n in rabbit_names("exchanges") | rabbit_names("queues") if run_id in n}
    assert not left
