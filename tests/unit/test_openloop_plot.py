"""The latency-against-rate figures, drawn from a hand-built open_loop.json."""

from bench.output import openloop_plot


def _cell(rate, p50, p99, achieved):
    return {"rate": rate, "runs": 2, "p50": [p50, p50], "p99": [p99, p99], "achieved": [achieved] * 2,
            "producer_limited": False}  # fmt: skip


SUMMARY = {
    "points": [
        {
            "workload": "sleep",
            "task_ms": 20.0,
            "cpus": None,
            "pool": pool,
            "concurrency": c,
            "drain_throughput_per_s": 50.0 * c,
            "rates": [_cell(r, 0.021 + r / 5e4, 0.03 + (r / (50.0 * c)) ** 4, min(r, 50.0 * c)) for r in (20, 60, 90)],
        }
        for pool, c in (("gevent", 2), ("gevent", 8), ("threads", 2))
    ]
}


def test_one_figure_per_workload_in_png_and_svg(tmp_path):
    paths = openloop_plot.figures(SUMMARY, tmp_path)
    assert sorted(p.name for p in paths) == ["latency-vs-rate-sleep-20ms.png", "latency-vs-rate-sleep-20ms.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:500]


def test_drawing_the_same_data_twice_writes_the_same_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = {p.name: p.read_bytes() for p in openloop_plot.figures(SUMMARY, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in openloop_plot.figures(SUMMARY, tmp_path / "b")}
    assert first == second
