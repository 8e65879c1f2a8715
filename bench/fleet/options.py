"""The options of `agent` and of `run --hosts`, checked once (light: the CLI
imports this at start-up, so no Celery or kombu here)."""

import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from bench.errors import UsageError
from bench.fleet.signing import SECRET_ENV, check_secret
from bench.harness.urls import harness_url
from bench.workloads import WORKLOADS

# An agent's, a run's, a queue's name: nothing a shell or a key pattern minds.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class AgentConfig:
    broker_url: str  # with credentials: never printed (redacted)
    name: str  # this agent's name, unique on the broker
    allow_apps: tuple[str, ...]  # the Celery apps it may start workers for
    cpus: tuple[int, ...] | None  # pin every worker to these CPU ids; None: not pinned
    secret: bytes  # CELERY_BENCH_SECRET
    # Wait for the broker when it is not there, and again when it goes: a
    # harness's own broker (--harness) lives only as long as its run.
    wait: bool = False


def agent_config(
    broker_url: str,
    name: str | None,
    allow_apps: Sequence[str] | None,
    cpus: Sequence[int] | None,
    secret_text: str | None,
    harness: tuple[str, int | None] | None = None,
) -> AgentConfig:
    """The agent's config, or UsageError: nothing starts without a secret.
    `harness`: (address, port) of a harness's own broker (--harness), whose
    URL comes from the secret; the agent then waits for it."""
    secret, why = check_secret(secret_text)
    if secret is None:
        raise UsageError(f"{why} (export {SECRET_ENV}=... on the harness and every agent)")
    if harness is not None:
        address, port = harness
        if port is None:
            raise UsageError("--harness: give ADDRESS:PORT, as the harness's --listen")
        broker_url = harness_url(address, port, secret)
    name = name or socket.gethostname().split(".")[0]
    if not NAME.match(name):
        raise UsageError(f"--name: {name!r} must be letters, digits, '.', '_' or '-'")
    if cpus:
        usable = sorted(os.sched_getaffinity(0))
        unknown = sorted(set(cpus) - set(usable))
        if unknown:
            raise UsageError(f"--cpus: CPU {unknown[0]} is not usable here (usable: {usable})")
    apps = tuple(allow_apps or ("proj",))
    bad = [a for a in apps if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", a)]
    if bad:
        raise UsageError(f"--allow-app: {bad[0]!r} is not a module name")
    return AgentConfig(broker_url, name, apps, tuple(cpus) if cpus else None, secret, wait=harness is not None)


def secret_text() -> str | None:
    """CELERY_BENCH_SECRET as set, None when it is not: the one place it is
    read (the CLI checks it with agent_config or hosts_secret)."""
    return os.environ.get(SECRET_ENV)


def secret_from_env() -> bytes:
    """The shared secret (checked by the CLI before anything started)."""
    secret, why = check_secret(secret_text())
    if secret is None:
        raise UsageError(why)
    return secret


def hosts_secret(
    hosts: Sequence[str],
    broker_url: str | None,
    workload: str,
    secret_text: str | None,
    listen: str | None = None,
    listen_port: int | None = None,
) -> bytes | None:
    """The secret for a run on agents, or UsageError saying what is missing.
    The agents reach the user's broker (`broker_url`), or the run's own
    one at `listen`:`listen_port` (they were started with --harness)."""
    if broker_url is None and listen is not None and listen_port is None:
        raise UsageError(
            "--listen: with --hosts give ADDRESS:PORT, the port the agents were started with "
            "(agent --harness ADDRESS:PORT)"
        )
    if broker_url is None and listen_port is None:
        raise UsageError(
            "--hosts: the agents need a broker they can reach; give --broker URL (for example the one "
            "`python -m bench broker --listen ADDRESS` prints), or --listen ADDRESS:PORT for agents started "
            "with --harness ADDRESS:PORT"
        )
    if WORKLOADS[workload].needs_stub:
        raise UsageError(f"--hosts: the {workload} workload's stub server runs on this host only; choose another")
    bad = [h for h in hosts if h != "all" and not NAME.match(h)]
    if bad or not hosts:
        raise UsageError(f"--hosts: expected agent names separated by commas, or all; got {','.join(hosts)!r}")
    secret, why = check_secret(secret_text)
    if secret is None:
        raise UsageError(f"--hosts: {why} (export {SECRET_ENV}=... as for the agents)")
    return secret
