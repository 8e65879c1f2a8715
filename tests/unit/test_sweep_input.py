"""Bad sweep, plot and report options: exit 2, one line naming the option,
and nothing started or written."""

import pytest

from bench.cli import main
from bench.sweep.config import build_sweep_config

pytestmark = pytest.mark.usefixtures("nothing_is_started")


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["sweep", "--pools", "prefork,fibers"], "--pools"),
        (["sweep", "--pools", ""], "--pools"),
        (["sweep", "--workloads", "cpu,nope"], "--workloads"),
        (["sweep", "--concurrency", "1,0,4"], "--concurrency"),
        (["sweep", "--concurrency", "1,two"], "--concurrency"),
        (["sweep", "--concurrency", "100000", "--pools", "prefork"], "-c/--concurrency"),
        (["sweep", "--task-ms", "0"], "--task-ms"),
        (["sweep", "--task-ms", "-3"], "--task-ms"),
        (["sweep", "--workloads", "noop", "--task-ms", "5"], "--task-ms"),
        (["sweep", "--repeats", "0"], "--repeats"),
        (["sweep", "--cpus", "99"], "--cpus"),
        (["sweep", "--cpus", "0"], "--cpus"),
        (["sweep", "--profile", "fast"], "--profile"),
        (["sweep", "--broker", "http://127.0.0.1:1"], "--broker"),
        (["sweep", "--broker", "redis://127.0.0.1:1/0", "--redis-server", "/bin/true"], "--redis-server"),
        (["sweep", "--resume", "somewhere", "--profile", "quick"], "--resume"),
        (["sweep", "--resume", "does-not-exist"], "does-not-exist"),
        (["plot"], "SWEEP_DIR"),
        (["report", "does-not-exist"], "does-not-exist"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_option(argv, option, capsys, tmp_path):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert option in lines[0]
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("manifest.json"))


def test_fewer_repeats_than_the_profile_asks_are_exactly_that_many():
    one = build_sweep_config(profile="quick", repeats=1)
    assert (one.min_repeats, one.max_repeats) == (1, 1)
    more = build_sweep_config(profile="standard", repeats=4)
    assert (more.min_repeats, more.max_repeats) == (4, 6)  # at least 4, more while the CI is wide


def test_the_plan_shown_before_a_sweep_counts_the_repeats_asked_for(capsys):
    # --dry-run prints what a sweep prints before it starts
    assert (
        main(["sweep", "--profile", "quick", "--pools", "solo", "--workloads", "sleep", "--repeats", "1", "--dry-run"])
        == 0
    )
    one = capsys.readouterr().out
    assert "points x 1 repeat in fresh workers" in one  # the sleep point and its noop probe
    assert main(["sweep", "--profile", "quick", "--pools", "solo", "--workloads", "sleep", "--dry-run"]) == 0
    three = capsys.readouterr().out
    assert "points x 3 repeats in fresh workers" in three
    assert _estimate_s(three) > 2 * _estimate_s(one)


def _estimate_s(text):
    return float(text.rsplit("estimated ", 1)[1].split("s", 1)[0])
