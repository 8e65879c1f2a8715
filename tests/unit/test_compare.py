"""`compare` on hand-made result files and sweep directories: the decision
rule, the exit codes, and the output."""

import pytest

from bench.analysis import compare
from bench.cli import main
from bench.results.io import write_atomic
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.store import SweepDir
from tests.helpers.cli import run_bench

STEADY = [100.0, 101.0, 99.0, 100.5, 99.5]
SLOWER_BY_20 = [80.0, 81.0, 79.0, 80.5, 79.5]
KEY = compare.PointKey("gevent", 16, "sleep", 50.0, 2.0, "redis")


def run_doc(
    throughput, *, pool="gevent", concurrency=16, host="vm", state="ok", cores=2.0, schema_version=1, health=None
):
    summary = {"throughput_per_s": throughput if state == "ok" else None}
    if health is not None:  # {kind: count}, as a run's summary.health holds it
        summary["health"] = {"findings": [{"kind": kind, "count": n} for kind, n in health.items()]}
    return {
        "schema_version": schema_version,
        "kind": "run",
        "status": {"state": state, "reason": None if state == "ok" else "3 failed and 0 missing of 20 tasks"},
        "config": {
            "pool": pool,
            "concurrency": concurrency,
            "workload": "sleep",
            "task_ms": 50.0,
            "cores": cores,
            "broker": {"kind": "redis", "embedded": True},
        },
        "summary": summary,
        "metadata": {"hostname": host, "usable_cores": 2.0},
    }


def write_run(path, throughput, **fields):
    write_atomic(path, run_doc(throughput, **fields))
    return path


def make_sweep(path, values, host="vm", failed=(), planned=(), health=None):
    """A sweep directory of gevent on sleep 50 ms; `values` maps -c to the
    throughput of each repeat; each -c in `failed` gets one failed repeat
    more; -c in `planned` are in the plan without any repeat; `health`: every
    repeat's findings ({kind: count}; None: not diagnosed)."""
    concurrency = sorted({*values, *failed, *planned})
    cfg = build_sweep_config(pools=["gevent"], workloads=["sleep"], concurrency=concurrency, profile="quick", seed=1)
    plan = build_plan(cfg.pools, cfg.workloads, PROFILES[cfg.profile], 2.0, [0, 1], concurrency=cfg.concurrency)
    target = SweepDir(path)
    target.path.mkdir(parents=True)
    target.write_manifest(cfg, plan, status="complete", metadata={"hostname": host})
    for point in plan:
        for value in values.get(point.concurrency, []):
            doc = run_doc(value, concurrency=point.concurrency, host=host, health=health)
            write_atomic(target.next_repeat_path(point), doc)
        if point.concurrency in failed:
            write_atomic(
                target.next_repeat_path(point), run_doc(None, concurrency=point.concurrency, host=host, state="failed")
            )
    return path


def run_compare(capsys, *args):
    code = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def row_of(out, name):
    return next(line for line in out.splitlines() if line.startswith(name))


# --- The decision rule, on values ---------------------------------------------


def side(values):
    return compare.Side(tuple(values))


def test_identical_samples_are_no_significant_difference():
    result = compare.compare_point(KEY, side(STEADY), side(STEADY))
    assert result.decision == compare.SAME
    assert result.change == 0
    assert result.change_ci95[0] <= 0 <= result.change_ci95[1]
    assert result.p_value == pytest.approx(1.0)


def test_a_clear_20_percent_drop_is_slower():
    result = compare.compare_point(KEY, side(STEADY), side(SLOWER_BY_20))
    assert result.decision == compare.SLOWER
    assert result.change == pytest.approx(-0.2)
    assert result.change_ci95[1] < 0
    assert result.p_value < 0.05


def test_a_clear_gain_is_faster():
    result = compare.compare_point(KEY, side(STEADY), side([v * 1.2 for v in STEADY]))
    assert result.decision == compare.FASTER
    assert not result.regression


def test_overlapping_noisy_samples_are_not_called_different():
    result = compare.compare_point(KEY, side([100, 90, 110, 95, 105]), side([97, 108, 88, 102, 93]))
    assert result.decision in (compare.SAME, compare.UNSTABLE)
    assert not result.regression


def test_a_significant_change_smaller_than_the_threshold_is_no_difference():
    result = compare.compare_point(KEY, side(STEADY), side([v * 0.97 for v in STEADY]), threshold=0.05)
    assert result.decision == compare.SAME
    assert any("within the 5% threshold" in note for note in result.notes)
    assert compare.compare_point(KEY, side(STEADY), side([v * 0.97 for v in STEADY]), threshold=0.02).regression


def test_with_three_repeats_only_separated_samples_can_be_slower():
    """With three values a side, the bootstrap CI of the ratio excludes 1
    exactly when no candidate value reaches the baseline's lowest."""
    base = [100.0, 102.0, 98.0]
    assert compare.compare_point(KEY, side(base), side([90.0, 91.0, 92.0])).decision == compare.SLOWER
    assert compare.compare_point(KEY, side(base), side([90.0, 91.0, 99.0])).decision == compare.SAME


def test_fewer_than_three_repeats_cannot_be_decided():
    result = compare.compare_point(KEY, side([100.0, 101.0]), side([50.0, 51.0]))
    assert result.decision == compare.UNSTABLE
    assert result.unstable
    assert result.change == pytest.approx(-0.5, abs=0.01)
    assert result.change_ci95 is None
    assert result.p_value is None
    assert any("too few repeats" in note for note in result.notes)


def test_a_noisy_side_is_flagged_unstable_whatever_the_decision():
    noisy = [100.0, 70.0, 130.0, 85.0, 115.0]
    result = compare.compare_point(KEY, side(STEADY), side(noisy))
    assert result.decision == compare.SAME
    assert result.candidate_cv > 0.10
    assert result.unstable
    assert any("candidate unstable" in note for note in result.notes)


def test_a_candidate_whose_every_repeat_failed_is_a_regression():
    result = compare.compare_point(KEY, side(STEADY), compare.Side((), failed=3, reason="2 missing"))
    assert result.decision == compare.FAILED
    assert result.regression


def test_a_baseline_with_no_successful_repeat_cannot_be_decided():
    result = compare.compare_point(KEY, compare.Side((), failed=3, reason="2 missing"), side(STEADY))
    assert result.decision == compare.UNSTABLE
    assert not result.regression


def test_a_candidate_that_ran_tasks_twice_where_the_baseline_did_not_is_a_regression():
    base = compare.Side(tuple(STEADY), duplicates=0, lost=0)
    cand = compare.Side(tuple(STEADY), duplicates=210, lost=0)
    result = compare.compare_point(KEY, base, cand)
    assert result.decision == compare.SAME
    assert result.misbehaved == ("duplicates",)
    assert result.regression
    assert "candidate repeats: 210 task(s) run twice; baseline: none" in result.notes


def test_a_candidate_that_lost_tasks_is_a_regression_even_against_an_undiagnosed_baseline():
    result = compare.compare_point(KEY, side(STEADY), compare.Side(tuple(STEADY), duplicates=0, lost=7))
    assert result.misbehaved == ("lost",)
    assert result.regression


def test_misbehaviour_the_baseline_showed_too_is_no_regression():
    base = compare.Side(tuple(STEADY), duplicates=3, lost=1)
    cand = compare.Side(tuple(STEADY), duplicates=210, lost=7)
    result = compare.compare_point(KEY, base, cand)
    assert result.misbehaved == ()
    assert not result.regression


def test_an_undiagnosed_candidate_is_decided_on_throughput_alone():
    result = compare.compare_point(KEY, compare.Side(tuple(STEADY), duplicates=0, lost=0), side(STEADY))
    assert not result.regression


# --- Through the command line ---------------------------------------------------


def test_a_sweep_compared_with_itself_exits_0_with_no_significant_difference(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "base", {4: [50.0, 51.0, 49.0], 16: STEADY})
    code, out, err = run_compare(capsys, sweep, sweep)
    assert code == 0, err
    assert err == ""
    for name in ("sleep-50ms-gevent-c4", "sleep-50ms-gevent-c16"):
        assert "no significant difference" in row_of(out, name)
    assert "slower" not in out.split("\n\n")[1]  # the table itself


def test_a_slower_candidate_exits_1_and_names_the_point(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {4: [50.0, 51.0, 49.0], 16: STEADY})
    cand = make_sweep(tmp_path / "cand", {4: [50.5, 49.5, 50.0], 16: SLOWER_BY_20})
    code, out, err = run_compare(capsys, base, cand)
    assert code == 1
    assert "slower" in row_of(out, "sleep-50ms-gevent-c16")
    assert "-20.0%" in row_of(out, "sleep-50ms-gevent-c16")
    assert "no significant difference" in row_of(out, "sleep-50ms-gevent-c4")
    assert len(err.strip().splitlines()) == 1
    assert "sleep-50ms-gevent-c16" in err
    assert "sleep-50ms-gevent-c4" not in err


def test_a_larger_threshold_lets_the_same_drop_pass(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY})
    cand = make_sweep(tmp_path / "cand", {16: SLOWER_BY_20})
    code, out, _ = run_compare(capsys, base, cand, "--threshold", "25%")
    assert code == 0
    assert "significant, but within the 25% threshold" in out


def test_a_point_on_one_side_only_is_listed(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {4: [50.0, 51.0, 49.0], 16: STEADY})
    cand = make_sweep(tmp_path / "cand", {16: STEADY, 64: [300.0, 301.0, 299.0]})
    code, out, _ = run_compare(capsys, base, cand)
    assert code == 0
    assert "no significant difference" in row_of(out, "sleep-50ms-gevent-c16")
    assert "only in the baseline (not compared): sleep-50ms-gevent-c4" in out
    assert "only in the candidate (not compared): sleep-50ms-gevent-c64" in out


def test_a_planned_point_never_measured_cannot_be_decided(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {4: [50.0, 51.0, 49.0], 16: STEADY})
    cand = make_sweep(tmp_path / "cand", {4: [50.0, 51.0, 49.0]}, planned={16})  # an interrupted sweep
    code, out, _ = run_compare(capsys, base, cand)
    assert code == 0
    assert "no successful candidate repeat" in row_of(out, "sleep-50ms-gevent-c16")
    assert run_compare(capsys, base, cand, "--fail-on-unstable")[0] == 3


def test_failed_and_interrupted_repeats_are_left_out(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY})
    cand = make_sweep(tmp_path / "cand", {16: STEADY}, failed={16})
    half = cand / "runs" / "sleep-50ms-gevent-c16" / "r09.interrupted.json"
    write_atomic(half, run_doc(1.0))
    code, out, _ = run_compare(capsys, base, cand)
    assert code == 0
    row = row_of(out, "sleep-50ms-gevent-c16")
    assert "(n=5)" in row
    assert "1 candidate repeat(s) failed" in row


def test_a_candidate_that_failed_everywhere_exits_1(tmp_path, capsys):
    base = write_run(tmp_path / "base.json", 100.0)
    cand = write_run(tmp_path / "cand.json", None, state="failed")
    code, out, err = run_compare(capsys, base, cand)
    assert code == 1
    assert "failed" in row_of(out, "sleep-50ms-gevent-c16")
    assert "sleep-50ms-gevent-c16 (failed)" in err


def test_a_candidate_sweep_that_ran_tasks_twice_exits_1_naming_the_counts(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY}, health={})
    cand = make_sweep(tmp_path / "cand", {16: STEADY}, health={"duplicates": 42, "lost": 1})  # in each of 5 repeats
    code, out, err = run_compare(capsys, base, cand)
    assert code == 1
    row = row_of(out, "sleep-50ms-gevent-c16")
    assert "no significant difference; ran tasks twice or lost some" in row
    assert "candidate repeats: 210 task(s) run twice, 5 task(s) lost; baseline: none" in row
    assert "1 whose candidate ran tasks twice or lost some" in out
    assert err.strip() == (
        "python -m bench compare: error: 1 point(s) worse than the baseline: "
        "sleep-50ms-gevent-c16 (+0.0%; 210 task(s) run twice, 5 task(s) lost)"
    )
    code, out, _ = run_compare(capsys, base, cand, "--format", "markdown")
    assert out.splitlines()[0] == "### celery-bench compare: 1 point(s) worse than the baseline"
    assert "**no significant difference; ran tasks twice or lost some**" in out


def test_tasks_left_when_the_harness_stopped_waiting_are_no_loss_to_compare(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY}, health={})
    cand = make_sweep(tmp_path / "cand", {16: STEADY}, failed={16})
    write_atomic(
        cand / "runs" / "sleep-50ms-gevent-c16" / "r09.json",
        {**run_doc(None, state="failed"), "summary": {"health": {"findings": [{"kind": "lost", "count": 9,
                                                                               "cause": "cut_short"}]}}},
    )  # fmt: skip
    assert run_compare(capsys, base, cand)[0] == 0


def test_a_sweep_that_ran_tasks_twice_on_both_sides_exits_0(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY}, health={"duplicates": 3})
    cand = make_sweep(tmp_path / "cand", {16: STEADY}, health={"duplicates": 40})
    assert run_compare(capsys, base, cand)[0] == 0


def test_different_hosts_are_refused_unless_allowed(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY}, host="laptop")
    cand = make_sweep(tmp_path / "cand", {16: STEADY}, host="ci-runner-7")
    code, out, err = run_compare(capsys, base, cand)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "laptop" in err
    assert "ci-runner-7" in err
    code, out, _ = run_compare(capsys, base, cand, "--allow-different-hosts")
    assert code == 0
    assert "no significant difference" in row_of(out, "sleep-50ms-gevent-c16")


def test_single_runs_are_too_few_repeats_and_fail_only_when_asked(tmp_path, capsys):
    base = write_run(tmp_path / "base.json", 100.0)
    cand = write_run(tmp_path / "cand.json", 60.0)
    code, out, _ = run_compare(capsys, base, cand)
    assert code == 0
    row = row_of(out, "sleep-50ms-gevent-c16")
    assert "unstable" in row
    assert "too few repeats to decide" in row
    assert "-40.0%" in row
    code, _, err = run_compare(capsys, base, cand, "--fail-on-unstable")
    assert code == 3
    assert len(err.strip().splitlines()) == 1
    assert "too unstable to decide: sleep-50ms-gevent-c16" in err


def test_a_noisy_sweep_exits_3_with_fail_on_unstable(tmp_path, capsys):
    noisy = [100.0, 70.0, 130.0, 85.0, 115.0]
    base = make_sweep(tmp_path / "base", {16: noisy})
    cand = make_sweep(tmp_path / "cand", {16: noisy})
    assert run_compare(capsys, base, cand)[0] == 0
    code, out, _ = run_compare(capsys, base, cand, "--fail-on-unstable")
    assert code == 3
    assert "baseline unstable: CV" in row_of(out, "sleep-50ms-gevent-c16")


def test_a_regression_wins_over_instability(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {4: [50.0], 16: STEADY})
    cand = make_sweep(tmp_path / "cand", {4: [50.0], 16: SLOWER_BY_20})
    assert run_compare(capsys, base, cand, "--fail-on-unstable")[0] == 1


def bad_inputs(tmp_path):
    good = write_run(tmp_path / "good.json", 100.0)
    (tmp_path / "text.json").write_text("not json {")
    write_run(tmp_path / "newer.json", 100.0, schema_version=99)
    write_run(tmp_path / "prefork.json", 100.0, pool="prefork")
    sweep = make_sweep(tmp_path / "sweep", {16: STEADY})
    (tmp_path / "empty").mkdir()
    return {
        "missing file": (good, tmp_path / "nope.json", "cannot read"),
        "not JSON": (good, tmp_path / "text.json", "not valid JSON"),
        "newer schema": (tmp_path / "newer.json", good, "schema_version 99 is newer"),
        "nothing matches": (good, tmp_path / "prefork.json", "nothing to compare"),
        "file and directory": (good, sweep, "cannot compare a run"),
        "not a sweep directory": (tmp_path / "empty", sweep, "not a sweep directory"),
        "a sweep's summary file": (sweep / "manifest.json", good, "give the sweep directory itself"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "not JSON",
        "newer schema",
        "nothing matches",
        "file and directory",
        "not a sweep directory",
        "a sweep's summary file",
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    baseline, candidate, message = bad_inputs(tmp_path)[case]
    code, out, err = run_compare(capsys, baseline, candidate)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("python -m bench compare: error: ")
    assert message in err


@pytest.mark.parametrize("threshold", ["abc", "-1", "100"])
def test_a_bad_threshold_exits_2(tmp_path, capsys, threshold):
    good = write_run(tmp_path / "good.json", 100.0)
    code, _, err = run_compare(capsys, good, good, "--threshold", threshold)
    assert code == 2
    assert "--threshold" in err


def test_markdown_is_a_table_for_a_pull_request(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {4: [50.0, 51.0, 49.0], 16: STEADY})
    cand = make_sweep(tmp_path / "cand", {4: [50.5, 49.5, 50.0], 16: SLOWER_BY_20})
    code, out, _ = run_compare(capsys, base, cand, "--format", "markdown")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "### celery-bench compare: 1 point(s) slower than the baseline"
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| point | baseline /s | candidate /s | change |")
    assert set(table[1]) <= set("|-: ")
    assert len(table) == 4  # header, alignment, two points
    assert all(row.count(" | ") == table[0].count(" | ") for row in table[2:])
    assert "| `sleep-50ms-gevent-c16` |" in table[3]
    assert "**slower**" in table[3]


def test_python_m_bench_compare_exits_1_on_a_regression(tmp_path):
    base = make_sweep(tmp_path / "base", {16: STEADY})
    cand = make_sweep(tmp_path / "cand", {16: SLOWER_BY_20})
    proc = run_bench("compare", base, cand)
    assert proc.returncode == 1
    assert "slower" in row_of(proc.stdout, "sleep-50ms-gevent-c16")
    assert proc.stderr.strip().splitlines() == [
        "python -m bench compare: error: 1 point(s) slower than the baseline: sleep-50ms-gevent-c16 (-20.0%)"
    ]


def test_compare_names_what_differs_in_the_two_sides_environments(tmp_path, capsys):
    """pyperf/asv-style metadata: the software and the CPU each side was
    measured with; a difference is said, not judged (same machine)."""
    base, cand = run_doc(100.0), run_doc(100.0)
    base["metadata"].update(cpu_governor="powersave", packages={"celery": "5.6.3", "kombu": "5.7.0"})
    cand["metadata"].update(cpu_governor="performance", packages={"celery": "5.7.0", "kombu": "5.7.0"})
    write_atomic(tmp_path / "a.json", base)
    write_atomic(tmp_path / "b.json", cand)
    out = run_compare(capsys, str(tmp_path / "a.json"), str(tmp_path / "b.json"))[1].splitlines()
    assert out[2] == "environment differs: celery 5.6.3 -> 5.7.0; cpu governor powersave -> performance"
    same = run_compare(capsys, str(tmp_path / "a.json"), str(tmp_path / "a.json"))[1]
    assert "environment differs" not in same
    markdown = run_compare(capsys, "--format", "markdown", str(tmp_path / "a.json"), str(tmp_path / "b.json"))[1]
    assert "Environment differs: celery 5.6.3 -> 5.7.0; cpu governor powersave -> performance." in markdown


# --- Open loop (--rates): the p99 at the same offered rate --------------------

P99_MS = [40.0, 42.0, 41.0, 39.5, 40.5]
P99_WORSE_BY_30 = [v * 1.3 for v in P99_MS]


def latency(values_ms, producer_limited=0, failed=0):
    return compare.LatencySide(tuple(v / 1000 for v in values_ms), failed, producer_limited, "x" if failed else None)


def test_a_p99_30_percent_higher_at_the_same_rate_is_slower():
    result = compare.compare_latency(KEY, 100.0, latency(P99_MS), latency(P99_WORSE_BY_30))
    assert result.decision == compare.SLOWER
    assert result.regression
    assert result.change == pytest.approx(0.3, abs=0.01)
    assert result.change_ci95[0] > 0


def test_a_p99_lower_is_faster_and_the_same_is_no_difference():
    assert compare.compare_latency(KEY, 100.0, latency(P99_WORSE_BY_30), latency(P99_MS)).decision == compare.FASTER
    same = compare.compare_latency(KEY, 100.0, latency(P99_MS), latency(P99_MS))
    assert same.decision == compare.SAME
    assert not same.regression


def test_producer_limited_repeats_are_left_out_and_too_few_cannot_be_decided():
    result = compare.compare_latency(KEY, 100.0, latency(P99_MS), latency(P99_WORSE_BY_30[:2], producer_limited=3))
    assert result.decision == compare.UNSTABLE
    assert "3 candidate repeat(s) producer-limited, left out" in result.notes


def test_a_candidate_whose_every_open_loop_repeat_failed_is_a_regression():
    result = compare.compare_latency(KEY, 100.0, latency(P99_MS), latency([], failed=3))
    assert result.decision == compare.FAILED
    assert result.regression


def open_loop_doc(p99_ms, *, concurrency=16, producer_limited=False):
    doc = run_doc(None, concurrency=concurrency)
    doc["status"] = {"state": "producer-limited" if producer_limited else "ok", "reason": None}
    doc["open_loop"] = {"sojourn_p99_s": p99_ms / 1000, "producer_limited": producer_limited}
    return doc


def add_open_loop(sweep, rate, p99s_ms, concurrency=16):
    target = SweepDir(sweep)
    (point,) = [p for p in target.planned_points() if p.concurrency == concurrency]
    for i, value in enumerate(p99s_ms, 1):
        write_atomic(target.open_loop_path(point, rate, i), open_loop_doc(value, concurrency=concurrency))


def test_compare_of_sweeps_run_open_loop_decides_on_the_p99_at_each_rate(tmp_path, capsys):
    base = make_sweep(tmp_path / "base", {16: STEADY})
    cand = make_sweep(tmp_path / "cand", {16: STEADY})
    for sweep, at_50, at_90 in ((base, P99_MS, P99_MS), (cand, P99_MS, P99_WORSE_BY_30)):
        add_open_loop(sweep, 50.0, at_50)
        add_open_loop(sweep, 90.0, at_90)
    code, out, err = run_compare(capsys, base, cand)
    assert code == 1, err
    rows = [line for line in out.splitlines() if line.startswith("sleep-50ms-gevent-c16")]
    assert len(rows) == 3  # throughput, then p99 at 50/s and at 90/s
    assert "no significant difference" in rows[0]
    assert " 50 " in rows[1]
    assert "no significant difference" in rows[1]
    assert " 90 " in rows[2]
    assert "slower" in rows[2]
    assert "+30.0%" in rows[2]
    assert "sojourn p99 at the same offered rate" in out
    assert "sleep-50ms-gevent-c16 at 90/s (p99 +30.0%)" in err
    code, out, _ = run_compare(capsys, base, cand, "--format", "markdown")
    assert "| `sleep-50ms-gevent-c16` | 90 |" in out
    assert "**slower**" in out
