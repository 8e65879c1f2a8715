"""Whether a task's CPU releases the GIL, told from a run under threads
(bench.analysis.profile: gil_probe_size, gil_verdict), and what the
prediction and the profile's text make of the verdict; on hand-made numbers."""

import pytest

from bench.analysis.profile import (
    GIL_PROBE_MAX_THREADS,
    GilProbe,
    gil_not_probed,
    gil_probe_size,
    gil_verdict,
    predict,
)
from bench.output.profile import profile_table


def test_the_probe_has_enough_threads_to_keep_every_core_busy_if_the_cpu_runs_side_by_side():
    assert gil_not_probed(0.010, 0.020, cores=2.0) is None
    threads, calls = gil_probe_size(0.010, 0.020, cores=2.0)
    assert threads == 12  # 2 x cores x (1 + W/C): the cores offered twice the CPU they have
    assert calls == 400  # about 2 s at the releasing rate (cores / C = 200/s)
    assert gil_probe_size(0.020, 0.0, cores=2.0) == (4, 200)  # 2 s at 100/s
    assert gil_probe_size(0.010, 0.100, cores=2.0) == (44, 400)
    assert gil_probe_size(0.010, 0.400, cores=2.0)[0] == GIL_PROBE_MAX_THREADS


@pytest.mark.parametrize(
    ("cpu_s", "wait_s", "cores", "why"),
    [
        (0.020, 0.0, 1.0, "1 usable core"),  # nothing can run side by side
        (0.005, 0.020, 2.0, "too little CPU"),  # 400/s releasing: Celery's own cost binds first
        (0.010, 1.0, 2.0, "wait too long"),  # 64 threads offer 0.63 cores: they could not fill two
    ],
)
def test_the_probe_is_left_out_where_it_cannot_tell(cpu_s, wait_s, cores, why):
    probe = gil_not_probed(cpu_s, wait_s, cores)
    assert probe is not None
    assert probe.releases_gil is None
    assert why in probe.basis


@pytest.mark.parametrize(
    ("cpu_per_call", "window_s", "verdict"),
    [
        ([0.020] * 200, 2.2, True),  # 4 s of CPU in 2.2 s: 1.8 cores at once
        ([0.020] * 200, 4.1, False),  # 0.98 cores: one thread computing at a time
        ([0.020] * 200, 3.4, None),  # 1.18 cores: too close to one to tell
    ],
)
def test_the_verdict_is_the_task_threads_cpu_in_cores(cpu_per_call, window_s, verdict):
    probe = gil_verdict(cpu_per_call, window_s, threads=4)
    assert probe.releases_gil is verdict
    assert probe.task_cpu_cores == pytest.approx(sum(cpu_per_call) / window_s)
    assert (probe.threads, probe.calls) == (4, 200)
    assert f"{probe.task_cpu_cores:.2f} cores" in probe.basis


def by_pool(prediction):
    return {p.pool: p for p in prediction.pools}


def test_a_measured_verdict_gives_threads_one_bound():
    released = by_pool(predict(0.005, 0.020, 2.0, releases_gil=True))["threads"]
    assert (released.best_c, released.per_s) == (10, pytest.approx(400.0))
    assert released.best_c_if_gil_released is None
    assert "releases the GIL (measured)" in released.basis
    held = by_pool(predict(0.005, 0.020, 2.0, releases_gil=False))["threads"]
    assert (held.best_c, held.per_s) == (5, pytest.approx(200.0))
    assert held.best_c_if_gil_released is None
    assert "holds the GIL (measured)" in held.basis
    # a task releasing the GIL on two cores: threads tie prefork, and are the cheaper
    assert predict(0.005, 0.020, 2.0, releases_gil=True).favoured == "threads"
    assert predict(0.005, 0.020, 2.0, releases_gil=False).favoured == "prefork"


def document(gil):
    prediction = predict(0.005, 0.020, 2.0, gil.releases_gil)
    return {
        "task": "shop.resize",
        "app": "shop",
        "config": {"warmup": 5},
        "per_call": {
            "calls": 100,
            "wall_s": 0.025,
            "wall_p90_s": 0.027,
            "cpu_s": 0.005,
            "wait_s": 0.020,
            "waiting_share": 0.8,
            "wall_ci95_rel": 0.02,
            "stable": True,
        },
        "memory": {"rss_growth_bytes": None},
        "gil": gil.__dict__,
        "prediction": {
            "cores": 2.0,
            "favoured": prediction.favoured,
            "reason": prediction.reason,
            "pools": [p.__dict__ for p in prediction.pools],
        },
    }


def test_the_profile_says_what_the_probe_found_and_brackets_only_an_unknown_gil():
    measured = profile_table(document(gil_verdict([0.005] * 800, 2.3, threads=10)))
    assert "GIL                 releases it: 800 calls under threads -c 10" in measured
    assert "in brackets" not in measured
    unknown = profile_table(document(GilProbe(None, "not probed")))
    assert "GIL                 unknown: not probed" in unknown
    assert "in brackets, if it releases it" in unknown
