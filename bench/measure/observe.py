"""What the harness observes while a batch runs: the workers' per-task
records, and the CPU and memory of the worker trees (summed, and per
worker), the harness and the broker (psutil)."""

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.harness.process import tree
from bench.results.schema import Resources, WorkerShare


class RecordReader:
    """Reads the task records that worker processes append to their files
    (see bench/harness/recorder.py), picking up where it left off."""

    def __init__(self, record_dir: Path):
        self.record_dir = Path(record_dir)
        self._offsets: dict[Path, int] = {}  # bytes of each file already read
        self._partial: dict[Path, bytes] = {}  # an unfinished last line, per file

    def read_new(self) -> list[dict[str, Any]]:
        """The records written since the last call, as dicts."""
        out: list[dict[str, Any]] = []
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

    def finished(self) -> list[dict[str, Any]]:
        """Every task record written so far, read from the top without
        moving `read_new`'s place (a deploy event's look at what is running)."""
        return self._whole_lines("tasks-*.jsonl")

    def starts(self) -> list[dict[str, Any]]:
        """Every task start recorded so far (BENCH_RECORD_STARTS: a worker
        under a memory limit or a deploy event), as dicts with id, pid and
        started."""
        return self._whole_lines("starts-*.jsonl")

    def received(self) -> list[dict[str, Any]]:
        """Every task the worker's consumer received (BENCH_RECORD_RECEIVED:
        a traffic mix), as dicts with id, pid and received."""
        return self._whole_lines("received-*.jsonl")

    def _whole_lines(self, pattern: str) -> list[dict[str, Any]]:
        """The records of the files matching `pattern`, from the top; a line
        still being written is left out."""
        out: list[dict[str, Any]] = []
        for path in sorted(self.record_dir.glob(pattern)):
            with contextlib.suppress(OSError):
                lines = path.read_bytes().split(b"\n")
                out.extend(json.loads(line) for line in lines[:-1] if line)
        return out


class NodeReaders:
    """The records of several worker nodes, each in its own directory, read
    as one stream; every record says which node ("node": index) wrote it."""

    def __init__(self, readers):
        self.readers = list(readers)  # RecordReader, one per node, in node order
        self.nodes = list(range(len(self.readers)))  # the node each reader's records are tagged with

    def add(self, node: int, reader: RecordReader) -> None:
        """The records of a fresh worker that took `node`'s place (a deploy
        event's replacement), tagged as that node's."""
        self.readers.append(reader)
        self.nodes.append(node)

    def read_new(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for node, reader in zip(self.nodes, self.readers, strict=True):
            out.extend({**raw, "node": node} for raw in reader.read_new())
        return out

    def finished(self) -> list[dict[str, Any]]:
        """Every node's task records so far (see RecordReader.finished)."""
        return [raw for reader in self.readers for raw in reader.finished()]

    def starts(self) -> list[dict[str, Any]]:
        """Every node's task starts (see RecordReader.starts), each with its node."""
        return [
            {**raw, "node": node}
            for node, reader in zip(self.nodes, self.readers, strict=True)
            for raw in reader.starts()
        ]

    def received(self) -> list[dict[str, Any]]:
        """Every node's received tasks (see RecordReader.received), each with its node."""
        return [
            {**raw, "node": node}
            for node, reader in zip(self.nodes, self.readers, strict=True)
            for raw in reader.received()
        ]


class ResourceSampler:
    """Samples every worker tree every `interval_s` on a thread, between
    `start()` and `stop()`. CPU comes from the kernel's per-process counters
    at the two ends; memory is the peak of the samples (summed over the
    trees at each sample, and per tree)."""

    def __init__(self, worker_pids, broker_pid=None, cores=1.0, interval_s=0.25):
        """`broker_pid`: the embedded broker's pid, or a callable giving its
        current one (a broker restart replaces its process: each process's
        CPU counts, from the window's start or its birth to its last sample)."""
        self.worker_pids = [worker_pids] if isinstance(worker_pids, int) else list(worker_pids)
        self.broker_pid = broker_pid if callable(broker_pid) else (lambda: broker_pid)
        self._broker_cpu: dict[int, list[float]] = {}  # pid -> [CPU s at its first sample, at its last]
        self.cores = cores
        self.interval_s = interval_s
        self._procs = {}  # pid -> psutil.Process, kept so dead children keep their last figures
        self._node = {}  # pid -> index of the worker tree it belongs to
        self._last = {}  # pid -> (cpu_s, ctx_vol, ctx_invol)
        self._first = {}
        self._peak = {"uss": None, "pss": None, "rss": 0, "n": 0}
        self._node_peak = [{"uss": None, "pss": None, "rss": 0, "n": 0} for _ in self.worker_pids]
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)

    def _cpu_snapshot(self, with_memory):
        totals = {"uss": 0, "pss": 0, "rss": 0, "n": 0}
        have_full = True
        for node, root in enumerate(self.worker_pids):
            mine = {"uss": 0, "pss": 0, "rss": 0, "n": 0}
            members = tree(root)
            for proc in members:
                proc = self._procs.setdefault(proc.pid, proc)
                self._node.setdefault(proc.pid, node)
                try:
                    with proc.oneshot():
                        cpu = proc.cpu_times()
                        ctx = proc.num_ctx_switches()
                        self._last[proc.pid] = (cpu.user + cpu.system, ctx.voluntary, ctx.involuntary)
                        if with_memory:
                            try:
                                mem = proc.memory_full_info()
                                mine["uss"] += mem.uss
                                mine["pss"] += getattr(mem, "pss", 0)
                                mine["rss"] += mem.rss
                            except psutil.AccessDenied:
                                have_full = False
                                mine["rss"] += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            mine["n"] = len(members)
            if with_memory:
                _raise_peak(self._node_peak[node], mine, have_full)
            for key in totals:
                totals[key] += mine[key]
        if with_memory:
            self._samples += 1
            _raise_peak(self._peak, totals, have_full)

    def _loop(self):
        while not self._stop.wait(self.interval_s):
            self._cpu_snapshot(with_memory=True)
            self._sample_broker(born_in_window=True)

    def _sample_broker(self, born_in_window):
        pid = self.broker_pid()
        cpu = self._cpu_of(pid)
        if pid is None or cpu is None:
            return
        if pid not in self._broker_cpu:
            if born_in_window and pid == self._broker_first_pid:
                return  # there at the start but not read then: its CPU before the window is not known
            # a process first seen after the start was born in the window: all its CPU counts
            self._broker_cpu[pid] = [0.0 if born_in_window else cpu, cpu]
        self._broker_cpu[pid][1] = cpu

    @staticmethod
    def _cpu_of(pid):
        if pid is None:
            return None
        with contextlib.suppress(psutil.Error):
            cpu = psutil.Process(pid).cpu_times()
            return cpu.user + cpu.system
        return None

    def start(self) -> "ResourceSampler":
        self._t0 = time.monotonic()
        self._cpu_snapshot(with_memory=True)
        self._first = dict(self._last)
        self._harness0 = self._cpu_of(os.getpid())
        self._broker_first_pid = self.broker_pid()
        self._sample_broker(born_in_window=False)
        self._thread.start()
        return self

    def stop(self) -> Resources:
        self._stop.set()
        self._thread.join(timeout=10)
        self._cpu_snapshot(with_memory=True)
        window = time.monotonic() - self._t0
        # A process born in the window counts from zero; one that died keeps
        # its last sampled counters.
        cpu = main_cpu = ctx_v = ctx_i = 0.0
        node_cpu = [0.0 for _ in self.worker_pids]
        mains = set(self.worker_pids)
        for pid, (c, v, i) in self._last.items():
            c0, v0, i0 = self._first.get(pid, (0.0, 0, 0))
            cpu += c - c0
            if pid in mains:
                main_cpu += c - c0
            node_cpu[self._node[pid]] += c - c0
            ctx_v += v - v0
            ctx_i += i - i0
        harness1 = self._cpu_of(os.getpid())
        self._sample_broker(born_in_window=True)
        broker = sum(last - first for first, last in self._broker_cpu.values()) if self._broker_cpu else None
        cores_busy = cpu / window if window > 0 else 0.0
        return Resources(
            window_s=window,
            worker_cpu_s=cpu,
            worker_cpu_cores=cores_busy,
            worker_cpu_percent_of_usable=100.0 * cores_busy / self.cores,
            worker_main_cpu_s=main_cpu,
            worker_uss_peak_bytes=self._peak["uss"],
            worker_pss_peak_bytes=self._peak["pss"],
            worker_rss_peak_bytes=self._peak["rss"],
            worker_processes=self._peak["n"],
            worker_ctx_switches_voluntary=int(ctx_v),
            worker_ctx_switches_involuntary=int(ctx_i),
            harness_cpu_s=harness1 - self._harness0,
            broker_cpu_s=broker,
            samples=self._samples,
            per_worker=tuple(
                WorkerShare(
                    cpu_s=c,
                    cpu_cores=c / window if window > 0 else 0.0,
                    uss_peak_bytes=peak["uss"],
                    pss_peak_bytes=peak["pss"],
                    rss_peak_bytes=peak["rss"],
                    processes=peak["n"],
                )
                for c, peak in zip(node_cpu, self._node_peak, strict=True)
            ),
        )


def _raise_peak(peak, sample, have_full):
    """Keep the highest memory and process count seen in `peak`."""
    if have_full:
        for key in ("uss", "pss"):
            peak[key] = max(peak[key] or 0, sample[key])
    peak["rss"] = max(peak["rss"], sample["rss"])
    peak["n"] = max(peak["n"], sample["n"])
