"""The baseline of head-of-line blocking (issue 24): a class of the mix run
alone (`--vary alone=NAME`) at its share of the rate, beside the whole mix
with the same other settings, in the same interleaved run order."""

import pytest

from bench.analysis.mix import setting_tables
from bench.errors import UsageError
from bench.measure import traffic_file
from bench.output.mix import table_rows
from bench.sweep.config import build_sweep_config
from bench.sweep.plan import plan_sweep, run_config_for
from tests.helpers.mix import estimate, point, summary, two

MIX = traffic_file.parse(
    {"class": [{"name": "short", "task_ms": 10, "weight": 99}, {"name": "long", "task_ms": 2000, "weight": 1}]}, "t"
)


def test_a_class_alone_runs_without_the_others_at_its_share_of_the_rate():
    cfg = build_sweep_config(pools=["prefork"], concurrency=[1], traffic=MIX, vary=[("alone", ("none", "short"))])
    whole, alone = (run_config_for(cfg, p, rate=6.0, duration=5.0) for p in plan_sweep(cfg, cores=2.0))
    assert whole.traffic is not None
    assert alone.traffic is not None
    assert whole.traffic.names == ("short", "long")
    assert alone.traffic.names == ("short",)
    assert alone.traffic.classes[0].share == 1.0
    assert whole.schedule is not None
    assert alone.schedule is not None
    assert (whole.schedule.rate_per_s, alone.schedule.rate_per_s) == (6.0, pytest.approx(5.94))
    drained_whole, drained_alone = (run_config_for(cfg, p) for p in plan_sweep(cfg, cores=2.0))
    assert drained_alone.tasks == MIX.counts(drained_whole.tasks)[0]


def test_alone_names_a_class_of_the_traffic():
    with pytest.raises(UsageError, match="--vary alone: 'medium' is no class of the traffic; give none or one of"):
        build_sweep_config(pools=["prefork"], traffic=MIX, vary=[("alone", ("none", "medium"))])
    with pytest.raises(UsageError, match="--vary alone: an axis of a traffic mix; give --traffic too"):
        build_sweep_config(pools=["prefork"], vary=[("alone", ("short",))])


def test_each_setting_row_shows_its_short_class_alone_beside_it():
    alone = [estimate("short", 0.012, 0.011, 0.013)]
    table = setting_tables(
        summary(
            point("prefetch_multiplier=4, alone=none", two(1.4, 1.3, 1.5)),
            point("prefetch_multiplier=1, alone=none", two(0.017, 0.016, 0.018)),
            point("prefetch_multiplier=4, alone=short", alone),
            point("prefetch_multiplier=1, alone=short", [estimate("short", 0.011, 0.010, 0.012)]),
        )
    )[0]
    assert [row.setting for row in table.rows] == ["prefetch_multiplier=4", "prefetch_multiplier=1"]
    assert table.rows[0].alone["short"].sojourn_p99_s == 0.012
    assert table.rows[1].alone["short"].sojourn_p99_s == 0.011
    assert table.recommendation is not None
    assert table.recommendation.best == "prefetch_multiplier=1"  # the baselines are not candidates
    header, first, _ = table_rows(table)
    assert header[:3] == ["setting", "short p99 (95% CI)", "short alone p99"]
    assert first[2].startswith("12 ms")
