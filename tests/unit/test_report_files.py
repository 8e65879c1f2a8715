"""Golden files for report.md and points.csv from a small hand-made sweep
directory (clock and versions frozen); the figures and the HTML page."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.analysis.summary import analyze
from bench.cli import main
from bench.commands.report import write_report as report_sweep
from bench.output import csv as report_csv
from bench.output import html as report_html
from bench.output import markdown as report_markdown
from bench.sweep.store import load_summary
from tests.helpers.golden import check_golden
from tests.helpers.paths import DATA

FROZEN = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)


@pytest.fixture
def sweep_dir(tmp_path):
    target = tmp_path / "sweep-small"
    shutil.copytree(DATA / "sweep-small", target)
    return target


def test_report_markdown_matches_the_golden_file(sweep_dir):
    summary, manifest = load_summary(sweep_dir)
    text = report_markdown.render(
        summary,
        manifest,
        analyze(summary, manifest),
        "sweep-small",
        measured="2026-01-02 03:04:05 to 03:14:05 UTC",
        tool_version="0.0.0",
    )
    check_golden("report.md", text)


def test_points_csv_matches_the_golden_file(sweep_dir):
    summary, _ = load_summary(sweep_dir)
    check_golden("points.csv", report_csv.render(summary))


def test_report_command_writes_every_file(sweep_dir, capsys):
    assert main(["report", str(sweep_dir)]) == 0
    for name in ("report.md", "report.html", "points.csv", "overview.png", "overview.svg"):
        assert (sweep_dir / name).stat().st_size > 0, name
    assert "report.md" in capsys.readouterr().out


def test_plot_command_writes_valid_images_with_the_expected_names(sweep_dir, capsys):
    assert main(["plot", str(sweep_dir)]) == 0
    expected = {"overview"}
    for key in ("cpu-20ms", "sleep-50ms"):
        expected |= {f"{kind}-{key}" for kind in ("throughput", "efficiency", "latency", "memory", "cpu")}
    for stem in expected:
        png, svg = sweep_dir / f"{stem}.png", sweep_dir / f"{stem}.svg"
        with Image.open(png) as image:
            image.verify()
            assert image.size[0] > 400
        assert svg.read_text().lstrip().startswith("<?xml")
    assert sorted(p.stem for p in sweep_dir.glob("*.png")) == sorted(expected)


def test_html_page_is_self_contained(sweep_dir):
    report_sweep(sweep_dir)
    page = (sweep_dir / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert 'src="data:image/png;base64,' in page
    assert 'src="http' not in page
    assert "<table>" in page
    assert "does not hold" in page


def test_html_converter_escapes_text():
    page = report_html.render("# a <b>\n\n- x & y\n", Path())
    assert "<h1>a &lt;b&gt;</h1>" in page
    assert "<li>x &amp; y</li>" in page


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: shutil.rmtree(d), "not a directory"),
        (lambda d: (d / "manifest.json").unlink(), "not a sweep directory"),
        (lambda d: (d / "summary.json").write_text('{"kind": "sweep-summ'), "not valid JSON"),
        (
            lambda d: (d / "summary.json").write_text(json.dumps({"kind": "sweep-summary", "schema_version": 99})),
            "newer",
        ),
        (lambda d: (d / "summary.json").write_text("[]"), "not a celery-bench sweep summary"),
    ],
)
def test_bad_sweep_directories_exit_2_naming_the_problem(sweep_dir, capsys, setup, message):
    setup(sweep_dir)
    for command in ("plot", "report"):
        assert main([command, str(sweep_dir)]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert len(err.strip().splitlines()) == 1
