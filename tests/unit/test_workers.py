"""Several worker nodes on one host (--workers N): the ceiling counts them,
the options are checked on the total, and their records merge."""

import json

import pytest

from bench.errors import UsageError
from bench.measure.config import build_run_config
from bench.measure.observe import NodeReaders, RecordReader
from bench.workloads import WORKLOADS, ceiling


def test_io_ceiling_counts_the_slots_of_every_worker():
    one = ceiling(WORKLOADS["sleep"], "gevent", 32, 50.0, cores=2)
    two = ceiling(WORKLOADS["sleep"], "gevent", 32, 50.0, cores=2, workers=2)
    assert two.per_s == pytest.approx(2 * one.per_s) == pytest.approx(1280.0)


def test_cpu_ceiling_of_one_process_pools_is_one_core_per_worker_up_to_the_cores():
    cpu = WORKLOADS["cpu"]
    assert ceiling(cpu, "gevent", 64, 20.0, cores=2).per_s == pytest.approx(50.0)
    assert ceiling(cpu, "gevent", 64, 20.0, cores=2, workers=2).per_s == pytest.approx(100.0)
    assert ceiling(cpu, "gevent", 64, 20.0, cores=2, workers=4).per_s == pytest.approx(100.0)  # capped by cores
    assert ceiling(cpu, "solo", 1, 20.0, cores=4, workers=3).per_s == pytest.approx(150.0)


def test_cpu_ceiling_of_prefork_counts_processes_across_workers_capped_by_cores():
    cpu = WORKLOADS["cpu"]
    assert ceiling(cpu, "prefork", 1, 20.0, cores=4, workers=2).per_s == pytest.approx(100.0)
    assert ceiling(cpu, "prefork", 4, 20.0, cores=4, workers=2).per_s == pytest.approx(200.0)
    # 1 x prefork 8 and 2 x prefork 4 share one ceiling
    assert ceiling(cpu, "prefork", 8, 20.0, cores=2).per_s == ceiling(cpu, "prefork", 4, 20.0, cores=2, workers=2).per_s


def test_a_run_config_with_workers_sizes_the_batch_for_all_of_them():
    one = build_run_config(pool="gevent", concurrency=32, workload="sleep", cores=2.0)
    two = build_run_config(pool="gevent", concurrency=32, workload="sleep", cores=2.0, workers=2)
    assert (two.workers, two.slots) == (2, 64)
    assert two.tasks == 2 * one.tasks
    assert two.warmup == one.warmup  # per worker


def test_the_safe_limit_counts_every_worker_s_processes():
    build_run_config(pool="prefork", concurrency=40, workload="sleep", cores=2.0)
    with pytest.raises(UsageError, match="2 workers x 40 = 80 processes is above"):
        build_run_config(pool="prefork", concurrency=40, workload="sleep", cores=2.0, workers=2)
    build_run_config(pool="prefork", concurrency=40, workload="sleep", cores=2.0, workers=2, force=True)


@pytest.mark.parametrize("workers", [0, 65])
def test_a_worker_count_out_of_range_is_refused(workers):
    with pytest.raises(UsageError, match="--workers"):
        build_run_config(pool="solo", concurrency=1, workload="sleep", cores=2.0, workers=workers)


def test_records_of_several_nodes_merge_and_say_which_node(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for i, d in enumerate(dirs):
        d.mkdir()
        line = {"id": f"t{i}", "state": "SUCCESS", "started": 1.0, "finished": 2.0, "pid": 100 + i}
        (d / f"tasks-{100 + i}.jsonl").write_text(json.dumps(line) + "\n")
    records = NodeReaders([RecordReader(d) for d in dirs]).read_new()
    assert sorted((r["id"], r["node"], r["pid"]) for r in records) == [("t0", 0, 100), ("t1", 1, 101)]
    assert NodeReaders([RecordReader(d) for d in dirs]).read_new() != []  # a fresh reader starts from the top


def _two_worker_result():
    """A two-worker run built from hand-made records (as tests/helpers/hand_made_run.py does
    for one worker): node 0 ran three tasks, node 1 two."""
    import dataclasses
    from pathlib import Path

    from bench.analysis.stats import TaskRecord
    from bench.measure.config import RunConfig
    from bench.measure.result import Observed, build_result, run_metadata, run_settings
    from bench.results.schema import BrokerInfo, Resources, WorkerShare
    from tests.helpers.hand_made_run import ENDED, MACHINE, STARTED

    cfg = RunConfig(
        pool="gevent", concurrency=4, workload="sleep", task_ms=10.0, tasks=5, warmup=2, prefetch_multiplier=4,
        broker_url=None, redis_server=None, loglevel="warning", result_backend="none",
        output_dir=Path("results"), json_path=None, cores=2.0, workers=2,
    )  # fmt: skip
    published = {f"t{i}": 100.0 + 0.001 * i for i in range(5)}
    records = [
        TaskRecord(f"t{i}", 100.0 + 0.001 * i, 100.1 + 0.01 * i, 100.11 + 0.01 * i, "SUCCESS", 200 + i % 2, node=i % 2)
        for i in range(5)
    ]
    share = WorkerShare(
        cpu_s=0.1, cpu_cores=0.2, uss_peak_bytes=2**20, pss_peak_bytes=2**20, rss_peak_bytes=2**21, processes=1
    )
    resources = Resources(
        window_s=0.5, worker_cpu_s=0.3, worker_cpu_cores=0.6, worker_cpu_percent_of_usable=30.0,
        worker_uss_peak_bytes=2**21, worker_pss_peak_bytes=2**21, worker_rss_peak_bytes=2**22, worker_processes=2,
        worker_ctx_switches_voluntary=1, worker_ctx_switches_involuntary=0, harness_cpu_s=0.0, broker_cpu_s=None,
        samples=2, per_worker=(share, dataclasses.replace(share, cpu_s=0.2, cpu_cores=0.4)),
    )  # fmt: skip
    observed = Observed(published, records, "complete", None, resources, (0.1, 0.1, 0.1))
    bound = ceiling(WORKLOADS["sleep"], "gevent", 4, 10.0, 2.0, workers=2)
    broker = BrokerInfo(kind="redis", url="redis://127.0.0.1:1/0", server="valkey 8", embedded=True)
    settings = run_settings(cfg, broker, "disabled://", None)
    return build_result(settings, bound, observed, "run-1", run_metadata(MACHINE, STARTED, ENDED))


def test_a_two_worker_result_counts_each_worker_s_tasks_and_keeps_its_node():
    result = _two_worker_result()
    assert result.config.workers == 2
    assert result.config.slots == 8
    assert result.summary.tasks_per_worker == (3, 2)
    assert result.samples.node == (0, 1, 0, 1, 0)
    assert result.summary.ceiling_per_s == pytest.approx(800.0)


def test_a_two_worker_result_reads_back_equal_with_its_per_worker_shares():
    from bench.results.schema import run_from_json, run_to_json

    result = _two_worker_result()
    doc = json.loads(json.dumps(run_to_json(result)))
    assert doc["config"]["workers"] == 2
    assert [w["cpu_s"] for w in doc["summary"]["resources"]["per_worker"]] == [0.1, 0.2]
    assert run_from_json(doc) == result


def test_the_run_summary_shows_the_shape_and_a_table_per_worker():
    from bench.output.terminal import run_summary

    text = run_summary(_two_worker_result())
    assert text.startswith("2 workers x gevent -c 4")
    assert "(-c 4 x 2 workers," in text
    assert "per worker" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("    worker ")]
    assert [(r[1], r[2], r[3]) for r in rows] == [("0", "3", "0.10"), ("1", "2", "0.20")]


def test_a_file_from_before_workers_reads_as_one_worker_that_ran_every_task():
    from bench.results.schema import run_from_json, run_to_json

    doc = json.loads(json.dumps(run_to_json(_two_worker_result())))
    doc["schema_version"] = 2  # such a file said 2: the version that added workers (6) came later
    for key in ("workers", "max_tasks_per_child"):
        del doc["config"][key]
    del doc["summary"]["tasks_per_worker"], doc["summary"]["resources"]["per_worker"], doc["samples"]["node"]
    old = run_from_json(doc)
    assert old.config.workers == 1
    assert old.config.max_tasks_per_child == 0
    assert old.summary.tasks_per_worker == (5,)
    assert old.summary.resources.per_worker == ()
    assert old.samples.node == (0, 0, 0, 0, 0)


def test_an_open_loop_run_drives_several_workers_on_its_one_queue():
    cfg = build_run_config(pool="gevent", concurrency=4, workload="sleep", cores=2.0, workers=2, rate=10.0)
    assert cfg.workers == 2
    assert cfg.open_loop
    assert cfg.slots == 8


def test_compare_matches_a_two_worker_run_by_each_worker_s_c_and_the_worker_count(tmp_path):
    from bench.results.compare import load_run
    from bench.results.io import write_run

    path = write_run(tmp_path / "r.json", _two_worker_result())
    (key,) = load_run(path).points
    assert (key.pool, key.concurrency, key.workers) == ("gevent", 4, 2)
    assert key.name == "sleep-10ms-gevent-c4-w2"


def test_workers_on_hosts_are_refused_rather_than_ignored():
    with pytest.raises(UsageError, match="--workers: a run on --hosts"):
        build_run_config(pool="gevent", concurrency=4, workload="sleep", cores=2.0, workers=2, hosts=["all"])
