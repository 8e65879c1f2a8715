"""Settings and worker counts as sweep axes (--vary, --workers): the axes
cross, every value is part of the point's identity, and the run options
follow the point."""

import json

import pytest

from bench.errors import UsageError
from bench.output.plan import describe
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.point import Point
from bench.sweep.run import point_broker, run_config_for

QUICK = PROFILES["quick"]


def plan(**options):
    cfg = build_sweep_config(pools=["gevent"], workloads=["sleep"], concurrency=[4, 8], profile="quick", **options)
    return cfg, build_plan(cfg.pools, cfg.workloads, QUICK, 2.0, [0, 1], concurrency=cfg.concurrency, vary=cfg.vary)


def test_two_axes_cross_with_the_concurrency():
    _, points = plan(vary=[("prefetch_multiplier", ("1", "4", "16"))], workers=[1, 2])
    assert len(points) == 2 * 3 * 2
    assert len({p.key for p in points}) == len(points)
    shapes = {(p.concurrency, p.workers, p.settings) for p in points}
    assert (8, 2, (("prefetch_multiplier", "16"),)) in shapes


def test_without_axes_the_keys_are_the_old_ones():
    _, points = plan()
    assert [p.key for p in points] == ["sleep-50ms-gevent-c4", "sleep-50ms-gevent-c8"]
    assert {p.variant for p in points} == {""}


def test_the_variant_names_the_workers_and_the_settings():
    _, points = plan(vary=[("acks_late", ("true",))], workers=[2])
    (p4, _) = points
    assert p4.variant == "2 workers, acks_late=true"
    assert p4.key == "sleep-50ms-gevent-c4-w2-acks_late=true"
    assert p4.total_concurrency == 8


def test_a_point_with_workers_and_settings_survives_the_manifest():
    _, points = plan(vary=[("broker", ("embedded", "redis://127.0.0.1:6379/0"))], workers=[1, 3])
    for point in points:
        assert Point.from_json(json.loads(json.dumps(point.to_json()))) == point


def test_broker_passwords_stay_out_of_keys_and_files():
    _, points = plan(vary=[("broker", ("amqp://guest:s3cret@127.0.0.1:5672//",))])
    for point in points:
        assert "s3cret" not in point.key
        assert "s3cret" not in json.dumps(point.to_json())
    cfg, _ = plan(vary=[("broker", ("amqp://guest:s3cret@127.0.0.1:5672//",))])
    assert "s3cret" not in json.dumps(cfg.to_json())


def test_each_point_runs_with_its_own_settings():
    cfg, points = plan(
        vary=[
            ("prefetch_multiplier", ("1",)),
            ("acks_late", ("true",)),
            ("result_backend", ("broker",)),
            ("max_tasks_per_child", ("10",)),
            ("broker", ("redis://127.0.0.1:6379/0",)),
        ],
        workers=[2],
    )
    run = run_config_for(cfg, points[0])
    assert (run.prefetch_multiplier, run.acks_late, run.result_backend) == (1, True, "broker")
    assert (run.max_tasks_per_child, run.workers, run.broker_url) == (10, 2, "redis://127.0.0.1:6379/0")
    assert point_broker(cfg, points[0]) == "redis://127.0.0.1:6379/0"


def test_the_embedded_broker_is_a_value_of_the_broker_axis():
    cfg, points = plan(vary=[("broker", ("embedded", "redis://127.0.0.1:6379/0"))])
    assert {point_broker(cfg, p) for p in points} == {None, "redis://127.0.0.1:6379/0"}


def test_the_plan_shows_each_variant():
    _, points = plan(vary=[("prefetch_multiplier", ("1", "16"))])
    text = describe(points, QUICK)
    assert "[prefetch_multiplier=1]" in text
    assert "[prefetch_multiplier=16]" in text


@pytest.mark.parametrize(
    ("vary", "workers", "message"),
    [
        ([("colour", ("1",))], None, "unknown setting"),
        ([("acks_late", ("maybe",))], None, "true or false"),
        ([("prefetch_multiplier", ("1", "1"))], None, "given twice"),
        ([("workers", ("2",))], [1, 3], "varied twice"),
        ([("broker", ("http://x",))], None, "unsupported scheme"),
        ([("workers", ("0",))], None, "at least 1"),
    ],
)
def test_bad_axes_are_refused(vary, workers, message):
    with pytest.raises(UsageError, match=message):
        build_sweep_config(pools=["gevent"], workloads=["sleep"], vary=vary, workers=workers)


def test_open_loop_rates_drive_every_worker_of_a_workers_axis_with_the_arrivals_asked():
    from bench.sweep.plan import plan_sweep, run_config_for

    cfg = build_sweep_config(
        pools=["gevent"], concurrency=[4], workloads=["sleep"], workers=[1, 2], rates=[10.0], arrival="poisson"
    )
    configs = [run_config_for(cfg, p, rate=10.0, duration=2.0, seed=3) for p in plan_sweep(cfg, cores=2.0)]
    assert sorted(c.workers for c in configs) == [1, 2]
    assert {(c.schedule.arrival, c.schedule.seed) for c in configs if c.schedule is not None} == {("poisson", 3)}
    with pytest.raises(UsageError, match="--arrival: the open-loop runs' arrivals; give --rates too"):
        build_sweep_config(pools=["gevent"], workloads=["sleep"], arrival="poisson")
