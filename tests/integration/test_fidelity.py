"""Fidelity (METHOD.md): the harness against a plain `celery -A APP worker`
on the same configuration, interleaved in one session (harness, reference;
then harness, reference again where their ratio is not clearly inside
0.9-1.1: `run --reference` once or twice; each reference is a plain worker
without task events, counted by its queue's depth, then one with them).
Where Celery is healthy the medians of the steady-state throughputs of the
harness and of the plain worker without events agree within 15%, and the
pass with events accounts for every task; where it misbehaves, both sides
name the same misbehaviour. The rate by the queue's depth is checked on a
case whose rate is known by construction (solo, a sleep of 100 ms: just
under 10 per s). Every factor is covered
once, not every combination: pools prefork, gevent, threads, solo;
acks_late on and off; prefetch 1 and 4; a result backend on and off; the
embedded broker, the local Redis and the local RabbitMQ; the built-in
workloads and the shop app (examples/shop: package layout, a route,
socket I/O plus CPU). The ratios are printed at the end of the session
(tests/conftest.py, pytest_terminal_summary).

The pass with events sends three task events per task (-E, about 0.45 ms
of the worker's CPU here), so where that CPU is the limit (the shop on
gevent -c 32, or on threads) it is slower than the worker without -E: its
ratio is printed, not asserted. gevent at a prefetch count of 2 is not
healthy: 2.0 s idle gaps come and go on both sides."""

import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import redis

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]  # it compares timings

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of the local Redis that nothing else here uses
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
SHOP_TASK = ["--app", "shop", "--task", "shop.tasks.place_order", "--args", "[1]", "--workdir", SHOP]
AGREE = (0.85, 1.15)
CLEAR = (0.9, 1.1)  # one pair inside this is enough; outside it, a second pair decides
ATTEMPTS = 6  # pairs at most for the idle-gap case (see there): each side falls into it in about half the pairs


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def shop_server():
    """The shop's stock server (15 ms per request) on a free port: SHOP_SERVER's value."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, SHOP / "server.py", "--port", str(port)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"stock server"), "the stock server did not start"
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def reachable(url):
    if url.startswith("redis"):
        try:
            redis.Redis.from_url(url, socket_timeout=2).ping()
            return True
        except redis.ConnectionError:
            return False
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


def redis_state():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        return {k: client.type(k) for k in client.scan_iter(match="*")}
    finally:
        client.close()


def run_pair(tmp_path, i, args, env=None):
    """One `run --reference`: the harness's document and the reference's."""
    out = tmp_path / f"h{i}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", *map(str, args), "--reference", "--json", out],
        cwd=ROOT, capture_output=True, text=True, timeout=240, env={**os.environ, "CI": "true", **(env or {})},
    )  # fmt: skip
    harness = json.loads(out.read_text()) if out.exists() else None
    ref_path = out.with_name(f"{out.stem}-reference.json")
    reference = json.loads(ref_path.read_text()) if ref_path.exists() else None
    return proc, harness, reference


def interleaved(tmp_path, args, env=None, pairs=2):
    """H R, then H R again only when the first pair's ratio is outside
    CLEAR (noise on a shared machine): `run --reference` up to `pairs`
    times; every one must succeed."""
    docs = []
    for i in range(pairs):
        proc, harness, reference = run_pair(tmp_path, i, args, env)
        assert proc.returncode == 0, proc.stderr
        assert "verdict:" in proc.stdout
        docs.append((harness, reference))
        if CLEAR[0] <= ratios(docs)["depth"][2] <= CLEAR[1]:
            break
    return docs


def ratios(docs):
    """harness / reference, of the medians: `depth`, the steady state
    against the plain worker without events (by its queue's depth); the
    others against the pass with events."""
    out = {}
    for key in ("throughput_per_s", "steady_throughput_per_s"):
        h = statistics.median(d[0]["summary"][key] for d in docs)
        r = statistics.median(d[1]["summary"][key] for d in docs)
        out[key] = (h, r, h / r)
    h = statistics.median(d[0]["summary"]["steady_throughput_per_s"] for d in docs)
    r = statistics.median(d[1]["depth"]["steady_throughput_per_s"] for d in docs)
    out["depth"] = (h, r, h / r)
    return out


def every_task_accounted(reference):
    t = reference["summary"]["tasks"]
    assert t["published"] == t["succeeded"] + t["failed"] + t["missing"]
    assert (t["failed"], t["missing"]) == (0, 0)
    assert reference["status"]["state"] == "ok"


# (id, run arguments, environment, broker: None embedded, needs the shop's stock server)
HEALTHY = [
    pytest.param(
        ["-P", "prefork", "-c", 4, "-w", "sleep", "--task-ms", 50, "--tasks", 160, "--result-backend", "broker"],
        {}, None, False, id="prefork-sleep-embedded-prefetch4-results",
    ),
    pytest.param(
        ["-P", "threads", "-c", 4, "-w", "sleep", "--task-ms", 20, "--tasks", 300, "--prefetch-multiplier", 1],
        {}, REDIS_URL, False, id="threads-sleep-redis-prefetch1", marks=pytest.mark.local_brokers,
    ),
    pytest.param(
        ["-P", "threads", "-c", 4, "-w", "sleep", "--task-ms", 20, "--tasks", 300, "--result-backend", "broker"],
        {}, AMQP_URL, False, id="threads-sleep-rabbitmq-rpc-results", marks=pytest.mark.local_brokers,
    ),
    pytest.param(
        ["-P", "gevent", "-c", 8, "-w", "sleep", "--task-ms", 50, "--tasks", 240],
        {}, None, False, id="gevent-sleep-embedded",
    ),
    pytest.param(
        ["-P", "solo", "-w", "sleep", "--task-ms", 100, "--tasks", 30], {}, None, False, id="solo-sleep-embedded"
    ),
    pytest.param(
        ["-P", "prefork", "-c", 2, *SHOP_TASK, "--tasks", 200],
        {"SHOP_ACKS_LATE": "1"}, None, True, id="prefork-shop-acks-late-embedded",
    ),
]  # fmt: skip


# Rates known by construction, tasks/s: one slot sleeping 100 ms per task.
# Celery's own time between two tasks of a solo worker (3-6 ms here, all
# three counts agree on it) keeps it a little under: at 20 ms that alone
# was 11%, at 50 ms 6-11%.
KNOWN_RATE = {"solo-sleep-embedded": 1 / 0.100}


@pytest.mark.parametrize(("args", "env", "broker", "shop"), HEALTHY)
def test_the_harness_agrees_with_a_plain_worker_where_celery_is_healthy(
    args, env, broker, shop, tmp_path, request, record_property
):
    if broker is not None and not reachable(broker):
        pytest.skip(f"no local broker at {broker}")
    env = dict(env)
    if shop:
        env["SHOP_SERVER"] = request.getfixturevalue("shop_server")
    before = redis_state() if broker == REDIS_URL else None
    docs = interleaved(tmp_path, [*args, *(["--broker", broker] if broker else [])], env)
    for _harness, reference in docs:
        every_task_accounted(reference)
        assert "-E" in reference["command"]
        assert reference["depth"]["status"]["outcome"] == "complete"
        assert "-E" not in reference["depth"]["command"]
    found = ratios(docs)
    h, r, ratio = found["depth"]
    record_property(
        "fidelity", f"steady state without events {h:.1f} / {r:.1f} tasks/s = {ratio:.2f} ({len(docs)} pairs)"
    )
    record_property(
        "fidelity", "steady state, -E {:.1f} / {:.1f} tasks/s = {:.2f}".format(*found["steady_throughput_per_s"])
    )
    record_property("fidelity", "throughput, -E {:.1f} / {:.1f} tasks/s = {:.2f}".format(*found["throughput_per_s"]))
    assert AGREE[0] <= ratio <= AGREE[1], f"harness / plain worker = {ratio:.2f} (steady state {h:.1f} / {r:.1f})"
    known = KNOWN_RATE.get(request.node.callspec.id)
    if known is not None:
        record_property("fidelity", f"without events {r:.1f} tasks/s, known by construction {known:.1f}")
        assert 0.9 * known <= r <= 1.02 * known, f"the depth rate {r:.1f} is not the known {known:.1f} tasks/s"
    if before is not None:
        assert redis_state() == before, "the local Redis was not left as found"


def gap_times(health):
    """(period, longest) of the idle gaps a diagnosis found; None: none found."""
    gaps = [f for f in (health or {}).get("findings", []) if f["kind"] == "idle_gaps"]
    return (gaps[0]["period_s"], gaps[0]["longest_s"]) if gaps else None


def depth_gaps(depth):
    """(count, longest) of the 2 s pauses of the plain worker without events
    (its queue's depth stood still while messages waited); None: none."""
    pauses = [p for p in (depth or {}).get("pauses_s", []) if 1.5 <= p <= 2.5]
    return (len(pauses), max(pauses)) if pauses else None


@pytest.mark.local_brokers
def test_both_sides_see_the_two_second_idle_gaps_of_gevent_with_acks_late_on_redis(
    tmp_path, shop_server, record_property
):
    """Celery's own misbehaviour (celery/celery#10263): once its prefetch
    window is full, the synloop waits in drain_events(timeout=2.0) before it
    asks the broker for more. The harness is compared with the plain worker
    without task events, as it runs (the one with -E falls into the rhythm
    far less often: measured in 16 pairs, harness 9, plain without events
    8, plain with -E 1 collapsed under 40 tasks/s)."""
    if not reachable(REDIS_URL):
        pytest.skip("no local Redis on 127.0.0.1:6379")
    before = redis_state()
    # 48 tasks: six bursts of 8 when it collapses, enough for a period (3 gaps)
    args = ["-P", "gevent", "-c", 8, *SHOP_TASK, "--tasks", 48, "--broker", REDIS_URL]
    env = {"SHOP_SERVER": shop_server, "SHOP_ACKS_LATE": "1"}
    # A run falls into the 2 s rhythm or not, on either side (it is Celery's
    # misbehaviour, not a schedule): each side must show it in one of up to
    # ATTEMPTS pairs, and every gap the harness shows must be a 2 s one.
    seen = {"harness": False, "plain": False}
    for attempt in range(ATTEMPTS):
        proc, harness, reference = run_pair(tmp_path, attempt, args, env)
        assert harness is not None, proc.stderr
        assert reference is not None, proc.stderr
        gaps = gap_times(harness["summary"].get("health"))
        pauses = depth_gaps(reference.get("depth"))
        with_events = gap_times(reference["health"])
        record_property(
            "fidelity",
            f"idle gaps: harness (period, longest) {gaps}; plain without events (2 s pauses, longest) {pauses}; "
            f"plain with -E (period, longest) {with_events}",
        )
        rates = (
            harness["summary"]["steady_throughput_per_s"],
            (reference.get("depth") or {}).get("steady_throughput_per_s"),
        )
        said_rates = " / ".join("-" if x is None else f"{x:.1f}" for x in rates)
        record_property("fidelity", f"steady state {said_rates} tasks/s without events")
        if gaps is not None:
            # The synloop's 2.0 s wait shows as gaps that recur every 2 s, or,
            # when too few or too irregular for a period, as gaps of up to 2 s.
            period, longest = gaps
            if period is not None:
                assert period == pytest.approx(2.0, abs=0.3), f"the harness's gaps recur every {period} s"
            else:
                assert 1.5 <= longest <= 2.5, f"the harness's gaps have no period and last up to {longest} s"
            seen["harness"] = True
        seen["plain"] = seen["plain"] or pauses is not None
        if pauses is not None:  # an odd reference keeps its plain workers' log beside it
            kept = reference.get("worker_log") or {}
            assert (tmp_path / kept.get("path", "-")).is_file(), f"no plain workers' log kept: {kept}"
        if all(seen.values()):
            break
    assert all(seen.values()), f"in {ATTEMPTS} pairs, 2 s idle gaps seen: {seen}"
    assert redis_state() == before, "the local Redis was not left as found"
