"""The agent's answers to commands, without a broker: what it refuses, and
that it says so in one signed line; the harness's pure pieces of a run on
several hosts."""

import contextlib
import dataclasses
import os
import time

import pytest

from bench.errors import RunFailed, UsageError
from bench.fleet import protocol
from bench.fleet.agent import Agent, Run
from bench.fleet.clock import Offset
from bench.fleet.control import AgentInfo, AgentLost, Control
from bench.fleet.gather import fleet_resources, to_records
from bench.fleet.hosts import choose_hosts
from bench.fleet.options import AgentConfig, agent_config, hosts_secret
from bench.fleet.signing import Verifier, sign
from bench.measure.observe import RecordReader
from bench.output.hosts import hosts_text
from bench.results.schema import HostClock, Resources, run_from_json, run_to_json
from tests.helpers.hand_made_run import golden_result

SECRET = b"unit-test-secret-0123456789"
REPLY = protocol.REPLY_PREFIX + "t1"


def agent(apps=("proj",)):
    cfg = AgentConfig("redis://:pw@127.0.0.1:1/0", "a", tuple(apps), None, SECRET)
    return Agent(cfg, broker=None)


def command(op, secret=SECRET, to="a", **args):
    return sign(secret, {"op": op, "to": to, "reply_to": REPLY, **args}, time.time())


def answer_of(handled):
    reply_to, message = handled
    assert reply_to == REPLY
    return Verifier(SECRET).verify(message, time.time())


def test_a_probe_is_answered_with_the_agents_clock_signed_and_naming_the_command(monkeypatch):
    monkeypatch.setenv(protocol.TEST_CLOCK_OFFSET_ENV, "1000")
    message = command("probe")
    body = answer_of(agent().handle(message))
    assert body["re"] == message["body"]["nonce"]
    assert body["from"] == "a"
    assert body["clock"] == pytest.approx(time.monotonic() + 1000, abs=5)


def test_a_forged_command_is_refused_in_one_line(capsys):
    body = answer_of(agent().handle(command("probe", secret=b"another-secret-of-length")))
    assert body["refused"] == "agent a refused 'probe': bad signature"
    assert "refused 'probe': bad signature" in capsys.readouterr().err


def test_a_replayed_command_is_refused():
    a, message = agent(), command("probe")
    assert "clock" in answer_of(a.handle(message))
    assert "replayed" in answer_of(a.handle(message))["refused"]


def test_an_app_that_is_not_allowed_is_refused_before_anything_starts():
    spec = {"app": "evil", "pool": "solo", "concurrency": 1, "queue": "q", "nodenames": ["n@a"]}
    body = answer_of(agent().handle(command("start", run="r1", spec=spec)))
    assert "'evil' is not allowed here (allowed: proj)" in body["refused"]


def test_a_command_for_another_agent_or_of_an_unknown_kind_is_refused():
    assert "not to a" in answer_of(agent().handle(command("probe", to="b")))["refused"]
    assert "unknown command" in answer_of(agent().handle(command("rm -rf")))["refused"]


def test_commands_about_a_run_the_agent_does_not_have_are_refused():
    for op in ("progress", "records", "lease", "stop"):
        assert "no run" in answer_of(agent().handle(command(op, run="nope")))["refused"]


def test_no_answer_goes_to_a_queue_that_is_not_a_reply_queue():
    message = sign(SECRET, {"op": "probe", "to": "a", "reply_to": "celery"}, time.time())
    assert agent().handle(message) == (None, None)


def test_the_agent_refuses_to_start_without_a_secret():
    with pytest.raises(UsageError, match="CELERY_BENCH_SECRET is not set"):
        agent_config("redis://x", "a", None, None, None)
    assert agent_config("redis://x", "a", None, None, "s" * 20).allow_apps == ("proj",)


def test_a_run_on_hosts_needs_a_broker_and_the_secret():
    with pytest.raises(UsageError, match="--broker"):
        hosts_secret(("a",), None, "sleep", "s" * 20)
    with pytest.raises(UsageError, match="CELERY_BENCH_SECRET"):
        hosts_secret(("a",), "redis://x", "sleep", None)
    with pytest.raises(UsageError, match="stub server"):
        hosts_secret(("a",), "redis://x", "net", "s" * 20)


def info(name, cores=1.0, busy=None):
    return AgentInfo(name, "h", cores, None, ("proj",), {}, busy)


def test_hosts_are_chosen_among_those_that_answered():
    found = {"a": info("a"), "b": info("b")}
    assert choose_hosts(found, ("all",)) == ["a", "b"]
    with pytest.raises(RunFailed, match="no answer from agent c"):
        choose_hosts(found, ("a", "c"))
    with pytest.raises(RunFailed, match="busy"):
        choose_hosts({"a": info("a", busy="r0")}, ("a",))


def test_records_convert_to_the_harness_clock_and_foreign_ids_are_dropped():
    offset = Offset(offset_s=0.25, error_s=0.001, round_trip_s=0.002, probes=3)
    raw = [
        {"id": "t1", "state": "SUCCESS", "started": 10.25, "finished": 10.35, "pid": 7},
        {"id": "other", "state": "SUCCESS", "started": 1.0, "finished": 2.0, "pid": 7},
    ]
    (rec,) = to_records(raw, {"t1": 9.9}, offset)
    assert (rec.started, rec.finished, rec.published) == pytest.approx((10.0, 10.1, 9.9))


def test_records_travel_compressed_and_come_back_equal():
    records = [{"id": f"t{i}", "started": i / 3, "finished": i / 2, "pid": 1, "state": "SUCCESS"} for i in range(500)]
    packed = protocol.pack_records(records)
    assert protocol.unpack_records(packed) == records
    assert len(packed) < len(str(records)) / 3


def test_the_hosts_and_a_wide_bound_are_said():
    host = HostClock("a", "h", 1.0, 1, 40, 0.25, 0.02, 15, True)

    class Result:
        hosts = (host,)

    text = hosts_text(Result())
    assert "+250.000 ms ± 20.000 ms" in text
    assert "warning: the clock offset of a" in text


def test_the_hosts_survive_the_result_document():
    result = golden_result()  # a full document built from hand-made data
    with_hosts = dataclasses.replace(result, hosts=(HostClock("a", "h", 1.0, 1, 40, 0.25, 0.002, 15, False),))
    assert run_from_json(run_to_json(with_hosts)).hosts == with_hosts.hosts
    assert "hosts" not in run_to_json(result)


@pytest.mark.usefixtures("nothing_is_started")
@pytest.mark.parametrize(
    ("argv", "secret", "said"),
    [
        (["run", "--hosts", "a,b"], "s" * 20, "--hosts: the agents need a broker"),
        (["run", "--hosts", "a", "--broker", "redis://127.0.0.1:1/0"], None, "CELERY_BENCH_SECRET is not set"),
        (["run", "--hosts", "a;rm", "--broker", "redis://127.0.0.1:1/0"], "s" * 20, "expected agent names"),
        (["agent", "--broker", "redis://127.0.0.1:1/0"], None, "CELERY_BENCH_SECRET is not set"),
        (["agent", "--broker", "redis://127.0.0.1:1/0", "--name", "a b"], "s" * 20, "--name"),
        (["agents", "--broker", "redis://127.0.0.1:1/0"], "short", "too short"),
        (["broker", "--listen", "somewhere"], None, "expected an IP address"),
    ],
)
def test_bad_fleet_input_is_one_line_and_exit_2(argv, secret, said, monkeypatch, capsys):
    from bench.cli import main

    if secret is None:
        monkeypatch.delenv("CELERY_BENCH_SECRET", raising=False)
    else:
        monkeypatch.setenv("CELERY_BENCH_SECRET", secret)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.strip().splitlines()) == 1


@dataclasses.dataclass
class _Proc:
    pid: int


def test_the_agent_samples_its_workers_from_sample_to_records(tmp_path):
    """The records come home with the workers' CPU and memory over the
    window (here the test process stands in for a worker)."""

    a = agent()
    a.run = Run("r1", contextlib.ExitStack(), [_Proc(os.getpid())], RecordReader(tmp_path), time.monotonic() + 60, 2.0)
    assert answer_of(a.handle(command("sample", run="r1")))["sampling"] is True
    until = time.process_time() + 0.2
    while time.process_time() < until:  # some CPU for the sampler to see
        pass
    body = answer_of(a.handle(command("records", run="r1", prefix="")))
    res = body["resources"]
    assert res["worker_cpu_s"] > 0.1
    assert res["worker_uss_peak_bytes"] > 0 or res["worker_rss_peak_bytes"] > 0
    assert res["worker_cpu_percent_of_usable"] == pytest.approx(100 * res["worker_cpu_cores"] / 2.0)
    assert res["harness_cpu_s"] is None  # the agent's CPU is not the harness's
    again = answer_of(a.handle(command("records", run="r1", prefix="")))
    assert again["resources"] is None  # sampled once per window
    a.stop_workers("test over")


def _res(cpu_s, cores, uss, processes):
    return Resources(
        window_s=2.0,
        worker_cpu_s=cpu_s,
        worker_cpu_cores=cores,
        worker_cpu_percent_of_usable=100 * cores,
        worker_uss_peak_bytes=uss,
        worker_pss_peak_bytes=uss,
        worker_rss_peak_bytes=2 * uss,
        worker_processes=processes,
        worker_ctx_switches_voluntary=10,
        worker_ctx_switches_involuntary=1,
        samples=8,
    )


def test_the_fleet_resources_add_up_the_hosts():
    infos = {n: AgentInfo(n, n, 1.0, (0,), ("proj",), {}, None) for n in ("a", "b")}
    total = fleet_resources([_res(1.8, 0.9, 40 << 20, 3), _res(1.6, 0.8, 50 << 20, 3)], infos)
    assert total.worker_cpu_s == pytest.approx(3.4)
    assert total.worker_cpu_cores == pytest.approx(1.7)
    assert total.worker_cpu_percent_of_usable == pytest.approx(85.0)  # of the 2 hosts' 2 cores
    assert total.worker_uss_peak_bytes == 90 << 20
    assert total.worker_processes == 6
    assert total.worker_ctx_switches_voluntary == 20
    assert total.per_worker == ()
    assert fleet_resources([], infos) is None


def test_a_result_keeps_each_hosts_resources():
    result = golden_result()
    host = HostClock("a", "h", 1.0, 1, 80, 0.25, 0.001, 15, False, _res(1.8, 0.9, 40 << 20, 3))
    back = run_from_json(run_to_json(dataclasses.replace(result, hosts=(host,))))
    assert back.hosts == (host,)
    text = hosts_text(dataclasses.replace(result, hosts=(host,)))
    assert "workers: 1.80 CPU s = 0.90 cores busy (90% of its cores); USS 40.0 MiB" in text


def test_a_host_count_takes_the_first_agents_of_the_list():
    found = {n: AgentInfo(n, n, 1.0, None, ("proj",), {}, None) for n in ("c", "a", "b")}
    assert choose_hosts(found, ["b", "a"], count=1) == ["b"]
    assert choose_hosts(found, ["all"], count=2) == ["a", "b"]  # by name
    assert choose_hosts(found, ["all"]) == ["a", "b", "c"]
    with pytest.raises(RunFailed, match="--host-counts 4: only 3 agent"):
        choose_hosts(found, ["all"], count=4)


class _Producer:
    def __init__(self):
        self.sent = []

    def publish(self, message, routing_key, **kwargs):
        self.sent.append((routing_key, message))


def test_a_stopping_agent_says_goodbye_to_the_harness_of_its_run_signed():
    a = agent()
    producer = _Producer()
    a.goodbye(producer)
    assert producer.sent == []  # no run: nobody to tell
    a.run = Run("r1", contextlib.ExitStack(), [], RecordReader("/nonexistent"), time.monotonic() + 10, reply_to=REPLY)
    a.goodbye(producer)
    ((routing_key, message),) = producer.sent
    assert routing_key == REPLY
    body = Verifier(SECRET).verify(message, time.time())
    assert body["from"] == "a"
    assert "stopped" in body["gone"]
    assert "r1" in body["gone"]


def test_the_harness_stops_waiting_for_an_agent_that_said_goodbye_and_names_it():
    ctl = Control("redis://:pw@127.0.0.1:1/0", SECRET)
    said = "stopped (a signal on its host) during run r1; its workers stop with it"
    ctl._inbox.append(sign(SECRET, {"re": None, "from": "f", "gone": said}, time.time()))
    # no broker is reached: the goodbye already in the inbox ends the wait
    assert ctl.answers("some-nonce", time.monotonic() + 60, want=1, watch=("f",)) == {}
    assert ctl.gone == {"f": said}
    lost = AgentLost("f", "'progress' within 10 s", said=ctl.gone["f"])
    assert str(lost) == f"agent f {said}"
    assert str(AgentLost("g", "'progress' within 10 s")) == "agent g did not answer 'progress' within 10 s"


def test_a_goodbye_nobody_signed_is_ignored():
    ctl = Control("redis://:pw@127.0.0.1:1/0", SECRET)
    ctl._inbox.append(sign(b"another-secret-0123456789", {"re": None, "from": "f", "gone": "x"}, time.time()))
    assert ctl.answers("some-nonce", time.monotonic() - 1, want=1, watch=("f",)) == {}
    assert ctl.gone == {}
