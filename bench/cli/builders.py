"""From the parsed options to the typed request that bench/commands/* takes:
one builder per subcommand, validating once (nothing past the CLI sees the
argparse namespace). Each passes the config builder only the fields whose
options were given (parser.given); the config builder defaults the rest."""

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import commands as compare  # its compare request: CompareConfig, parse_percent, FORMATS
from bench.ab.config import AB_POOLS, AB_PROFILE, AB_WORKLOADS, AbConfig, build_ab_config
from bench.analysis.budget import DEFAULT_UPTIME_S, BudgetAsk
from bench.cli.parser import given
from bench.commands import (
    AdviseRequest,
    CapacityRequest,
    ExportRequest,
    HistoryRequest,
    ProfileRequest,
    ReportRequest,
    SweepRequest,
    sweep_dir,
)
from bench.errors import UsageError
from bench.fleet.options import AgentConfig, agent_config, hosts_secret, secret_from_env, secret_text
from bench.harness.appinfo import AppInfo
from bench.harness.urls import check_url
from bench.measure import traffic, traffic_file
from bench.measure.apptask import (
    BROKER_FROM_APP,
    UserTask,
    build_user_task,
    profile_times,
    read_profile,
    resolve_user_task,
)
from bench.measure.config import (
    DEFAULT_OUTPUT_DIR,
    RunConfig,
    build_run_config,
    check_json_path,
    profile_config,
)
from bench.measure.reference_options import ReferenceRun
from bench.measure.soak_options import check_recycling
from bench.results.io import check_writable
from bench.sweep import store
from bench.sweep.config import build_sweep_config
from bench.sweep.plan import plan_sweep

# The options a sweep stores in its manifest: a resumed sweep keeps its own.
SWEEP_OPTIONS = (
    "pools",
    "concurrency",
    "workloads",
    "task_ms",
    "cpus",
    "profile",
    "repeats",
    "seed",
    "prefetch_multiplier",
    "result_backend",
    "force",
    "redis_server",
    "workers",
    "vary",
    "rates",
    "arrival",
    "app",
    "task",
    "args",
    "kwargs",
    "args_file",
    "from_profile",
    "hosts",
    "host_counts",
    "listen",
    "cpu_limit",
    "memory_limit",
    "stop_at",
    "kill_at",
    "kill_child_at",
    "stop_grace",
    "rolling_restart",
    "broker_restart_at",
    "acks_late",
    "reject_on_worker_lost",
    "soft_shutdown_timeout",
    "visibility_timeout",
    "traffic",
)


# The options that name a user's task (groups.add_task_options), each a
# keyword of resolve_user_task.
USER_TASK_OPTIONS = ("app", "task", "args", "kwargs", "args_file", "workdir")


def _user_task(args: argparse.Namespace) -> tuple[UserTask, AppInfo] | tuple[None, None]:
    """(UserTask, AppInfo) when the options name a user's task, else (None, None)."""
    return resolve_user_task(**{name: getattr(args, name) for name in USER_TASK_OPTIONS})


def _check_task_options(args: argparse.Namespace, workloads: str | None, whom: str) -> None:
    """What a command that takes a built-in workload or a user's task refuses:
    `workloads` names the workload option given (None: not given); `whom`
    is who takes the broker's URL instead of from-app ("a sweep", "ab")."""
    if workloads is not None and (args.app or args.task):
        raise UsageError(f"{workloads} picks built-in workloads; leave it out with --app/--task")
    if args.from_profile and not args.app:
        raise UsageError("--from-profile: only with --app and --task")
    if args.broker == BROKER_FROM_APP:
        raise UsageError(f"--broker {BROKER_FROM_APP}: only for run and profile; give {whom} the broker's URL")


def _traffic(given: str | traffic.Traffic) -> traffic.Traffic:
    """--traffic FILE read, or the scenario file's traffic table (read with it)."""
    return given if isinstance(given, traffic.Traffic) else traffic_file.read(given)


def configure_run(args: argparse.Namespace) -> RunConfig | ReferenceRun:
    fields = given(args)
    if "traffic" in fields:
        if args.app or args.task or args.from_profile:
            raise UsageError(
                "--traffic: its classes name their tasks; leave out --app/--task/--from-profile (a class takes "
                "app and task)"
            )
        # its classes' own tasks, resolved in the app (from --workdir) once
        fields["traffic"], info = traffic_file.resolve_users(_traffic(fields["traffic"]), args.workdir)
        return _checked_run(args, build_run_config(app_info=info, **fields), None)
    user, info = _user_task(args)
    if args.from_profile and user is None:
        raise UsageError("--from-profile: only with --app and --task")
    profile = read_profile(args.from_profile, user.task) if args.from_profile and user is not None else None
    if user is not None and args.workload is not None:
        raise UsageError("--workload picks a built-in workload; leave it out with --app/--task")
    cfg = build_run_config(user_task=user, app_info=info, task_profile=profile_times(profile), **fields)
    return _checked_run(args, cfg, user)


def _checked_run(args: argparse.Namespace, cfg: RunConfig, user: UserTask | None) -> RunConfig | ReferenceRun:
    """What a run's config must also pass: hosts, a writable output, a reference."""
    check_recycling(cfg.pool, cfg.max_tasks_per_child, cfg.max_memory_per_child_kib)
    if cfg.hosts:
        if user is not None:
            raise UsageError("--hosts runs the built-in workloads for now; leave out --app/--task")
        hosts_secret(cfg.hosts, cfg.broker_url, cfg.workload, secret_text(), cfg.listen, cfg.listen_port)
    check_writable(cfg.json_path.parent if cfg.json_path else cfg.output_dir)
    if args.reference:
        _check_reference(cfg)
    if cfg.pool == "solo" and cfg.concurrency != 1:
        print(
            f"note: the solo pool runs one task at a time: -c {cfg.concurrency} is accepted, as Celery does, "
            "and the run is recorded as 1 slot",
            file=sys.stderr,
        )
    return ReferenceRun(cfg) if args.reference else cfg


def _check_reference(cfg):
    """--reference compares one worker here with a plain one: not the other shapes of a run."""
    shapes = (
        (cfg.hosts, "--hosts"),
        (cfg.open_loop, "--rate"),
        (cfg.workers > 1, "--workers"),
        (cfg.soak_s, "--duration"),
    )
    for shown, flag in shapes:
        if shown:
            raise UsageError(f"--reference: compares one worker here, draining a batch; leave out {flag}")
    if cfg.limits is not None:
        raise UsageError(
            "--reference: its plain worker runs without limits for now; leave out --cpu-limit/--memory-limit"
        )
    if cfg.deploy is not None:
        raise UsageError(f"--reference: its plain worker runs without deploy events; leave out {cfg.deploy.option}")
    if cfg.traffic is not None:
        raise UsageError("--reference: its plain worker runs one task for now; leave out --traffic")


def configure_sweep(args: argparse.Namespace) -> SweepRequest:
    output_dir = Path(args.output_dir or DEFAULT_OUTPUT_DIR)
    if args.resume:
        kept = [f"--{name.replace('_', '-')}" for name in SWEEP_OPTIONS if getattr(args, name) is not None]
        if kept:
            raise UsageError(f"--resume continues the sweep with its own options; leave out {', '.join(kept)}")
        target, cfg, plan = store.resume(sweep_dir(args.resume), broker_url=args.broker, measuring=not args.dry_run)
        if cfg.hosts and not args.dry_run:
            broker = args.broker or cfg.broker_url
            hosts_secret(cfg.hosts, broker, cfg.workloads[0], secret_text(), cfg.listen, cfg.listen_port)
        return SweepRequest(cfg, tuple(plan), target.path, output_dir, args.dry_run)
    _check_task_options(args, "--workloads" if args.workloads is not None else None, "a sweep")
    user, info = _user_task(args)
    profile = read_profile(args.from_profile, user.task) if args.from_profile and user is not None else None
    fields = given(args)
    if "traffic" in fields:
        fields["traffic"] = _traffic(fields["traffic"])
        if fields["traffic"].app is not None:
            raise UsageError(
                "--traffic: a sweep runs mixes of built-in workloads for now; a mix of your app's tasks runs with "
                "`run --traffic`"
            )
    cfg = build_sweep_config(user_task=user, app_info=info, task_profile=profile_times(profile), **fields)
    if cfg.hosts:
        if cfg.cpu_counts:
            raise UsageError("--cpus pins workers here; with --hosts each agent pins its own (agent --cpus)")
        if cfg.rates:
            raise UsageError("--rates (open loop) runs here only for now; leave it out with --hosts")
        if user is not None:
            raise UsageError("--hosts runs the built-in workloads for now; leave out --app/--task")
        for workload in cfg.workloads:
            hosts_secret(cfg.hosts, cfg.broker_url, workload, secret_text(), cfg.listen, cfg.listen_port)
    # Without a profile given, the sweep of a user's task profiles it first
    # (commands/sweep.py), then plans again with its sizes.
    profile_first = None
    if user is not None and profile is None:
        broker = {name: value for name, value in fields.items() if name in ("broker", "redis_server")}
        profile_first = profile_config(user, info, broker)
    return SweepRequest(
        cfg,
        tuple(plan_sweep(cfg)),
        None,
        output_dir,
        args.dry_run,
        profile=profile,
        profile_first=profile_first,
    )


def configure_profile(args: argparse.Namespace) -> ProfileRequest:
    fields = given(args)
    if not args.app and not args.task:
        raise UsageError("profile: name your task with --app MODULE --task NAME (or in a scenario file)")
    user, info = _user_task(args)
    assert user is not None  # an app without a task, or a task without one, is refused there
    cfg = profile_config(user, info, fields)
    path = Path(args.json or f"{DEFAULT_OUTPUT_DIR}/profile-{user.task}.json")
    check_json_path(path)
    check_writable(path.parent)
    # The budget's probe (two prefork runs, about half a minute) runs when a budget or an uptime is asked for
    asked = args.memory_budget is not None or args.uptime is not None
    return ProfileRequest(cfg, path, _budget_ask(args) if asked else None)


def configure_capacity(args: argparse.Namespace) -> CapacityRequest:
    # rate: checks the open-loop options; the search sets the rates
    cfg = build_run_config(**given(args), rate=1.0)
    if cfg.hosts:
        hosts_secret(cfg.hosts, cfg.broker_url, cfg.workload, secret_text())
    check_writable(cfg.output_dir)
    return CapacityRequest(cfg, tuple(args.slo), args.repeats, args.max_rates)


def configure_ab(args: argparse.Namespace) -> AbConfig:
    _check_task_options(args, "--workloads" if args.workloads is not None else None, "ab")
    # Checked, not imported: each side imports the app from its own worktree
    # and checks its task there (ab/run.py), whatever the working tree holds.
    user = build_user_task(**{name: getattr(args, name) for name in USER_TASK_OPTIONS})
    profile = read_profile(args.from_profile, user.task) if args.from_profile and user is not None else None
    ab_defaults: dict[str, Any] = {"pools": AB_POOLS, "profile": AB_PROFILE}  # not the sweep's
    if user is None:
        ab_defaults["workloads"] = AB_WORKLOADS
    fields = given(args)
    sweep_cfg = build_sweep_config(**{**ab_defaults, **fields}, user_task=user, task_profile=profile_times(profile))
    broker = {name: value for name, value in fields.items() if name in ("broker", "redis_server")}
    cfg = build_ab_config(
        baseline=args.baseline,
        candidate=args.candidate,
        sweep=sweep_cfg,
        project=args.project,
        output_dir=args.output_dir or DEFAULT_OUTPUT_DIR,
        # Without a profile given, the baseline's task is profiled first and
        # sizes both sides' batches alike (ab/run.py).
        profile_first=profile_config(user, None, broker) if user is not None and profile is None else None,
        **_decision(args),
    )
    check_writable(cfg.output_dir)
    return cfg


def configure_compare(args: argparse.Namespace) -> compare.CompareConfig:
    return compare.build_compare_config(
        baseline=args.baseline,
        candidate=args.candidate,
        allow_different_hosts=args.allow_different_hosts,
        **_decision(args),
    )


def _decision(args):
    """How compare and ab decide: --threshold, --format (groups.add_decision)
    and --fail-on-unstable, as their config builders take them."""
    return {"threshold": args.threshold, "fmt": args.format, "fail_on_unstable": args.fail_on_unstable}


def configure_sweep_dir(args: argparse.Namespace) -> str:
    """plot and report: the sweep's directory (commands/* find the latest)."""
    return args.sweep_dir


def configure_report(args: argparse.Namespace) -> ReportRequest:
    return ReportRequest(args.sweep_dir, _budget_ask(args))


def configure_export(args: argparse.Namespace) -> ExportRequest:
    return ExportRequest(format=args.format, result=args.result, output=args.output)


def configure_broker(args: argparse.Namespace) -> tuple[str | None, str | None, int | None]:
    """(redis-server binary, listen address, listen port): None where not given."""
    return (args.redis_server, *(args.listen or (None, None)))


def configure_agent(args: argparse.Namespace) -> AgentConfig:
    return agent_config(args.broker, args.name, args.allow_apps, args.cpus, secret_text(), args.harness)


def configure_agents(args: argparse.Namespace) -> tuple[str, bytes]:
    check_url(args.broker)
    return args.broker, secret_from_env()


def configure_history(args: argparse.Namespace) -> HistoryRequest:
    for path in args.paths:  # here, before the command's pipeline (and matplotlib) is loaded
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or directory")
    outputs = {name: Path(value) for name in ("html", "json") if (value := getattr(args, name)) is not None}
    for path in outputs.values():
        check_writable(path.parent)
    return HistoryRequest(
        paths=tuple(args.paths),
        threshold=args.threshold,
        format=args.format,
        html=outputs.get("html"),
        json=outputs.get("json"),
        check=args.check,
    )


ADVISE_WORKLOAD = "sleep"  # advise's built-in workload when neither --workload nor a task is given


def configure_advise(args: argparse.Namespace) -> AdviseRequest:
    _check_task_options(args, "--workload" if args.workload is not None else None, "advise")
    if args.slo and args.rate is None:
        raise UsageError("--slo: the objective is checked at an arrival rate; give it with --rate")
    user, info = _user_task(args)
    profile = read_profile(args.from_profile, user.task) if args.from_profile and user is not None else None
    fields = given(args)
    fields.setdefault("workloads", [ADVISE_WORKLOAD] if user is None else None)
    if fields["workloads"] is None:
        del fields["workloads"]
    cfg = build_sweep_config(
        **fields, profile="quick", user_task=user, app_info=info, task_profile=profile_times(profile)
    )
    if "solo" in cfg.pools and len(cfg.pools) == 1:
        raise UsageError("--pools: solo runs one task at a time; there is no -c to advise on. Add another pool")
    broker = {name: value for name, value in fields.items() if name in ("broker", "redis_server")}
    if user is not None:
        profile_run = profile_config(user, info, broker)
    else:
        workload = cfg.workloads[0]
        profile_run = build_run_config(pool="solo", concurrency=1, workload=workload, task_ms=cfg.task_ms, **broker)
    output_dir = Path(args.output_dir or DEFAULT_OUTPUT_DIR)
    check_writable(output_dir)
    return AdviseRequest(
        cfg,
        profile_run,
        output_dir,
        objectives=tuple(args.slo or ()),
        rate=args.rate,
        memory_budget_bytes=args.memory_budget,
        uptime_s=_budget_ask(args).uptime_s,
        refresh_overheads=args.refresh_overheads,
        app=args.app,
    )


def _budget_ask(args: argparse.Namespace) -> BudgetAsk:
    """--uptime (8 h when not given) and --memory-budget."""
    return BudgetAsk(DEFAULT_UPTIME_S if args.uptime is None else args.uptime, args.memory_budget)
