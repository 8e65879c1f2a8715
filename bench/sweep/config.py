"""A sweep's options: the profiles, the defaults, and the SweepConfig they
are validated into once (build_sweep_config), as stored in its manifest."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack, cast

from bench.errors import UsageError
from bench.harness.urls import redact
from bench.measure.config import (
    DEFAULT_PREFETCH_MULTIPLIER,
    DEFAULT_RESULT_BACKEND,
    USER_TASK_WORKLOAD,
    DeployOptions,
    check_disable_prefetch_broker,
    check_listen,
    check_shutdown_settings,
    check_visibility_broker,
    deploy_plan,
)
from bench.measure.schedule import ARRIVALS, DEFAULT_ARRIVAL
from bench.measure.settings import parse_value
from bench.measure.traffic import Traffic, from_description
from bench.workloads import MIX_WORKLOAD, POOLS

if TYPE_CHECKING:
    from bench.harness.appinfo import AppInfo
    from bench.measure.apptask import UserTask

# The defaults of a sweep's options, written only here.
DEFAULT_POOLS = POOLS
DEFAULT_WORKLOADS = ("cpu", "sleep")
DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class Profile:
    name: str
    min_repeats: int  # fresh workers per point, at least
    max_repeats: int  # ... and at most, while the CI stays wide
    ci_target: float  # stop adding repeats once the 95% CI of the median is this narrow (fraction)
    window_s: float  # aim for measured windows this long
    stride: int  # past 2x cores, -c grows by this factor (up to the top value, always measured)


PROFILES = {
    p.name: p
    for p in (
        Profile("quick", min_repeats=3, max_repeats=3, ci_target=0.10, window_s=1.0, stride=8),
        Profile("standard", min_repeats=3, max_repeats=6, ci_target=0.05, window_s=2.5, stride=2),
        Profile("thorough", min_repeats=5, max_repeats=12, ci_target=0.03, window_s=6.0, stride=2),
    )
}


@dataclass(frozen=True)
class SweepConfig:
    pools: tuple[str, ...]
    workloads: tuple[str, ...]
    concurrency: tuple[int, ...] | None  # None: derived from the cores
    task_ms: float | None  # None: each workload's default
    cpu_counts: tuple[int, ...] | None  # pin workers to this many CPUs; None: no pinning
    profile: str
    min_repeats: int
    max_repeats: int
    ci_target: float  # fraction of the median
    broker_url: str | None
    redis_server: str | None
    prefetch_multiplier: int | None  # None: a user's app's own setting (built-in workloads: the default)
    result_backend: str
    seed: int  # for the run order
    force: bool
    # --vary axes: ((setting, (value as written, ...)), ...); workers is one.
    # Broker URLs are kept whole here and redacted in to_json.
    vary: tuple[tuple[str, tuple[str, ...]], ...] = ()
    user_task: UserTask | None = None  # sweep a user's own task instead of the workloads
    app_info: AppInfo | None = None  # of its app (not stored: learned again from the app)
    task_profile: tuple[float, float] | None = None  # (CPU s, waiting s) per call, from its profile
    rates: tuple[float, ...] | str | None = None  # open-loop rates after the drain repeats; "auto"; None: none
    arrival: str = DEFAULT_ARRIVAL  # the open-loop runs' arrivals: uniform or poisson (--arrival)
    hosts: tuple[str, ...] | None = None  # agents the workers run on (run --hosts); None: here
    host_counts: tuple[int, ...] | None = None  # each point on the first k of `hosts`, per k; None: on all
    listen: str | None = None  # an address of this host the embedded broker binds too (--listen)
    listen_port: int | None = None  # --listen ADDRESS:PORT: the embedded broker's port; None: any free one
    check: bool = False  # --check: each point measured once more by a plain `celery worker` (sweep/check.py)
    cpu_limit: float | None = None  # cores: each worker's CPU quota (--cpu-limit); None: none, or varied
    memory_limit: int | None = None  # bytes: each worker's memory limit, swap off (--memory-limit); None: none
    # Every repeat's deploy event (--stop-at, --kill-at, --kill-child-at: s after the release; one), and the
    # grace of a stop (--stop-grace, s); None: not given
    stop_at: float | None = None
    kill_at: float | None = None
    kill_child_at: float | None = None
    stop_grace: float | None = None
    rolling_restart: float | None = None
    broker_restart_at: float | None = None  # s: --broker-restart-at, the embedded broker's restart
    acks_late: bool = False  # task_acks_late (--acks-late); False: Celery's off, or varied
    reject_on_worker_lost: bool = False  # task_reject_on_worker_lost (--reject-on-worker-lost); False: off, or varied
    soft_shutdown_timeout: float | None = None  # s: worker_soft_shutdown_timeout; None: Celery's 0, or varied
    visibility_timeout: float | None = None  # s: the Redis transport's visibility timeout; None: kombu's, or varied
    # A mix of task classes run at every point (--traffic; workloads ("mix",)), its seed the sweep's; None: none
    traffic: Traffic | None = None

    def to_json(self) -> dict[str, Any]:
        """The config as stored in the sweep's files: the broker's password
        redacted (a resume asks for the URL again), a user's task as its
        redacted description."""
        out = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in vars(self).items()
            if k not in ("user_task", "app_info", "traffic")
        }
        out["broker_url"] = redact(self.broker_url)
        out["vary"] = [[name, [redact(v) for v in values]] for name, values in self.vary]
        if self.user_task is not None:
            out["user_task"] = self.user_task.to_json()
        # The parsed classes, not only the file's name: a resume runs the same mix, whatever the file holds now.
        out["traffic"] = None if self.traffic is None else self.traffic.describe()
        return out

    @property
    def deploy_options(self) -> DeployOptions:
        """Every repeat's deploy event, as the keywords of build_run_config and deploy_plan."""
        return cast(DeployOptions, {name: getattr(self, name) for name in DeployOptions.__annotations__})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepConfig:
        if data.get("user_task") is not None:
            raise UsageError(
                "--resume: a sweep of your own task cannot be resumed yet (its arguments are stored redacted); "
                "start it again"
            )
        fields: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k not in ("user_task", "traffic")
        }
        fields["vary"] = tuple((name, tuple(values)) for name, values in data.get("vary") or ())
        if data.get("traffic") is not None:
            fields["traffic"] = from_description(data["traffic"])
        return cls(**fields)


def build_sweep_config(
    *,
    pools: Iterable[str] = DEFAULT_POOLS,
    workloads: Iterable[str] | None = None,
    concurrency: Iterable[int] | None = None,
    task_ms: float | None = None,
    cpu_counts: Iterable[int] | None = None,
    profile: str = DEFAULT_PROFILE,
    repeats: int | None = None,
    broker: str | None = None,
    redis_server: str | None = None,
    prefetch_multiplier: int | None = None,
    result_backend: str = DEFAULT_RESULT_BACKEND,
    seed: int | None = None,
    force: bool = False,
    user_task: UserTask | None = None,
    app_info: AppInfo | None = None,
    task_profile: tuple[float, float] | None = None,
    rates: Iterable[float] | str | None = None,
    arrival: str | None = None,
    vary: Iterable[tuple[str, Iterable[str]]] = (),
    workers: Sequence[int] | None = None,
    hosts: Sequence[str] | None = None,
    host_counts: Sequence[int] | None = None,
    listen: str | None = None,
    listen_port: int | None = None,
    check: bool = False,
    cpu_limit: float | None = None,
    memory_limit: int | None = None,
    acks_late: bool = False,
    reject_on_worker_lost: bool = False,
    soft_shutdown_timeout: float | None = None,
    visibility_timeout: float | None = None,
    traffic: Traffic | None = None,
    **deploy_options: Unpack[DeployOptions],
) -> SweepConfig:
    """Validate a sweep's options and fill in the defaults (the only place
    they are written); the per-point checks run on each point (plan_sweep).
    `vary`: ((setting, (value as written, ...)), ...) from --vary;
    `workers`: the --workers list, the same as --vary workers=...;
    `traffic`: a mix run at every point instead of the workloads, seeded
    with the sweep's seed."""
    if traffic is not None:
        deploy = deploy_plan(**deploy_options)
        _check_traffic(workloads, task_ms, user_task, hosts, deploy.option if deploy is not None else None)
        if traffic.own_rate_per_s is not None:
            raise UsageError(
                "--traffic: a sweep drains the mix and runs it at --rates: give its classes weights, not rates"
            )
    workloads = DEFAULT_WORKLOADS if workloads is None else workloads
    if user_task is not None and rates is not None:
        raise UsageError("--rates: open-loop sweeps of your own task are not supported yet; leave --rates out")
    if profile not in PROFILES:
        raise UsageError(f"--profile: unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    min_repeats, max_repeats = prof.min_repeats, prof.max_repeats
    if repeats is not None:
        if repeats < 1:
            raise UsageError(f"--repeats: must be at least 1, got {repeats}")
        # Fewer than the profile's least is a deliberate short sweep: exactly
        # that many (one repeat has no CI, so the stopping rule would always
        # want another).
        min_repeats = repeats
        max_repeats = repeats if repeats < prof.min_repeats else max(repeats, prof.max_repeats)
    vary = check_vary(vary, workers)
    for axis in ("routing", "alone"):
        if traffic is None and axis in dict(vary):
            raise UsageError(f"--vary {axis}: an axis of a traffic mix; give --traffic too")
    unknown = [v for v in dict(vary).get("alone", ()) if v != "none" and traffic and v not in traffic.names]
    if unknown and traffic is not None:
        raise UsageError(
            f"--vary alone: {unknown[0]!r} is no class of the traffic; give none or one of {', '.join(traffic.names)}"
        )
    if user_task is not None and vary:
        raise UsageError("--vary/--workers: not supported with a sweep of your own task yet; leave them out")
    if arrival is not None and rates is None:
        raise UsageError("--arrival: the open-loop runs' arrivals; give --rates too")
    if arrival is not None and arrival not in ARRIVALS:
        raise UsageError(f"--arrival: unknown {arrival!r}; choose from {', '.join(ARRIVALS)}")
    host_counts = check_host_counts(host_counts, hosts)
    check_listen(listen, broker)
    if check and hosts:
        raise UsageError("--check: the plain worker it compares with runs here; leave out --hosts")
    _check_limits(cpu_limit, memory_limit, vary, rates, hosts, check)
    deploy = deploy_plan(**deploy_options)
    if deploy is not None and rates is not None:
        raise UsageError(f"{deploy.option}: drained runs only for now; leave out --rates")
    if deploy is not None and deploy.kind == "broker_restart" and (broker is not None or "broker" in dict(vary)):
        raise UsageError(f"{deploy.option}: restarts the embedded broker, not one of yours; leave out --broker")
    if deploy is not None and check:
        raise UsageError(f"--check: its plain worker runs without deploy events; leave out {deploy.option}")
    _check_shutdown_settings(acks_late, reject_on_worker_lost, soft_shutdown_timeout, visibility_timeout, vary, broker)
    _check_disable_prefetch_axis(vary, broker)
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    if prefetch_multiplier is None and user_task is None:
        # A user's app keeps its own setting unless --prefetch-multiplier is given, as in `run`.
        prefetch_multiplier = DEFAULT_PREFETCH_MULTIPLIER
    return SweepConfig(
        pools=tuple(pools),
        workloads=(USER_TASK_WORKLOAD,) if user_task is not None else (MIX_WORKLOAD,) if traffic else tuple(workloads),
        concurrency=tuple(sorted(set(concurrency))) if concurrency else None,
        task_ms=task_ms,
        cpu_counts=tuple(cpu_counts) if cpu_counts else None,
        profile=profile,
        min_repeats=min_repeats,
        max_repeats=max_repeats,
        ci_target=prof.ci_target,
        broker_url=broker,
        redis_server=redis_server,
        prefetch_multiplier=prefetch_multiplier,
        result_backend=result_backend,
        seed=seed,
        force=force,
        vary=vary,
        user_task=user_task,
        app_info=app_info,
        task_profile=(*task_profile,) if task_profile is not None else None,  # a tuple, whatever was given
        rates=rates if rates in (None, "auto") else tuple(float(r) for r in rates),
        arrival=DEFAULT_ARRIVAL if arrival is None else arrival,
        hosts=tuple(hosts) if hosts else None,
        host_counts=host_counts,
        listen=listen,
        listen_port=listen_port,
        check=bool(check),
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
        **deploy_options,
        acks_late=bool(acks_late),
        reject_on_worker_lost=bool(reject_on_worker_lost),
        soft_shutdown_timeout=soft_shutdown_timeout,
        visibility_timeout=visibility_timeout,
        traffic=None if traffic is None else dataclasses.replace(traffic, seed=seed),
    )


def _check_traffic(workloads, task_ms, user_task, hosts, deploy_option):
    """What a sweep of a traffic mix refuses, in one line each."""
    if workloads is not None or task_ms is not None:
        raise UsageError("--traffic: its classes give the workloads and their sizes; leave out --workloads/--task-ms")
    if user_task is not None:
        raise UsageError("--traffic: its classes are built-in workloads for now; leave out --app/--task")
    if hosts:
        raise UsageError("--traffic: drives the workers started here for now; leave out --hosts")
    if deploy_option is not None:
        raise UsageError(f"--traffic: with a deploy event is not supported yet; leave out {deploy_option}")


def _check_limits(cpu_limit, memory_limit, vary, rates, hosts, check):
    """Limits as an option or an axis, not both; not with what does not
    run the limited workers here yet (the cgroups themselves are checked
    with each point's run config)."""
    varied = {name for name, _ in vary}
    for name, given in (("cpu_limit", cpu_limit), ("memory_limit", memory_limit)):
        if name in varied and given is not None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag}: {name} is also varied (--vary {name}=...); give one of them")
    if cpu_limit is None and memory_limit is None and not varied & {"cpu_limit", "memory_limit"}:
        return
    for shown, flag in ((rates is not None, "--rates"), (hosts, "--hosts"), (check, "--check")):
        if shown:
            raise UsageError(
                f"--cpu-limit/--memory-limit: limited workers run drained batches here only; leave out {flag}"
            )


def _check_shutdown_settings(acks_late, reject_on_worker_lost, soft_shutdown_timeout, visibility_timeout, vary, broker):
    """Each as an option or an axis, not both; a visibility timeout, given
    or varied, only where every broker of the sweep (given or varied) is
    Redis: refused here, not at the first AMQP point."""
    axes = dict(vary)
    given = {
        "acks_late": acks_late or None,
        "reject_on_worker_lost": reject_on_worker_lost or None,
        "soft_shutdown_timeout": soft_shutdown_timeout,
        "visibility_timeout": visibility_timeout,
    }
    for name, value in given.items():
        if name in axes and value is not None:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag}: {name} is also varied (--vary {name}=...); give one of them")
    check_shutdown_settings(soft_shutdown_timeout, visibility_timeout)
    if visibility_timeout is None and "visibility_timeout" not in axes:
        return
    option = "--visibility-timeout" if visibility_timeout is not None else "--vary visibility_timeout"
    brokers = [parse_value("broker", text) for text in axes["broker"]] if "broker" in axes else [broker]
    check_visibility_broker([url if isinstance(url, str) else None for url in brokers], option)


def _check_disable_prefetch_axis(vary, broker):
    """--vary disable_prefetch=true only where every broker of the sweep
    (given or varied) is Redis: refused here, not at the first AMQP point."""
    axes = dict(vary)
    if not any(parse_value("disable_prefetch", text) for text in axes.get("disable_prefetch", ())):
        return
    brokers = [parse_value("broker", text) for text in axes["broker"]] if "broker" in axes else [broker]
    check_disable_prefetch_broker([url if isinstance(url, str) else None for url in brokers], "--vary disable_prefetch")


def check_host_counts(counts: Sequence[int] | None, hosts: Sequence[str] | None) -> tuple[int, ...] | None:
    """--host-counts, checked against --hosts: each count once, each at
    most the hosts named (with `all`, the agents that answer decide, when
    the point runs); sorted. None when not given."""
    if not counts:
        return None
    if not hosts:
        raise UsageError("--host-counts: each point runs on the first k agents of --hosts; give --hosts too")
    if len(set(counts)) != len(counts):
        raise UsageError("--host-counts: a count is given twice")
    named = None if tuple(hosts) == ("all",) else len(hosts)
    if named is not None and max(counts) > named:
        raise UsageError(
            f"--host-counts: {max(counts)} is more than the {named} host{'s' if named != 1 else ''} "
            f"of --hosts {','.join(hosts)}"
        )
    return tuple(sorted(counts))


def check_vary(
    vary: Iterable[tuple[str, Iterable[str]]] = (), workers: Sequence[int] | None = None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The --vary axes, validated: known settings, good values, no setting
    twice, no value twice; --workers joins them as the workers axis."""
    axes = [(name, tuple(values)) for name, values in vary]
    if workers and not (len(workers) == 1 and workers[0] == 1):
        axes.append(("workers", tuple(str(w) for w in workers)))
    seen = set()
    for name, values in axes:
        option = "--workers" if name == "workers" and workers else "--vary"
        if name in seen:
            raise UsageError(f"{option}: {name} is varied twice; give its values once")
        seen.add(name)
        if not values:
            raise UsageError(f"--vary {name}: no values")
        parsed = [parse_value(name, v, option) for v in values]
        if len(set(map(str, parsed))) != len(parsed):
            raise UsageError(f"--vary {name}: a value is given twice")
    return tuple(axes)
