"""However the harness dies, nothing it started outlives it: SIGKILL and
SIGHUP of `run`, of a sweep and of `python -m bench broker`; and a second
signal during the shutdown never loses the partial result."""

import json
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from bench.harness import scratch
from tests.helpers.cli import run_bench, start_bench
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.integration
GONE_WITHIN_S = 5.0


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """The harnesses of each test make their scratch directories in a temp
    directory of the test's own: a harness of another test running beside
    it removes the directories of dead harnesses, which this module's
    killed harnesses leave on purpose."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))  # this process's gettempdir()


def descendants(proc):
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        return []


def named(procs, *words):
    out = []
    for p in procs:
        try:
            text = " ".join(p.cmdline()) + " " + p.name()
        except psutil.Error:
            continue
        if any(w in text for w in words):
            out.append(p)
    return out


def alive(procs):
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def assert_all_gone(procs):
    deadline = time.monotonic() + GONE_WITHIN_S
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(procs)
    assert not left, [" ".join(p.cmdline()) for p in left]


def scratch_dirs_of(pid):
    found = []
    for d in Path(tempfile.gettempdir()).glob(f"{scratch.PREFIX}*"):
        try:
            if (d / scratch.OWNER).read_text().split()[0] == str(pid):
                found.append(d)
        except OSError:
            continue
    return found


def busy_run(pool, workload, json_path):
    """A run whose workers are busy when it is killed: its broker, worker
    (and pool children, or the stub server) all started."""
    proc = start_bench("run", "-P", pool, "-c", 2, "--workload", workload, "--task-ms", 50,
                       "--tasks", 3000, "--warmup", 0, "--json", json_path)  # fmt: skip
    expected = 4 if pool == "prefork" else 3  # broker + worker + (2 pool children | stub server)
    wait_for(lambda: len(descendants(proc)) >= expected and named(descendants(proc), "celery"), 60, "the worker")
    wait_for(lambda: scratch_dirs_of(proc.pid) and list(scratch_dirs_of(proc.pid)[0].glob("records/tasks-*")),
             60, "the first task records")  # fmt: skip
    return proc


@pytest.mark.parametrize(("pool", "workload"), [("prefork", "sleep"), ("gevent", "net")])
def test_sigkill_of_run_takes_broker_worker_pool_and_stub_down_with_it(tmp_path, pool, workload):
    proc = busy_run(pool, workload, tmp_path / "r.json")
    started = descendants(proc)
    assert named(started, "valkey")
    assert named(started, "celery")
    if workload == "net":
        assert named(started, "netstub")
    dirs = scratch_dirs_of(proc.pid)
    proc.kill()
    proc.communicate(timeout=10)
    assert_all_gone(started)
    # Left by a harness that could not clean up; the next one removes them.
    assert dirs
    assert all(d.exists() for d in dirs)
    scratch.remove_stale()
    assert not any(d.exists() for d in dirs)


def test_sighup_of_run_stops_everything_keeps_the_result_and_exits_129(tmp_path):
    out = tmp_path / "r.json"
    proc = busy_run("prefork", "sleep", out)
    started = descendants(proc)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 129
    assert "Traceback" not in err
    assert_all_gone(started)
    assert json.loads(out.read_text())["status"]["state"] == "interrupted"
    assert not scratch_dirs_of(proc.pid)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_sweep_leaves_nothing_running(tmp_path, sig):
    proc = start_bench("sweep", "--pools", "prefork", "--workloads", "sleep", "--task-ms", 20, "--concurrency", 2,
                       "--profile", "quick", "--output-dir", tmp_path)  # fmt: skip
    wait_for(lambda: list(tmp_path.glob("sweep-*/runs/*/r01.json")), 90, "a first repeat")
    wait_for(lambda: named(descendants(proc), "celery"), 60, "the next repeat's worker")
    started = descendants(proc)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert_all_gone(started)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_the_broker_command_takes_its_server_with_it(sig):
    proc = start_bench("broker")
    wait_for(lambda: named(descendants(proc), "valkey"), 30, "the broker")
    started = descendants(proc)
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    if sig == signal.SIGHUP:
        assert proc.returncode == 129
    assert_all_gone(started)


@pytest.mark.parametrize(
    ("sig", "count", "code"),
    [(signal.SIGINT, 2, 130), (signal.SIGTERM, 2, 143), (signal.SIGTERM, 10, 143), (signal.SIGHUP, 3, 129)],
)
def test_more_signals_during_the_shutdown_never_lose_the_partial_result(tmp_path, sig, count, code):
    out = tmp_path / "r.json"
    proc = busy_run("prefork", "sleep", out)
    started = descendants(proc)
    for _ in range(count):
        proc.send_signal(sig)
        time.sleep(0.1)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert json.loads(out.read_text())["status"]["state"] == "interrupted"
    assert_all_gone(started)


def test_a_second_writer_of_a_sweep_exits_2_at_once_naming_the_first(tmp_path):
    # Enough repeats that the first is still writing when the second starts (with the quick profile's 3, it
    # could finish first on a busy machine, and the resume found a complete sweep: exit 0)
    first = start_bench("sweep", "--pools", "solo", "--workloads", "sleep", "--task-ms", 20, "--profile", "quick",
                        "--repeats", 12, "--output-dir", tmp_path)  # fmt: skip
    try:
        wait_for(lambda: list(tmp_path.glob("sweep-*/runs/*/r01.json")), 90, "a first repeat")
        sweep_dir = next(tmp_path.glob("sweep-*"))
        began = time.monotonic()
        second = start_bench("sweep", "--resume", sweep_dir)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert f"pid {first.pid}" in err
        assert len(err.strip().splitlines()) == 1
        assert time.monotonic() - began < 15  # refused before any broker or worker started
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)


def test_a_killed_sweep_reads_as_interrupted_in_its_report(tmp_path):
    proc = start_bench("sweep", "--pools", "solo", "--workloads", "sleep", "--task-ms", 20, "--profile", "quick",
                       "--output-dir", tmp_path)  # fmt: skip
    wait_for(lambda: list(tmp_path.glob("sweep-*/runs/*/r01.json")), 90, "a first repeat")
    started = descendants(proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert_all_gone(started)
    sweep_dir = next(tmp_path.glob("sweep-*"))
    report = run_bench("report", sweep_dir, timeout=120)
    assert report.returncode == 0, report.stderr
    report_md = (sweep_dir / "report.md").read_text()
    assert f"Sweep `{sweep_dir.name}`, interrupted" in report_md
    assert "sweep interrupted" in report_md


def test_a_sweep_whose_broker_does_not_answer_leaves_no_sweep_folder(tmp_path):
    proc = start_bench("sweep", "--pools", "solo", "--workloads", "sleep", "--broker", "redis://127.0.0.1:1/0",
                       "--output-dir", tmp_path)  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "nothing listens at 127.0.0.1:1" in err
    assert not list(tmp_path.glob("sweep-*"))


def test_the_embedded_broker_refuses_a_wrong_password_in_words(tmp_path):
    from bench.harness import broker as broker_mod

    with broker_mod.embedded() as real:
        wrong = real.url.replace(real.url.split("@")[0], "redis://:not-the-password")
        proc = start_bench("run", "-P", "solo", "--tasks", 5, "--broker", wrong, "--json", tmp_path / "r.json")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "refused the password" in err
    assert "not-the-password" not in err


def test_a_broker_binary_that_exits_at_once_is_named(tmp_path):
    proc = start_bench("run", "-P", "solo", "--tasks", 5, "--redis-server", "/bin/false", "--json", tmp_path / "r.json")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "exited at once with code 1 and printed nothing" in err
    assert "/bin/false" in err
