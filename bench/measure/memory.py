"""Each worker process's memory over the measured window, sampled on a
thread (psutil): RSS, USS and PSS (`memory_full_info`) and CPU of every
process of every worker tree, pool children included, as they are born
and die. bench/analysis/memory.py fits its growth.

The state is bounded: at most MAX_SNAPSHOTS samples are kept; past that,
every second one is dropped and only every second sample is kept from
then on (so a long run's samples stay evenly spaced, at twice the
interval, then four times...). Every process's first and last sight is
kept whatever is dropped (a few numbers a process). A kept sample is
packed into one array of floats: as objects (a tuple of named tuples of
boxed ints, and a dict of counts), 256 of a prefork -c 2 soak's took
360 KiB (tracemalloc), and the soak's RSS rose for its first 4 minutes
as they filled; packed, 114 KiB."""

import contextlib
import math
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping

import psutil

from bench.analysis.memory import Book, MemorySeries, Reading, Snapshot, lives, note
from bench.harness.process import tree
from bench.measure.config import RunConfig
from bench.workloads import expected_rate

# Samples kept: 4 minutes at 1 s, then thinned. Few enough that the harness's own memory holding them
# levels off within a soak's first minutes (at 1,024 it rose for 17 minutes, +1.7 MiB over a 30-minute
# soak), and plenty for a slope (the fits' cost grows as its square)
MAX_SNAPSHOTS = 256
INTERVAL_S = 1.0  # s between samples in a long window
MIN_INTERVAL_S = 0.2  # s: the shortest, in a window of a few seconds (psutil reads /proc/PID/smaps_rollup)
SAMPLES_PER_WINDOW = 25  # a short window is sampled about this many times
RECENT = 16  # the last samples kept whatever the thinning: a soak writes each second's last one in its row


def sample_interval(expected_window_s: float) -> float:
    """Once a second, or about SAMPLES_PER_WINDOW times in a window
    expected to be shorter than that many seconds (at most every
    MIN_INTERVAL_S): a fit needs samples."""
    return min(INTERVAL_S, max(MIN_INTERVAL_S, expected_window_s / SAMPLES_PER_WINDOW))


def interval_for(cfg: RunConfig) -> float:
    """The sample interval of a run of `cfg`: from its schedule's length
    (open loop), a soak's, or its batch's at the expected rate."""
    if cfg.schedule is not None:
        return sample_interval(cfg.schedule.warmup_s + cfg.schedule.duration_s)
    if cfg.soak_s is not None:
        return sample_interval(cfg.soak_s)
    rate = expected_rate(
        cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, workers=cfg.workers, cpu_limit=cfg.cpu_limit
    )
    return sample_interval(cfg.tasks / rate)


def read_trees(roots: list[int]) -> tuple[Reading, ...]:
    """Every process of the worker trees whose main processes are `roots`
    (in node order), now; a process that ends while it is read is left out."""
    readings = []
    for node, root in enumerate(roots):
        for proc in tree(root):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                readings.append(read_process(proc, node, proc.pid == root))
    return tuple(readings)


def read_process(proc: psutil.Process, node: int = 0, main: bool = False) -> Reading:
    """One process's memory and CPU now (psutil.NoSuchProcess if it is gone)."""
    with proc.oneshot():
        cpu = proc.cpu_times()
        try:
            full = proc.memory_full_info()
            rss, uss, pss = full.rss, full.uss, getattr(full, "pss", None)
        except psutil.AccessDenied:
            rss, uss, pss = proc.memory_info().rss, None, None
    return Reading(proc.pid, node, main, rss, uss, pss, cpu.user + cpu.system)


class ProcessSampler:
    """Samples every process of the worker trees every `interval_s` between
    `start()` and `stop()`, on a thread; `stop()` returns the series."""

    def __init__(
        self,
        worker_pids: list[int],
        interval_s: float = INTERVAL_S,
        max_snapshots: int = MAX_SNAPSHOTS,
        counts: Callable[[], Mapping[tuple[int, int], int]] | None = None,
    ):
        self.roots = list(worker_pids)
        self.counts = counts  # a soak's tasks completed per (node, pid) so far, kept with each sample
        self.recent: deque[Snapshot] = deque(maxlen=RECENT)  # the last samples, kept or thinned (a soak's rows)
        self.interval_s = interval_s
        self.max_snapshots = max_snapshots
        self._snapshots: list[array] = []  # packed (_pack)
        self._book: Book = {}
        self._stride = 1  # keep every stride-th sample
        self._taken = 0
        self._harness = psutil.Process()  # this process: its memory must not grow with the run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def _sample(self, keep: bool = False) -> float:
        done = None if self.counts is None else dict(self.counts())
        snap = Snapshot(time.monotonic(), read_trees(self.roots), read_process(self._harness), done)
        note(self._book, snap)
        self.recent.append(snap)
        if keep or self._taken % self._stride == 0:
            self._snapshots.append(_pack(snap))
            if len(self._snapshots) > self.max_snapshots:
                self._snapshots = self._snapshots[::2]
                self._stride *= 2
        self._taken += 1
        return snap.t

    def _loop(self) -> None:
        # absolute deadlines: the time a sample takes does not stretch the interval
        due = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self._sample()
            due += self.interval_s

    def start(self) -> "ProcessSampler":
        self._start_t = self._sample(keep=True)
        self._thread.start()
        return self

    def stop(self) -> MemorySeries:
        self._stop.set()
        self._thread.join(timeout=10)
        end_t = self._sample(keep=True)
        interval = self.interval_s * self._stride
        return MemorySeries(interval, self._start_t, end_t, self.kept(), lives(self._book, end_t))

    def kept(self) -> tuple[Snapshot, ...]:
        """The samples kept so far, unpacked."""
        return tuple(_unpack(packed) for packed in self._snapshots)


READING_FIELDS = len(Reading._fields)


def _pack(snap: Snapshot) -> array:
    """A sample as one array of floats (exact for ints below 2**53; None as
    NaN): t, the counts of readings, of harness readings (0 or 1) and of
    done entries, then each reading's fields, the harness's, and each done
    entry's node, pid and count."""
    own = () if snap.harness is None else (snap.harness,)
    done = () if snap.done is None else tuple(snap.done.items())
    values = [snap.t, len(snap.readings), len(own), -1 if snap.done is None else len(done)]
    for reading in (*snap.readings, *own):
        values.extend(math.nan if v is None else float(v) for v in reading)
    for (node, pid), count in done:
        values.extend((node, pid, count))
    return array("d", values)


def _unpack(packed: array) -> Snapshot:
    t, readings, own, done_n = packed[0], int(packed[1]), int(packed[2]), int(packed[3])

    def reading(i: int) -> Reading:
        v = packed[4 + i * READING_FIELDS : 4 + (i + 1) * READING_FIELDS]
        pid, node, main, rss, uss, pss, cpu = v
        return Reading(
            int(pid), int(node), bool(main), int(rss),
            None if math.isnan(uss) else int(uss), None if math.isnan(pss) else int(pss), cpu,
        )  # fmt: skip

    at = 4 + (readings + own) * READING_FIELDS
    done = None
    if done_n >= 0:
        triples = packed[at : at + 3 * done_n]
        done = {(int(triples[k]), int(triples[k + 1])): int(triples[k + 2]) for k in range(0, len(triples), 3)}
    return Snapshot(t, tuple(reading(i) for i in range(readings)), reading(readings) if own else None, done)
