"""The memory budget line, live (issue 25's done-when): `profile` of the
leak task (50 KiB kept per call) with a budget gives prefork's largest -c
within it; a run at that -c ends with the worker tree's PSS the line's
terms predict for the tasks it ran (within 15%), and a run at the largest
-c measured too."""

import json

import pytest

from tests.helpers.cli import run_bench

LEAK_KIB = 50
TOLERANCE = 0.15  # the model's extrapolation from -c 1 and 3, and PSS's noise, on a 2-core machine
WARMUP, TASKS = 200, 1000


def tree_pss(tmp_path, c):
    """(the tree's PSS at the run's end, tasks its worker completed) of a prefork run of the leak at -c `c`."""
    out = tmp_path / f"prefork-{c}.json"
    proc = run_bench(
        "run", "-P", "prefork", "-c", c, "--workload", "leak", "--leak-kib", LEAK_KIB, "--task-ms", 5,
        "--tasks", TASKS, "--warmup", WARMUP, "--json", out, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    tree = json.loads(out.read_text())["summary"]["memory_growth"]["tree"]
    return tree["pss_last_bytes"], WARMUP + tree["tasks"]


@pytest.mark.exclusive  # PSS splits a library's pages with every process mapping it: nothing may run beside it
def test_the_budget_line_s_c_is_checked_against_a_run_at_it(tmp_path):
    out = tmp_path / "profile.json"
    proc = run_bench(
        "profile", "--app", "proj", "--task", "proj.tasks.leak", "--args", f"[5, {LEAK_KIB}]",
        "--memory-budget", "400MiB", "--uptime", "1s", "--json", out, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 4  # 3 added the budget; 4 the model (bench/measure/profile.py)
    budget = doc["budget"]
    assert (budget["uptime_s"], budget["budget_bytes"]) == (1.0, 400 * 2**20)
    (line,) = [p for p in budget["pools"] if p["pool"] == "prefork"]
    assert line["kib_per_task"] == pytest.approx(LEAK_KIB, rel=TOLERANCE)  # the leak, known by construction
    assert line["fits_c"] is not None
    assert line["fits_c"] >= 3  # 400 MiB holds a few children on any machine this runs on
    assert f"-c {line['fits_c']} fits 400 MiB" in proc.stdout  # the line, printed

    def model(c, tasks):
        return line["base_bytes"] + c * line["per_slot_bytes"] + line["kib_per_task"] * 1024 * tasks

    for c in sorted({line["fits_c"], 1}):
        measured, tasks = tree_pss(tmp_path, c)
        assert measured == pytest.approx(model(c, tasks), rel=TOLERANCE), f"-c {c}"
