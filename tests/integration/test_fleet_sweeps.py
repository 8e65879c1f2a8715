"""Sweeps and the capacity search on several hosts (tests/helpers/fleet.py:
agents in network namespaces, or on loopback where those cannot be made),
and agents that wait for a harness's own broker. Beside test_fleet.py,
with a fleet of its own.

Traffic goes only to loopback and to the namespaces made for the tests."""

import json
import signal
import socket

import pytest

from tests.helpers.fleet import ONE_POINT_SWEEP, bench_on_fleet
from tests.helpers.waiting import wait_for

# One fleet (namespaces, broker, agents) for the module (the `fleet` fixture):
# its tests run on one xdist worker (tests/helpers/machine.py: ONE_WORKER_MODULES).
pytestmark = pytest.mark.integration


def test_a_sweep_on_two_hosts_stores_the_hosts_in_every_run(fleet, tmp_path):
    done = bench_on_fleet(
        "sweep",
        "--broker",
        fleet.url,
        "--hosts",
        "a,b",
        *ONE_POINT_SWEEP,
        "--output-dir",
        tmp_path,
        timeout=400,
    )
    mode = fleet.net.mode
    assert done.returncode == 0, (mode, done.stdout, done.stderr)
    runs = sorted(tmp_path.glob("*/runs/*/*.json"))
    assert runs, (mode, list(tmp_path.rglob("*")))
    for path in runs:
        doc = json.loads(path.read_text())
        assert doc["status"]["state"] == "ok", (mode, doc["status"])
        assert {h["name"] for h in doc["hosts"]} == {"a", "b"}, mode
    manifest = json.loads(next(tmp_path.glob("*/manifest.json")).read_text())
    assert manifest["config"]["hosts"] == ["a", "b"], mode


def test_a_sweep_on_hosts_chooses_its_default_c_values_for_the_hosts_cores(fleet, tmp_path):
    # Agents a and b each have one CPU; this machine has more. The default
    # -c values are those of one core (1, 2, 8 for prefork at --profile
    # quick), not this machine's, and every point is judged on one core.
    done = bench_on_fleet(
        "sweep", "--broker", fleet.url, "--hosts", "a,b", "--pools", "prefork", "--workloads", "sleep",
        "--task-ms", "5", "--profile", "quick", "--repeats", "1", "--output-dir", tmp_path, timeout=300,
    )  # fmt: skip
    mode = fleet.net.mode
    assert done.returncode == 0, (mode, done.stdout, done.stderr)
    assert "the hosts have 1 usable core (the fewest): the -c values are chosen for them" in done.stdout
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert [p["concurrency"] for p in summary["points"]] == [1, 2, 8]
    assert {(p["cores"], p["on_hosts"]) for p in summary["points"]} == {(1.0, 2)}
    assert not any("planned for" in w for p in summary["points"] for w in p["warnings"])
    manifest = json.loads(next(tmp_path.glob("*/manifest.json")).read_text())
    assert sorted(p["concurrency"] for p in manifest["plan"]) == [1, 2, 8]


def test_a_sweep_naming_an_agent_that_does_not_answer_stops_at_once_and_leaves_no_sweep(fleet, tmp_path):
    done = bench_on_fleet(
        "sweep", "--broker", fleet.url, "--hosts", "a,nobody", "--pools", "prefork", "--workloads", "sleep",
        "--output-dir", tmp_path / "sweeps", timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    # (other tests' agents may be answering too)
    assert line.startswith("python -m bench sweep: error: --hosts: no answer from agent nobody (answered: a, b")
    assert not (tmp_path / "sweeps").exists() or not any((tmp_path / "sweeps").iterdir())


def test_capacity_on_two_hosts_finds_a_rate(fleet, tmp_path):
    done = bench_on_fleet(
        "capacity",
        "--broker",
        fleet.url,
        "--hosts",
        "a,b",
        "--pool",
        "prefork",
        "-c",
        "2",
        "--workload",
        "sleep",
        "--task-ms",
        "20",
        "--slo",
        "p99=2s",
        "--repeats",
        "1",
        "--max-rates",
        "2",
        "--duration",
        "1",
        "--output-dir",
        tmp_path,
        timeout=400,
    )
    mode = fleet.net.mode
    # p99 = 2 s is met at any rate near the drain throughput for a 1 s window
    assert done.returncode == 0, (mode, done.stdout, done.stderr)
    (found,) = tmp_path.glob("capacity-*.json")
    doc = json.loads(found.read_text())
    assert doc["point"]["hosts"] == ["a", "b"], mode
    assert doc["drain_throughput_per_s"] > 0, mode
    runs = sorted(tmp_path.glob("run-*.json"))
    assert len(runs) >= 2, (mode, runs)  # the drain and at least one rate, each on both hosts
    for path in runs:
        run = json.loads(path.read_text())
        assert {h["name"] for h in run["hosts"]} == {"a", "b"}, (mode, path.name)


def _free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def test_agents_started_with_harness_find_a_runs_own_broker(fleet, tmp_path):
    """run --hosts --listen ADDRESS:PORT, no --broker: the run's embedded
    broker listens there with a password both sides derive from the shared
    secret; agents started with --harness ADDRESS:PORT wait for it, serve
    the run, and wait again once it is gone."""
    address = fleet.net.host_address if fleet.net.mode == "netns" else "127.0.0.1"
    where = f"{address}:{_free_port(address)}"
    fleet.start_agent("g", "a", "0", harness=where)
    fleet.start_agent("h", "b", "1", harness=where)
    out = tmp_path / "harness.json"
    done = bench_on_fleet(
        "run",
        "--listen",
        where,
        "--hosts",
        "g,h",
        "--pool",
        "prefork",
        "-c",
        "2",
        "--workload",
        "sleep",
        "--task-ms",
        "20",
        "--tasks",
        "80",
        "--json",
        str(out),
        timeout=240,
    )
    mode = fleet.net.mode
    try:
        assert done.returncode == 0, (mode, done.stdout, done.stderr)
        assert f"listens on 127.0.0.1 and {address}" in done.stderr, (mode, done.stderr)
        doc = json.loads(out.read_text())
        tasks = doc["summary"]["tasks"]
        assert tasks["published"] == tasks["succeeded"] == 80, (mode, tasks)
        assert {h["name"] for h in doc["hosts"]} == {"g", "h"}, mode
        assert doc["config"]["broker"]["embedded"] is True, mode
        for name in ("g", "h"):
            wait_for(lambda name=name: "waiting for the harness's broker again" in fleet.log(name), 30, name)
        # ... and they join the next harness's broker: a sweep's, this time
        swept = bench_on_fleet(
            "sweep",
            "--listen",
            where,
            "--hosts",
            "g,h",
            *ONE_POINT_SWEEP,
            "--output-dir",
            str(tmp_path / "sweeps"),
            timeout=300,
        )
        assert swept.returncode == 0, (mode, swept.stdout, swept.stderr)
        runs = sorted((tmp_path / "sweeps").glob("*/runs/*/*.json"))
        assert runs, mode
        for path in runs:
            assert {h["name"] for h in json.loads(path.read_text())["hosts"]} == {"g", "h"}, (mode, path)
    finally:
        for name in ("g", "h"):
            proc = fleet.procs[name]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
