"""The parsers of the subcommands that measure (run, capacity, sweep,
profile, ab, advise): the shared option groups (groups.py, worker_groups.py)
and each one's own options, with the request field each fills (`fills=`).

Just over the ~400 lines a module aims for, on purpose: six parsers, one
function each, that share nothing but the option groups they call; a
split would be by count, not by job."""

from bench.ab.config import AB_POOLS, AB_PROFILE, AB_WORKLOADS
from bench.analysis import capacity
from bench.cli import option_types
from bench.cli.groups import (
    add_arrival,
    add_broker_options,
    add_decision,
    add_hosts,
    add_how_hard,
    add_memory_budget,
    add_open_loop_options,
    add_output_dir,
    add_point_options,
    add_points,
    add_pools,
    add_task_ms,
    add_task_options,
    add_traffic_options,
    add_uptime,
)
from bench.cli.parser import Subcommands, option
from bench.cli.worker_groups import (
    add_deploy_options,
    add_limit_options,
    add_prefetch_options,
    add_shutdown_options,
    add_worker_options,
)
from bench.measure.apptask import DEFAULT_CALLS, DEFAULT_WARMUP
from bench.measure.schedule import ARRIVALS, DEFAULT_ARRIVAL, DEFAULT_DURATION_S
from bench.measure.settings import SETTINGS
from bench.measure.soak_options import BACKLOG_PER_SLOT, MIN_BACKLOG, OPEN_SOAK_FROM_S
from bench.sweep.config import DEFAULT_POOLS, DEFAULT_PROFILE, DEFAULT_WORKLOADS, PROFILES
from bench.workloads import DEFAULT_STUCK_P, LEAK_KIB, STUCK_MULTIPLE, WORKLOADS


def add_run(sub: Subcommands) -> None:
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
    what = add_point_options(run)
    option(
        what,
        "--tasks",
        fills="tasks",
        type=option_types.whole(1),
        help="tasks in the measured batch (default: about 5 s of work at the expected rate)",
    )
    option(
        what,
        "--warmup",
        fills="warmup",
        type=option_types.whole(0),
        help="tasks run and discarded first (default: 2 per prefork child, at least 5; other pools: half a "
        "second of work, 5 to 100 tasks)",
    )
    option(
        what,
        "--workers",
        fills="workers",
        type=option_types.whole(1),
        help="worker nodes on this host, each with this pool and -c, consuming the same queue (default: 1)",
    )
    option(
        what,
        "--leak-kib",
        fills="leak_kib",
        type=option_types.whole(1),
        metavar="K",
        help=f"the leak workload: KiB each call keeps alive in its process (default: {LEAK_KIB})",
    )
    option(
        what,
        "--stuck-p",
        fills="stuck_p",
        type=option_types.probability,
        metavar="P",
        help=f"the stuck workload: each task's chance to wait {STUCK_MULTIPLE}x its --task-ms, drawn from --seed "
        f"(default: {DEFAULT_STUCK_P:g})",
    )
    option(
        what,
        "--backlog",
        fills="backlog",
        type=option_types.whole(1),
        metavar="N",
        help="a soak (--duration without --rate) keeps N tasks published and not finished, topped up as they "
        f"finish (default: {BACKLOG_PER_SLOT} per slot, at least {MIN_BACKLOG})",
    )
    option(
        what,
        "--soak",
        fills="soak",
        action="store_true",
        default=None,
        help="with --rate and --duration: count the tasks instead of recording each, and stream a row a second, "
        f"as a soak (default: off, but on from a --duration of {OPEN_SOAK_FROM_S / 60:g}m)",
    )
    option(
        what,
        "--max-tasks-per-child",
        fills="max_tasks_per_child",
        type=option_types.whole(0),
        metavar="N",
        help="prefork only: replace each pool process after N tasks, as the worker's --max-tasks-per-child; "
        "the run counts the processes replaced and their memory (default: 0, never)",
    )
    option(
        what,
        "--max-memory-per-child",
        fills="max_memory_per_child_kib",
        type=option_types.size_kib,
        metavar="SIZE",
        help="prefork only: replace a pool process once its peak RSS is above SIZE (e.g. 200MiB; Celery checks "
        "after each task, in KiB) as the worker's --max-memory-per-child; read back from the worker "
        "(default: 0, never)",
    )
    add_open_loop_options(run)
    add_traffic_options(run)
    add_task_options(run)
    add_worker_options(run, loglevel=True)
    add_shutdown_options(run)
    add_prefetch_options(run)
    add_limit_options(run)
    add_deploy_options(run)
    add_broker_options(run, listen=True)
    add_hosts(run)
    out = run.add_argument_group("output")
    add_output_dir(out, "where the result JSON goes", fills="output_dir")
    option(out, "--json", fills="json_path", metavar="PATH", help="write the result here instead")
    check = run.add_argument_group("fidelity")
    check.add_argument(
        "--reference",
        action="store_true",
        help="then measure the same configuration in a plain `celery -A APP worker -E` (no harness code "
        "inside it; counted by Celery's task events) and print both side by side with their ratio; its "
        "result goes beside the run's, as NAME-reference.json (default: off)",
    )


def add_capacity(sub: Subcommands) -> None:
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
    add_point_options(cap)
    goal = cap.add_argument_group("the objective and the search")
    goal.add_argument(
        "--slo",
        type=option_types.slo,
        action="append",
        required=True,
        metavar="pNN=LIMIT",
        help="a latency objective on the sojourn, e.g. p99=250ms (repeat for several; NN: 50, 90, 99, 99.9)",
    )
    goal.add_argument(
        "--repeats",
        type=option_types.whole(1),
        default=capacity.DEFAULT_REPEATS,
        help=f"runs at each rate, each in a fresh worker (default: {capacity.DEFAULT_REPEATS})",
    )
    goal.add_argument(
        "--max-rates",
        type=option_types.whole(2),
        default=capacity.DEFAULT_MAX_RATES,
        help=f"rates tried at most (default: {capacity.DEFAULT_MAX_RATES})",
    )
    option(goal, "--arrival", fills="arrival", choices=ARRIVALS, help=f"(default: {DEFAULT_ARRIVAL})")
    option(
        goal,
        "--duration",
        fills="duration",
        type=option_types.positive_number("seconds"),
        metavar="SECONDS",
        help=f"the measured window of each run (default: {DEFAULT_DURATION_S:g})",
    )
    add_worker_options(cap)
    add_broker_options(cap)
    add_hosts(cap)
    out = cap.add_argument_group("output")
    add_output_dir(out, "where the capacity JSON and each run's result go", fills="output_dir")


def add_sweep(sub: Subcommands) -> None:
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
    matrix = add_points(
        swp,
        "the matrix (default: derived from the usable cores)",
        pools=",".join(DEFAULT_POOLS),
        workloads=",".join(DEFAULT_WORKLOADS),
        concurrency_help="comma-separated -c values (default: 1, cores, 2x cores, then up to 8x cores for "
        "prefork and into the hundreds for gevent/eventlet/threads; solo runs at -c 1 only)",
    )
    option(
        matrix,
        "--workers",
        fills="workers",
        type=option_types.whole_list,
        metavar="LIST",
        help="comma-separated worker counts: each point runs that many worker nodes, each with the pool and -c "
        "(default: 1)",
    )
    option(
        matrix,
        "--vary",
        fills="vary",
        type=option_types.vary,
        action="append",
        metavar="NAME=V1,V2",
        help="a setting as an axis (repeatable; the axes cross; each combination is its own curve and "
        "verdict): " + "; ".join(f"{s.name}: {s.summary}" for s in SETTINGS.values()) + " (default: none)",
    )
    option(
        matrix,
        "--cpus",
        fills="cpu_counts",
        type=option_types.whole_list,
        metavar="N[,M...]",
        help="pin the workers to N CPUs (each count is its own set of points); the harness "
        "and broker keep to the other CPUs where there are any",
    )
    how = add_how_hard(
        swp,
        profile_help="; ".join(_describe_profile(p) for p in PROFILES.values())
        + f" (default: {DEFAULT_PROFILE}; quick suits CI)",
        repeats_least=1,
        repeats_help="at least this many repeats per point (more while the CI is wide, up to the profile's most); "
        "fewer than the profile's least: exactly this many",
    )
    option(
        how,
        "--rates",
        fills="rates",
        type=option_types.rates,
        metavar="R1,R2,...|auto",
        help="after the drain repeats, run every point open loop at these arrival rates (tasks/s), or auto: "
        "0.25, 0.5, 0.7, 0.85, 0.95 and 1.1 of each point's drain throughput; latency against offered load "
        "(default: none)",
    )
    add_arrival(how)
    option(
        how,
        "--check",
        fills="check",
        action="store_true",
        default=None,
        help="after the repeats, measure every point once more with a plain `celery -A APP worker` (as run "
        "--reference does) and compare: check.json and a section of report.md (default: off)",
    )
    add_traffic_options(swp, seed=False)
    add_task_options(swp)
    add_worker_options(swp)
    add_shutdown_options(swp)
    add_limit_options(swp)
    add_deploy_options(swp)
    add_broker_options(swp, listen=True)
    add_hosts(swp, counts=True)
    where = swp.add_argument_group("output")
    add_output_dir(where, "the sweep's directory is made in here")
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


def add_profile(sub: Subcommands) -> None:
    prof = sub.add_parser(
        "profile",
        help="what your task is made of (CPU, waiting, memory), and the pool and -c it predicts",
        description=(
            "Run your task alone (solo pool, one call at a time) in a fresh worker and report per call: wall "
            "service time, CPU time, the waiting share (wall - CPU) and memory growth over the calls. Then "
            "run it under threads, with enough threads to use every core, to tell whether its CPU releases "
            "the GIL, and, with --memory-budget or --uptime, under prefork at -c 1 and 3 (a few seconds "
            "each, after 1,200 calls of warm-up) for what a child adds to the worker's memory (PSS) and how "
            "much it keeps per call. From that, predict per pool the -c where throughput stops growing on "
            "this machine and the throughput there (processes: cores x (1 + W/C); one-process pools: 1/C; "
            "threads: cores/C if it releases the GIL, 1/C if it holds it, both if the probe cannot tell), "
            "the favoured pool, and the memory that -c needs after --uptime with the largest -c within "
            "--memory-budget; and, where `advise` has measured Celery's own per-task cost on this machine "
            "and broker (it caches it), the model's -c and throughput per pool with that cost in. "
            "Writes the profile as JSON; `run`/`sweep --from-profile` use it for the task's estimated "
            "ceiling. Exit 0: profiled; 1: the task failed or went missing; 2: bad input."
        ),
    )
    add_task_options(prof, from_profile=False)
    option(
        prof, "--calls", fills="tasks", type=option_types.whole(3), help=f"calls measured (default: {DEFAULT_CALLS})"
    )
    option(
        prof,
        "--warmup",
        fills="warmup",
        type=option_types.whole(0),
        help=f"calls run and discarded first (default: {DEFAULT_WARMUP})",
    )
    add_memory_budget(
        prof,
        "the most memory the worker may hold, e.g. 1GiB (its process tree's PSS): per pool, the largest -c up "
        "to the predicted one that fits it after --uptime (default: none). With it or --uptime, profile runs "
        "the task under prefork at -c 1 and 3 (about half a minute) to measure what each pool's -c needs",
    )
    add_broker_options(prof)
    prof.add_argument("--json", metavar="PATH", help="write the profile here (default: results/profile-TASK.json)")


def add_ab(sub: Subcommands) -> None:
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
            "interpreter when the path exists, else a revision. Your own task (--app, --task, its arguments, or a "
            "scenario file) is imported by each side from the same place in its own worktree; it is profiled on "
            "the baseline first (unless --from-profile), so both sides run the same batches. "
            "Exit codes as for compare."
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
    add_points(
        ab,
        "the points (as for sweep)",
        pools=AB_POOLS[0],
        workloads=AB_WORKLOADS[0],
        concurrency_help="comma-separated -c values",
    )
    add_how_hard(
        ab,
        profile_help=f"as for sweep (default: {AB_PROFILE})",
        repeats_least=3,
        repeats_help="repeats a side per point, at least 3 (default: the profile's least)",
    )
    option(
        ab,
        "--rates",
        fills="rates",
        type=option_types.fixed_rates,
        metavar="R1,R2,...",
        help="after the drain repeats, run every point open loop at these arrival rates (tasks/s), both sides "
        "interleaved as the drain repeats are, and decide on the sojourn p99 at each rate as well as on "
        "throughput (default: none)",
    )
    add_task_options(ab)
    add_worker_options(ab)
    add_broker_options(ab)
    decide = ab.add_argument_group("the decision (as for compare)")
    add_decision(decide)
    decide.add_argument("--fail-on-unstable", action="store_true", help="exit 3 when a point is too unstable")
    add_output_dir(ab.add_argument_group("output"), "ab-<stamp>/ is made in here")


def add_advise(sub: Subcommands) -> None:
    adv = sub.add_parser(
        "advise",
        help="one command from your task to a worker command line: which pool, what -c",
        description=(
            "Profile the task alone; measure Celery's own per-task cost per pool on this machine (cached); "
            "predict every pool's throughput at every -c with a queueing model (exact Mean Value Analysis); "
            "then measure only what decides the answer: each promising pool's predicted knee and its "
            "neighbours, until its best -c is bracketed. With --rate and --slo the winner is also run at "
            "that arrival rate; with --memory-budget its memory must fit. Prints the `celery worker` "
            "command line with the expected throughput and its 95% CI, the runner-up, and the model "
            "against what was measured; writes advise.json, advise.md, advise.html and advise.png, "
            "beside the measured points as a sweep directory (`report` reads it). "
            "Exit 0: advised; 1: a run failed, or nothing met the objective or the budget; 2: bad input."
        ),
    )
    what = adv.add_argument_group("what to advise on")
    option(
        what,
        "--workload",
        "-w",
        fills="workloads",
        type=option_types.one_name(WORKLOADS),
        metavar="NAME",
        help="a built-in workload instead of your task (as for run; default: sleep)",
    )
    add_task_ms(what)
    add_pools(what, f"comma-separated pools to consider (default: {','.join(DEFAULT_POOLS)})")
    goal = adv.add_argument_group("what the answer must meet")
    goal.add_argument(
        "--slo",
        type=option_types.slo,
        action="append",
        metavar="pNN=DURATION",
        help="a latency objective on the sojourn at --rate, e.g. p99=200ms (repeatable; needs --rate)",
    )
    goal.add_argument(
        "--rate",
        type=option_types.positive_number("--rate"),
        metavar="R",
        help="the arrival rate (tasks/s) the worker must serve: the winner runs open loop at it (default: none)",
    )
    goal.add_argument(
        "--memory-budget",
        type=option_types.size_bytes,
        metavar="SIZE",
        help="the most memory the worker may use, e.g. 2GiB (its process tree's peak PSS; default: none); "
        "also, per pool measured, the largest -c up to its answer within it after --uptime",
    )
    add_uptime(goal)
    how = adv.add_argument_group("how hard")
    option(
        how,
        "--repeats",
        fills="repeats",
        type=option_types.whole(1),
        help="fresh workers per measured point (default: 3)",
    )
    how.add_argument(
        "--refresh-overheads",
        action="store_true",
        help="measure Celery's per-task cost again even when this machine's is cached",
    )
    add_task_options(adv, from_profile=True)
    add_worker_options(adv)
    add_broker_options(adv)
    add_output_dir(adv.add_argument_group("output"), "advise-<stamp>/ is made in here")
