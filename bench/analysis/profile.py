"""What a task is made of, and the configuration it predicts: pure
functions over the per-call records of a task run alone (`profile`).

Per call: wall service time (start to end), CPU time of the task's thread,
and waiting = wall - CPU. From the medians, C (CPU) and W (waiting), the
-c where throughput should stop growing on `cores` cores, per pool:

- prefork (processes): the classic sizing N = cores x (1 + W/C), where the
  slots' limit N / (C + W) meets the cores' limit cores / C;
- gevent, eventlet (one process, one OS thread): the GIL bound 1 / C, met
  at c = 1 + W/C;
- threads: both bounds: 1 / C at c = 1 + W/C if its CPU work holds the
  GIL (pure Python), cores / C at c = cores x (1 + W/C) if it releases it;
- solo: one call at a time, 1 / (C + W), whatever -c says.

A task with no measurable CPU is bounded only by Celery's per-task
overhead: -c keeps helping until that overhead binds, which only a sweep
can find.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.analysis.stats import bootstrap_median, distribution

# Below this share of its wall time, a task's CPU does not bound anything
# the harness can predict (Celery's own overhead binds first).
MIN_CPU_SHARE = 0.01
UNSTABLE_CI = 0.10  # the profile is unstable when the 95% CI of the median wall time is wider than this
# On a tie in predicted throughput (within this), the cheaper pool wins:
# fewer processes, no monkey-patching.
TIE = 0.05
PREFERENCE = ("threads", "gevent", "eventlet", "prefork", "solo")


@dataclass(frozen=True)
class CallProfile:
    calls: int  # calls measured (after the warm-up)
    wall_p50_s: float  # median wall service time per call, s (start to end, worker side)
    wall_p90_s: float  # s
    cpu_p50_s: float  # median CPU time of the task's thread per call, s
    wait_p50_s: float  # median of (wall - CPU) per call, s
    waiting_share: float  # wait_p50 / wall_p50: the share of a call spent waiting
    wall_ci95_rel: float | None  # width of the bootstrap 95% CI of the median wall time, over the median
    rss_first_bytes: int | None  # the worker's RSS after the first measured call
    rss_last_bytes: int | None  # ... and after the last
    rss_growth_per_call_bytes: float | None  # least-squares slope of RSS over the calls (a leak shows here)

    @property
    def stable(self) -> bool:
        return self.wall_ci95_rel is not None and self.wall_ci95_rel <= UNSTABLE_CI

    @property
    def rss_growth_bytes(self) -> int | None:
        if self.rss_first_bytes is None or self.rss_last_bytes is None:
            return None
        return self.rss_last_bytes - self.rss_first_bytes


def _slope(values):
    n = len(values)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, math.fsum(values) / n
    num = math.fsum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = math.fsum((i - mean_x) ** 2 for i in range(n))
    return num / den


def profile_calls(
    wall_s: Sequence[float], cpu_s: Sequence[float], rss_bytes: Sequence[int | None] | None = None
) -> CallProfile:
    """The profile of calls measured one at a time: `wall_s` and `cpu_s` per
    call (same order), `rss_bytes` the process's RSS after each (or None)."""
    if not wall_s or len(wall_s) != len(cpu_s):
        raise ValueError("a profile needs the wall and CPU time of every call")
    waits = [max(0.0, w - c) for w, c in zip(wall_s, cpu_s, strict=True)]
    wall = distribution(wall_s)
    est = bootstrap_median(wall_s) if len(wall_s) >= 3 else None
    rel = est.ci_rel_width if est is not None else None
    rss = [r for r in (rss_bytes or []) if r is not None]
    cpu_p50 = distribution(cpu_s).p50
    wait_p50 = distribution(waits).p50
    # every call has its times (checked above): none of these is None
    assert wall.p50 is not None
    assert wall.p90 is not None
    assert cpu_p50 is not None
    assert wait_p50 is not None
    return CallProfile(
        calls=len(wall_s),
        wall_p50_s=wall.p50,
        wall_p90_s=wall.p90,
        cpu_p50_s=cpu_p50,
        wait_p50_s=wait_p50,
        waiting_share=wait_p50 / wall.p50 if wall.p50 else 0.0,
        wall_ci95_rel=rel,
        rss_first_bytes=rss[0] if rss else None,
        rss_last_bytes=rss[-1] if rss else None,
        rss_growth_per_call_bytes=_slope(rss),
    )


@dataclass(frozen=True)
class PoolPrediction:
    pool: str
    best_c: int | None  # the -c where throughput should stop growing; None: only Celery's overhead stops it
    per_s: float | None  # the predicted throughput there, tasks/s; None: bounded by overhead only
    basis: str  # the formula, with the numbers
    # threads only: the bound if the task's CPU releases the GIL (C extensions, I/O in C)
    best_c_if_gil_released: int | None = None
    per_s_if_gil_released: float | None = None


@dataclass(frozen=True)
class Prediction:
    cpu_s: float  # C: CPU per call, s
    wait_s: float  # W: waiting per call, s
    cores: float  # usable cores the prediction is for
    pools: tuple[PoolPrediction, ...]
    favoured: str  # the pool the prediction favours
    reason: str  # why, in words


def _c(value):
    return max(1, math.ceil(value - 1e-9))


# Whether a task's CPU releases the GIL, measured: the task run under threads
# with enough threads to keep every core busy if its CPU runs side by side,
# and the task threads' CPU time summed over the window, in cores. Holding
# the GIL, only one thread computes at a time: at most one core. Told only
# where the cores, not Celery's own per-task cost, would bind a task
# releasing it (GIL_PROBE_MAX_RATE), and its threads offer the cores enough CPU.
GIL_PROBE_MAX_RATE = 250.0  # calls/s: releasing the GIL, the cores must bind well before Celery's own cost
GIL_RELEASED_ABOVE = 1.3  # cores of task CPU at once: only threads computing side by side reach this
GIL_HELD_BELOW = 1.05  # and at most this (a little C code runs outside the GIL in any task)
GIL_PROBE_MAX_THREADS = 64
GIL_PROBE_WINDOW_S = 2.0  # the probe's calls: about this long if the CPU runs side by side


@dataclass(frozen=True)
class GilProbe:
    releases_gil: bool | None  # None: the probe could not tell (or was not run)
    basis: str  # how it was told, with the numbers
    threads: int | None = None  # the threads pool's -c in the probe
    calls: int | None = None  # calls measured
    task_cpu_cores: float | None = None  # the task threads' CPU time summed over the window's wall time


def _probe_threads(cpu_s: float, wait_s: float, cores: float) -> int:
    """2 x cores x (1 + W/C): threads that offer the cores twice the CPU
    they have, so that a task releasing the GIL keeps every core busy even
    beside Celery's own work and the broker's (at cores x (1 + W/C), the
    thumbnails example used 1.32 cores; at twice that, 1.42)."""
    return min(GIL_PROBE_MAX_THREADS, _c(2 * cores * (1 + wait_s / cpu_s)))


def gil_not_probed(cpu_s: float, wait_s: float, cores: float) -> GilProbe | None:
    """Why the probe cannot tell here, as a verdict of None; None: it can."""
    if cores < 2:
        why = f"{cores:g} usable core: threads cannot compute side by side here to show it"
    elif cpu_s <= 0 or cores / cpu_s > GIL_PROBE_MAX_RATE:
        why = f"C = {cpu_s * 1000:.3g} ms a call: too little CPU to tell (Celery's own cost would bind first)"
    elif (threads := _probe_threads(cpu_s, wait_s, cores)) * cpu_s / (cpu_s + wait_s) < GIL_RELEASED_ABOVE + 0.2:
        why = f"its calls wait too long ({wait_s * 1000:.3g} ms a call) for {threads} threads to keep the cores busy"
    else:
        return None
    return GilProbe(None, why)


def gil_probe_size(cpu_s: float, wait_s: float, cores: float) -> tuple[int, int]:
    """(threads, calls) of the probe where gil_not_probed says it can tell:
    _probe_threads, and calls for about GIL_PROBE_WINDOW_S at the rate of a
    task releasing the GIL, at least four a thread."""
    threads = _probe_threads(cpu_s, wait_s, cores)
    rate = min(threads / (cpu_s + wait_s), cores / cpu_s)
    return threads, min(2000, max(4 * threads, math.ceil(GIL_PROBE_WINDOW_S * rate)))


def gil_verdict(task_cpu_s: Sequence[float], window_s: float, threads: int) -> GilProbe:
    """The probe's verdict from its calls' task-thread CPU times and the
    window (first start to last end) they ran in."""
    cores_used = sum(task_cpu_s) / window_s if window_s > 0 else 0.0
    said = f"{len(task_cpu_s)} calls under threads -c {threads}: the task threads used {cores_used:.2f} cores of CPU"
    if cores_used >= GIL_RELEASED_ABOVE:
        verdict: bool | None = True
        said += " at once: its CPU releases the GIL"
    elif cores_used <= GIL_HELD_BELOW:
        verdict = False
        said += ", never more than one: its CPU holds the GIL"
    else:
        verdict = None
        said += f": between {GIL_HELD_BELOW:g} and {GIL_RELEASED_ABOVE:g}, too close to one to tell"
    return GilProbe(verdict, said, threads, len(task_cpu_s), cores_used)


def _threads(cpu_s: float, ratio: float, cores: float, releases_gil: bool | None) -> PoolPrediction:
    holding = f"1 / C = {1 / cpu_s:.1f}/s at c = {ratio:.1f}"
    releasing = f"cores / C = {cores / cpu_s:.1f}/s at c = {cores * ratio:.1f}"
    if releases_gil:
        basis = f"its CPU releases the GIL (measured): {releasing}"
        return PoolPrediction("threads", _c(cores * ratio), cores / cpu_s, basis)
    if releases_gil is False:
        return PoolPrediction("threads", _c(ratio), 1 / cpu_s, f"its CPU holds the GIL (measured): {holding}")
    basis = f"CPU holding the GIL: {holding}; releasing it: {releasing}"
    return PoolPrediction("threads", _c(ratio), 1 / cpu_s, basis, _c(cores * ratio), cores / cpu_s)


def predict(cpu_s: float, wait_s: float, cores: float, releases_gil: bool | None = None) -> Prediction:
    """Per pool, the -c where throughput stops growing and the throughput
    there (see the module's docstring), and the favoured pool. Threads take
    the bound of `releases_gil` (the GIL probe's verdict); unknown (None),
    the one of a task holding it, as pure Python does, with the other beside it."""
    total = cpu_s + wait_s
    if total <= 0:
        raise ValueError("a prediction needs a positive service time")
    ms = lambda s: f"{s * 1000:.3g} ms"  # noqa: E731
    solo = PoolPrediction("solo", 1, 1 / total, f"1 / (C + W) = 1 / {ms(total)}: one call at a time")
    if cpu_s / total < MIN_CPU_SHARE:
        note = f"C = {ms(cpu_s)} is under {MIN_CPU_SHARE:.0%} of the call: no CPU bound; "
        note += "-c helps until Celery's per-task overhead binds (a sweep finds where)"
        pools = tuple(PoolPrediction(p, None, None, note) for p in ("prefork", "gevent", "eventlet", "threads"))
        return Prediction(
            cpu_s, wait_s, cores, (*pools, solo), "gevent", "the task only waits: the cheapest concurrency wins"
        )
    ratio = 1 + wait_s / cpu_s
    one = PoolPrediction
    pools = (
        one(
            "prefork",
            _c(cores * ratio),
            cores / cpu_s,
            f"N = cores x (1 + W/C) = {cores:g} x (1 + {ms(wait_s)}/{ms(cpu_s)}) = {cores * ratio:.1f}; "
            f"cores / C = {cores / cpu_s:.1f}/s",
        ),
        one("gevent", _c(ratio), 1 / cpu_s, f"GIL: 1 / C = {1 / cpu_s:.1f}/s, reached at c = 1 + W/C = {ratio:.1f}"),
        one("eventlet", _c(ratio), 1 / cpu_s, f"GIL: 1 / C = {1 / cpu_s:.1f}/s, reached at c = 1 + W/C = {ratio:.1f}"),
        _threads(cpu_s, ratio, cores, releases_gil),
        solo,
    )
    per_s = {p.pool: p.per_s for p in pools if p.per_s is not None}  # all of them: each has a CPU bound here
    best = max(per_s.values())
    tied = [pool for pool, rate in per_s.items() if rate >= best * (1 - TIE)]
    favoured = min(tied, key=PREFERENCE.index)
    if favoured == "prefork":
        reason = f"its CPU (C = {ms(cpu_s)}) is the bound, and only processes use all {cores:g} cores"
    else:
        reason = f"{', '.join(tied)} predict the same throughput; {favoured} is the cheapest of them"
    return Prediction(cpu_s, wait_s, cores, pools, favoured, reason)
