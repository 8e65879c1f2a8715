"""The plan of a sweep: which points, in how many repeats, with how many
tasks each. Pure functions of the options and the machine's core count."""

import itertools
import math
import os
import random
import re
from dataclasses import asdict, dataclass, replace

from bench.errors import UsageError
from bench.harness import machine
from bench.harness.urls import redact
from bench.measure.config import (
    DEFAULT_PREFETCH_MULTIPLIER,
    DEFAULT_RESULT_BACKEND,
    DEFAULT_WORKLOAD,
    USER_TASK_WORKLOAD,
    build_run_config,
    check_listen,
    check_pools,
    check_task_ms,
    check_workloads,
    default_tasks,
    default_warmup,
    run_workload,
)
from bench.measure.settings import label, parse_value
from bench.results.schema import point_name
from bench.results.words import host_words
from bench.workloads import POOLS, WORKLOADS, expected_rate

# The defaults of a sweep's options, written only here.
DEFAULT_POOLS = POOLS
DEFAULT_WORKLOADS = ("cpu", "sleep")
DEFAULT_PROFILE = "standard"
# Whole-process costs of one repeat outside its measured window, for the
# estimate only (seconds): the worker's boot (its stop overlaps the next
# boot: measure/crew.py), and publishing one task.
REPEAT_OVERHEAD_S = 0.5
# ... and what a repeat on agents adds (bench/fleet: the clock probes, the
# lease, the records sent home; measured 3.4 to 4.3 s a repeat on 2 hosts).
FLEET_REPEAT_OVERHEAD_S = 4.0
PUBLISH_S_PER_TASK = 0.0006


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


def default_concurrency(pool, cores, step=2):
    """-c values for a pool on `cores` cores, on a log scale: always 1, the
    core count and twice it; prefork up to 8x cores, the green pools (whose
    workers are greenlets) and threads into the hundreds (Celery's threads
    pool is a ThreadPoolExecutor of -c threads); solo only 1, since it runs one
    task at a time whatever -c says. Past 2x cores, -c grows `step`-fold."""
    if pool == "solo":
        return [1]
    cores = max(1, int(cores))
    top = 8 * cores if pool == "prefork" else max(256, 32 * cores)
    values = {1, cores, 2 * cores, top}
    values.update(2**k for k in range(int(math.log2(2 * cores)) + 1))
    value = 2 * cores
    while value <= top:
        values.add(value)
        value *= step
    return sorted(v for v in values if v <= top)


@dataclass(frozen=True)
class Point:
    pool: str
    concurrency: int
    workload: str
    task_ms: float | None
    cpus: tuple[int, ...] | None  # the worker's pinned CPUs; None: all usable
    cores: float  # what ceilings and the -c list are based on
    tasks: int  # per repeat, over all the workers
    warmup: int  # per worker
    task: str | None = None  # a user's task: its registered name (workload "task")
    profile: tuple[float, float] | None = None  # a user's task: (CPU s, waiting s) per call, from its profile
    workers: int = 1  # worker nodes, each with the pool and -c
    # The varied settings (--vary) other than workers: (name, value as
    # written), in the order the axes were given; () when nothing varies.
    settings: tuple[tuple[str, str], ...] = ()
    host_count: int | None = None  # --host-counts: runs on the first this many of --hosts; None: on all (or here)

    @property
    def spec(self):
        """The point's Workload (a user's task sized by its profile)."""
        if self.workload != USER_TASK_WORKLOAD:
            return WORKLOADS[self.workload]
        return run_workload(self.workload, _Named(self.task), self.profile)

    @property
    def key(self):
        """The point's name, also its directory: workers and settings only
        where they are set, so a sweep without them keeps its old keys."""
        pinned = len(self.cpus) if self.cpus else None
        shape = f"-w{self.workers}" if self.workers != 1 else ""
        fleet = f"-hosts{self.host_count}" if self.host_count is not None else ""
        varied = "".join(f"-{name}={_slug(text)}" for name, text in self.settings)
        return point_name(self.workload, self.task_ms, self.pool, self.concurrency, pinned) + shape + fleet + varied

    @property
    def variant(self):
        """What, besides the pool, tells this point's curve from the others
        in its figure: "2 workers", "prefetch_multiplier=1"; "" for none."""
        parts = [f"{self.workers} workers"] if self.workers != 1 else []
        parts += [host_words(self.host_count)] if self.host_count is not None else []
        parts += [label(name, text) for name, text in self.settings]
        return ", ".join(parts)

    @property
    def total_concurrency(self):
        """-c over all the workers: what shapes of one size share."""
        return self.concurrency * self.workers

    def stored(self):
        """The point as its files hold it: broker URLs in its settings
        without their passwords (the key stays the same)."""
        return replace(self, settings=tuple((name, redact(text)) for name, text in self.settings))

    def to_json(self):
        out = asdict(self)
        out["cpus"] = list(self.cpus) if self.cpus else None
        out["settings"] = [[name, redact(text)] for name, text in self.settings]  # no broker password on disk
        out["key"] = self.key
        out["variant"] = self.variant
        out["total_concurrency"] = self.total_concurrency
        return out

    @classmethod
    def from_json(cls, data):
        fields = {k: v for k, v in data.items() if k not in ("key", "variant", "total_concurrency")}
        fields["cpus"] = tuple(fields["cpus"]) if fields["cpus"] else None
        fields["settings"] = tuple(tuple(pair) for pair in fields.get("settings") or ())
        if fields.get("profile") is not None:
            fields["profile"] = tuple(fields["profile"])
        return cls(**fields)


def _slug(text):
    """A setting's value as part of a directory name (a URL without its
    password, with / and : made safe)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", redact(text)).strip("_")


@dataclass(frozen=True)
class _Named:
    task: str  # what run_workload needs of a user's task: its name


def pinned_cpus(count, available):
    """The last `count` of the available CPU ids, so the harness and the
    broker can keep the first ones to themselves."""
    available = sorted(available)
    if not 1 <= count <= len(available):
        raise UsageError(f"--cpus: {count} is not between 1 and the {len(available)} CPUs this process may use")
    return tuple(available[-count:])


def variants(vary=()):
    """Every combination of the varied settings, as (workers, other settings):
    `vary` is ((name, (value, ...)), ...); the axes cross."""
    axes = [[(name, v) for v in values] for name, values in vary]
    out = []
    for combo in itertools.product(*axes):
        workers = next((int(v) for n, v in combo if n == "workers"), 1)
        out.append((workers, tuple((n, v) for n, v in combo if n != "workers")))
    return out


def build_plan(
    pools,
    workloads,
    profile,
    cores,
    available_cpus,
    concurrency=None,
    task_ms=None,
    cpu_counts=None,
    user_task=None,
    task_profile=None,
    overhead=False,
    vary=(),
    host_counts=None,
):
    """Every point of the sweep, in a stable order (runs are shuffled later).
    With `user_task` (its name), the one workload is that task, sized by
    `task_profile` (CPU s, waiting s) when there is one. `overhead`: add one
    noop point per pool (a new sweep's default matrix). `vary`: the --vary
    axes, ((name, (value as written, ...)), ...). `host_counts`: each point
    once per count k, on the first k agents (its tasks scaled by k, so the
    window keeps its length on k hosts)."""
    if user_task is not None:
        return _user_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, user_task, task_profile)
    check_pools(pools, "--pools")
    check_workloads(workloads, "--workloads")
    check_task_ms(task_ms, workloads)
    placements = [(None, cores)] if not cpu_counts else [(pinned_cpus(n, available_cpus), float(n)) for n in cpu_counts]
    points = []
    for cpus, point_cores in placements:
        for name in workloads:
            workload = WORKLOADS[name]
            size = (task_ms if task_ms is not None else workload.default_task_ms) if workload.sized else None
            for pool in pools:
                values = (
                    [1] if pool == "solo" else (concurrency or default_concurrency(pool, point_cores, profile.stride))
                )
                for c in values:
                    for (workers, varied), hosts in itertools.product(variants(vary), host_counts or (None,)):
                        # Each host has cores of its own: k hosts take k times one host's batch.
                        window = profile.window_s
                        tasks = default_tasks(name, pool, c, size, point_cores, window_s=window, workers=workers)
                        tasks *= hosts or 1
                        rate = expected_rate(workload, pool, c, size, point_cores)  # of one worker
                        warmup = default_warmup(pool, c, tasks, rate)
                        point = Point(
                            pool,
                            c,
                            name,
                            size,
                            cpus,
                            point_cores,
                            tasks,
                            warmup,
                            workers=workers,
                            settings=varied,
                            host_count=hosts,
                        )
                        points.append(point)
        if overhead and OVERHEAD_WORKLOAD not in workloads:
            # One noop point per pool: Celery's own per-task cost on this
            # machine, the second ceiling the report draws and divides by.
            for pool in pools:
                c = overhead_concurrency(pool, point_cores)
                tasks = default_tasks(OVERHEAD_WORKLOAD, pool, c, None, point_cores, window_s=profile.window_s)
                rate = expected_rate(WORKLOADS[OVERHEAD_WORKLOAD], pool, c, None, point_cores)
                warmup = default_warmup(pool, c, tasks, rate)
                points.append(Point(pool, c, OVERHEAD_WORKLOAD, None, cpus, point_cores, tasks, warmup))
    return points


OVERHEAD_WORKLOAD = "noop"


def overhead_concurrency(pool, cores):
    """The -c of a pool's noop point: one process per core for prefork (a
    noop is all CPU: more processes only contend), twice the cores for the
    pools of one process (enough prefetched tasks to keep it busy), 1 for solo."""
    if pool == "solo":
        return 1
    cores = max(1, int(cores))
    return cores if pool == "prefork" else 2 * cores


def _user_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, task, task_profile):
    check_pools(pools, "--pools")
    placements = [(None, cores)] if not cpu_counts else [(pinned_cpus(n, available_cpus), float(n)) for n in cpu_counts]
    spec = run_workload(USER_TASK_WORKLOAD, _Named(task), task_profile)
    size = spec.default_task_ms
    profile_pair = tuple(task_profile) if task_profile is not None else None
    points = []
    for cpus, point_cores in placements:
        for pool in pools:
            values = [1] if pool == "solo" else (concurrency or default_concurrency(pool, point_cores, profile.stride))
            for c in values:
                if size is not None:
                    rate = expected_rate(spec, pool, c, size, point_cores)
                    tasks = max(20, math.ceil(profile.window_s * rate), 4 * (1 if pool == "solo" else c))
                else:  # no profile: nothing says how long a call takes
                    tasks = max(20, 4 * (1 if pool == "solo" else c))
                    rate = 1000.0
                warmup = default_warmup(pool, c, tasks, rate)
                point = Point(pool, c, USER_TASK_WORKLOAD, size, cpus, point_cores, tasks, warmup, task, profile_pair)
                points.append(point)
    return points


def estimate_repeat_s(point):
    """Rough wall time of one repeat: boot and stop, publishing, and the
    warm-up and measured batches at the expected rate."""
    hosts = point.host_count or 1  # each with cores of its own
    rate = hosts * expected_rate(
        point.spec, point.pool, point.concurrency, point.task_ms, point.cores, workers=point.workers
    )
    warmup = point.warmup * point.workers * hosts
    work = (point.tasks + warmup) / rate
    publish = (point.tasks + warmup) * PUBLISH_S_PER_TASK
    return REPEAT_OVERHEAD_S * point.workers + work + publish


def estimate_s(points, repeats, fleet=False):
    """`fleet`: the points run on agents (--hosts)."""
    per_repeat = FLEET_REPEAT_OVERHEAD_S if fleet else 0.0
    return sum(estimate_repeat_s(p) + per_repeat for p in points) * repeats


def describe(points, profile, repeats_left=None, hosts=None):
    """The planned matrix as text, for the user to see before it starts;
    `profile`: its min_repeats and max_repeats are the plan's (a
    SweepConfig's, which --repeats sets, or a Profile's); for a resumed
    sweep (`repeats_left`), the estimate covers only those.
    `hosts`: the --hosts names, to say which agents each host count uses."""
    lines = []
    counts = sorted({p.host_count for p in points if p.host_count is not None})
    if counts:
        lines.append("  hosts per point: " + "; ".join(f"{host_words(k)}: {_first_hosts(hosts, k)}" for k in counts))
    groups = {}
    for p in points:
        groups.setdefault((p.workload, p.task_ms, p.pool, p.cpus, p.variant), []).append(p.concurrency)
    for (workload, task_ms, pool, cpus, variant), values in groups.items():
        size = f" {task_ms:g} ms" if task_ms is not None else ""
        pin = f" on {len(cpus)} pinned CPU(s) {list(cpus)}" if cpus else ""
        note = "  (solo runs one task at a time: -c 1 only)" if pool == "solo" else ""
        shape = f"  [{variant}]" if variant else ""
        if workload == OVERHEAD_WORKLOAD:
            note = "  (Celery's own per-task cost: the no-op rate, a second ceiling)"
        lines.append(f"  {workload + size:<14} {pool:<9} -c {','.join(map(str, values))}{pin}{shape}{note}")
    n = len(points)
    if repeats_left is not None:
        left_s = estimate_s(points, 1, fleet=bool(hosts)) / max(1, n) * repeats_left
        lines.append(f"  {n} point{'s' if n != 1 else ''}; {repeats_left} repeat{'s' if repeats_left != 1 else ''} "
                     f"left (at least); estimated {_duration(left_s)}")  # fmt: skip
        return "\n".join(lines)
    low = estimate_s(points, profile.min_repeats, fleet=bool(hosts))
    high = estimate_s(points, profile.max_repeats, fleet=bool(hosts))
    span = (
        f"{_duration(low)}" if profile.min_repeats == profile.max_repeats else f"{_duration(low)} to {_duration(high)}"
    )
    lines.append(
        f"  {n} point{'s' if n != 1 else ''} x {profile.min_repeats}"
        + (f"-{profile.max_repeats}" if profile.max_repeats != profile.min_repeats else "")
        + f" repeat{'s' if profile.max_repeats != 1 else ''} in fresh workers; estimated {span}"
    )
    return "\n".join(lines)


def _first_hosts(hosts, k):
    """Which agents k hosts are, in words."""
    if not hosts or tuple(hosts) == ("all",):
        return f"the first {k} (by name) of the agents that answer"
    return ",".join(hosts[:k])


def _duration(seconds):
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


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
    user_task: object = None  # apptask.UserTask: sweep a user's own task instead of the workloads
    app_info: object = None  # appinfo.AppInfo of its app (not stored: learned again from the app)
    task_profile: tuple[float, float] | None = None  # (CPU s, waiting s) per call, from its profile
    rates: tuple[float, ...] | str | None = None  # open-loop rates after the drain repeats; "auto"; None: none
    hosts: tuple[str, ...] | None = None  # agents the workers run on (run --hosts); None: here
    host_counts: tuple[int, ...] | None = None  # each point on the first k of `hosts`, per k; None: on all
    listen: str | None = None  # an address of this host the embedded broker binds too (--listen)
    listen_port: int | None = None  # --listen ADDRESS:PORT: the embedded broker's port; None: any free one
    check: bool = False  # --check: each point measured once more by a plain `celery worker` (sweep/check.py)

    def to_json(self):
        """The config as stored in the sweep's files: the broker's password
        redacted (a resume asks for the URL again), a user's task as its
        redacted description."""
        out = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in vars(self).items()
            if k not in ("user_task", "app_info")
        }
        out["broker_url"] = redact(self.broker_url)
        out["vary"] = [[name, [redact(v) for v in values]] for name, values in self.vary]
        if self.user_task is not None:
            out["user_task"] = self.user_task.to_json()
        return out

    @classmethod
    def from_json(cls, data):
        if data.get("user_task") is not None:
            raise UsageError(
                "--resume: a sweep of your own task cannot be resumed yet (its arguments are stored redacted); "
                "start it again"
            )
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "user_task"}
        fields["vary"] = tuple((name, tuple(values)) for name, values in data.get("vary") or ())
        return cls(**fields)


def build_sweep_config(
    *,
    pools=DEFAULT_POOLS,
    workloads=DEFAULT_WORKLOADS,
    concurrency=None,
    task_ms=None,
    cpu_counts=None,
    profile=DEFAULT_PROFILE,
    repeats=None,
    broker=None,
    redis_server=None,
    prefetch_multiplier=None,
    result_backend=DEFAULT_RESULT_BACKEND,
    seed=None,
    force=False,
    user_task=None,
    app_info=None,
    task_profile=None,
    rates=None,
    vary=(),
    workers=None,
    hosts=None,
    host_counts=None,
    listen=None,
    listen_port=None,
    check=False,
):
    """Validate a sweep's options and fill in the defaults (the only place
    they are written); the per-point checks run on each point (plan_sweep).
    `vary`: ((setting, (value as written, ...)), ...) from --vary;
    `workers`: the --workers list, the same as --vary workers=..."""
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
    if user_task is not None and vary:
        raise UsageError("--vary/--workers: not supported with a sweep of your own task yet; leave them out")
    if rates is not None and any(name == "workers" and values != ("1",) for name, values in vary):
        raise UsageError("--rates: open-loop runs drive one worker for now; leave out --workers (or --vary workers)")
    host_counts = check_host_counts(host_counts, hosts)
    check_listen(listen, broker)
    if check and hosts:
        raise UsageError("--check: the plain worker it compares with runs here; leave out --hosts")
    if prefetch_multiplier is None and user_task is None:
        # A user's app keeps its own setting unless --prefetch-multiplier is given, as in `run`.
        prefetch_multiplier = DEFAULT_PREFETCH_MULTIPLIER
    return SweepConfig(
        pools=tuple(pools),
        workloads=(USER_TASK_WORKLOAD,) if user_task is not None else tuple(workloads),
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
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        force=force,
        vary=vary,
        user_task=user_task,
        app_info=app_info,
        task_profile=tuple(task_profile) if task_profile is not None else None,
        rates=rates if rates in (None, "auto") else tuple(float(r) for r in rates),
        hosts=tuple(hosts) if hosts else None,
        host_counts=host_counts,
        listen=listen,
        listen_port=listen_port,
        check=bool(check),
    )


def check_host_counts(counts, hosts):
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


def check_vary(vary=(), workers=None):
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


def make_plan(cfg, overhead=False, cores=None):
    """The points of the sweep `cfg` on this machine (`cores`: on hosts
    with these usable cores instead); `overhead`: with one noop point per
    pool (a new sweep's report draws it as a second ceiling)."""
    return build_plan(
        cfg.pools,
        cfg.workloads,
        PROFILES[cfg.profile],
        cores or machine.usable_cores(),
        sorted(os.sched_getaffinity(0)),
        concurrency=cfg.concurrency,
        task_ms=cfg.task_ms,
        cpu_counts=cfg.cpu_counts,
        vary=cfg.vary,
        host_counts=cfg.host_counts,
        overhead=overhead,
        user_task=cfg.user_task.task if cfg.user_task is not None else None,
        task_profile=cfg.task_profile,
    )


def run_config_for(cfg, point, json_path=None, rate=None, duration=None, seed=0):
    """The validated config of one repeat of `point`, with the point's
    varied settings; `rate` (tasks/s, with `duration` s and the schedule's
    `seed`): open loop at that rate instead of the point's drain batch."""
    user = cfg.user_task is not None
    options = dict(
        prefetch_multiplier=cfg.prefetch_multiplier,
        broker=cfg.broker_url,
        redis_server=cfg.redis_server,
        result_backend=cfg.result_backend,
    )
    varied = point_settings(point)
    if varied.get("broker") is not None:
        options["redis_server"] = None  # the point's own broker, not the embedded one
    options.update(varied)
    return build_run_config(
        pool=point.pool,
        concurrency=point.concurrency,
        workload=DEFAULT_WORKLOAD if user else point.workload,
        task_ms=None if user else point.task_ms,
        user_task=cfg.user_task,
        app_info=cfg.app_info,
        task_profile=cfg.task_profile,
        tasks=point.tasks if rate is None else None,
        warmup=point.warmup if rate is None else None,
        rate=rate,
        duration=duration,
        seed=seed,
        json_path=json_path,
        force=cfg.force,
        cores=point.cores,
        cpus=point.cpus,
        workers=point.workers,
        **options,
        hosts=cfg.hosts,
        host_count=point.host_count,
    )


# The run options a varied setting replaces (workers is the point's own field).
_RUN_OPTIONS = {
    "prefetch_multiplier": "prefetch_multiplier",
    "result_backend": "result_backend",
    "broker": "broker",
    "acks_late": "acks_late",
    "max_tasks_per_child": "max_tasks_per_child",
}


def point_broker(cfg, point):
    """The broker URL a point runs on (None: the embedded one)."""
    for name, text in point.settings:
        if name == "broker":
            return parse_value(name, text)
    return cfg.broker_url


def point_settings(point):
    """The run options the point's varied settings set."""
    return {_RUN_OPTIONS[name]: parse_value(name, text) for name, text in point.settings}


def plan_sweep(cfg, cores=None):
    """The plan of a new sweep, every point's run options checked before
    anything starts (a -c above the safe limit is refused here, not an hour in).
    The default matrix (no --concurrency, no --task-ms) comes with one noop
    point per pool; a hand-picked matrix measures only what it names.
    `cores`: the usable cores of the hosts the workers run on (--hosts),
    when they are not this machine's."""
    plan = make_plan(cfg, overhead=cfg.concurrency is None and cfg.task_ms is None, cores=cores)
    for point in plan:
        run_config_for(cfg, point)
    return plan
