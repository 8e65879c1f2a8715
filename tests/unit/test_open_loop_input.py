"""Bad open-loop input: one line, exit 2, nothing started."""

import pytest

from bench import cli
from bench.cli.main import create_parser
from bench.measure.config import build_run_config


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--rate", "0"], "--rate: must be tasks per second above 0"),
        (["run", "--rate", "abc"], "--rate: expected tasks per second"),
        (["run", "--duration", "3", "--tasks", "50"], "--duration without --rate: a soak"),
        (["run", "--rate", "10", "--tasks", "5"], "--tasks: sizes the drain batch"),
        (["run", "--rate", "10", "--warmup", "5"], "--warmup: sizes the drain batch"),
        (["run", "--rate", "10", "--arrival", "bursty"], "invalid choice: 'bursty'"),
        (["run", "--rate", "100000", "--duration", "200"], "--rate x --duration: above"),
        (["run", "--rate", "10", "--duration", "25h"], "--duration: a soak lasts above 0 and at most 24 h"),
        (["run", "--rate", "10", "--duration", "10x"], "expected seconds, such as 10, 10s, 500ms or 2m"),
        (["capacity", "--slo", "p98=10ms"], "expected pNN=LIMIT"),
        (["capacity"], "the following arguments are required: --slo"),
        (["sweep", "--rates", "10,-1"], "--rates: expected auto or comma-separated rates above 0"),
    ],
)
def test_bad_open_loop_input_is_one_line_and_exit_2(argv, message, capsys, nothing_is_started):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_rate_makes_the_schedule_and_sets_the_tasks():
    cfg = build_run_config(pool="gevent", concurrency=8, rate=100, duration=2, cores=2.0)
    assert cfg.open_loop
    assert cfg.schedule.rate_per_s == 100.0
    assert cfg.schedule.warmup_s == 1.0
    assert cfg.tasks == 300
    assert cfg.warmup == 0


def test_without_a_rate_the_run_is_the_drain_batch_of_today():
    cfg = build_run_config(pool="gevent", concurrency=8, cores=2.0)
    assert not cfg.open_loop
    assert cfg.schedule is None


def test_duration_takes_units():
    assert create_parser().parse_args(["run", "--rate", "10", "--duration", "10m"]).duration == 600.0
