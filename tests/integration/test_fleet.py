"""Several hosts on one machine (tests/helpers/fleet.py: agents in network
namespaces, or on loopback where those cannot be made): the agents'
defences, and what happens when an agent or the harness dies. The sweeps
and the capacity search on hosts are in test_fleet_sweeps.py, and what
compares timings across hosts in test_fleet_timing.py, each with a fleet
of its own.

Traffic goes only to loopback and to the namespaces made for the tests."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from bench.fleet import control
from bench.fleet.signing import sign
from tests.helpers.cli import start_bench
from tests.helpers.fleet import SECRET, bench_on_fleet, fleet_env
from tests.helpers.processes import TAG
from tests.helpers.waiting import wait_for

# One fleet (namespaces, broker, agents) for the module (the `fleet` fixture):
# its tests run on one xdist worker (tests/helpers/machine.py: ONE_WORKER_MODULES).
pytestmark = pytest.mark.integration


def test_agents_lists_both_hosts_and_finds_the_injected_offset(fleet):
    done = bench_on_fleet("agents", "--broker", fleet.url, timeout=120)
    mode = fleet.net.mode
    assert done.returncode == 0, (mode, done.stderr)
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert {"a", "b"} <= set(lines), (mode, done.stdout)  # c and e join in later tests
    assert "ms ±" in lines["a"], (mode, done.stdout)


def test_bad_signatures_replays_and_apps_not_allowed_are_refused(fleet):
    with control.Control(fleet.url, SECRET.encode()) as ctl:
        forged = sign(
            b"not-the-shared-secret-at-all", {"op": "probe", "to": "b", "reply_to": ctl.reply.name}, time.time()
        )
        nonce = ctl.publish("b", forged)
        answer = ctl.answers(nonce, time.monotonic() + 20, want=1)["b"]
        assert "bad signature" in answer["refused"]

        message = sign(SECRET.encode(), {"op": "probe", "to": "b", "reply_to": ctl.reply.name}, time.time())
        first = ctl.answers(ctl.publish("b", message), time.monotonic() + 20, want=1)["b"]
        assert "clock" in first
        again = ctl.answers(ctl.publish("b", message), time.monotonic() + 20, want=1)["b"]
        assert "replayed" in again["refused"]

        spec = {
            "app": "os",
            "pool": "solo",
            "concurrency": 1,
            "queue": "q",
            "nodenames": ["x@b"],
            "prefetch_multiplier": 1,
            "loglevel": "warning",
            "result_backend": "none",
        }
        with pytest.raises(control.AgentRefused, match="'os' is not allowed"):
            ctl.ask("b", "start", timeout_s=20, run="r1", spec=spec)
    log = fleet.log("b")
    assert "bad signature" in log
    assert "replayed" in log
    assert "not allowed" in log


def _records_of(agent_pid):
    """Task records written so far by the workers of an agent (their files,
    named by the BENCH_RECORD_DIR of its worker processes)."""
    lines = 0
    for proc in psutil.Process(agent_pid).children(recursive=True):
        try:
            folder = proc.environ().get("BENCH_RECORD_DIR")
        except psutil.Error:
            continue
        if folder:
            lines += sum(p.read_text().count("\n") for p in Path(folder).glob("tasks-*.jsonl"))
            break
    return lines


def test_an_agent_killed_mid_run_fails_the_run_naming_it(fleet, tmp_path):
    fleet.start_agent("c", "b", "1")
    run = start_bench(
        "run", "--broker", fleet.url, "--hosts", "a,c", "--pool", "prefork", "-c", "2", "--workload", "sleep",
        "--task-ms", "100", "--tasks", "400", "--warmup", "0", "--json", tmp_path / "killed.json",
        env=fleet_env(os.environ[TAG]),
    )  # fmt: skip
    try:
        wait_for(lambda: "started 1 worker" in fleet.log("c"), 120, "agent c's worker")
        # Into the measured batch (400 tasks of 100 ms on 4 slots: 10 s): c's
        # worker has finished some of it.
        wait_for(lambda: _records_of(fleet.procs["c"].pid) >= 3, 120, "agent c's worker to run measured tasks")
        fleet.procs["c"].kill()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
    assert run.returncode == 1, (fleet.net.mode, stdout, stderr)
    assert "agent c" in stderr, (fleet.net.mode, stderr)
    assert "missing" in stderr, (fleet.net.mode, stderr)
    doc = json.loads((tmp_path / "killed.json").read_text())
    assert doc["summary"]["tasks"]["missing"] > 0


def test_the_agent_stops_its_workers_when_the_harness_is_killed(fleet, tmp_path):
    before = fleet.log("b").count("lease lapsed")
    started = fleet.log("b").count("started 1 worker")
    run = start_bench(
        "run", "--broker", fleet.url, "--hosts", "b", "--pool", "solo", "--workload", "sleep",
        "--task-ms", "200", "--tasks", "200", "--warmup", "0", "--json", tmp_path / "x.json",
        env=fleet_env(os.environ[TAG]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: fleet.log("b").count("started 1 worker") > started, 120, "agent b's worker")
        run.kill()  # SIGKILL: the harness cannot say goodbye
        run.wait(timeout=10)
        wait_for(lambda: fleet.log("b").count("lease lapsed") > before, 30, "the lease to lapse on agent b")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)


def test_sigterm_stops_the_agent_and_its_workers(fleet, tmp_path):
    fleet.start_agent("f", "b", "1")
    run = start_bench(
        "run", "--broker", fleet.url, "--hosts", "f", "--pool", "prefork", "-c", "2", "--workload", "sleep",
        "--task-ms", "200", "--tasks", "200", "--warmup", "0", "--json", tmp_path / "f.json",
        env=fleet_env(os.environ[TAG]),
    )  # fmt: skip
    agent = fleet.procs["f"]
    try:
        wait_for(lambda: "started 1 worker" in fleet.log("f"), 120, "agent f's worker")
        workers = psutil.Process(agent.pid).children(recursive=True)
        assert workers, fleet.net.mode
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) != 0
        wait_for(
            lambda: not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE],
            15,
            "agent f's workers to end",
        )
        _stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 1, (fleet.net.mode, stderr)
        # its goodbye names it at once, not the answer timeout
        assert "agent f stopped (a signal on its host)" in stderr, (fleet.net.mode, stderr)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)


def test_a_run_with_listen_binds_that_address_too_and_says_so_redacted(tmp_path):
    """run --listen: the run's own embedded broker also listens on another
    address of this host (127.0.0.2, loopback), the run goes through it, and
    its password is never printed or stored."""
    out = tmp_path / "listen.json"
    done = bench_on_fleet(
        "run",
        "--listen",
        "127.0.0.2",
        "--pool",
        "solo",
        "--workload",
        "noop",
        "--tasks",
        "30",
        "--warmup",
        "5",
        "--json",
        str(out),
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "listens on 127.0.0.1 and 127.0.0.2 (password-protected)" in done.stderr
    broker = json.loads(out.read_text())["config"]["broker"]
    assert broker["url"].startswith("redis://:**@127.0.0.2:"), broker
    assert ":**@" in done.stderr
    assert "redis://:" not in done.stdout.replace(":**@", "")
