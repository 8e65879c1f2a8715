"""What the harness observes while a batch runs: the workers' per-task
records, and the CPU and memory of the worker tree, the harness and the
broker (psutil)."""

import contextlib
import json
import os
import threading
import time
from pathlib import Path

import psutil

from bench.harness.process import tree
from bench.results.schema import Resources


class RecordReader:
    """Reads the task records that worker processes append to their files
    (see bench/harness/recorder.py), picking up where it left off."""

    def __init__(self, record_dir: Path):
        self.record_dir = Path(record_dir)
        self._offsets: dict[Path, int] = {}  # bytes of each file already read
        self._partial: dict[Path, bytes] = {}  # an unfinished last line, per file

    def read_new(self):
        """The records written since the last call, as dicts."""
        out = []
        for path in sorted(self.record_dir.glob("tasks-*.jsonl")):
            with path.open("rb") as fh:
                fh.seek(self._offsets.get(path, 0))
                data = fh.read()
            if not data:
                continue
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
            data = self._partial.pop(path, b"") + data
            lines = data.split(b"\n")
            if lines[-1]:  # a line still being written: keep it for next time
                self._partial[path] = lines[-1]
            out.extend(json.loads(line) for line in lines[:-1] if line)
        return out


class ResourceSampler:
    """Samples the worker tree every `interval_s` on a thread, between
    `start()` and `stop()`. CPU comes from the kernel's per-process counters
    at the two ends; memory is the peak of the samples."""

    def __init__(self, worker_pid, broker_pid=None, cores=1.0, interval_s=0.25):
        self.worker_pid = worker_pid
        self.broker_pid = broker_pid
        self.cores = cores
        self.interval_s = interval_s
        self._procs = {}  # pid -> psutil.Process, kept so dead children keep their last figures
        self._last = {}  # pid -> (cpu_s, ctx_vol, ctx_invol)
        self._first = {}
        self._peak = {"uss": None, "pss": None, "rss": 0, "n": 0}
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)

    def _cpu_snapshot(self, with_memory):
        totals = {"uss": 0, "pss": 0, "rss": 0}
        have_full = True
        members = tree(self.worker_pid)
        for proc in members:
            proc = self._procs.setdefault(proc.pid, proc)
            try:
                with proc.oneshot():
                    cpu = proc.cpu_times()
                    ctx = proc.num_ctx_switches()
                    self._last[proc.pid] = (cpu.user + cpu.system, ctx.voluntary, ctx.involuntary)
                    if with_memory:
                        try:
                            mem = proc.memory_full_info()
                            totals["uss"] += mem.uss
                            totals["pss"] += getattr(mem, "pss", 0)
                            totals["rss"] += mem.rss
                        except psutil.AccessDenied:
                            have_full = False
                            totals["rss"] += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        if with_memory:
            self._samples += 1
            if have_full:
                for key in ("uss", "pss"):
                    self._peak[key] = max(self._peak[key] or 0, totals[key])
            self._peak["rss"] = max(self._peak["rss"], totals["rss"])
            self._peak["n"] = max(self._peak["n"], len(members))

    def _loop(self):
        while not self._stop.wait(self.interval_s):
            self._cpu_snapshot(with_memory=True)

    @staticmethod
    def _cpu_of(pid):
        if pid is None:
            return None
        with contextlib.suppress(psutil.Error):
            cpu = psutil.Process(pid).cpu_times()
            return cpu.user + cpu.system
        return None

    def start(self):
        self._t0 = time.monotonic()
        self._cpu_snapshot(with_memory=True)
        self._first = dict(self._last)
        self._harness0 = self._cpu_of(os.getpid())
        self._broker0 = self._cpu_of(self.broker_pid)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)
        self._cpu_snapshot(with_memory=True)
        window = time.monotonic() - self._t0
        # A process born in the window counts from zero; one that died keeps
        # its last sampled counters.
        cpu = ctx_v = ctx_i = 0.0
        for pid, (c, v, i) in self._last.items():
            c0, v0, i0 = self._first.get(pid, (0.0, 0, 0))
            cpu += c - c0
            ctx_v += v - v0
            ctx_i += i - i0
        harness1 = self._cpu_of(os.getpid())
        broker1 = self._cpu_of(self.broker_pid)
        cores_busy = cpu / window if window > 0 else 0.0
        return Resources(
            window_s=window,
            worker_cpu_s=cpu,
            worker_cpu_cores=cores_busy,
            worker_cpu_percent_of_usable=100.0 * cores_busy / self.cores,
            worker_uss_peak_bytes=self._peak["uss"],
            worker_pss_peak_bytes=self._peak["pss"],
            worker_rss_peak_bytes=self._peak["rss"],
            worker_processes=self._peak["n"],
            worker_ctx_switches_voluntary=int(ctx_v),
            worker_ctx_switches_involuntary=int(ctx_i),
            harness_cpu_s=harness1 - self._harness0,
            broker_cpu_s=(broker1 - self._broker0) if self._broker0 is not None and broker1 is not None else None,
            samples=self._samples,
        )
