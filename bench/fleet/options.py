"""The options of `agent` and of `run --hosts`, checked once (light: the CLI
imports this at start-up, so no Celery or kombu here)."""

import os
import re
import socket
from dataclasses import dataclass

from bench.errors import UsageError
from bench.fleet.signing import SECRET_ENV, check_secret
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


def agent_config(broker_url, name, allow_apps, cpus, secret_text):
    """The agent's config, or UsageError: nothing starts without a secret."""
    secret, why = check_secret(secret_text)
    if secret is None:
        raise UsageError(f"{why} (export {SECRET_ENV}=... on the harness and every agent)")
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
    return AgentConfig(broker_url, name, apps, tuple(cpus) if cpus else None, secret)


def secret_from_env():
    """The shared secret (checked by the CLI before anything started)."""
    secret, why = check_secret(os.environ.get(SECRET_ENV))
    if secret is None:
        raise UsageError(why)
    return secret


def hosts_secret(hosts, broker_url, workload, secret_text):
    """The secret for a run on agents, or UsageError saying what is missing."""
    if broker_url is None:
        raise UsageError(
            "--hosts: the agents need a broker they can reach; give --broker URL (for example the one "
            "`python -m bench broker --listen ADDRESS` prints)"
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
