"""The options of soaks and of the workloads that test memory and stalls
by construction (issue 25), checked: build_run_config calls these, so each
rule and its message is written once, apart from the record they fill."""

from bench.errors import UsageError
from bench.results.words import recycles_nothing_words
from bench.workloads import DEFAULT_STUCK_P, LEAK_KIB, slots


def check_recycling(pool: str, max_tasks_per_child: int, max_memory_per_child_kib: int = 0) -> None:
    """run --max-tasks-per-child and --max-memory-per-child: only prefork
    replaces its pool processes; the other pools run every task in the
    worker's own process, which Celery never replaces (celery/celery#6312),
    so the settings would do nothing there. (A sweep leaves out its points
    that would set them there, in one line: sweep/plan.py.)"""
    for flag, value in (
        ("--max-tasks-per-child", max_tasks_per_child),
        ("--max-memory-per-child", max_memory_per_child_kib),
    ):
        if value and pool != "prefork":
            raise UsageError(f"{flag}: {recycles_nothing_words(pool)}; use --pool prefork or leave it out")


MAX_LEAK_KIB = 1024 * 1024  # 1 GiB a call: more is an OOM kill, not a leak to measure


def check_test_workloads(
    workload: str, leak_kib: int | None, stuck_p: float | None, rate: float | None = None, hosts: object = None
) -> tuple[int | None, float | None]:
    """(leak_kib, stuck_p) of the leak and stuck workloads, checked and
    defaulted; (None, None) for the others (which refuse them)."""
    if leak_kib is not None and workload != "leak":
        raise UsageError("--leak-kib: sizes the leak workload's blocks; give --workload leak too")
    if stuck_p is not None and workload != "stuck":
        raise UsageError("--stuck-p: the chance a task of the stuck workload blocks; give --workload stuck too")
    if leak_kib is not None and hosts:
        raise UsageError("--leak-kib: sizes the leak of the workers started here for now; leave out --hosts")
    if workload == "leak":
        leak_kib = LEAK_KIB if leak_kib is None else leak_kib
        if not 1 <= leak_kib <= MAX_LEAK_KIB:
            raise UsageError(f"--leak-kib: must be between 1 and {MAX_LEAK_KIB} KiB, got {leak_kib}")
    if workload == "stuck":
        stuck_p = DEFAULT_STUCK_P if stuck_p is None else stuck_p
        if not 0 <= stuck_p <= 1:
            raise UsageError(f"--stuck-p: must be a probability, between 0 and 1, got {stuck_p:g}")
        if rate is not None or hosts:
            raise UsageError("--workload stuck: drained runs here only for now; leave out --rate and --hosts")
    return leak_kib, stuck_p


MAX_SOAK_S = 24 * 3600.0
# A soak's backlog: enough tasks in flight that the harness's round trip (a report read, a task sent in its
# place) never starves the slots and their prefetch (measured: prefork -c 2 of 10 ms tasks ran at 47/s with
# 20 in flight, 130/s with 100, on a loaded machine)
BACKLOG_PER_SLOT, MIN_BACKLOG = 10, 100


def default_backlog(pool: str, concurrency: int, workers: int = 1) -> int:
    return max(MIN_BACKLOG, BACKLOG_PER_SLOT * slots(pool, concurrency) * workers)


# An open loop this long or longer is a soak: its tasks are counted, not recorded one by one (a 10-minute
# run at 500 tasks/s would keep 300,000 records and write them all in its document)
OPEN_SOAK_FROM_S = 300.0
OPEN_SOAK_MAX_WARMUP_S = 60.0  # an open-loop soak's warm-up: a fifth of its duration, at most this


def soak_duration(
    rate, duration, backlog, tasks, user_task, traffic, hosts, deploy, stuck_p, limited=False, asked=False
) -> float | None:
    """A soak's length, checked: --duration without --rate (a closed loop
    that keeps --backlog tasks in flight), or with --rate and at least
    OPEN_SOAK_FROM_S or `asked` (--soak: an open loop); None: not a soak."""
    if asked and (rate is None or duration is None):
        raise UsageError(
            "--soak: makes a run at --rate a soak; give --rate and --duration (without --rate, "
            "--duration alone is a soak)"
        )
    if duration is None or (rate is not None and duration < OPEN_SOAK_FROM_S and not asked):
        if backlog is not None:
            raise UsageError("--backlog: the tasks a soak keeps in flight; give --duration (without --rate) too")
        return None
    if rate is not None and backlog is not None:
        raise UsageError("--backlog: a closed-loop soak's; with --rate the tasks arrive on the schedule")
    soak = f"--rate with --duration of {OPEN_SOAK_FROM_S / 60:g} min or more"
    if rate is None:
        soak = "--duration without --rate"
    elif duration < OPEN_SOAK_FROM_S:
        soak = "--soak"
    refused = [
        ("--tasks", tasks is not None),
        ("--app/--task", user_task is not None),
        ("--traffic", traffic is not None),
        ("--hosts", bool(hosts)),
        ("a deploy event", deploy is not None),
        ("--workload stuck", stuck_p is not None),
        ("--cpu-limit/--memory-limit", limited),
    ]
    for what, given in refused:
        if given:
            raise UsageError(f"{soak}: a soak of the built-in workloads here; leave out {what}")
    if not 0 < duration <= MAX_SOAK_S:
        raise UsageError(f"--duration: a soak lasts above 0 and at most {MAX_SOAK_S / 3600:g} h, got {duration:g} s")
    return float(duration)
