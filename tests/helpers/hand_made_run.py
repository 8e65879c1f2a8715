"""One run's result built from hand-made records, with the clock and the
machine fixed: the document tests/data/golden/run.json holds. Unit tests
build on it (test_run_result, test_fleet_agent, test_workers)."""

import datetime as dt
from pathlib import Path

from bench.analysis.stats import TaskRecord
from bench.measure.config import RunConfig
from bench.measure.result import Observed, build_result, run_metadata, run_settings
from bench.results.schema import BrokerInfo, Placement, Resources
from bench.workloads import WORKLOADS, ceiling

CFG = RunConfig(
    pool="prefork",
    concurrency=2,
    workload="sleep",
    task_ms=50.0,
    tasks=12,
    warmup=4,
    prefetch_multiplier=4,
    broker_url=None,
    redis_server=None,
    loglevel="warning",
    result_backend="none",
    output_dir=Path("results"),
    json_path=None,
    cores=2.0,
    cpus=(1,),
)
T0 = 1000.0  # s, monotonic: the first publish
PUBLISHED = {f"task-{i:02d}": T0 + 0.001 * i for i in range(12)}
# Two processes, each running one 50 ms task after another; task-11 went
# missing, task-05 is reported twice (redelivered).
RECORDS = [
    TaskRecord(
        f"task-{i:02d}",
        T0 + 0.001 * i,
        T0 + 0.1 + 0.05 * (i // 2),
        T0 + 0.148 + 0.05 * (i // 2) + 0.0001 * i,
        "SUCCESS",
        100 + i % 2,
    )
    for i in range(11)
]
RECORDS.append(RECORDS[5])
MACHINE = {  # as machine.describe() gives it
    "hostname": "golden-host",
    "cpu_model": "Golden CPU @ 2.0GHz",
    "cpu_count": 4,
    "usable_cores": 2.0,
    "memory_bytes": 8 * 2**30,
    "os": "Linux-6.1-x86_64",
    "python": "3.12.1",
    "python_implementation": "CPython",
    "packages": {"celery": "5.4.0", "kombu": "5.4.0", "billiard": "4.2.0", "gevent": None},
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
}
# The frozen clock: the run's start and end.
STARTED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ENDED = dt.datetime(2026, 1, 2, 3, 4, 6, 500_000, tzinfo=dt.UTC)
RESOURCES = Resources(
    window_s=0.5,
    worker_cpu_s=0.05,
    worker_cpu_cores=0.1,
    worker_cpu_percent_of_usable=5.0,
    worker_uss_peak_bytes=30_000_000,
    worker_pss_peak_bytes=60_000_000,
    worker_rss_peak_bytes=100_000_000,
    worker_processes=3,
    worker_ctx_switches_voluntary=120,
    worker_ctx_switches_involuntary=7,
    harness_cpu_s=0.02,
    broker_cpu_s=0.01,
    samples=3,
)
BROKER = BrokerInfo(kind="redis", url="redis://:**@127.0.0.1:40001/0", server="valkey 8.1.1", embedded=True)
PLACEMENT = Placement(worker_cpus=(1,), harness_cpus=(0,), broker_cpus=(0,))
RUN_ID = "20260102T030405-abc123"
BOUND = ceiling(WORKLOADS["sleep"], "prefork", 2, 50.0, 2.0)


def observed(outcome="stalled", detail="no task finished for 10 s", records=RECORDS, published=PUBLISHED):
    return Observed(published, records, outcome, detail, RESOURCES, (0.5, 0.25, 0.125))


def golden_result():
    settings = run_settings(CFG, BROKER, "disabled://", PLACEMENT)
    return build_result(settings, BOUND, observed(), RUN_ID, run_metadata(MACHINE, STARTED, ENDED))
