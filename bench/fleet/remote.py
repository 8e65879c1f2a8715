"""One point measured on agents (run --hosts): the workers run on other
hosts, the measured batch is released to all of them at once, and the
records come home through the broker at the end, converted to the harness's
clock with each host's offset.

Completion is known from counts the agents send when asked (which also
renews their lease); the measured times come only from the records. Each
agent samples its workers' CPU and memory over the window and sends them
with the records. Open loop (--rate): a producer here sends the schedule
to one queue every worker consumes from the start; each record brings its
scheduled time home in the harness's clock already.

The steps live beside it: which agents (hosts.py), their leases and counts
(lease.py), what they send home made the run's (gather.py); the hosts in
words are bench/output/hosts.py."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

from kombu.utils.uuid import uuid

from bench.errors import Interrupted, RunFailed
from bench.fleet import clock, protocol
from bench.fleet.control import AgentLost, AgentRefused, Control
from bench.fleet.gather import fleet_resources, host_ceiling, to_records
from bench.fleet.hosts import choose_hosts, discover
from bench.fleet.lease import Fleet, said_goodbye
from bench.harness import machine, scratch
from bench.harness.broker import Broker
from bench.harness.urls import redact
from bench.harness.worker import READY_TIMEOUT_S
from bench.measure import load, producer
from bench.measure.config import RunConfig
from bench.measure.observe import ResourceSampler
from bench.measure.openloop import PRODUCER_SLACK_S, add_open_loop
from bench.measure.result import Observed, run_settings
from bench.measure.runner import Measured, NotMeasured, conclude, new_run_id, read_settings, time_limits, with_report
from bench.results.schema import BrokerInfo, HostClock, RunResult, resources_from_json, utc_now
from bench.workloads import WORKLOADS

RECORDS_TIMEOUT_S = 60.0  # for an agent to send its records home, s
STOP_TIMEOUT_S = 15.0


def _publish(app, queue, task_name, args, count, tag):
    """Like load.publish, with ids that start with `tag`, so an agent can
    count the batch's records among all it has."""
    published = {}
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            task_id = f"{tag}{uuid()}"
            published[task_id] = time.monotonic()
            app.send_task(task_name, args=args, queue=queue, task_id=task_id, producer=producer)
    return published


def measure_on_hosts(
    cfg: RunConfig,
    broker: Broker,
    secret: bytes,
    progress: Callable[[int, int], None] | None = None,
    clock_now: Callable[[], dt.datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
) -> Measured:
    """Measure one point with its workers on the agents `cfg.hosts`; write
    the result and return it (RunFailed / Interrupted as runner.measure)."""
    workload = WORKLOADS[cfg.workload]
    started = clock_now()
    run_id = new_run_id(started)
    prefix = f"celery-bench.{run_id}."
    main_queue = f"{prefix}measured"
    open_queue = f"{prefix}open"
    sent = None  # open loop: what the producer sent, and when
    args = workload.args(cfg.task_ms, None)
    stall_s, timeout_s = time_limits(cfg)  # the local runner's rule
    per_host = getattr(cfg, "workers", None) or 1  # --workers N per host (the shapes issue)
    load_before = os.getloadavg()
    app = load.client_app(broker)
    nodenames: dict[str, list[str]] = {}
    reported = None  # each worker's report of its settings (harness/readback.py)
    raw_by_host: dict[str, list] = {}  # each host's records
    sampled: dict = {}  # each host's workers' Resources over the window
    here = None  # the harness's and the broker's CPU over the window
    assert cfg.hosts, "a run on agents names them"
    with Control(broker.url, secret) as ctl:
        found = discover(ctl, cfg.hosts, cfg.host_count, joining=broker.embedded)
        names = choose_hosts(found, cfg.hosts, cfg.host_count)
        infos = {n: found[n] for n in names}
        offsets = {n: ctl.offset(n) for n in names}
        fleet = Fleet(ctl, run_id, names)
        batch_published: dict = {}
        outcome, detail = "not measured", ""
        try:
            for name in names:
                nodenames[name] = [f"bench-{run_id}-{i}@{name}" for i in range(per_host)]
                spec = _worker_spec(cfg, nodenames[name], open_queue if cfg.open_loop else f"{prefix}warmup.{name}")
                fleet.started.append(name)  # stopped in `finally` even if the start fails half-way
                ctl.ask(name, "start", timeout_s=READY_TIMEOUT_S + 15, run=run_id, spec=spec, lease_s=protocol.LEASE_S)
                fleet.renew()
            everyone = [n for name in names for n in nodenames[name]]
            try:  # through the broker: the workers on the agents answer as local ones do
                reported = read_settings(cfg, broker, app, everyone, between=lambda: said_goodbye(ctl, names))
            except RunFailed as exc:
                raise NotMeasured(str(exc), (), getattr(exc, "reported", None)) from exc
            fleet.renew()
            if cfg.warmup:
                _warm_up(app, fleet, prefix, f"{run_id}-w-", workload, args, cfg, (stall_s, timeout_s))
            tag = f"{run_id}-m-"
            if not cfg.open_loop:
                load.declare(app, main_queue)
                batch_published = _publish(app, main_queue, workload.task, args, cfg.tasks, tag)
                fleet.renew()
            for name in names:  # every host samples its workers over the window, as a local run does
                with contextlib.suppress(AgentRefused):  # an older agent: no resources from it
                    ctl.ask(name, "sample", run=run_id)
            local = ResourceSampler([], broker.pid, 1.0).start()  # the harness's and the broker's CPU
            try:
                if cfg.open_loop:
                    sent = _send_schedule(cfg, broker, fleet, open_queue, workload.task, args, tag)
                    batch_published = dict(zip(sent.ids, sent.scheduled, strict=True))  # latency from the schedule
                else:
                    _release(app, main_queue, everyone)
                    for name in names:
                        app.send_task("proj.tasks.noop", queue=f"{prefix}warmup.{name}")  # ends each idle BRPOP
                outcome, detail, lost = fleet.wait_for(tag, len(batch_published), stall_s, timeout_s, progress)
            finally:
                here = local.stop()
            if lost:
                fleet.started.remove(lost)  # nobody to tell to stop: its workers died with it
            raw_by_host, sampled, lost_words = _records_home(ctl, names, lost, run_id, tag)
            if lost_words is not None:
                outcome, detail = "agent lost", lost_words
        finally:
            for name in fleet.started:
                with contextlib.suppress(RunFailed):
                    ctl.ask(name, "stop", timeout_s=STOP_TIMEOUT_S, run=run_id)
            if outcome != "broker lost":
                with contextlib.suppress(Exception):  # tidy-up only
                    load.tidy(app, broker, prefix, [n for ns in nodenames.values() for n in ns])
            app.close()

    records, hosts_of = [], []
    for name in names:
        mine = to_records(raw_by_host.get(name, []), batch_published, offsets[name])
        records.extend(mine)
        hosts_of.extend([name] * len(mine))
    # A host that sent none (lost, or an older agent): no sum that leaves it out.
    resources = fleet_resources([sampled[n] for n in names], infos, here) if set(sampled) == set(names) else None
    observed = Observed(batch_published, records, outcome, detail, resources, load_before)
    bound = host_ceiling(workload, cfg, infos)
    info = BrokerInfo(kind=broker.kind, url=broker.redacted_url, server=broker.server, embedded=broker.embedded)
    backend = redact(broker.result_backend(cfg.result_backend))
    settings = with_report(run_settings(cfg, info, backend, None), reported, ignore=("result_backend",))

    def on_hosts(result: RunResult) -> RunResult:
        """The open-loop summary (open loop) and the hosts, with their clocks."""
        if cfg.schedule is not None and sent is not None:  # open loop
            # The `scheduled` header came back with each record: it is the
            # producer's clock, this host's, so it needs no conversion.
            headers = {r["id"]: r["scheduled"] for raws in raw_by_host.values() for r in raws if "scheduled" in r}
            result = add_open_loop(result, cfg.schedule, sent, records, headers)
        window = result.summary.window_s if result.summary else None
        hosts = _host_clocks(names, infos, offsets, per_host, hosts_of, sampled, window)
        samples = dataclasses.replace(result.samples, host=tuple(hosts_of)) if result.samples else None
        return dataclasses.replace(result, hosts=hosts, samples=samples)

    # The workers' logs are on the agents: none is kept here.
    return conclude(cfg, run_id, started, settings, bound, observed, (), clock_now, describe, extend=on_hosts)


def _worker_spec(cfg, nodenames, queue):
    """What an agent starts: the point's workers, consuming `queue` (the
    host's warm-up queue; open loop: the scheduled one, from the start)."""
    return {
        "app": "proj",
        "pool": cfg.pool,
        "concurrency": cfg.concurrency,
        "queue": queue,
        "nodenames": nodenames,
        "prefetch_multiplier": cfg.prefetch_multiplier,
        "loglevel": cfg.loglevel,
        "result_backend": cfg.result_backend,
        "acks_late": cfg.acks_late,
        "max_tasks_per_child": cfg.max_tasks_per_child,
        "max_memory_per_child_kib": cfg.max_memory_per_child_kib,
        "reject_on_worker_lost": cfg.reject_on_worker_lost,
        "soft_shutdown_timeout": cfg.soft_shutdown_timeout,
        "visibility_timeout": cfg.visibility_timeout,
        "optimization": cfg.optimization,
        "disable_prefetch": cfg.disable_prefetch,
        "eta_task_limit": cfg.eta_task_limit,
    }


def _warm_up(app, fleet, prefix, tag, workload, args, cfg, limits):
    """The warm-up batch on every host's own queue, waited for; `limits`:
    (stall, timeout) in s. Interrupted or RunFailed when it did not finish."""
    for name in fleet.names:
        _publish(app, f"{prefix}warmup.{name}", workload.task, args, cfg.warmup, tag)
    fleet.renew()
    outcome, detail, _lost = fleet.wait_for(tag, cfg.warmup * len(fleet.names), *limits)
    if outcome == "interrupted":
        raise Interrupted("interrupted during the warm-up; nothing was measured")
    if outcome != "complete":
        raise RunFailed(f"the warm-up did not complete ({outcome}: {detail})")


def _records_home(ctl, names, lost, run_id, tag):
    """Each host's records of the batch and its sampled resources, but the
    `lost` one's; (records by host, Resources by host, words of an agent
    lost meanwhile or None)."""
    raw_by_host, sampled, lost_words = {}, {}, None
    for name in names:
        if name == lost:
            continue
        try:
            got = ctl.ask(name, "records", timeout_s=RECORDS_TIMEOUT_S, run=run_id, prefix=tag)
        except AgentLost as exc:
            lost_words = str(exc)
            continue
        raw_by_host[name] = protocol.unpack_records(got["records"])
        if got.get("resources") is not None:
            sampled[name] = resources_from_json(got["resources"])
    return raw_by_host, sampled, lost_words


def _host_clocks(names, infos, offsets, per_host, hosts_of, sampled, window):
    """Each host as the result records it: its cores, workers, tasks, clock
    offset and bound, and its workers' resources."""
    return tuple(
        HostClock(
            name=n,
            hostname=infos[n].hostname,
            cores=infos[n].cores,
            workers=per_host,
            tasks=sum(1 for h in hosts_of if h == n),
            offset_s=offsets[n].offset_s,
            error_s=offsets[n].error_s,
            probes=offsets[n].probes,
            bound_too_wide=clock.bound_too_wide(offsets[n].error_s, window),
            resources=sampled.get(n),
        )
        for n in names
    )


def _send_schedule(cfg, broker, fleet, queue, task, args, tag):
    """Send the open-loop schedule from a producer process here (as a local
    open-loop run does), renewing the agents' leases meanwhile; what it sent."""
    schedule = cfg.schedule
    workdir = scratch.make("producer")
    try:
        alive = [
            ("broker lost: the embedded broker exited", broker.watch()),
            ("the agents' leases", lambda: fleet.renew() or True),  # renewed while the producer sends
        ]
        with producer.running(broker.url, queue, task, args, schedule, workdir, id_prefix=tag) as popen:
            total_s = schedule.warmup_s + schedule.duration_s + producer.START_DELAY_S
            producer.wait(popen, workdir, total_s + PRODUCER_SLACK_S, alive)
        sent = producer.read(workdir)
    finally:
        scratch.remove(workdir)
    if sent.error is not None:
        raise RunFailed(f"the producer stopped: {sent.error}")
    return sent


def _release(app, queue, nodenames):
    """Every worker on every host starts consuming `queue` with one broadcast."""
    replies = app.control.add_consumer(queue, destination=nodenames, reply=True, timeout=load.CONTROL_TIMEOUT_S)
    answered = {}
    for reply in replies or []:
        answered.update(reply)
    missing = [n for n in nodenames if "ok" not in answered.get(n, {})]
    if missing:
        host = missing[0].rpartition("@")[2]
        raise RunFailed(
            f"worker {missing[0]} on agent {host} did not take the measured queue within "
            f"{load.CONTROL_TIMEOUT_S:.0f} s (is agent {host} still running?)"
        )
