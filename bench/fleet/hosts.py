"""Which agents a run uses: the ones that answer, chosen by --hosts and
--host-counts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from bench.errors import RunFailed
from bench.fleet.control import AgentInfo, Control
from bench.harness.broker import Broker


def choose_hosts(found: Mapping[str, AgentInfo], wanted: Sequence[str], count: int | None = None) -> list[str]:
    """The agents to use: `wanted` names (or ("all",)) among those that
    answered, the first `count` of them when given (a sweep's
    --host-counts); RunFailed naming the ones that did not, or that are
    busy, or saying there are too few."""
    names = sorted(found) if tuple(wanted) == ("all",) else list(wanted)
    if not names:
        raise RunFailed("--hosts all: no agent answered (same broker? same CELERY_BENCH_SECRET?)")
    if count is not None:
        if len(names) < count:
            raise RunFailed(f"--host-counts {count}: only {len(names)} agent(s) answered ({', '.join(names)})")
        names = names[:count]
    absent = [n for n in names if n not in found]
    if absent:
        raise RunFailed(
            f"--hosts: no answer from agent {', '.join(absent)} (answered: {', '.join(sorted(found)) or 'none'})"
        )
    busy = [n for n in names if found[n].busy]
    if busy:
        raise RunFailed(f"--hosts: agent {busy[0]} is busy with run {found[busy[0]].busy}")
    return names


JOIN_S = 10.0  # how long agents waiting for the harness's own broker get to join it, s


def discover(
    ctl: Control, wanted: Sequence[str], count: int | None = None, joining: bool = False
) -> dict[str, AgentInfo]:
    """The agents that answer. `joining`: the broker is the harness's own,
    just started (--listen ADDRESS:PORT), and the agents are still
    connecting to it: ask again until the wanted ones (with `all`: at
    least `count`, or one) answered, or JOIN_S passed."""
    until = time.monotonic() + (JOIN_S if joining else 0.0)
    while True:
        found = ctl.discover()
        if tuple(wanted) == ("all",):
            enough = len(found) >= (count or 1)
        else:
            enough = all(n in found for n in list(wanted)[: count or len(wanted)])
        if enough or time.monotonic() >= until:
            return found


def fewest_cores(broker: Broker, secret: bytes, wanted: Sequence[str], count: int | None = None) -> float:
    """The fewest usable cores among the agents `wanted` (the first `count`
    of them): what a sweep on them chooses its -c values by. RunFailed as
    choose_hosts says."""
    with Control(broker.url, secret) as ctl:
        found = discover(ctl, wanted, count, joining=broker.embedded)
        return min(found[name].cores for name in choose_hosts(found, wanted, count))
