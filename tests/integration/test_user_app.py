"""A user's own Celery app, written by the test into a temporary directory:
`run`, `profile`, `sweep` and `compare` through `python -m bench` with real
workers, the bad inputs, and the broker the app configures never touched."""

import json
import os
import textwrap

import pytest

from bench.workloads import POOLS
from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration

APP = textwrap.dedent(
    """
    import time
    from celery import Celery

    # Its own broker is unreachable on purpose: the harness must never use it unasked.
    app = Celery("myapp", broker="redis://user:s3cret@127.0.0.1:1/0")
    app.conf.task_acks_late = True


    @app.task(name="myapp.work")
    def work(cpu_ms, wait_ms=0, token=None):
        deadline = time.thread_time() + cpu_ms / 1000.0
        x = 0
        while time.thread_time() < deadline:
            for i in range(2000):
                x += i * i
        time.sleep(wait_ms / 1000.0)


    @app.task(name="myapp.boom")
    def boom():
        raise ValueError("boom during warm-up")
    """
)


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "myapp.py").write_text(APP)
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on import')\n")
    return tmp_path


@pytest.mark.parametrize("pool", POOLS)
def test_a_user_task_runs_under_every_pool_with_every_task_accounted(pool, app_dir):
    out = app_dir / "r.json"
    proc = run_bench(
        "run", "--app", "myapp", "--task", "myapp.work", "--args", "[2]",
        "--kwargs", '{"wait_ms": 5, "token": "hunter2"}', "-P", pool, "-c", 3, "--tasks", 30, "--json", out,
        cwd=app_dir, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "broker used: the harness's private broker" in proc.stdout
    doc = json.loads(out.read_text())
    no_event = {"lost": None, "redelivered": None, "interrupted": None}  # counted under a deploy event only
    tasks = {"published": 30, "succeeded": 30, "failed": 0, "missing": 0, "duplicates": 0, **no_event}
    assert doc["summary"]["tasks"] == tasks
    cfg = doc["config"]
    assert (cfg["workload"], cfg["task"], cfg["user_task"]["app"]) == ("task", "myapp.work", "myapp")
    assert cfg["user_task"]["arguments"] == [{"args": [2], "kwargs": {"token": "**", "wait_ms": 5}}]
    assert cfg["app_settings"]["task_acks_late"] is True
    assert cfg["acks_late"] is True
    assert cfg["harness_overrides"]["pool"] == pool
    assert cfg["broker"]["embedded"]
    assert "s3cret" not in out.read_text()
    assert "hunter2" not in out.read_text()
    cpu = doc["summary"]["task_cpu"]
    if pool in ("gevent", "eventlet"):
        assert cpu["attribution"] == "process"
        assert all(v is None for v in doc["samples"]["cpu_s"])
    else:
        assert cpu["attribution"] == "thread"
        # Each call burns 2 ms of its thread's CPU: never less.
        assert min(doc["samples"]["cpu_s"]) >= 0.002
    assert doc["summary"]["ceiling_per_s"] is None
    assert doc["summary"]["ceiling_estimated"]


@pytest.mark.exclusive  # the task's CPU time per call, within 20%
def test_profile_of_5ms_cpu_and_20ms_sleep_predicts_prefork_near_cores_times_five(app_dir):
    out = app_dir / "profile.json"
    cache = {"CELERY_BENCH_CACHE": str(app_dir / "cache")}  # none: Celery's per-task cost is not measured
    proc = run_bench("profile", "--app", "myapp", "--task", "myapp.work", "--args", "[5, 20]", "--json", out,
                     cwd=app_dir, env=cache, timeout=240)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    call = doc["per_call"]
    assert call["calls"] == 100
    assert call["cpu_s"] == pytest.approx(0.005, rel=0.2)  # calibrated by the thread's own CPU clock
    assert call["wait_s"] >= 0.019  # a sleep is never shorter
    assert call["wall_s"] == pytest.approx(call["cpu_s"] + call["wait_s"], rel=0.05)
    pools = {p["pool"]: p for p in doc["prediction"]["pools"]}
    cores = doc["prediction"]["cores"]
    ratio = 1 + call["wait_s"] / call["cpu_s"]
    assert pools["prefork"]["best_c"] == pytest.approx(cores * ratio, abs=1)
    assert pools["prefork"]["per_s"] == pytest.approx(cores / call["cpu_s"])
    assert doc["prediction"]["favoured"] == "prefork"
    assert doc["memory"]["rss_growth_bytes"] is not None
    assert "favoured: prefork" in proc.stdout
    assert doc["model"] == {"missing": "Celery's per-task cost is not measured for this machine and broker"}
    assert "`python -m bench advise` measures it once" in proc.stdout
    # The profile sizes a run's ceiling, labelled as estimated.
    run_out = app_dir / "r.json"
    proc = run_bench(
        "run", "--app", "myapp", "--task", "myapp.work", "--args", "[5, 20]", "-P", "threads", "-c", 2,
        "--tasks", 30, "--from-profile", out, "--json", run_out, cwd=app_dir, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(run_out.read_text())["summary"]
    assert "estimated from the profile" in summary["ceiling_basis"]
    assert summary["ceiling_per_s"] == pytest.approx(2 / (call["cpu_s"] + call["wait_s"]), rel=1e-6)


def test_a_small_sweep_and_compare_of_a_user_task(app_dir):
    proc = run_bench(
        "sweep", "--app", "myapp", "--task", "myapp.work", "--args", "[2, 5]", "--profile", "quick",
        "--pools", "threads", "--concurrency", "2", "--output-dir", app_dir / "out", cwd=app_dir, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep_dir = next((app_dir / "out").glob("sweep-*"))
    report = (sweep_dir / "report.md").read_text()
    assert "Predicted from the profile, and measured" in report
    assert (sweep_dir / "profile.json").exists()
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert {p["pool"] for p in summary["points"]} == {"threads"}
    assert all(p["repeats"] == 3 and p["failed_repeats"] == 0 for p in summary["points"])
    assert all("estimated from the profile" in p["ceiling_basis"] for p in summary["points"])
    assert len(list(sweep_dir.glob("throughput-task-*ms.png"))) == 1
    proc = run_bench("compare", sweep_dir, sweep_dir, cwd=app_dir, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "no significant difference" in proc.stdout


def test_a_task_raising_in_the_warm_up_fails_the_run_with_its_error(app_dir):
    proc = run_bench("run", "--app", "myapp", "--task", "myapp.boom", "-P", "solo", "--json", app_dir / "r.json",
                     cwd=app_dir, timeout=240)  # fmt: skip
    assert proc.returncode == 1
    assert "ValueError: boom during warm-up" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--app", "broken", "--task", "x"], "RuntimeError: broken on import"),
        (["--app", "nosuchmodule", "--task", "x"], "No module named 'nosuchmodule'"),
        (["--app", "myapp", "--task", "myapp.wrok"], "did you mean myapp.work"),
        (["--app", "myapp", "--task", "myapp.work", "--args", "{}"], "--args: expected a JSON list"),
        (["--app", "myapp", "--task", "myapp.work", "--kwargs", "[1]"], "--kwargs: expected a JSON object"),
        (["--task", "myapp.work"], "--task myapp.work: give the app"),
        (["--app", "myapp", "--task", "myapp.work", "--workload", "cpu"], "--workload"),
    ],
)
def test_bad_user_task_input_is_one_line_and_exit_2(app_dir, args, expected):
    proc = run_bench("run", *args, "--json", app_dir / "r.json", cwd=app_dir, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (app_dir / "r.json").exists()


def test_a_bad_args_file_line_is_exit_2_naming_the_line(app_dir):
    (app_dir / "calls.jsonl").write_text('{"args": [1]}\n{"args": 1}\n')
    proc = run_bench(
        "profile", "--app", "myapp", "--task", "myapp.work", "--args-file", "calls.jsonl", cwd=app_dir, timeout=240
    )
    assert proc.returncode == 2
    assert "line 2" in proc.stderr


def test_a_scenario_file_makes_the_command_one_line(app_dir):
    (app_dir / "celery-bench.toml").write_text(
        '[tool.celery-bench]\napp = "myapp"\ntask = "myapp.work"\nargs = [1, 2]\ncalls = 20\n'
    )
    out = app_dir / "p.json"
    proc = run_bench("profile", "--json", out, cwd=app_dir, timeout=240)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["task"] == "myapp.work"
    assert doc["per_call"]["calls"] == 20


GIL_APP = """
import hashlib
import time

from celery import Celery

app = Celery("gilapp")
CHUNK = b"x" * (1 << 20)  # hashlib releases the GIL for buffers over 2 KiB


@app.task(name="gilapp.python")
def python(ms):  # pure Python: holds the GIL
    deadline = time.thread_time() + ms / 1000.0
    x = 0
    while time.thread_time() < deadline:
        for i in range(2000):
            x += i * i


@app.task(name="gilapp.hashing")
def hashing(ms):  # sha256 over a large buffer: releases it
    deadline = time.thread_time() + ms / 1000.0
    digest = hashlib.sha256()
    while time.thread_time() < deadline:
        digest.update(CHUNK)
"""


@pytest.mark.exclusive  # threads computing side by side, or not: nothing else may use the cores
@pytest.mark.parametrize(("task", "releases"), [("gilapp.hashing", True), ("gilapp.python", False)])
def test_the_profile_tells_a_task_that_releases_the_gil_from_one_that_holds_it(tmp_path, task, releases):
    """Known by construction: proj.tasks' sha256 loop and pure-Python loop, 20 ms of CPU a call."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: threads cannot compute side by side")
    (tmp_path / "gilapp.py").write_text(GIL_APP)
    out = tmp_path / "profile.json"
    proc = run_bench("profile", "--app", "gilapp", "--task", task, "--args", "[20]", "--calls", 20, "--json", out,
                     cwd=tmp_path, timeout=240)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    gil = doc["gil"]
    assert doc["schema_version"] == 4  # 4: the model with Celery's per-task cost (bench/measure/profile.py)
    assert gil["releases_gil"] is releases, gil
    assert gil["threads"] >= 4
    if releases:
        assert gil["task_cpu_cores"] >= 1.3, gil
        threads = {p["pool"]: p for p in doc["prediction"]["pools"]}["threads"]
        assert threads["per_s"] == pytest.approx(doc["prediction"]["cores"] / doc["per_call"]["cpu_s"])
    else:
        assert gil["task_cpu_cores"] <= 1.05, gil
    assert ("releases it" if releases else "holds it") in proc.stdout
