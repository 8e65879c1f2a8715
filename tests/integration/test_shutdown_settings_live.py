"""The settings of tasks in flight at a stop reach a real worker: a run with
--reject-on-worker-lost, --soft-shutdown-timeout and --visibility-timeout
on the embedded broker records them, and the worker's own report (read by
remote control, and REMAP_SIGTERM from its environment) says it ran with
them. (`run` has no acks_late option: reject_on_worker_lost is set and
read back, though Celery acts on it only with acks_late.)"""

import json

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def test_the_run_records_the_settings_the_worker_reports(tmp_path):
    out = tmp_path / "r.json"
    proc = run_bench(
        "run", "--pool", "prefork", "-c", 2, "--workload", "sleep", "--task-ms", 10, "--tasks", 20,
        "--reject-on-worker-lost", "--soft-shutdown-timeout", "3", "--visibility-timeout", "7s", "--json", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"]["state"] == "ok", doc["status"]
    cfg = doc["config"]
    assert (cfg["reject_on_worker_lost"], cfg["soft_shutdown_timeout"], cfg["visibility_timeout"]) == (True, 3.0, 7.0)
    assert cfg["remap_sigterm"] == "SIGQUIT"
    (node,) = cfg["worker_reported"].values()
    assert (node["task_reject_on_worker_lost"], node["conf_task_reject_on_worker_lost"]) == (True, True)
    assert node["soft_shutdown_timeout"] == 3.0
    # the app's setting, and the transport options the worker's broker connection was made with
    assert (node["conf_visibility_timeout"], node["visibility_timeout"]) == (7.0, 7.0)
    assert node["remap_sigterm"] == "SIGQUIT"
