"""Bad command-line input through bench.cli.main: exit code 2, one line on stderr
naming the option, no traceback, and nothing started."""

import pytest

from bench.cli import main
from bench.errors import UsageError
from bench.harness import broker as broker_mod

pytestmark = pytest.mark.usefixtures("nothing_is_started")


BAD_INPUT = [
    (["run", "--pool", "fibers"], "--pool"),
    (["run", "--pool", "threads", "-c", "5000"], "-c/--concurrency"),
    (["run", "--workload", "nope"], "--workload"),
    (["run", "-c", "0"], "-c/--concurrency"),
    (["run", "-c", "-3"], "-c/--concurrency"),
    (["run", "-c", "many"], "-c/--concurrency"),
    (["run", "--task-ms", "0"], "--task-ms"),
    (["run", "--task-ms", "-5"], "--task-ms"),
    (["run", "--task-ms", "abc"], "--task-ms"),
    (["run", "--task-ms", "nan"], "--task-ms"),
    (["run", "--task-ms", "inf"], "--task-ms"),
    (["run", "--task-ms", "60001"], "--task-ms"),
    (["run", "--tasks", "0"], "--tasks"),
    (["run", "--warmup", "-1"], "--warmup"),
    (["run", "--pool", "prefork", "-c", "100000"], "-c/--concurrency"),
    (["run", "--pool", "gevent", "-c", "20000"], "-c/--concurrency"),
    (["run", "--broker", "http://127.0.0.1:1"], "--broker"),
    (["run", "--broker", "redis://"], "--broker"),
    (["run", "--broker", "redis://127.0.0.1:notaport"], "--broker"),
    (["run", "--workload", "noop", "--task-ms", "5"], "--task-ms"),
    (["run", "--broker", "redis://127.0.0.1:6379/0", "--redis-server", "/bin/true"], "--redis-server"),
    (["run", "--prefetch-multiplier", "-1"], "--prefetch-multiplier"),
    (["run", "--loglevel", "loud"], "--loglevel"),
    (["run", "--result-backend", "s3"], "--result-backend"),
    (["run", "--no-such-option"], "--no-such-option"),
    (["run", "--cpu-limit", "0"], "--cpu-limit"),
    (["run", "--cpu-limit", "-1"], "--cpu-limit"),
    (["run", "--cpu-limit", "abc"], "--cpu-limit"),
    (["run", "--cpu-limit", "nan"], "--cpu-limit"),
    (["run", "--cpu-limit", "0.001"], "--cpu-limit"),
    (["run", "--memory-limit", "12XB"], "--memory-limit"),
    (["run", "--memory-limit", "0"], "--memory-limit"),
    (["run", "--memory-limit", "100KiB"], "--memory-limit"),
    (["run", "--cpu-limit", "1", "--rate", "5"], "--cpu-limit"),
    (["sweep", "--cpu-limit", "0"], "--cpu-limit"),
    (["sweep", "--vary", "cpu_limit=0.5,zero"], "--vary cpu_limit"),
    (["sweep", "--vary", "cpu_limit=0"], "--vary cpu_limit"),
    (["sweep", "--vary", "memory_limit=256MiB,12XB"], "--vary memory_limit"),
    (["sweep", "--vary", "cpu_limit=0.5,1", "--cpu-limit", "1"], "--cpu-limit"),
    (["sweep", "--cpu-limit", "1", "--check"], "--cpu-limit"),
    (["advise", "--slo", "p99=200ms"], "--slo"),
    (["advise", "--slo", "p99=fast", "--rate", "10"], "--slo"),
    (["advise", "--rate", "0"], "--rate"),
    (["advise", "--memory-budget", "lots"], "--memory-budget"),
    (["advise", "--memory-budget", "-2GiB"], "--memory-budget"),
    (["advise", "--workload", "cpu,sleep"], "--workload"),
    (["advise", "--workload", "fibers"], "--workload"),
    (["advise", "--workload", "cpu", "--app", "proj", "--task", "proj.tasks.add"], "--workload"),
    (["advise", "--pools", "solo"], "--pools"),
    (["advise", "--pools", "fibers"], "--pools"),
    (["advise", "--repeats", "0"], "--repeats"),
    (["frobnicate"], "COMMAND"),
    ([], "COMMAND"),
]


@pytest.mark.parametrize(("argv", "option"), BAD_INPUT, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_exits_2_with_one_line_naming_the_option(capsys, argv, option):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].strip()
    assert option in lines[0]
    assert "Traceback" not in err
    assert out == ""


def test_bad_input_error_line_names_the_subcommand(capsys):
    main(["run", "--tasks", "0"])
    assert capsys.readouterr().err.startswith("python -m bench run: error: ")
    main(["--version-typo"])
    assert capsys.readouterr().err.startswith("python -m bench: error: ")


# redaction


def test_redact_hides_the_password():
    redacted = broker_mod.redact("redis://:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in redacted
    assert "127.0.0.1" in redacted


def test_redact_hides_user_password_and_keeps_the_user():
    redacted = broker_mod.redact("amqp://guest:s3cret@127.0.0.1:5672//")
    assert "s3cret" not in redacted
    assert "guest" in redacted


def test_redact_of_none_is_none():
    assert broker_mod.redact(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cret@127.0.0.1:1",
        "redis://:s3cret@",
        "redis://:s3cret@127.0.0.1:notaport/0",
    ],
)
def test_bad_url_error_does_not_show_the_password(url):
    with pytest.raises(UsageError) as excinfo:
        broker_mod.check_url(url)
    assert "s3cret" not in str(excinfo.value)
    assert "--broker" in str(excinfo.value)


def test_bad_url_on_the_command_line_does_not_print_the_password(capsys):
    assert main(["run", "--broker", "http://user:s3cret@127.0.0.1:1"]) == 2
    out, err = capsys.readouterr()
    assert "s3cret" not in out + err
    assert "--broker" in err
