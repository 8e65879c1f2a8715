"""--listen on run and sweep: the embedded broker of a run or a sweep also
binds an address of this host, for agents on other hosts. The option
reaches the configs; a malformed or foreign address, or --listen with a
broker of the user's, is one line and exit 2, before anything starts."""

import pytest

from bench.cli import COMMANDS, create_parser, main
from bench.errors import UsageError
from bench.fleet.options import agent_config
from bench.harness import broker as broker_mod
from bench.harness.urls import derived_password, harness_url, parse_listen
from bench.sweep.config import SweepConfig

# TEST-NET-1 (RFC 5737): never an address of this host; nothing is sent to it.
FOREIGN = "192.0.2.1"


def _configure(argv):
    args = create_parser().parse_args(argv)
    return COMMANDS[args.command].configure(args)


def test_run_and_sweep_take_listen_into_their_configs(tmp_path):
    run = _configure(["run", "--listen", "127.0.0.1", "--output-dir", str(tmp_path)])
    assert run.listen == "127.0.0.1"
    assert _configure(["run", "--output-dir", str(tmp_path)]).listen is None
    sweep = _configure(["sweep", "--listen", "::1", "--pools", "solo", "--workloads", "noop", "--dry-run"])
    assert sweep.config.listen == "::1"
    assert sweep.config.to_json()["listen"] == "::1"
    assert SweepConfig.from_json(sweep.config.to_json()).listen == "::1"  # a resumed sweep listens there again


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--listen", "not-an-address"], "expected an IP address of this host"),
        (["run", "--listen", "10.0.0.5/24"], "expected an IP address of this host"),
        (["sweep", "--listen", "", "--dry-run"], "expected an IP address of this host"),
        (["run", "--listen", "127.0.0.1", "--broker", "redis://127.0.0.1:1/0"], "with --broker it is yours"),
        (["sweep", "--listen", "127.0.0.1", "--broker", "redis://127.0.0.1:1/0", "--dry-run"], "--listen"),
        (["sweep", "--resume", "results", "--listen", "127.0.0.1"], "leave out --listen"),
    ],
)
def test_bad_listen_input_exits_2_in_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_an_address_of_another_host_is_refused_before_the_broker_starts(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--listen", FOREIGN, "--workload", "noop", "--tasks", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--listen: {FOREIGN} is not an address of this host" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_the_address_check_accepts_this_hosts_and_refuses_others():
    broker_mod.check_listen("127.0.0.1")
    with pytest.raises(UsageError, match="not an address of this host"):
        broker_mod.check_listen(FOREIGN)
    with pytest.raises(UsageError, match="expected an IP address"):
        broker_mod.check_listen("localhost")


def test_listening_words_never_show_the_password():
    broker = broker_mod.Broker(url="redis://:s3cret@10.0.0.5:6399/0", kind="redis", server="valkey 9", embedded=True)
    words = broker_mod.listening_words(broker, "10.0.0.5")
    assert "s3cret" not in words
    assert "127.0.0.1 and 10.0.0.5" in words


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10.0.0.5", ("10.0.0.5", None)),
        ("10.0.0.5:6399", ("10.0.0.5", 6399)),
        ("::1", ("::1", None)),
        ("[::1]:6399", ("::1", 6399)),
    ],
)
def test_listen_takes_an_address_and_an_optional_port(text, parsed):
    assert parse_listen(text) == parsed


@pytest.mark.parametrize("text", ["10.0.0.5:0", "10.0.0.5:70000", "10.0.0.5:x", "[::1", "host:80", "1.2.3.4:5:6"])
def test_a_malformed_listen_is_refused(text):
    with pytest.raises(ValueError, match=r"."):  # each names what it could not read
        parse_listen(text)


def test_agents_and_the_harness_derive_the_same_url_from_the_secret_alone():
    secret = b"a-test-secret-of-enough-length"
    url = harness_url("10.0.0.5", 6399, secret)
    assert url == f"redis://:{derived_password(secret)}@10.0.0.5:6399/0"
    assert secret.decode() not in url  # the secret itself never travels
    assert derived_password(b"another-secret-of-enough-len") != derived_password(secret)
    cfg = agent_config(None, "g", None, None, secret.decode(), harness=("10.0.0.5", 6399))
    assert cfg.broker_url == url
    assert cfg.wait
    assert not agent_config("redis://127.0.0.1:1/0", "g", None, None, secret.decode()).wait


def test_run_on_hosts_may_use_its_own_broker_with_a_port(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")
    cfg = _configure(["run", "--hosts", "g,h", "--listen", "127.0.0.1:6399"])
    assert (cfg.broker_url, cfg.listen, cfg.listen_port) == (None, "127.0.0.1", 6399)
    sweep = _configure(["sweep", "--hosts", "g,h", "--listen", "127.0.0.1:6399", "--pools", "solo", "--dry-run"])
    assert sweep.config.listen_port == 6399


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--hosts", "g", "--listen", "127.0.0.1"], "with --hosts give ADDRESS:PORT"),
        (["agent", "--harness", "127.0.0.1"], "--harness: give ADDRESS:PORT"),
        (["agent", "--name", "g"], "one of the arguments --broker --harness is required"),
        (["agent", "--broker", "redis://127.0.0.1:1/0", "--harness", "127.0.0.1:1"], "not allowed with"),
        (["agent", "--harness", "127.0.0.1:99999"], "expected an IP address of this host, or ADDRESS:PORT"),
    ],
)
def test_bad_harness_input_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-test-secret-of-enough-length")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
