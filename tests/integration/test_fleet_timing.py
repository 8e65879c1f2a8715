"""What several hosts measure, on one clock (tests/helpers/fleet.py: agents
in network namespaces, or on loopback where those cannot be made): start
times across hosts with one agent's clock shifted, an open-loop run's waits
against the schedule, and 1 against 2 hosts' throughput. Each compares
timings, so runs alone (`exclusive`); with a fleet of its own, this module
runs in the suite's first part, among the other tests that run alone,
instead of stopping the shared part of the suite while its fleet waits.

Traffic goes only to loopback and to the namespaces made for the tests."""

import json

import pytest

from tests.helpers.fleet import OFFSET_S, bench_on_fleet

# One fleet (namespaces, broker, agents) for the module (the `fleet` fixture):
# its tests run on one xdist worker (tests/helpers/machine.py: ONE_WORKER_MODULES).
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


def _run(fleet, *args, timeout=240):
    return bench_on_fleet("run", "--broker", fleet.url, *args, timeout=timeout)


def _two_host_run(fleet, tmp_path, first_host):
    out = tmp_path / f"{first_host}.json"
    done = _run(
        fleet,
        "--hosts",
        f"{first_host},b",
        "--pool",
        "prefork",
        "-c",
        "2",
        "--workload",
        "sleep",
        "--task-ms",
        20,
        "--tasks",
        80,
        "--json",
        out,
    )
    assert done.returncode == 0, (fleet.net.mode, done.stdout, done.stderr)
    assert "clock offset" in done.stdout, fleet.net.mode
    return json.loads(out.read_text())


def _check_one_clock(doc, mode, shifted, shift_s):
    """Every task accounted for across the hosts, each host's offset found
    within its bound of the truth, and on the harness's clock no task starts
    before it was published and both hosts start together (the batch is
    released to both at once; uncorrected, a shifted host's tasks would all
    be `shift_s` late)."""
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == tasks["succeeded"] == 80, (mode, tasks)
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert set(hosts) == {shifted, "b"}, mode
    assert sum(h["tasks"] for h in hosts.values()) == 80, (mode, hosts)
    samples = doc["samples"]
    assert set(samples["host"]) == {shifted, "b"}, mode
    assert abs(hosts[shifted]["offset_s"] - shift_s) <= hosts[shifted]["error_s"] + 1e-6, (mode, hosts[shifted])
    assert abs(hosts["b"]["offset_s"]) <= hosts["b"]["error_s"] + 1e-6, (mode, hosts["b"])
    bound = max(h["error_s"] for h in hosts.values())
    waits = [s - p for s, p in zip(samples["started_s"], samples["published_s"], strict=True)]
    assert min(waits) >= -bound, (mode, min(waits), bound)
    first = {
        name: min(s for s, h in zip(samples["started_s"], samples["host"], strict=True) if h == name)
        for name in (shifted, "b")
    }
    assert abs(first[shifted] - first["b"]) < OFFSET_S / 2, (mode, first)
    return first


# start times across hosts compared
def test_a_run_on_two_hosts_accounts_for_every_task_on_one_clock(fleet, tmp_path):
    """Agent a's clock is shifted by OFFSET_S; agent e, on the same simulated
    host, is not: both runs give the same picture on the harness's clock."""
    shifted = _check_one_clock(_two_host_run(fleet, tmp_path, "a"), fleet.net.mode, "a", OFFSET_S)
    fleet.start_agent("e", "a", "0")
    plain = _check_one_clock(_two_host_run(fleet, tmp_path, "e"), fleet.net.mode, "e", 0.0)
    skew_shifted, skew_plain = shifted["a"] - shifted["b"], plain["e"] - plain["b"]
    assert abs(skew_shifted - skew_plain) < OFFSET_S / 2, (fleet.net.mode, skew_shifted, skew_plain)


# latency against the schedule
def test_an_open_loop_run_on_two_hosts_measures_from_the_schedule_on_one_clock(fleet, tmp_path):
    """run --hosts --rate: the producer here, the workers on the agents; the
    scheduled time each record carries home is the harness's clock, and the
    start times are converted with each agent's offset (agent a is shifted
    by OFFSET_S: uncorrected, its waits would be that far off)."""
    out = tmp_path / "open.json"
    done = _run(
        fleet,
        "--hosts",
        "a,b",
        "--pool",
        "prefork",
        "-c",
        "2",
        "--workload",
        "sleep",
        "--task-ms",
        20,
        "--rate",
        40,
        "--duration",
        2,
        "--json",
        out,
    )
    mode = fleet.net.mode
    assert done.returncode == 0, (mode, done.stdout, done.stderr)
    doc = json.loads(out.read_text())
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == tasks["succeeded"], (mode, tasks)
    assert tasks["missing"] == tasks["failed"] == 0, (mode, tasks)
    ol = doc["open_loop"]
    assert ol["scheduled_header"]["matched"] == tasks["published"], (mode, ol["scheduled_header"])
    assert not ol["producer_limited"], (mode, ol)
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert abs(hosts["a"]["offset_s"] - OFFSET_S) <= hosts["a"]["error_s"] + 1e-6, (mode, hosts["a"])
    samples = doc["samples"]
    bound = max(h["error_s"] for h in hosts.values())
    waits = {"a": [], "b": []}
    for started, scheduled, host in zip(samples["started_s"], samples["published_s"], samples["host"], strict=True):
        waits[host].append(started - scheduled)
    for host, values in waits.items():
        assert values, (mode, host)
        assert min(values) >= -bound, (mode, host, min(values))
        # 40/s on 4 slots of 20 ms: no queue; a wait off by the shift would show
        assert sorted(values)[len(values) // 2] < OFFSET_S / 2, (mode, host, sorted(values)[len(values) // 2])
    assert "sojourn" in done.stdout, mode


# 1 and 2 hosts' throughput compared
def test_a_sweep_over_one_and_two_hosts_draws_throughput_against_hosts(fleet, tmp_path):
    """--host-counts 1,2: each point on the first k agents, every task
    accounted for, each host's CPU and memory sampled there, and the
    figure of throughput against hosts written with the report. Agents a
    and b are pinned to one CPU each: two hosts do the CPU work of two."""
    done = bench_on_fleet(
        "sweep",
        "--broker",
        fleet.url,
        "--hosts",
        "a,b",
        "--host-counts",
        "1,2",
        "--pools",
        "prefork",
        "--concurrency",
        "2",
        "--workloads",
        "cpu",
        "--profile",
        "quick",
        "--repeats",
        "1",
        "--output-dir",
        tmp_path,
        timeout=400,
    )
    mode = fleet.net.mode
    assert done.returncode == 0, (mode, done.stdout, done.stderr)
    (sweep,) = tmp_path.glob("sweep-*")
    for fmt in ("png", "svg"):
        assert (sweep / f"throughput-vs-hosts.{fmt}").stat().st_size > 0, mode
    assert "## Throughput against hosts" in (sweep / "report.md").read_text(), mode
    assert "scaling efficiency" in done.stdout, (mode, done.stdout)
    summary = json.loads((sweep / "summary.json").read_text())
    points = {p["host_count"]: p for p in summary["points"]}
    assert set(points) == {1, 2}, (mode, list(points))
    for k, point in points.items():
        assert point["repeats"] >= 1, (mode, point)
        run_files = sorted((sweep / "runs" / point["key"]).glob("r*.json"))
        assert run_files, (mode, point["key"])
        doc = json.loads(run_files[0].read_text())
        tasks = doc["summary"]["tasks"]
        assert tasks["published"] == tasks["succeeded"] == point["tasks"], (mode, tasks)
        assert tasks["missing"] == tasks["failed"] == 0, (mode, tasks)
        hosts = doc["hosts"]
        assert [h["name"] for h in hosts] == ["a", "b"][:k], mode
        assert sum(h["tasks"] for h in hosts) == tasks["published"], (mode, hosts)
        for h in hosts:
            res = h["resources"]
            assert res is not None, (mode, h)
            assert res["worker_cpu_s"] > 0, (mode, h["name"], res)
            assert res["worker_uss_peak_bytes"] > 0, (mode, h["name"], res)
            assert res["worker_pss_peak_bytes"] > 0, (mode, h["name"], res)
        total = doc["summary"]["resources"]
        assert total["worker_cpu_s"] == pytest.approx(sum(h["resources"]["worker_cpu_s"] for h in hosts)), mode
        assert total["worker_uss_peak_bytes"] > 0, mode
    one, two = points[1]["throughput"]["median_per_s"], points[2]["throughput"]["median_per_s"]
    # Each host is one CPU of CPU-bound work, so the second host adds nearly as
    # much again; but the simulated hosts are this machine's two CPUs, which
    # the broker and the harness share with the workers (quiet: 1.7x; under
    # another job's load: 1.4x), so only a clear gain is asserted.
    assert two > 1.25 * one, (mode, one, two)
