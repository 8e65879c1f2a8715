"""What advise writes and prints, from a search over known curves: the
command line, the numbers beside it, every point measured, and the figure."""

import json
import time

import pytest

from bench.analysis import mva
from bench.analysis.advise import Sample, Search
from bench.analysis.budget import BudgetAsk, RunMemory
from bench.commands import AdviseRequest
from bench.commands.advise import advise_budget, advise_document, command_line
from bench.measure.config import build_run_config
from bench.output.advise import advise_figure, advise_html, advise_markdown, advise_terminal
from bench.results.overheads import Calibration, PoolOverhead
from bench.sweep.config import build_sweep_config

TRUTH = {
    "gevent": {1: 19.0, 2: 38.0, 4: 76.0, 8: 150.0, 16: 300.0, 32: 580.0, 64: 1000.0, 128: 950.0, 256: 900.0},
    "threads": {1: 19.0, 2: 38.0, 4: 76.0, 8: 150.0, 16: 300.0, 32: 600.0, 64: 820.0, 128: 700.0, 256: 650.0},
}


def document(tmp_path, latency=None, memory=None, app=None):
    cfg = build_sweep_config(pools=["gevent", "threads"], workloads=["sleep"], profile="quick")
    request = AdviseRequest(cfg, build_run_config(pool="solo", workload="sleep"), tmp_path, app=app)
    values = iter([1.0, 0.99, 1.01] * 40)
    advice = Search(TRUTH, lambda pool, c: Sample(TRUTH[pool][c] * next(values), 60 * 2**20)).run()
    gevent = PoolOverhead("gevent", 16, 3, 1500, 1116.0, (1116.0,), 0.00085, 0.00085, 0.0001, 0.00003)
    cal = Calibration({}, "2026-12-05T03:40:21+00:00", "valkey 9.1.2, embedded", (gevent,))
    demand = mva.TaskDemand(0.0, 0.0503)
    return advise_document(request, cfg, advice, demand, TRUTH, cal, latency, memory, time.monotonic() - 30)


def test_the_terminal_leads_with_the_command_line_and_its_numbers(tmp_path):
    text = advise_terminal(document(tmp_path))
    first = text.splitlines()[2]
    assert first == "Run:  celery -A proj worker -P gevent -c 64 --prefetch-multiplier 4"
    assert "1,000.0/s (95% CI" in text
    assert "Runner-up: threads -c 64, 820.0/s, 18% less" in text
    assert "Confidence: high" in text
    for pool, c in (("gevent", 32), ("gevent", 128), ("threads", 64)):
        assert any(line.split()[:2] == [pool, str(c)] for line in text.splitlines()), (pool, c)
    assert "not measured further: threads: its knee measured 18% below the best pool's" in text


def test_a_users_app_is_named_as_celery_takes_it(tmp_path):
    cfg = build_sweep_config(pools=["gevent"], workloads=["sleep"], profile="quick")
    request = AdviseRequest(cfg, build_run_config(pool="solo", workload="sleep"), tmp_path, app="thumbs")
    assert command_line(request, cfg, "threads", 8).startswith("celery -A thumbs worker -P threads -c 8")


def test_a_missed_objective_and_an_exceeded_budget_fail_the_advice(tmp_path):
    missed = {"label": "p99", "limit_s": 0.2, "measured_s": 0.4, "met": False}
    latency = {"rate_per_s": 500.0, "sojourn_p99_s": 0.4, "producer_limited": False, "objectives": [missed]}
    latency["met"] = False
    doc = document(tmp_path, latency=latency)
    assert doc["ok"] is False
    assert "p99 400.0 ms against 200 ms: MISSED" in advise_terminal(doc)
    memory = {"budget_bytes": 2**20, "winner_bytes": 60 * 2**20, "fits": False, "alternative": None}
    doc = document(tmp_path, memory=memory)
    assert doc["ok"] is False
    assert "over the 1 MiB budget; nothing measured fits" in advise_terminal(doc)


def test_markdown_html_and_figure_show_every_point(tmp_path):
    doc = document(tmp_path)
    json.dumps(doc, allow_nan=False)  # advise.json is plain JSON
    md = advise_markdown(doc)
    measured = md.split("## What was measured")[1].split("## The model")[0]
    rows = [line for line in measured.splitlines() if line.startswith(("| gevent", "| threads"))]
    assert len(rows) == len(doc["points"])
    assert "![the model's curves and the points measured](advise.png)" in md
    png = advise_figure(doc, tmp_path / "advise.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = advise_html(doc, tmp_path)
    assert "data:image/png;base64," in page
    assert "celery -A proj worker -P gevent -c 64" in page


@pytest.mark.parametrize("loss", [0.18])
def test_the_runner_up_loss_is_against_the_winner(tmp_path, loss):
    doc = document(tmp_path)
    assert doc["runner_up"]["loss"] == pytest.approx(loss, abs=0.01)


def test_each_pool_measured_has_its_budget_line_at_its_answer(tmp_path):
    values = iter([1.0, 0.99, 1.01] * 40)
    advice = Search(TRUTH, lambda pool, c: Sample(TRUTH[pool][c] * next(values), 60 * 2**20)).run()
    mib = 2**20
    # gevent: 50 MiB + 0.1 MiB a greenlet, no growth, at -c 32 and 128 (after 100 tasks each)
    runs = {"gevent": [RunMemory(c, int(50 * mib + c * 0.1 * mib), 100, 0.0, (-0.1, 0.1)) for c in (32, 128)]}
    budget = advise_budget(advice, runs, BudgetAsk(8 * 3600.0, 55 * mib))
    (line,) = budget["pools"]  # threads sampled no memory here: no line
    assert line["at_c"] == 64  # gevent's answer
    assert line["needs_bytes"] == pytest.approx(56.4 * mib)
    assert line["fits_c"] == 50  # 50 + 50 x 0.1 = 55 MiB
    doc = {**document(tmp_path), "budget": budget}
    assert "gevent: gevent -c 64 needs 56.4 MiB after 8 h; -c 50 fits 55 MiB (55 MiB)" in advise_terminal(doc)
    assert "## Memory budget" in advise_markdown(doc)
