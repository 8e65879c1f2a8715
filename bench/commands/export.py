"""`python -m bench export FORMAT RESULT`: a run, a sweep or an A/B in a
format CI tools read (bench/output/exports.py), without Celery.

read the result (a run's JSON, a sweep's directory, an A/B's directory) ->
its metrics -> the format's document(s) -> written, or printed."""

import json
import sys
from pathlib import Path
from typing import Any

from bench.commands import ExportRequest, sweep_dir
from bench.errors import UsageError
from bench.output import exports
from bench.results.io import read_run, write_atomic
from bench.sweep import store

AB_SIDES = ("baseline", "candidate")


def metrics_of(path: str | Path) -> list[exports.Metric]:
    """The metrics of what `path` holds: an A/B's two sweeps (each point
    named by its side), a run's document, or a sweep."""
    path = Path(path)
    if path.is_dir() and all((path / side / "manifest.json").is_file() for side in AB_SIDES):
        return [m for side in AB_SIDES for m in exports.sweep_metrics(store.load_summary(path / side)[0], f"{side}/")]
    if path.is_file():
        return exports.run_metrics(read_run(path))
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    return exports.sweep_metrics(store.load_summary(sweep_dir(path))[0])


def execute(request: ExportRequest) -> int:
    metrics = metrics_of(request.result)
    if not metrics:
        raise UsageError(f"{request.result}: no measured point to export")
    documents: dict[str, Any]  # file-name suffix -> document
    if request.format == "bmf":
        documents = {"": exports.bmf(metrics)}
    else:
        # One list per direction: the throughput for customBiggerIsBetter,
        # the latency (if any) for customSmallerIsBetter beside it.
        documents = {"": exports.github_action_benchmark(metrics, bigger_is_better=True)}
        smaller = exports.github_action_benchmark(metrics, bigger_is_better=False)
        if smaller:
            documents["-smaller"] = smaller
    if request.output is None:
        # One JSON document on standard output: the first (throughput).
        print(json.dumps(documents[""], indent=2))
        if len(documents) > 1:
            print("note: the latency (customSmallerIsBetter) is written with -o FILE, as FILE-smaller", file=sys.stderr)
        return 0
    out = Path(request.output)
    for suffix, document in documents.items():
        print(write_atomic(out.with_name(f"{out.stem}{suffix}{out.suffix}"), document))
    return 0
