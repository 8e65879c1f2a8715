"""The worker model's solver against cases known by construction: closed
forms, and the balance equations of the same network's Markov chain."""

import itertools
import math

import numpy as np
import pytest

from bench.analysis import mva
from bench.workloads import WORKLOADS, ceiling


def test_one_customer_takes_the_sum_of_the_demands():
    net = [mva.Station("a", 0.002, 1), mva.Station("b", 0.010, 2), mva.Station("z", 0.050, None)]
    assert mva.solve(net, 1).throughput_per_s == pytest.approx(1 / 0.062)


def test_a_single_server_saturates_at_one_over_its_demand():
    net = [mva.Station("q", 0.004, 1), mva.Station("z", 0.1, None)]
    assert mva.solve(net, 500).throughput_per_s == pytest.approx(250, rel=1e-6)


def test_a_multi_server_station_has_no_queue_below_its_servers():
    net = [mva.Station("cpu", 0.02, 4)]
    assert mva.solve(net, 3).throughput_per_s == pytest.approx(3 / 0.02)
    assert mva.solve(net, 9).throughput_per_s == pytest.approx(4 / 0.02)


def test_the_machine_repairman_model_matches_its_closed_form():
    """One server, demand D, think time Z, N customers: X = (1 - p0) / D with
    p0 = 1 / sum_k N!/(N-k)! (D/Z)^k (Kleinrock, vol. 1, 3.11)."""
    d, z, n = 0.003, 0.05, 25
    rho = d / z
    p0 = 1 / sum(math.factorial(n) / math.factorial(n - k) * rho**k for k in range(n + 1))
    net = [mva.Station("q", d, 1), mva.Station("z", z, None)]
    assert mva.solve(net, n).throughput_per_s == pytest.approx((1 - p0) / d, rel=1e-9)


def markov_throughput(demands, servers, customers):
    """The same closed network as a continuous-time Markov chain with
    exponential service, solved from its balance equations: a check written
    without MVA. Station i serves at rate min(n_i, servers_i) / demand_i
    (servers None: n_i / demand_i); tasks cycle 0 -> 1 -> ... -> 0."""
    k = len(demands)
    states = [s for s in itertools.product(range(customers + 1), repeat=k) if sum(s) == customers]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for s in states:
        for i in range(k):
            if s[i] == 0:
                continue
            busy = s[i] if servers[i] is None else min(s[i], servers[i])
            rate = busy / demands[i]
            t = list(s)
            t[i] -= 1
            t[(i + 1) % k] += 1
            q[index[s], index[tuple(t)]] += rate
            q[index[s], index[s]] -= rate
    a = np.vstack([q.T, np.ones(len(states))])
    b = np.zeros(len(states) + 1)
    b[-1] = 1
    p = np.linalg.lstsq(a, b, rcond=None)[0]
    # the throughput through station 0: its completion rate
    return sum(
        p[index[s]] * (s[0] if servers[0] is None else min(s[0], servers[0])) / demands[0] for s in states if s[0]
    )


@pytest.mark.parametrize("customers", [1, 2, 3, 5, 8])
def test_load_dependent_mva_matches_the_markov_chain(customers):
    demands, servers = [0.001, 0.020, 0.010], [1, 2, None]
    net = [mva.Station(str(i), d, m) for i, (d, m) in enumerate(zip(demands, servers, strict=True))]
    expected = markov_throughput(demands, servers, customers)
    assert mva.solve(net, customers).throughput_per_s == pytest.approx(expected, rel=1e-9)


def test_a_fractional_server_count_slows_its_station():
    """Cores left to the tasks may be fewer than a whole one."""
    net = [mva.Station("cpu", 0.01, 0.5)]
    assert mva.solve(net, 4).throughput_per_s == pytest.approx(50)


@pytest.mark.parametrize("pool", ["prefork", "gevent", "eventlet", "threads", "solo"])
@pytest.mark.parametrize("workload", ["cpu", "sleep", "mixed"])
@pytest.mark.parametrize("concurrency", [1, 2, 3, 8, 64])
def test_without_overhead_the_model_stays_under_the_physical_ceiling(pool, workload, concurrency):
    w = WORKLOADS[workload]
    size = w.default_task_ms
    assert size is not None
    task = mva.TaskDemand(size * w.cpu_share / 1000, size * w.io_share / 1000, w.releases_gil)
    bound = ceiling(w, pool, concurrency, size, 2).per_s
    assert bound is not None
    predicted = mva.predict(pool, concurrency, 2, task, None).throughput_per_s
    assert predicted <= bound * (1 + 1e-9)
    # ... and reaches it where one kind of demand alone binds: a task that only
    # waits or only computes queues nowhere but at its bound (mixed ones bend below the corner)
    if workload != "mixed":
        assert predicted == pytest.approx(bound, rel=1e-6)


def test_overhead_lowers_every_point_and_binds_the_noop():
    overhead = mva.Overhead(dispatch_s=0.001, worker_cpu_s=0.0011, main_cpu_s=0.0009, other_cpu_s=0.0003)
    noop = mva.TaskDemand(0.0, 0.0)
    assert mva.predict("gevent", 64, 2, noop, overhead).throughput_per_s == pytest.approx(1000, rel=1e-6)
    sleep = mva.TaskDemand(0.0, 0.05)
    for c in (1, 4, 32, 256):
        bare = mva.predict("prefork", c, 2, sleep, None).throughput_per_s
        assert mva.predict("prefork", c, 2, sleep, overhead).throughput_per_s < bare


def test_the_overheads_cpu_leaves_prefork_fewer_cores():
    """Two children computing on two cores share them with the parent, the
    broker and the harness: less than two cores are left for the tasks."""
    overhead = mva.Overhead(dispatch_s=0.001, worker_cpu_s=0.0011, main_cpu_s=0.0009, other_cpu_s=0.0003)
    cpu = mva.TaskDemand(0.02, 0.0)
    p = mva.predict("prefork", 16, 2, cpu, overhead)
    assert p.cores_for_tasks == pytest.approx(2 - p.throughput_per_s * 0.0012, rel=1e-4)
    assert p.throughput_per_s == pytest.approx(p.cores_for_tasks / (0.02 + 0.0002), rel=1e-3)
    assert p.bound == "cpu"


def test_the_achievable_bound_is_above_the_prediction_and_meets_it_far_from_the_knee():
    overhead = mva.Overhead(dispatch_s=0.001, worker_cpu_s=0.0011, main_cpu_s=0.0009, other_cpu_s=0.0003)
    sleep = mva.TaskDemand(0.0, 0.05)
    for c in (1, 4, 51, 256):
        p = mva.predict("gevent", c, 2, sleep, overhead)
        assert p.throughput_per_s <= p.achievable_per_s * (1 + 1e-9)
    assert mva.predict("gevent", 1, 2, sleep, overhead).achievable_per_s == pytest.approx(1 / 0.051)
    assert mva.predict("gevent", 4096, 2, sleep, overhead).achievable_per_s == pytest.approx(1000)


def test_fixed_times_queue_less_than_exponential_ones():
    """Two tasks of 10 ms CPU and 10 ms waiting on one server: exponential
    times queue (75/s); fixed ones interleave almost perfectly (100/s exactly);
    the residual-time correction lands between, near the fixed case."""
    exponential = mva.solve([mva.Station("gil", 0.01, 1, 1.0), mva.Station("z", 0.01, None)], 2)
    fixed = mva.solve([mva.Station("gil", 0.01, 1, 0.0), mva.Station("z", 0.01, None)], 2)
    assert exponential.throughput_per_s == pytest.approx(80)  # R = D (1 + Q) = 15 ms, X = 2 / 25 ms
    assert 85 < fixed.throughput_per_s <= 100
