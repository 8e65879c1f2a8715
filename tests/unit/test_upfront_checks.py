"""What can be known before measuring is checked before measuring: one line,
exit 2, nothing started. And a sweep directory has one writer at a time,
with a status that tells the truth."""

import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

from bench.cli import main
from bench.errors import UsageError
from bench.harness.broker import explain
from bench.measure.config import open_files_needed
from bench.results import sweeplock as lock
from bench.sweep.store import SweepDir
from tests.helpers.cli import run_bench
from tests.helpers.paths import DATA, ROOT

SMALL_SWEEP = DATA / "sweep-small"


def test_json_naming_a_directory_is_refused_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("bench.measure.runner.services", lambda *a, **k: pytest.fail("a broker would have started"))
    assert main(["run", "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--json" in err
    assert "is a directory" in err


def _limit_files(n):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return preexec


def test_the_open_file_limit_is_checked_against_the_concurrency_asked_for():
    proc = run_bench("run", "--pool", "gevent", "-c", 1000, "--workload", "net", "--task-ms", 2000,
                     timeout=60, preexec_fn=_limit_files(256))  # fmt: skip
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "256" in line
    assert str(open_files_needed("gevent", 1000, "net")) in line
    assert "ulimit -n" in line


def test_open_files_grow_with_prefork_children_and_net_sockets_only():
    base = open_files_needed("gevent", 1, "sleep")
    assert open_files_needed("gevent", 1000, "sleep") == base  # a sleeping greenlet holds no file
    assert open_files_needed("gevent", 1000, "net") == base + 1000
    assert open_files_needed("prefork", 40, "sleep") > open_files_needed("prefork", 10, "sleep")


def test_a_second_writer_of_a_sweep_is_refused_naming_the_first(tmp_path):
    with lock.writer(tmp_path):
        assert lock.held(tmp_path)
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"), lock.writer(tmp_path):
            pass
    assert not lock.held(tmp_path)


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from bench.results import sweeplock as lock\n"
         "with lock.writer(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.held(tmp_path)
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert not lock.held(tmp_path)
    with lock.writer(tmp_path):
        assert (tmp_path / lock.LOCK).read_text().strip() == str(os.getpid())


@pytest.mark.parametrize("written", ["running", "planned"])
def test_a_sweep_that_says_running_with_no_live_writer_reads_as_interrupted(tmp_path, written):
    sweep = tmp_path / "sweep"
    shutil.copytree(SMALL_SWEEP, sweep)
    manifest = json.loads((sweep / "manifest.json").read_text())
    manifest["status"] = written
    (sweep / "manifest.json").write_text(json.dumps(manifest))
    assert SweepDir(sweep).read_manifest().status == "interrupted"
    with lock.writer(sweep):  # while a writer holds it, it is running
        assert SweepDir(sweep).read_manifest().status == written


@pytest.mark.parametrize(
    ("raised", "url", "words"),
    [
        (Exception("WRONGPASS invalid username-password pair or user is disabled."), "redis://:x@h:1/0",
         "refused the password"),
        (Exception("NOAUTH Authentication required."), "redis://h:1/0", "needs a password"),
        (Exception("DB index is out of range"), "redis://h:6379/99", "no database 99"),
        (Exception("(0, 0): (403) ACCESS_REFUSED - Login was refused"), "amqp://bob:x@h:5672//", "user 'bob'"),
        (Exception("Connection.open: (530) NOT_ALLOWED - vhost v not found"), "amqp://g:x@h:5672/v",
         "virtual host 'v'"),
        (ConnectionRefusedError("[Errno 111] Connection refused"), "redis://h:7/0", "nothing listens at h:7"),
        (TimeoutError("timed out"), "rediss://h:6379/0", "over TLS"),
    ],
)  # fmt: skip
def test_broker_errors_are_said_in_words_a_user_can_act_on(raised, url, words):
    said = explain(raised, url)
    assert words in said
    assert ":x@" not in said
