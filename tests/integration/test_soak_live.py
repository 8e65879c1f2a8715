"""A short soak, live: `run --duration` without `--rate` keeps its backlog
in flight, accounts for every task, streams a row a second beside its
document, and measures a 50 KiB leak per task from the counts its memory
samples carry (it keeps no task records)."""

import json

import pytest

from tests.helpers.cli import run_bench

LEAK_KIB = 50


def test_a_soak_streams_its_seconds_and_measures_a_leak(tmp_path):
    out = tmp_path / "soak.json"
    proc = run_bench(
        "run", "-P", "threads", "-c", 4, "--workload", "leak", "--leak-kib", LEAK_KIB, "--duration", "4s",
        "--backlog", 40, "--warmup", 20, "--json", out, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["config"]["soak"] == {"duration_s": 4.0, "backlog": 40}
    tasks = doc["summary"]["tasks"]
    assert tasks["published"] == tasks["succeeded"] > 40
    assert tasks["missing"] == tasks["failed"] == 0
    series = doc["summary"]["series"]
    rows = [json.loads(line) for line in (tmp_path / series["file"]).read_text().splitlines()]
    assert len(rows) == series["seconds"] >= 4
    assert [r["t_s"] for r in rows] == list(range(len(rows)))
    assert sum(r["completions"] for r in rows) == tasks["succeeded"]
    assert all(r["in_flight"] <= 40 for r in rows)
    assert any("memory" in r for r in rows)
    growth = doc["summary"]["memory_growth"]
    assert growth["tree"]["kib_per_task"] == pytest.approx(LEAK_KIB, rel=0.15)
    assert doc["samples"]["pid"] == []  # no task record kept
    assert "soak            4 s keeping 40 tasks in flight" in proc.stdout
