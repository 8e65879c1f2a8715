"""One point measured on agents (run --hosts): the workers run on other
hosts, the measured batch is released to all of them at once, and the
records come home through the broker at the end, converted to the harness's
clock with each host's offset.

Completion is known from counts the agents send when asked (which also
renews their lease); the measured times come only from the records. Each
agent samples its workers' CPU and memory over the window and sends them
with the records. Open loop (--rate): a producer here sends the schedule
to one queue every worker consumes from the start; each record brings its
scheduled time home in the harness's clock already."""

import contextlib
import dataclasses
import os
import time

from kombu.utils.uuid import uuid

from bench.analysis.stats import TaskRecord
from bench.errors import Interrupted, RunFailed
from bench.fleet import clock, protocol
from bench.fleet.control import ANSWER_TIMEOUT_S, AgentLost, AgentRefused, Control
from bench.harness import machine, scratch, signals
from bench.harness.process import watcher
from bench.harness.urls import redact
from bench.harness.worker import READY_TIMEOUT_S
from bench.measure import load, producer
from bench.measure.observe import ResourceSampler
from bench.measure.openloop import PRODUCER_SLACK_S, add_open_loop
from bench.measure.result import Observed, run_settings
from bench.measure.runner import NotMeasured, conclude, new_run_id, read_settings, time_limits, with_report
from bench.results.schema import BrokerInfo, HostClock, Resources, resources_from_json, utc_now
from bench.results.words import host_words
from bench.workloads import WORKLOADS, Ceiling, ceiling

WATCH_EVERY_S = 0.25  # how often the agents are asked for their counts, s
RECORDS_TIMEOUT_S = 60.0  # for an agent to send its records home, s
STOP_TIMEOUT_S = 15.0


def choose_hosts(found, wanted, count=None):
    """The agents to use: `wanted` names (or ("all",)) among those that
    answered, the first `count` of them when given (a sweep's
    --host-counts); RunFailed naming the ones that did not, or that are
    busy, or saying there are too few."""
    names = sorted(found) if tuple(wanted) == ("all",) else list(wanted)
    if not names:
        raise RunFailed("--hosts all: no agent answered (same broker? same CELERY_BENCH_SECRET?)")
    if count is not None:
        if len(names) < count:
            raise RunFailed(f"--host-counts {count}: only {len(names)} agent(s) answered ({', '.join(names)})")
        names = names[:count]
    absent = [n for n in names if n not in found]
    if absent:
        raise RunFailed(
            f"--hosts: no answer from agent {', '.join(absent)} (answered: {', '.join(sorted(found)) or 'none'})"
        )
    busy = [n for n in names if found[n].busy]
    if busy:
        raise RunFailed(f"--hosts: agent {busy[0]} is busy with run {found[busy[0]].busy}")
    return names


JOIN_S = 10.0  # how long agents waiting for the harness's own broker get to join it, s


def discover(ctl, wanted, count=None, joining=False):
    """The agents that answer. `joining`: the broker is the harness's own,
    just started (--listen ADDRESS:PORT), and the agents are still
    connecting to it: ask again until the wanted ones (with `all`: at
    least `count`, or one) answered, or JOIN_S passed."""
    until = time.monotonic() + (JOIN_S if joining else 0.0)
    while True:
        found = ctl.discover()
        if tuple(wanted) == ("all",):
            enough = len(found) >= (count or 1)
        else:
            enough = all(n in found for n in list(wanted)[: count or len(wanted)])
        if enough or time.monotonic() >= until:
            return found


def fewest_cores(broker, secret, wanted, count=None):
    """The fewest usable cores among the agents `wanted` (the first `count`
    of them): what a sweep on them chooses its -c values by. RunFailed as
    choose_hosts says."""
    with Control(broker.url, secret) as ctl:
        found = discover(ctl, wanted, count, joining=broker.embedded)
        return min(found[name].cores for name in choose_hosts(found, wanted, count))


def host_ceiling(workload, cfg, infos):
    """The fleet's ceiling: the sum of each host's (its own cores)."""
    bounds = [ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, infos[n].cores) for n in infos]
    if any(b.per_s is None for b in bounds):
        return Ceiling(None, bounds[0].basis)
    return Ceiling(sum(b.per_s for b in bounds), f"sum over {host_words(len(bounds))} of: {bounds[0].basis}")


def to_records(raw, published, offset):
    """An agent's records as TaskRecords on the harness's clock."""
    return [
        TaskRecord(
            id=r["id"],
            published=published[r["id"]],
            started=offset.to_harness(r["started"]),
            finished=offset.to_harness(r["finished"]),
            state=r["state"],
            pid=r["pid"],
            error=r.get("error"),
        )
        for r in raw
        if r.get("id") in published
    ]


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


class Fleet:
    """The agents of one run, seen from the harness."""

    def __init__(self, ctl: Control, run_id, names):
        self.ctl, self.run_id, self.names = ctl, run_id, names
        self.started: list[str] = []
        self.last_renewal = 0.0

    def renew(self):
        """Renew every lease (no answer awaited) if it is time."""
        if time.monotonic() - self.last_renewal >= protocol.RENEW_EVERY_S:
            for name in self.started:
                self.ctl.send(name, "lease", run=self.run_id, lease_s=protocol.LEASE_S)
            self.last_renewal = time.monotonic()

    def counts(self, prefix, timeout_s):
        """{host: answer} to a progress query; AgentLost naming the first
        host that did not answer within `timeout_s`."""
        nonces = {n: self.ctl.send(n, "progress", run=self.run_id, prefix=prefix) for n in self.names}
        until = time.monotonic() + timeout_s
        answers = {}
        for name, nonce in nonces.items():
            got = self.ctl.answers(nonce, until, want=1, watch=(name,)).get(name)
            if got is None:
                raise AgentLost(name, f"within {timeout_s:g} s (lost mid-run)", said=self.ctl.gone.get(name))
            if "refused" in got:
                raise RunFailed(got["refused"])
            answers[name] = got
        self.last_renewal = time.monotonic()
        return answers

    def wait_for(self, prefix, total, stall_s, timeout_s, progress=None):
        """Ask for counts until `total` records with `prefix` came in
        across hosts. (outcome, detail, lost host or None)."""
        start = last_news = time.monotonic()
        best = -1
        try:
            while True:
                try:
                    answers = self.counts(prefix, min(stall_s, ANSWER_TIMEOUT_S))
                except AgentLost as exc:
                    return "agent lost", str(exc), exc.name
                done = sum(a["done"] for a in answers.values())
                dead = [(n, a) for n, a in answers.items() if not a.get("alive", True)]
                if done >= total:
                    return "complete", "", None
                if dead:
                    return "worker exited", f"on {dead[0][0]}: {dead[0][1].get('error', '')}", None
                now = time.monotonic()
                if done > best:
                    best, last_news = done, now
                    if progress:
                        progress(done, total)
                elif now - last_news > stall_s:
                    return "stalled", f"no task finished in the last {stall_s:.0f} s", None
                if now - start > timeout_s:
                    return "timed out", f"the batch took over {timeout_s:.0f} s", None
                signals.raise_if_stopping()
                time.sleep(WATCH_EVERY_S)
        except (KeyboardInterrupt, Interrupted):
            return "interrupted", "interrupted by a signal", None


def measure_on_hosts(cfg, broker, secret, progress=None, clock_now=utc_now, describe=machine.describe):
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
    raw_by_host: dict[str, list] = {}
    sampled: dict[str, Resources] = {}  # each host's workers over the window
    here = None  # the harness's and the broker's CPU over the window
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
                spec = {
                    "app": "proj",
                    "pool": cfg.pool,
                    "concurrency": cfg.concurrency,
                    # Open loop: every worker consumes the scheduled queue from the start.
                    "queue": open_queue if cfg.open_loop else f"{prefix}warmup.{name}",
                    "nodenames": nodenames[name],
                    "prefetch_multiplier": cfg.prefetch_multiplier,
                    "loglevel": cfg.loglevel,
                    "result_backend": cfg.result_backend,
                    "acks_late": cfg.acks_late,
                    "max_tasks_per_child": cfg.max_tasks_per_child,
                }
                fleet.started.append(name)  # stopped in `finally` even if the start fails half-way
                ctl.ask(name, "start", timeout_s=READY_TIMEOUT_S + 15, run=run_id, spec=spec, lease_s=protocol.LEASE_S)
                fleet.renew()
            everyone = [n for name in names for n in nodenames[name]]
            try:  # through the broker: the workers on the agents answer as local ones do
                reported = read_settings(cfg, broker, app, everyone, between=lambda: _said_goodbye(ctl, names))
            except RunFailed as exc:
                raise NotMeasured(str(exc), (), getattr(exc, "reported", None)) from exc
            fleet.renew()
            if cfg.warmup:
                warm_tag = f"{run_id}-w-"
                for name in names:
                    _publish(app, f"{prefix}warmup.{name}", workload.task, args, cfg.warmup, warm_tag)
                fleet.renew()
                outcome, detail, _lost = fleet.wait_for(warm_tag, cfg.warmup * len(names), stall_s, timeout_s)
                if outcome == "interrupted":
                    raise Interrupted("interrupted during the warm-up; nothing was measured")
                if outcome != "complete":
                    raise RunFailed(f"the warm-up did not complete ({outcome}: {detail})")
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
            for name in names:
                if name == lost:
                    continue
                try:
                    got = ctl.ask(name, "records", timeout_s=RECORDS_TIMEOUT_S, run=run_id, prefix=tag)
                except AgentLost as exc:
                    outcome, detail = "agent lost", str(exc)
                    continue
                raw_by_host[name] = protocol.unpack_records(got["records"])
                if got.get("resources") is not None:
                    sampled[name] = resources_from_json(got["resources"])
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

    def on_hosts(result):
        """The open-loop summary (open loop) and the hosts, with their clocks."""
        if cfg.open_loop and sent is not None:
            # The `scheduled` header came back with each record: it is the
            # producer's clock, this host's, so it needs no conversion.
            headers = {r["id"]: r["scheduled"] for raws in raw_by_host.values() for r in raws if "scheduled" in r}
            result = add_open_loop(result, cfg.schedule, sent, records, headers)
        window = result.summary.window_s if result.summary else None
        hosts = tuple(
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
        samples = dataclasses.replace(result.samples, host=tuple(hosts_of)) if result.samples else None
        return dataclasses.replace(result, hosts=hosts, samples=samples)

    # The workers' logs are on the agents: none is kept here.
    return conclude(cfg, run_id, started, settings, bound, observed, (), clock_now, describe, extend=on_hosts)


def _said_goodbye(ctl, names, wait_s=0.05):
    """AgentLost with its own words when an agent of `names` said it is
    stopping (its workers stop with it): the run fails naming it at once."""
    ctl.answers(None, time.monotonic() + wait_s, watch=names)
    for name in names:
        if name in ctl.gone:
            raise AgentLost(name, "", said=ctl.gone[name])


def _send_schedule(cfg, broker, fleet, queue, task, args, tag):
    """Send the open-loop schedule from a producer process here (as a local
    open-loop run does), renewing the agents' leases meanwhile; what it sent."""
    schedule = cfg.schedule
    workdir = scratch.make("producer")
    try:
        alive = [
            ("broker lost: the embedded broker exited", watcher(broker.pid)),
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


def fleet_resources(by_host, infos, here=None):
    """The run's resources from each host's (Resources sampled by the
    agents): CPU seconds, cores busy, processes and context switches add
    up; memory is the sum of each host's peak (hosts peak apart, so it
    bounds the fleet's peak from above); the share of usable cores is of
    all the hosts' cores. `here`: the harness's own sample, for its CPU and
    the broker's. None when no host sent any (an older agent)."""
    if not by_host:
        return None

    def total(name):
        values = [getattr(r, name) for r in by_host]
        return None if any(v is None for v in values) else sum(values)

    cores_busy = total("worker_cpu_cores")
    cores = sum(info.cores for info in infos.values())
    return Resources(
        window_s=max((r.window_s for r in by_host if r.window_s is not None), default=None),
        worker_cpu_s=total("worker_cpu_s"),
        worker_cpu_cores=cores_busy,
        worker_cpu_percent_of_usable=100.0 * cores_busy / cores if cores_busy is not None and cores else None,
        worker_uss_peak_bytes=total("worker_uss_peak_bytes"),
        worker_pss_peak_bytes=total("worker_pss_peak_bytes"),
        worker_rss_peak_bytes=total("worker_rss_peak_bytes"),
        worker_processes=total("worker_processes"),
        worker_ctx_switches_voluntary=total("worker_ctx_switches_voluntary"),
        worker_ctx_switches_involuntary=total("worker_ctx_switches_involuntary"),
        harness_cpu_s=here.harness_cpu_s if here is not None else None,
        broker_cpu_s=here.broker_cpu_s if here is not None else None,
        samples=min((r.samples for r in by_host if r.samples is not None), default=None),
        per_worker=(),  # per host: in `hosts`
    )


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


def _resources_words(r):
    """One host's workers in words: cores busy, CPU seconds, memory peaks."""

    def mib(value):
        return "-" if value is None else f"{value / 2**20:.1f} MiB"

    return (
        f"{r.worker_cpu_s:.2f} CPU s = {r.worker_cpu_cores:.2f} cores busy "
        f"({r.worker_cpu_percent_of_usable:.0f}% of its cores); USS {mib(r.worker_uss_peak_bytes)}, "
        f"PSS {mib(r.worker_pss_peak_bytes)} (peak, {r.worker_processes} processes)"
    )


def hosts_text(result):
    """Per host: tasks, clock offset and its bound, and a warning when a
    bound is not small against the window (text; the CLI prints it)."""
    if not result.hosts:
        return ""
    lines = ["hosts (times converted to the harness's clock):"]
    for h in result.hosts:
        lines.append(
            f"  {h.name:<12} {h.hostname:<14} {h.cores:g} cores  {h.workers} worker(s)  {h.tasks} tasks  "
            f"clock offset {h.offset_s * 1000:+.3f} ms ± {h.error_s * 1000:.3f} ms ({h.probes} round trips)"
        )
        if h.resources is not None:
            lines.append(f"  {'':<12} workers: {_resources_words(h.resources)}")
    for h in result.hosts:
        if h.bound_too_wide:
            lines.append(
                f"warning: the clock offset of {h.name} is only known to ± {h.error_s * 1000:.1f} ms, "
                "more than 1% of the measured window; lengthen the run (--tasks)"
            )
    return "\n".join(lines)
