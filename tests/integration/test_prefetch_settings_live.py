"""Who waits, on a real worker: a run with --optimization, --disable-prefetch
and --eta-task-limit on the embedded broker records them, and the worker's
own report (read by remote control) says it ran with them; without them, the
worker's own defaults are recorded as it reports them (Celery 5.7: the fair
strategy for prefork, prefetch on, no ETA task limit), and a pool other
than prefork has no strategy for -O to set."""

import json

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration

SHORT = ("--tasks", 20, "--task-ms", 5, "--warmup", 0, "-c", 2)
KEYS = ("optimization", "sched_strategy", "disable_prefetch", "eta_task_limit")


def run(tmp_path, *options):
    """The written document's config and its one node's report, after a short run with `options`."""
    out = tmp_path / "r.json"
    proc = run_bench("run", *SHORT, *options, "--json", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"]["state"] == "ok", doc["status"]
    (node,) = doc["config"]["worker_reported"].values()
    return doc["config"], node, proc.stdout


def test_the_run_records_the_settings_the_worker_reports(tmp_path):
    cfg, node, out = run(tmp_path, "--optimization", "fair", "--disable-prefetch", "--eta-task-limit", 10)
    assert tuple(cfg[k] for k in KEYS) == ("fair", "fair", True, 10)
    assert (node["sched_strategy"], node["disable_prefetch"], node["eta_task_limit"]) == ("fair", True, 10)
    assert "prefetch        -O fair (the pool schedules fair), prefetch disabled, ETA task limit 10" in out


def test_without_them_the_worker_runs_its_own_defaults_and_o_default_is_fair(tmp_path):
    cfg, node, out = run(tmp_path)
    assert tuple(cfg[k] for k in KEYS) == (None, "fair", False, None)
    assert (node["sched_strategy"], node["disable_prefetch"], node["eta_task_limit"]) == ("fair", False, None)
    assert "prefetch  " not in out
    cfg, node, _out = run(tmp_path, "--optimization", "default")
    assert (cfg["optimization"], cfg["sched_strategy"], node["sched_strategy"]) == ("default", "fair", "fair")


def test_a_pool_other_than_prefork_takes_o_and_has_no_strategy(tmp_path):
    cfg, node, _out = run(tmp_path, "--pool", "threads", "--optimization", "fair", "--eta-task-limit", 3)
    assert tuple(cfg[k] for k in KEYS) == ("fair", None, False, 3)
    assert (node["pool"], node["sched_strategy"], node["eta_task_limit"]) == ("threads", None, 3)
