"""The result documents' JSON: the one place that knows the files' keys.
Everything else reads the records' attributes (records.py,
sweep_records.py). Writers write the newest version; readers read every
version in the history (versions.py) and branch on it where a field's
absence means something in older documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from typing import Any

from bench.results import records, sweep_records
from bench.results.versions import SCHEMA_VERSION, added_in, holds

WORKERS = added_in("run:samples.node")  # worker nodes: before them, one worker ran every task


def _tuple(value):
    return None if value is None else tuple(value)


def _pick(cls, data: Mapping[str, Any], **converted):
    """`cls` from a JSON object: its fields present in `data` (a file from
    an older version may lack some: they keep their default, None)."""
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values.update({k: v for k, v in converted.items() if k in names and (k in values or v is not None)})
    return cls(**values)


def _plain(record) -> dict:
    return asdict(record)


def latency_fields(latency: records.Latency) -> dict:
    """Flat keys with their unit: wait_p50_s, service_p99_s, sojourn_max_s..."""
    out = {}
    for kind, name in records.LATENCY_KINDS:
        for stat, value in asdict(getattr(latency, name)).items():
            out[f"{kind}_{stat}_s"] = value
    return out


def _latency_from_json(data: Mapping[str, Any]) -> records.Latency:
    parts = {}
    for kind, name in records.LATENCY_KINDS:
        stats = {f.name: data.get(f"{kind}_{f.name}_s") for f in fields(records.Distribution)}
        parts[name] = records.Distribution(**stats)
    return records.Latency(**parts)


def run_summary_to_json(summary: records.RunSummary) -> dict:
    out: dict[str, Any] = {}
    for f in fields(records.RunSummary):
        value = getattr(summary, f.name)
        if f.name == "latency":
            out.update(latency_fields(value))
        elif f.name in ("load_average_before", "tasks_per_worker"):
            out[f.name] = None if value is None else list(value)
        elif f.name in ("tasks", "resources", "task_cpu", "health", "limits", "deploy", "memory_growth", "series"):
            out[f.name] = None if value is None else _plain(value)
        else:
            out[f.name] = value
    return out


def health_from_json(data: Mapping[str, Any] | None) -> records.Health | None:
    if data is None:
        return None
    return records.Health(
        tuple(_pick(records.Finding, f, examples=tuple(f.get("examples") or ())) for f in data.get("findings") or ()),
        unchecked=tuple(data.get("unchecked") or ()),
    )


def _limit_figures(data: Mapping[str, Any]) -> records.LimitFigures:
    return _pick(records.LimitFigures, data, oom_lost_by_process=_tuple(data.get("oom_lost_by_process")))


def _deploy_figures(data: Mapping[str, Any]) -> records.DeployFigures:
    return _pick(
        records.DeployFigures, data, events=tuple(_pick(records.DeployEvent, e) for e in data.get("events") or ())
    )


_PAIRS = ("ci95", "kib_per_hour_ci95", "pss_ci95")  # a ProcessMemory's CIs: (low, high)


def _process_memory(data: Mapping[str, Any]) -> records.ProcessMemory:
    return _pick(records.ProcessMemory, data, **{name: _tuple(data.get(name)) for name in _PAIRS})


def memory_growth_from_json(data: Mapping[str, Any] | None) -> records.MemoryGrowth | None:
    if data is None:
        return None
    processes = tuple(_process_memory(p) for p in data.get("processes") or ())
    harness = data.get("harness")
    return _pick(
        records.MemoryGrowth,
        data,
        tree=_process_memory(data.get("tree") or {}),
        processes=processes,
        harness=None if harness is None else _process_memory(harness),
    )


def run_summary_from_json(data: Mapping[str, Any]) -> records.RunSummary:
    resources, task_cpu, limits = data.get("resources"), data.get("task_cpu"), data.get("limits")
    deploy = data.get("deploy")
    return _pick(
        records.RunSummary,
        data,
        memory_growth=memory_growth_from_json(data.get("memory_growth")),
        series=None if data.get("series") is None else _pick(records.SeriesFigures, data["series"]),
        deploy=None if deploy is None else _deploy_figures(deploy),
        limits=None if limits is None else _limit_figures(limits),
        task_cpu=None if task_cpu is None else _pick(records.TaskCPU, task_cpu),
        health=health_from_json(data.get("health")),
        tasks=_pick(records.TaskCounts, data.get("tasks") or {}),
        latency=_latency_from_json(data),
        load_average_before=_tuple(data.get("load_average_before")),
        tasks_per_worker=_tuple(data.get("tasks_per_worker")),
        resources=None if resources is None else resources_from_json(resources),
    )


def resources_from_json(data: Mapping[str, Any]) -> records.Resources:
    shares = tuple(_pick(records.WorkerShare, share) for share in data.get("per_worker") or ())
    return _pick(records.Resources, data, per_worker=shares)


def host_clock_from_json(data: Mapping[str, Any]) -> records.HostClock:
    resources = data.get("resources")
    return _pick(records.HostClock, data, resources=None if resources is None else resources_from_json(resources))


def _settings_from_json(data: Mapping[str, Any]) -> records.RunSettings:
    placement, broker, limits = data.get("placement"), data.get("broker"), data.get("limits")
    stuck = data.get("stuck")
    return _pick(
        records.RunSettings,
        data,
        stuck=None if stuck is None else _pick(records.StuckTasks, stuck),
        soak=None if data.get("soak") is None else _pick(records.SoakSettings, data["soak"]),
        limits=None if limits is None else _pick(records.WorkerLimits, limits),
        placement=None
        if placement is None
        else records.Placement(*(_tuple(placement.get(f.name)) for f in fields(records.Placement))),
        broker=None if broker is None else _pick(records.BrokerInfo, broker),
    )


def _samples_from_json(data: Mapping[str, Any], version: int) -> records.Samples:
    pids = data.get("pid", ())
    return records.Samples(
        time_origin=data.get("time_origin"),
        published_s=tuple(data.get("published_s", ())),
        started_s=tuple(data.get("started_s", ())),
        finished_s=tuple(data.get("finished_s", ())),
        pid=tuple(data.get("pid", ())),
        node=tuple(data["node"]) if holds(version, WORKERS) else _one_worker_nodes(data, pids),
        state=tuple(data.get("state", ())),
        errors=tuple(records.TaskError(e["id"], e["error"]) for e in data.get("errors", ())),
        missing_ids=tuple(data.get("missing_ids", ())),
        cpu_s=tuple(data.get("cpu_s", ())),
        rss_bytes=_tuple(data.get("rss_bytes")),
        host=_tuple(data.get("host")),
        task_class=_tuple(data.get("task_class")),
    )


def _one_worker_nodes(data: Mapping[str, Any], pids) -> tuple[int, ...]:
    """Before --workers there was one worker: node 0 ran every task (a
    mixed version-2 document may have the nodes already)."""
    return tuple(data["node"]) if "node" in data else (0,) * len(pids)


def metadata_to_json(metadata: records.Metadata) -> dict:
    """Only what is known: a sweep's machine has no start and end times, a
    run that was never measured only its end."""
    return {k: v for k, v in _plain(metadata).items() if v is not None}


def metadata_from_json(data: Mapping[str, Any] | None) -> records.Metadata | None:
    return None if data is None else _pick(records.Metadata, data)


def run_to_json(result: records.RunResult) -> dict:
    """The run's document, as written (always the current SCHEMA_VERSION).
    `hosts` and the samples' `host` only for a run on agents."""
    samples = None if result.samples is None else _plain(result.samples)
    for only_where_set in ("host", "task_class"):
        if samples is not None and samples.get(only_where_set) is None:
            del samples[only_where_set]
    extra: dict[str, Any] = {} if result.hosts is None else {"hosts": [_plain(h) for h in result.hosts]}
    if result.worker_log is not None:
        extra["worker_log"] = dict(result.worker_log)
    config = _plain(result.config)
    if config.get("worker_reported") is None:  # only where it was read
        config.pop("worker_reported", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": records.RUN,
        "run_id": result.run_id,
        "status": _plain(result.status),
        "config": config,
        "summary": None if result.summary is None else run_summary_to_json(result.summary),
        "samples": samples,
        "metadata": metadata_to_json(result.metadata),
        **({"schedule": dict(result.schedule)} if result.schedule is not None else {}),
        **({"open_loop": dict(result.open_loop)} if result.open_loop is not None else {}),
        **({"traffic": dict(result.traffic)} if result.traffic is not None else {}),
        **({"classes": dict(result.classes)} if result.classes is not None else {}),
        **extra,
    }


def run_from_json(data: Mapping[str, Any]) -> records.RunResult:
    """A run's document of any version this harness wrote. KeyError,
    TypeError or ValueError when it is malformed."""
    version, samples = data["schema_version"], data.get("samples")
    config = _settings_from_json(data["config"])
    summary = None if data.get("summary") is None else run_summary_from_json(data["summary"])
    if summary is not None and not holds(version, WORKERS):
        summary = _one_worker_default(summary, config)
    return records.RunResult(
        status=_pick(records.RunStatus, data["status"]),
        config=config,
        metadata=_pick(records.Metadata, data.get("metadata") or {}),
        summary=summary,
        samples=None if samples is None else _samples_from_json(samples, version),
        run_id=data.get("run_id"),
        schema_version=version,
        schedule=data.get("schedule"),
        open_loop=data.get("open_loop"),
        hosts=None if data.get("hosts") is None else tuple(host_clock_from_json(h) for h in data["hosts"]),
        worker_log=data.get("worker_log"),
        traffic=data.get("traffic"),
        classes=data.get("classes"),
    )


def _one_worker_default(summary: records.RunSummary, config: records.RunSettings) -> records.RunSummary:
    """A file from before --workers ran one worker: it ran every task (a
    mixed version-2 document may have its count already)."""
    if summary.tasks_per_worker is None and config.workers == 1 and summary.tasks.succeeded is not None:
        return replace(summary, tasks_per_worker=(summary.tasks.succeeded,))
    return summary


def point_to_json(point: sweep_records.PointSummary) -> dict:
    return _plain(point)


def point_from_json(data: Mapping[str, Any], version: int = SCHEMA_VERSION) -> sweep_records.PointSummary:
    data = dict(data)
    if not holds(version, 2):  # throughput_per_s was the estimate; load_average_before its 1-minute figure
        old = data.pop("throughput_per_s", None)
        data["throughput"] = (
            None
            if old is None
            else {
                "median_per_s": old["median"],
                "ci95_low_per_s": old["ci95_low"],
                "ci95_high_per_s": old["ci95_high"],
                "cv": old["cv"],
                "unstable": old["unstable"],
                "values_per_s": old["values"],
            }
        )
        data["load_average_1m_before"] = data.pop("load_average_before", None)
    throughput = data.get("throughput")
    return _pick(
        sweep_records.PointSummary,
        data,
        cpus=_tuple(data.get("cpus")) or None,
        profile=_tuple(data.get("profile")),
        warnings=tuple(data.get("warnings", ())),
        settings=tuple((name, text) for name, text in data.get("settings") or ()),
        findings=tuple((kind, count) for kind, count in data.get("findings") or ()),
        throughput=None
        if throughput is None
        else _pick(sweep_records.ThroughputEstimate, throughput, values_per_s=tuple(throughput["values_per_s"])),
        deploy=None if data.get("deploy") is None else _pick(sweep_records.DeploySummary, data["deploy"]),
        classes=None if data.get("classes") is None else tuple(class_estimate_from_json(c) for c in data["classes"]),
    )


def class_estimate_from_json(data: Mapping[str, Any]) -> sweep_records.ClassEstimate:
    """One class of a mix at a point (a sweep summary's, or open_loop.json's at a rate)."""
    return _pick(sweep_records.ClassEstimate, data, sojourn_p99_values_s=tuple(data.get("sojourn_p99_values_s") or ()))


def sweep_settings_from_json(data: Mapping[str, Any]) -> sweep_records.SweepSettings:
    lists = {k: _tuple(v) for k, v in data.items() if isinstance(v, list)}
    lists["vary"] = tuple((name, tuple(values)) for name, values in data.get("vary") or ())
    return _pick(sweep_records.SweepSettings, data, **lists)


def sweep_summary_to_json(summary: sweep_records.SweepSummary) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": records.SWEEP_SUMMARY,
        "config": _plain(summary.config),
        "metadata": None if summary.metadata is None else metadata_to_json(summary.metadata),
        "status": summary.status,
        "points": [point_to_json(p) for p in summary.points],
    }


def sweep_summary_from_json(data: Mapping[str, Any]) -> sweep_records.SweepSummary:
    version = data["schema_version"]
    return sweep_records.SweepSummary(
        config=sweep_settings_from_json(data["config"]),
        metadata=metadata_from_json(data.get("metadata")),
        status=data.get("status"),
        points=tuple(point_from_json(p, version) for p in data["points"]),
    )


def manifest_to_json(manifest: sweep_records.SweepManifest) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": records.SWEEP,
        "status": manifest.status,
        "config": manifest.config,
        "plan": list(manifest.plan),
        "metadata": None if manifest.metadata is None else metadata_to_json(manifest.metadata),
        "created_utc": manifest.created_utc,
        "updated_utc": manifest.updated_utc,
    }


def manifest_from_json(data: Mapping[str, Any]) -> sweep_records.SweepManifest:
    return sweep_records.SweepManifest(
        status=data["status"],
        config=dict(data["config"]),
        plan=tuple(data["plan"]),
        metadata=metadata_from_json(data.get("metadata")),
        created_utc=data.get("created_utc"),
        updated_utc=data.get("updated_utc"),
    )
