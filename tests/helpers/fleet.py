"""Several hosts on one machine, for the fleet's tests (test_fleet*.py):
each agent runs in a network namespace of its own (made with `ip netns` and
a veth pair, in a private 10.213.x.y range used only inside them), with the
private broker listening on the host side of the veth (broker --listen).
Where namespaces cannot be made, the agents are separate processes on
loopback: FLEET_MODE says which, and every assertion message names it.
Each module gets a fleet of its own (tests/integration/conftest.py), so
the modules run side by side on two of the xdist workers.

Traffic goes only to loopback and to the namespaces made here."""

import contextlib
import fcntl
import os
import random
import signal
import subprocess
import uuid
from pathlib import Path

from tests.helpers.cli import bench_argv, bench_env, run_bench, start_bench
from tests.helpers.paths import ROOT
from tests.helpers.processes import TAG, tagged_processes
from tests.helpers.waiting import wait_for

# The sweeps on agents: one point, one repeat (what they check is where it ran).
ONE_POINT_SWEEP = ("--pools", "prefork", "--concurrency", "2", "--workloads", "sleep", "--task-ms", "20",
                   "--profile", "quick", "--repeats", "1")  # fmt: skip

SECRET = "fleet-test-secret-" + uuid.uuid4().hex
OFFSET_S = 0.25  # injected into agent a's clock


def _sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=20)


class Net:
    """Two namespaces (a, b), each with a veth to the host; or loopback."""

    def __init__(self):
        self.token = uuid.uuid4().hex[:6]
        self.namespaces = []
        self.links = []
        self.mode = "loopback"
        self.host_address = None

    def make(self, lock_path):
        """Under `lock_path`'s lock: another module's fleet, made at the same
        time on another xdist worker, sees this one's subnet as used."""
        with Path(lock_path).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._make()

    def _make(self):
        used = _sh("ip", "-4", "addr").stdout + _sh("ip", "-4", "route").stdout
        free = [k for k in range(10, 250) if f"10.213.{k}." not in used]
        if not free:
            return
        k = random.choice(free)
        for i, name in enumerate(("a", "b")):
            ns, host_if, ns_if = f"cbf-{self.token}-{name}", f"cbf{self.token}{name}h", f"cbf{self.token}{name}n"
            host_ip, ns_ip = f"10.213.{k}.{4 * i + 1}", f"10.213.{k}.{4 * i + 2}"
            steps = [
                ("ip", "netns", "add", ns),
                ("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if),
                ("ip", "link", "set", ns_if, "netns", ns),
                ("ip", "addr", "add", f"{host_ip}/30", "dev", host_if),
                ("ip", "link", "set", host_if, "up"),
                ("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if),
                ("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"),
                ("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"),
                ("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", host_ip),
            ]
            for step in steps:
                done = _sh(*step)
                if step[:3] == ("ip", "netns", "add") and done.returncode == 0:
                    self.namespaces.append(ns)
                if step[:3] == ("ip", "link", "add") and done.returncode == 0:
                    self.links.append(host_if)
                if done.returncode != 0:
                    self.remove()
                    return
            if i == 0:
                self.host_address = host_ip
        self.mode = "netns"

    def prefix(self, host):
        """The argv prefix that runs a command on simulated host `host`."""
        if self.mode != "netns":
            return []
        return ["ip", "netns", "exec", f"cbf-{self.token}-{host}"]

    def remove(self):
        for link in self.links:
            _sh("ip", "link", "del", link)
        for ns in self.namespaces:
            _sh("ip", "netns", "del", ns)
        self.links, self.namespaces = [], []


def fleet_env(tag, **extra):
    """The variables a process of the fleet gets over the test's (tests.helpers.cli.bench_env):
    the fleet's secret and tag; a clock offset only where `extra` injects one."""
    return {"CELERY_BENCH_SECRET": SECRET, TAG: tag, "CELERY_BENCH_TEST_CLOCK_OFFSET_S": None, **extra}


class Fleet:
    def __init__(self, net, tag, tmp):
        self.net, self.tag, self.tmp = net, tag, tmp
        self.procs = {}
        self.url = None

    def start_broker(self):
        listen = ["--listen", self.net.host_address] if self.net.mode == "netns" else []
        with (self.tmp / "broker.out").open("w") as out:
            self.procs["broker"] = start_bench(
                "broker", *listen, env=fleet_env(self.tag), stdout=out, stderr=subprocess.STDOUT
            )

        def url():
            for line in (self.tmp / "broker.out").read_text().splitlines():
                if line.startswith("export CELERY_BROKER_URL="):
                    return line.split("'")[1]
            return None

        self.url = wait_for(url, 60, "the broker's URL")

    def start_agent(self, name, host, cpus, harness=None, **env):
        """`harness`: ADDRESS:PORT of a harness's own broker (agent
        --harness), instead of the fleet's broker."""
        log = self.tmp / f"agent-{name}.log"
        where = ["--harness", harness] if harness else ["--broker", self.url]
        argv = [*self.net.prefix(host), *bench_argv("agent", *where, "--name", name, "--cpus", cpus)]
        with log.open("w") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=bench_env(fleet_env(self.tag, **env)), stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(lambda: "Ctrl-C stops it" in log.read_text(), 60, f"agent {name} to start")

    def log(self, name):
        return (self.tmp / f"agent-{name}.log").read_text()

    def stop(self):
        for _name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        wait_for(lambda: not tagged_processes(self.tag), 20, "every process of the fleet to end")


def bench_on_fleet(*args, timeout):
    """`python -m bench ARGS` as the harness of the test's fleet, its output captured."""
    return run_bench(*args, env=fleet_env(os.environ[TAG]), timeout=timeout)


@contextlib.contextmanager
def running_fleet(tmp, machine_lock, alone=False):
    """Namespaces a and b, a broker, and agents a (its clock shifted by
    OFFSET_S) and b, pinned to CPU 0 and 1; all of it gone afterwards.
    `alone`: made and stopped holding the machine alone, for a module whose
    tests all do (shared, it waited minutes at the lock's gate while the
    tests that run alone took turns)."""
    # Booting and stopping agents is work: done holding the machine, as a test would.
    with machine_lock.held(exclusive=alone):
        net = Net()
        net.make(machine_lock.gate.with_name("celery-bench-tests.netns"))
        print(f"FLEET_MODE={net.mode}")
        tag = "fleet-" + uuid.uuid4().hex  # the module's own: these processes outlive single tests
        f = Fleet(net, tag, tmp)
    try:
        with machine_lock.held(exclusive=alone):
            f.start_broker()
            f.start_agent("a", "a", "0", CELERY_BENCH_TEST_CLOCK_OFFSET_S=str(OFFSET_S))
            f.start_agent("b", "b", "1")
        yield f
    finally:
        with machine_lock.held(exclusive=alone):
            f.stop()
            net.remove()
