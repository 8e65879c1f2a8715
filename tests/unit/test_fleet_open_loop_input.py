"""Open loop on agents: `run --hosts --rate` and `capacity --hosts` become
configs that carry both the hosts and the schedule; what they need and lack
is one line and exit 2."""

import pytest

from bench.cli import COMMANDS, create_parser, main
from bench.commands import CapacityRequest

BROKER = "redis://:pw@127.0.0.1:1/0"


@pytest.fixture
def secret(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")


def _configure(argv):
    args = create_parser().parse_args(argv)
    return COMMANDS[args.command].configure(args)


def test_run_on_hosts_takes_a_rate(secret):
    cfg = _configure(["run", "--broker", BROKER, "--hosts", "a,b", "--rate", "40", "--duration", "2"])
    assert cfg.hosts == ("a", "b")
    assert cfg.open_loop
    assert cfg.schedule.rate_per_s == 40
    assert cfg.tasks == len(cfg.schedule.offsets())


def test_capacity_takes_hosts(secret):
    request = _configure(["capacity", "--broker", BROKER, "--hosts", "all", "--slo", "p99=250ms"])
    assert isinstance(request, CapacityRequest)
    assert request.config.hosts == ("all",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["capacity", "--hosts", "a", "--slo", "p99=250ms"], "--hosts: the agents need a broker they can reach"),
        (["capacity", "--broker", BROKER, "--hosts", "a", "--workload", "net", "--slo", "p99=1s"], "stub server"),
        (["run", "--hosts", "a", "--rate", "10"], "--hosts: the agents need a broker"),
    ],
)
def test_what_open_loop_on_hosts_lacks_is_one_line_and_exit_2(secret, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_without_the_secret_capacity_on_hosts_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CELERY_BENCH_SECRET", raising=False)
    assert main(["capacity", "--broker", BROKER, "--hosts", "a", "--slo", "p99=250ms"]) == 2
    assert "CELERY_BENCH_SECRET" in capsys.readouterr().err
