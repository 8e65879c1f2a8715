"""A traffic mix (issue 24): the file, the classes of a batch and of a
schedule, the sizes, the mix's ceiling; bad input in one line."""

import dataclasses
import itertools
import math
from collections import Counter

import pytest

from bench.errors import UsageError
from bench.measure import traffic, traffic_file
from bench.measure.config import build_run_config
from bench.workloads import WORKLOADS, ceiling, mix_workload
from tests.helpers.paths import ROOT

# the issue's mix: 99% 10 ms and 1% 2 s sleeps
HOL = (ROOT / "examples" / "mixes" / "short-and-long.toml").read_text()


def write(tmp_path, text, name="traffic.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_issues_form_reads_as_two_classes_in_their_shares(tmp_path):
    mix = traffic_file.read(write(tmp_path, HOL))
    assert mix.names == ("short", "long")
    assert [c.share for c in mix.classes] == [0.99, 0.01]
    assert [c.task_ms for c in mix.classes] == [10, 2000]
    assert mix.own_rate_per_s is None


def test_the_same_table_under_tool_celery_bench_traffic_in_a_pyproject(tmp_path):
    nested = HOL.replace("[[class]]", "[[tool.celery-bench.traffic.class]]")
    mix = traffic_file.read(write(tmp_path, '[project]\nname = "x"\n' + nested, "pyproject.toml"))
    assert mix.names == ("short", "long")


def test_a_drained_batch_holds_each_class_in_its_exact_share_shuffled(tmp_path):
    mix = traffic_file.read(write(tmp_path, HOL))
    order = mix.drained(300)
    assert Counter(order) == {0: 297, 1: 3}
    assert order != sorted(order)  # shuffled
    assert order == mix.drained(300)  # seeded: the same every time
    assert order != traffic.Traffic(mix.classes, "", seed=1).drained(300)


def test_uniform_arrivals_interleave_each_class_evenly():
    mix = traffic_file.parse({"class": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]}, "t")
    marks = mix.marked(400, "uniform")
    assert Counter(marks) == {0: 300, 1: 100}
    positions = [k for k, m in enumerate(marks) if m == 1]
    assert {b - a for a, b in itertools.pairwise(positions)} == {4}


def test_poisson_arrivals_are_marked_at_random_in_the_shares():
    mix = traffic_file.parse({"class": [{"name": "a", "weight": 9}, {"name": "b", "weight": 1}]}, "t")
    marks = mix.marked(20_000, "poisson")
    share = marks.count(1) / len(marks)
    assert abs(share - 0.1) < 0.01  # binomial sd 0.002
    assert marks == mix.marked(20_000, "poisson")


def test_own_rates_give_the_shares_and_the_runs_rate():
    mix = traffic_file.parse({"class": [{"name": "a", "rate": 6}, {"name": "b", "rate": 2}]}, "t")
    assert [c.share for c in mix.classes] == [0.75, 0.25]
    assert mix.own_rate_per_s == 8
    cfg = build_run_config(traffic=mix, arrival="poisson", duration=2)
    assert cfg.schedule is not None
    assert cfg.schedule.rate_per_s == 8


@pytest.mark.parametrize(
    ("entry", "mean"),
    [
        ({"distribution": "exponential", "task_ms": 20}, 20),
        ({"distribution": "two-point", "task_ms": 10, "long_ms": 1000, "long_share": 0.05}, 0.95 * 10 + 50),
        ({"distribution": "lognormal", "p50_ms": 10, "p99_ms": 100}, None),
    ],
)
def test_sizes_drawn_from_each_distribution_have_its_mean(entry, mean):
    mix = traffic_file.parse({"class": [{"name": "a", "weight": 1, **entry}]}, "t")
    klass = mix.classes[0]
    sizes = [call.args[0] for call in mix.calls([0] * 20_000)]
    expected = klass.mean_ms if mean is None else mean
    assert klass.mean_ms == pytest.approx(expected)
    assert math.fsum(sizes) / len(sizes) == pytest.approx(expected, rel=0.05)
    if entry["distribution"] == "lognormal":
        ordered = sorted(sizes)
        assert ordered[len(ordered) // 2] == pytest.approx(10, rel=0.05)
        assert ordered[int(0.99 * len(ordered))] == pytest.approx(100, rel=0.1)


def test_each_call_is_its_classs_task_with_its_size():
    mix = traffic_file.parse(
        {
            "class": [
                {"name": "io", "workload": "sleep", "task_ms": 5, "weight": 1},
                {"name": "c", "workload": "cpu", "task_ms": 7, "weight": 1},
            ]
        },
        "t",
    )
    calls = mix.calls([0, 1])
    assert [(c.task, c.args) for c in calls] == [("proj.tasks.sleep", [5]), ("proj.tasks.cpu", [7])]


def test_the_mixs_ceiling_is_the_slots_over_its_mean_task():
    mix = traffic_file.parse(
        {"class": [{"name": "s", "task_ms": 10, "weight": 99}, {"name": "l", "task_ms": 2000, "weight": 1}]}, "t"
    )
    spec = mix_workload(mix.classes)
    mean_ms = 0.99 * 10 + 0.01 * 2000  # 29.9
    bound = ceiling(spec, "prefork", 1, spec.default_task_ms, 2.0, workers=2)
    assert bound.per_s == pytest.approx(2 / (mean_ms / 1000))
    assert "the mix's weighted demands" in bound.basis


def test_a_mix_of_cpu_and_sleep_is_bounded_by_its_weighted_cpu_on_the_cores():
    mix = traffic_file.parse(
        {
            "class": [
                {"name": "c", "workload": "cpu", "task_ms": 20, "weight": 1},
                {"name": "s", "task_ms": 20, "weight": 1},
            ]
        },
        "t",
    )
    spec = mix_workload(mix.classes)
    bound = ceiling(spec, "prefork", 8, spec.default_task_ms, 2.0)
    # 8 slots x 20 ms -> 400/s; 2 cores x 10 ms CPU per task of the mix -> 200/s
    assert bound.per_s == pytest.approx(200)
    assert WORKLOADS["cpu"].cpu_share == 1.0


def test_a_drained_run_config_of_a_mix_records_the_mix():
    mix = traffic_file.parse(
        {"class": [{"name": "s", "task_ms": 10, "weight": 99}, {"name": "l", "task_ms": 2000, "weight": 1}]}, "t"
    )
    cfg = build_run_config(traffic=mix, pool="prefork", concurrency=1, workers=2, seed=7)
    assert cfg.workload == "mix"
    assert cfg.traffic is not None
    assert cfg.traffic.seed == 7
    assert cfg.task_ms == pytest.approx(29.9)


BAD = [
    ("", "lists no [[class]] tables"),
    ("[[class]]\nname = 'a'\n", "needs a weight"),
    ("[[class]]\nname = 'a'\nweight = 0\n", "weight must be above 0"),
    ("[[class]]\nname = 'a'\nweight = -1\n", "weight must be above 0"),
    ("[[class]]\nname = 'a'\nweight = 1\nworkload = 'nope'\n", "unknown workload 'nope'"),
    ("[[class]]\nname = 'a'\nweight = 1\ncolour = 'red'\n", "unknown key 'colour'"),
    ("[[class]]\nname = 'a'\nweight = 1\n[[class]]\nname = 'a'\nweight = 1\n", "given twice"),
    ("[[class]]\nname = 'a'\nweight = 1\n[[class]]\nname = 'b'\nrate = 1\n", "not some of each"),
    ("[[class]]\nname = 'a'\nweight = 1\ndistribution = 'lognormal'\np50_ms = 10\n", "needs p99_ms"),
    ("[[class]]\nname = 'a'\nweight = 1\ntask_ms = 'x'\n", "task_ms must be a number"),
    ("[[class]]\nname = 'a'\nweight = 1\nworkload = 'noop'\ntask_ms = 5\n", "has no size"),
    ("[[class]]\nname = 'a'\nweight = 1\nworkload = 'net'\n", "not supported in a mix yet"),
    ("[[class]]\nname = 'a'\nweight = 1\ntask = 'myapp.work'\n", 'needs app = "MODULE" and task = "NAME"'),
    ("[[class]]\nname = 'a'\nweight = 1\napp = 'm'\ntask = 'm.t'\ntask_ms = 5\n", "task_ms is for a built-in"),
    ("[[class]]\nname = 'a'\nweight = 1\napp = 'm'\ntask = 'm.t'\nargs = 5\n", "args must be a list"),
    (
        "[[class]]\nname = 'a'\nweight = 1\napp = 'm'\ntask = 'm.t'\n[[class]]\nname = 'b'\nweight = 1\n",
        "names built-in workloads and the app m",
    ),
    (
        "[[class]]\nname = 'a'\nweight = 1\napp = 'm'\ntask = 'm.t'\n[[class]]\nname = 'b'\nweight = 1\n"
        "app = 'n'\ntask = 'n.t'\n",
        "names the apps m, n",
    ),
    ("not toml [", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "said"), BAD)
def test_bad_traffic_files_are_refused_in_one_line(tmp_path, text, said):
    with pytest.raises(UsageError) as caught:
        traffic_file.read(write(tmp_path, text))
    message = str(caught.value)
    assert said in message
    assert "\n" not in message
    assert message.startswith("--traffic: ")


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"--traffic: cannot read .*nope.toml"):
        traffic_file.read(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"workload": "cpu"}, "leave out --workload/--task-ms"),
        ({"task_ms": 5}, "leave out --workload/--task-ms"),
        ({"stop_at": 1.0}, "leave out --stop-at"),
    ],
)
def test_a_mix_refuses_what_its_classes_give(options, said):
    mix = traffic_file.parse({"class": [{"name": "a", "weight": 1}]}, "t")
    with pytest.raises(UsageError, match=said):
        build_run_config(traffic=mix, **options)


def test_own_rates_refuse_a_rate_of_the_run():
    mix = traffic_file.parse({"class": [{"name": "a", "rate": 1}]}, "t")
    with pytest.raises(UsageError, match="give their own rates"):
        build_run_config(traffic=mix, rate=5)


def test_a_class_of_an_apps_own_task_is_resolved_in_the_app_and_cycles_its_calls(tmp_path):
    (tmp_path / "calls.jsonl").write_text('{"args": [1]}\n{"args": [2]}\n')
    mix = traffic_file.read(
        write(
            tmp_path,
            '[[class]]\nname = "s"\napp = "proj"\ntask = "proj.tasks.sleep"\nargs_file = "calls.jsonl"\nweight = 1\n'
            '[[class]]\nname = "n"\napp = "proj"\ntask = "proj.tasks.noop"\nweight = 1\n',
        )
    )
    resolved, info = traffic_file.resolve_users(mix, workdir=str(ROOT))
    assert info is not None
    assert "proj.tasks.sleep" in info.tasks
    calls = resolved.calls([0, 0, 1, 0])
    assert [(c.task, c.args) for c in calls] == [
        ("proj.tasks.sleep", [1]),
        ("proj.tasks.sleep", [2]),
        ("proj.tasks.noop", []),
        ("proj.tasks.sleep", [1]),
    ]
    cfg = build_run_config(traffic=resolved, app_info=info, pool="threads", concurrency=2)
    assert cfg.user_task is not None
    assert cfg.user_task.app == "proj"
    assert cfg.prefetch_multiplier is None  # the app's own, as for a user's task
    assert cfg.spec.estimated  # no profile: no physical ceiling claimed
    assert cfg.tasks >= 20


def test_an_unknown_task_of_the_app_names_its_class(tmp_path):
    mix = traffic_file.read(
        write(tmp_path, '[[class]]\nname = "x"\napp = "proj"\ntask = "proj.tasks.nope"\nweight = 1\n')
    )
    with pytest.raises(
        UsageError, match=r"--traffic: class 'x': --task: the app proj has no task named 'proj.tasks.nope'"
    ):
        traffic_file.resolve_users(mix, workdir=str(ROOT))


def test_a_share_of_a_class_is_sent_with_its_countdown():
    mix = traffic_file.parse(
        {"class": [{"name": "later", "task_ms": 5, "weight": 1, "countdown_ms": 500, "eta_share": 0.25}]}, "t"
    )
    calls = mix.calls([0] * 4000)
    delayed = [c.countdown_s for c in calls if c.countdown_s is not None]
    assert set(delayed) == {0.5}
    assert abs(len(delayed) / len(calls) - 0.25) < 0.03
    assert mix.classes[0].describe()["eta_share"] == 0.25
    every = traffic_file.parse({"class": [{"name": "later", "weight": 1, "countdown_ms": 100}]}, "t")
    assert {c.countdown_s for c in every.calls([0] * 50)} == {0.1}


def test_a_countdowns_wait_counts_from_its_eta():
    from bench.measure.mix import due

    calls = [traffic.Call(0, "t", [], None, 0.5), traffic.Call(0, "t", [], None, None)]
    assert due(["a", "b"], calls, {"a": 10.0, "b": 11.0}) == {"a": 10.5, "b": 11.0}


def test_an_eta_share_without_a_countdown_is_refused():
    with pytest.raises(UsageError, match="eta_share is the share sent with a countdown; give countdown_ms too"):
        traffic_file.parse({"class": [{"name": "a", "weight": 1, "eta_share": 0.5}]}, "t")


def test_routing_is_a_sweep_axis_of_a_mix_and_each_point_routes_its_classes():
    from bench.sweep.config import build_sweep_config
    from bench.sweep.plan import plan_sweep, run_config_for

    mix = traffic_file.parse(
        {
            "class": [
                {"name": "short", "task_ms": 10, "weight": 99},
                {"name": "long", "task_ms": 2000, "weight": 1, "queue": "slow"},
            ]
        },
        "t",
    )
    cfg = build_sweep_config(
        pools=["prefork"], concurrency=[1], traffic=mix, vary=[("routing", ("shared", "dedicated"))], workers=[2]
    )
    routed = {
        run_config_for(cfg, p).traffic.routing: run_config_for(cfg, p).traffic.lanes for p in plan_sweep(cfg, cores=2.0)
    }
    assert routed == {"shared": ("default",), "dedicated": ("default", "slow")}
    with pytest.raises(UsageError, match="--vary routing: an axis of a traffic mix; give --traffic too"):
        build_sweep_config(pools=["prefork"], vary=[("routing", ("shared",))])
    with pytest.raises(UsageError, match="--vary routing: expected shared or dedicated, got 'both'"):
        build_sweep_config(pools=["prefork"], traffic=mix, vary=[("routing", ("both",))])


def test_the_lanes_of_dedicated_routing_and_their_workers():
    mix = traffic_file.parse(
        {
            "class": [
                {"name": "a", "weight": 1},
                {"name": "b", "weight": 1, "queue": "slow"},
                {"name": "c", "weight": 1, "queue": "slow"},
            ]
        },
        "t",
    )
    routed = dataclasses.replace(mix, routing="dedicated")
    assert routed.lanes == ("default", "slow")
    assert [routed.lane_of(i) for i in range(3)] == [0, 1, 1]
    assert routed.lane_nodes(3) == [[0, 2], [1]]
    assert mix.lanes == ("default",)
    assert [mix.lane_of(i) for i in range(3)] == [0, 0, 0]
