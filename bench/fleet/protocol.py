"""The messages between the harness and its agents, on the broker itself
(no other port, no ssh). Every message is signed (signing.py).

Each agent consumes a queue of its own, `celery-bench.agent.NAME`, on a
direct exchange, and one bound to a fanout exchange that reaches every agent
(`agents` lists who answers). A command names the reply queue; the answer is
signed too, and names the nonce of the command it answers (`re`), so an
answer cannot be replayed to another command."""

import base64
import json
import os
import time
import zlib
from typing import Any

from kombu import Exchange, Queue

from bench.fleet.options import NAME  # noqa: F401  (the names agents accept)

EXCHANGE = Exchange("celery-bench.fleet", type="direct", durable=False)
EVERY_AGENT = Exchange("celery-bench.fleet.all", type="fanout", durable=False)
AGENT_PREFIX = "celery-bench.agent."
REPLY_PREFIX = "celery-bench.reply."
# A test-only shift of the agent's clock, s: the harness must find it again.
TEST_CLOCK_OFFSET_ENV = "CELERY_BENCH_TEST_CLOCK_OFFSET_S"
# The agent stops its workers when the harness has not renewed the lease for
# this long (the harness died, even by SIGKILL, or lost the broker).
LEASE_S = 10.0
RENEW_EVERY_S = 1.0


def agent_queue(name: str) -> Queue:
    return Queue(AGENT_PREFIX + name, exchange=EXCHANGE, routing_key=AGENT_PREFIX + name, durable=False)


def broadcast_queue(name: str) -> Queue:
    return Queue(f"{AGENT_PREFIX}{name}.all", exchange=EVERY_AGENT, durable=False, auto_delete=True)


def reply_queue(token: str) -> Queue:
    return Queue(REPLY_PREFIX + token, exchange=EXCHANGE, routing_key=REPLY_PREFIX + token, durable=False)


def test_clock_offset_s() -> float:
    return float(os.environ.get(TEST_CLOCK_OFFSET_ENV) or 0.0)


def agent_clock() -> float:
    """The clock the agent reports and its records use: the host's monotonic
    clock (shifted by the test-only offset)."""
    return time.monotonic() + test_clock_offset_s()


def pack_records(records: list[dict[str, Any]]) -> str:
    """Records as compressed text for the broker (zlib, base64)."""
    return base64.b64encode(zlib.compress(json.dumps(records).encode(), 6)).decode()


def unpack_records(text: str) -> list[dict[str, Any]]:
    return json.loads(zlib.decompress(base64.b64decode(text)))
