"""sweep --traffic in real workers (issue 24): a small drained sweep of the
issue's mix (99% 10 ms, 1% 2 s sleeps) on two prefork workers with -c 1,
prefetch 1 against 4, whose report holds the table per setting, the
per-class p99 figure and one line of recommendation; then a resume that
reads the mix back from the sweep's manifest, the traffic file gone."""

import json
import re
from pathlib import Path

import pytest

from tests.helpers.cli import run_bench
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration

# the mix: 99% 10 ms and 1% 2 s sleeps
HOL = (ROOT / "examples" / "mixes" / "short-and-long.toml").read_text()
SEED = 3
SETTINGS = ("prefetch_multiplier=1", "prefetch_multiplier=4")


def test_a_mix_sweep_reports_per_setting_and_resumes_with_its_own_mix(tmp_path):
    path = tmp_path / "hol.toml"
    path.write_text(HOL)
    proc = run_bench(
        "sweep", "--traffic", path, "--pools", "prefork", "--concurrency", 1, "--workers", 2,
        "--vary", "prefetch_multiplier=1,4", "--profile", "quick", "--repeats", 2, "--seed", SEED,
        "--output-dir", tmp_path, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep_dir = Path(re.search(r"^sweep (\S+) \(quick", proc.stdout, re.MULTILINE).group(1))
    assert re.search(r"^Traffic mix, prefork -c 1, 2 workers: ", proc.stdout, re.MULTILINE), proc.stdout

    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["config"]["traffic"]["seed"] == SEED
    assert [c["name"] for c in summary["config"]["traffic"]["classes"]] == ["short", "long"]
    for point in summary["points"]:
        assert point["workload"] == "mix"
        assert point["repeats"] == 2
        short, long = point["classes"]
        assert (short["name"], long["name"], short["repeats"], long["repeats"]) == ("short", "long", 2, 2)
        # a 10 ms task's p99 from its publish is at least its own 10 ms; no p99 above the batch's span
        assert 0.010 <= short["sojourn_p99_s"] <= long["sojourn_p99_s"] + 2.5
        assert short["sojourn_p99_ci95_low_s"] <= short["sojourn_p99_s"] <= short["sojourn_p99_ci95_high_s"]
        assert short["throughput_per_s"] > long["throughput_per_s"] > 0  # 99 short tasks to each long one

    report = (sweep_dir / "report.md").read_text()
    assert "## Traffic mix: who waits, per setting" in report
    assert "| setting | short p99 (95% CI) | long tasks/s | short reserved while a slot was free |" in report
    for setting in SETTINGS:
        assert re.search(rf"^\| {setting} \| \S+ m?s \(", report, re.MULTILINE), setting
    (line,) = [x for x in report.splitlines() if x.startswith("**Recommendation:** ")]
    assert re.search(r"cuts the short tasks' p99 from \S+ m?s|No significant difference in the short tasks' p99", line)
    for name in ("mix-p99.png", "mix-p99.svg"):
        assert (sweep_dir / name).stat().st_size > 0
    html = (sweep_dir / "report.html").read_text()
    assert "Recommendation:</strong>" in html
    assert 'alt="per-class p99 per setting" src="data:image/png;base64,' in html

    # A resume runs the mix its manifest holds: the file is gone, one repeat is measured again.
    path.unlink()
    first = json.loads(next((sweep_dir / "runs").glob("*/r01.json")).read_text())
    dropped = next((sweep_dir / "runs").glob("*prefetch_multiplier=4/r02.json"))
    dropped.unlink()
    resumed = run_bench("sweep", "--resume", sweep_dir, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    again = json.loads(dropped.read_text())
    assert again["status"]["state"] == "ok"
    assert again["config"]["workload"] == "mix"
    assert again["traffic"]["classes"] == first["traffic"]["classes"]
    assert again["traffic"]["seed"] == SEED
    assert set(again["classes"]) == {"short", "long"}


def test_a_class_alone_is_measured_beside_the_mix_as_its_baseline(tmp_path):
    path = tmp_path / "hol.toml"
    path.write_text(HOL)
    proc = run_bench(
        "sweep", "--traffic", path, "--pools", "prefork", "--concurrency", 1, "--workers", 2,
        "--vary", "alone=none,short", "--profile", "quick", "--repeats", 1, "--seed", SEED,
        "--output-dir", tmp_path, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep_dir = Path(re.search(r"^sweep (\S+) \(quick", proc.stdout, re.MULTILINE).group(1))
    alone = json.loads(next((sweep_dir / "runs").glob("*alone=short/r01.json")).read_text())
    whole = json.loads(next((sweep_dir / "runs").glob("*alone=none/r01.json")).read_text())
    assert [c["name"] for c in alone["traffic"]["classes"]] == ["short"]
    assert set(alone["samples"]["task_class"]) == {"short"}
    # its count in the mix's batch, without the long ones
    assert alone["summary"]["tasks"]["published"] == whole["classes"]["short"]["tasks"]["counted"]
    report = (sweep_dir / "report.md").read_text()
    assert "| setting | short p99 (95% CI) | short alone p99 | long tasks/s |" in report
