"""Every setting a sweep or a run records is the one the worker ran with, as
the worker itself reports it by remote control before the measured window
(bench/harness/readback.py): each --vary axis, several workers, pinning,
open loop at --rates, a user's app's own prefetch multiplier; and a failed
run keeps its worker's log beside its document."""

import json
import os
import signal
import socket
import subprocess
import textwrap

import pytest

from tests.helpers.cli import run_bench, start_bench

pytestmark = pytest.mark.integration
SMALL = ["--pools", "prefork", "--concurrency", "2", "--workloads", "sleep", "--task-ms", "5",
         "--profile", "quick", "--repeats", "1"]  # fmt: skip


def documents(sweep_dir, where="runs"):
    """{point key: [run document, ...]} of a sweep directory."""
    out = {}
    for path in sorted((sweep_dir / where).glob("*/*.json")):
        out.setdefault(path.parent.name, []).append(json.loads(path.read_text()))
    return out


def reports(doc):
    """The workers' own reports, one per node."""
    reported = doc["config"]["worker_reported"]
    assert reported, doc["status"]
    return list(reported.values())


@pytest.mark.parametrize(
    "axes",
    [
        ("prefetch_multiplier=0,1", "acks_late=true,false"),
        # 50 ms tasks: a pool process replaced every 10 tasks, a few times per repeat
        ("max_tasks_per_child=0,10", "result_backend=none,broker"),
    ],
)
def test_every_varied_setting_is_the_workers_own_in_a_drain_sweep(tmp_path, axes):
    size = ["--task-ms", "50"] if "max_tasks_per_child" in axes[0] else []
    vary = [arg for axis in axes for arg in ("--vary", axis)]
    proc = run_bench("sweep", *SMALL, *size, *vary, "--output-dir", tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    docs = documents(next(tmp_path.glob("sweep-*")))
    assert len(docs) == 4
    for key, (doc,) in docs.items():
        assert doc["status"]["state"] == "ok", (key, doc["status"])
        cfg, (node,) = doc["config"], reports(doc)
        settings = dict(part.split("=", 1) for part in key.split("-c2-", 1)[1].split("-"))
        prefetch = int(settings.get("prefetch_multiplier", 4))
        # prefetch_count is what the consumer asked of the broker: -c x multiplier (0: no limit)
        assert (node["prefetch_count"], node["prefetch_multiplier"], cfg["prefetch_multiplier"]) == (
            2 * prefetch,
            prefetch,
            prefetch,
        ), key
        acks_late = settings.get("acks_late") == "true"
        assert (node["task_acks_late"], node["conf_task_acks_late"], cfg["acks_late"]) == (acks_late,) * 3, key
        per_child = int(settings.get("max_tasks_per_child", 0))
        assert (node["max_tasks_per_child"], cfg["max_tasks_per_child"]) == (per_child, per_child), key
        backend = node["result_backend"]
        assert backend == cfg["result_backend"], key
        assert (backend == "disabled://") == (settings.get("result_backend", "none") == "none"), key
        assert (node["pool"], node["max_concurrency"], node["transport"]) == ("prefork", 2, "redis")


def test_several_workers_and_pinned_cpus_are_read_back_from_every_node(tmp_path):
    cpus = sorted(os.sched_getaffinity(0))
    proc = run_bench("sweep", *SMALL, "--workers", "1,2", "--cpus", "1", "--output-dir", tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    docs = documents(next(tmp_path.glob("sweep-*")))
    assert sorted(docs) == ["sleep-5ms-prefork-c2-cpus1", "sleep-5ms-prefork-c2-cpus1-w2"]
    for key, (doc,) in docs.items():
        nodes = reports(doc)
        assert len(nodes) == doc["config"]["workers"] == (2 if key.endswith("-w2") else 1)
        assert len({node["pid"] for node in nodes}) == len(nodes)
        for node in nodes:
            assert node["cpus"] == [cpus[-1]] == doc["config"]["placement"]["worker_cpus"]
            assert (node["pool"], node["max_concurrency"], node["prefetch_multiplier"]) == ("prefork", 2, 4)


def test_open_loop_rates_run_each_point_with_its_varied_settings(tmp_path):
    proc = run_bench(
        "sweep", *SMALL, "--vary", "prefetch_multiplier=1,4", "--vary", "acks_late=true,false",
        "--rates", "40", "--output-dir", tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    docs = documents(next(tmp_path.glob("sweep-*")), "open_loop")
    assert len(docs) == 4
    for key, (doc,) in docs.items():
        assert doc["status"]["state"] in ("ok", "producer-limited"), (key, doc["status"])
        assert doc["schedule"]["rate_per_s"] == 40
        prefetch = 1 if "prefetch_multiplier=1" in key else 4
        acks_late = "acks_late=true" in key
        (node,) = reports(doc)
        assert (node["prefetch_count"], doc["config"]["prefetch_multiplier"]) == (2 * prefetch, prefetch), key
        assert (node["task_acks_late"], doc["config"]["acks_late"]) == (acks_late, acks_late), key
        assert node["queues"] == [next(q for q in node["queues"] if q.endswith(".open"))]


APP = textwrap.dedent(
    """
    import time
    from celery import Celery

    app = Celery("fewapp", broker="redis://127.0.0.1:1/0")
    app.conf.worker_prefetch_multiplier = 1


    @app.task(name="fewapp.nap")
    def nap():
        time.sleep(0.005)


    @app.task(name="fewapp.boom")
    def boom():
        raise ValueError("boom in the measured batch")
    """
)


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "fewapp.py").write_text(APP)
    return tmp_path


def test_a_user_apps_own_prefetch_multiplier_is_kept_unless_one_is_given(app_dir):
    task = ["--app", "fewapp", "--task", "fewapp.nap"]
    run = run_bench(
        "run", *task, "-P", "prefork", "-c", 2, "--tasks", 20, "--json", app_dir / "run.json", cwd=app_dir, timeout=300
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads((app_dir / "run.json").read_text())
    assert "prefetch_multiplier" not in doc["config"]["harness_overrides"]
    assert (reports(doc)[0]["prefetch_count"], doc["config"]["prefetch_multiplier"]) == (2, 1)

    for given, expected in ((None, 1), (3, 3)):
        out = app_dir / f"out-{given}"
        flag = [] if given is None else ["--prefetch-multiplier", given]
        matrix = ["--pools", "prefork", "--concurrency", 2, "--profile", "quick", "--repeats", 1]
        sweep = run_bench("sweep", *task, *matrix, *flag, "--output-dir", out, cwd=app_dir, timeout=300)
        assert sweep.returncode == 0, sweep.stderr
        (docs,) = documents(next(out.glob("sweep-*"))).values()
        for doc in docs:
            assert doc["status"]["state"] == "ok", doc["status"]
            (node,) = reports(doc)
            assert (node["prefetch_count"], node["prefetch_multiplier"]) == (2 * expected, expected)
            assert doc["config"]["prefetch_multiplier"] == expected
            assert ("prefetch_multiplier" in doc["config"]["harness_overrides"]) == (given is not None)


def test_a_failed_run_keeps_its_workers_log_beside_its_document(app_dir):
    out = app_dir / "boom.json"
    proc = run_bench("run", "--app", "fewapp", "--task", "fewapp.boom", "-P", "solo", "--tasks", 5,
                     "--warmup", 0, "--json", out, cwd=app_dir, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    doc = json.loads(out.read_text())
    assert doc["summary"]["tasks"]["failed"] == 5
    kept = doc["worker_log"]
    assert kept["path"] == "boom.worker.log"
    log = (app_dir / kept["path"]).read_text()
    assert log.count("ValueError: boom in the measured batch") >= 5
    assert kept["lines"]
    assert all("ERROR" in line or "WARNING" in line for line in kept["lines"])
    assert any("fewapp.boom" in line for line in kept["lines"])
    assert len(kept["lines"]) <= 12
    # shown where the user looks: the log's place and its first notable line
    assert "worker log: boom.worker.log (kept beside the result)" in proc.stdout
    assert kept["lines"][0] in proc.stdout


def test_a_repeat_that_fails_before_its_window_keeps_the_reason_and_the_workers_log(app_dir):
    out = app_dir / "out"
    # A profile given, so the sweep does not profile (and fail on) the task first;
    # the sweep's report refuses this bare one at the end: only the repeat is checked.
    profile = app_dir / "boom-profile.json"
    profile.write_text(json.dumps({"task": "fewapp.boom", "per_call": {"cpu_s": 0.0, "wait_s": 0.005}}))
    run_bench("sweep", "--app", "fewapp", "--task", "fewapp.boom", "--from-profile", profile, "--pools", "solo",
              "--profile", "quick", "--repeats", 1, "--output-dir", out, cwd=app_dir, timeout=300)  # fmt: skip
    sweep_dir = next(out.glob("sweep-*"))
    (docs,) = documents(sweep_dir).values()
    for doc in docs:
        assert (doc["status"]["state"], doc["status"]["outcome"]) == ("failed", "not measured")
        assert "warm-up tasks failed" in doc["status"]["reason"]
        log = next(sweep_dir.glob("runs/*/" + doc["worker_log"]["path"])).read_text()
        assert "boom in the measured batch" in log
        assert any("fewapp.boom" in line for line in doc["worker_log"]["lines"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_settings_reach_the_workers_on_an_agent(tmp_path):
    """acks_late and max_tasks_per_child were never in the agents' spec (nor
    max_memory_per_child, new); the result backend's URL is the agent's own
    way to the broker. (A child replaced every 100 tasks, a few times in the
    batch: every 5 made 80 replacements of the 400 tasks, 30 s.)"""
    port, secret = free_port(), f"settings-test-{os.getpid()}"
    env = {"CELERY_BENCH_SECRET": secret}
    agent = start_bench("agent", "--harness", f"127.0.0.1:{port}", "--name", "ha", env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc = run_bench("sweep", *SMALL, "--listen", f"127.0.0.1:{port}", "--hosts", "ha",
                         "--vary", "acks_late=true", "--vary", "max_tasks_per_child=100",
                         "--vary", "max_memory_per_child=500MiB", "--result-backend", "broker",
                         "--output-dir", tmp_path, env=env, timeout=300)  # fmt: skip
    finally:
        agent.send_signal(signal.SIGINT)
        agent.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr
    ((doc,),) = documents(next(tmp_path.glob("sweep-*"))).values()
    assert doc["status"]["state"] == "ok", doc["status"]
    (node,) = reports(doc)
    assert (node["task_acks_late"], node["max_tasks_per_child"], node["result_backend_kind"]) == (True, 100, "redis")
    assert (node["prefetch_count"], node["prefetch_multiplier"]) == (8, 4)
    assert (doc["config"]["acks_late"], doc["config"]["max_tasks_per_child"]) == (True, 100)
    assert node["max_memory_per_child_kib"] == doc["config"]["max_memory_per_child_kib"] == 500 * 1024
    assert doc["hosts"][0]["name"] == "ha"
