"""The "Benchmark your own tasks" commands of docs/own-app.md (linked from
the README), run as written on the example app (copied to a temporary
directory, so results land there)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration


def own_tasks_block():
    page = (ROOT / "docs" / "own-app.md").read_text()
    section = page.split("# Benchmark your own tasks", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_readme_commands_for_your_own_tasks_run(tmp_path):
    block = own_tasks_block()
    for command in ("python -m bench profile", "python -m bench run", "python -m bench sweep"):
        assert command in block
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("results", "*.pid"))
    workdir = tmp_path / "examples" / "thumbnails"
    # The image server stops even when a command fails.
    script = f"set -e\ntrap 'python {workdir}/image_server.py stop' EXIT\n{block}\n"
    # `python` is this venv's, as for a user who activated it (a shell without it would find another)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "CI": "true", "PATH": path},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    profile = json.loads((workdir / "results" / "profile.json").read_text())
    assert profile["task"] == "thumbs.thumbnail"
    assert profile["per_call"]["cpu_s"] > 0
    assert profile["per_call"]["wait_s"] >= 0.019  # the image server answers after 20 ms
    runs = list((workdir / "results").glob("run-*-threads-c8-thumbnail.json"))
    assert len(runs) == 1
    run = json.loads(runs[0].read_text())
    assert run["status"]["state"] == "ok"
    assert run["summary"]["tasks"]["missing"] == 0
    assert run["summary"]["ceiling_estimated"]
    sweep = next((workdir / "results").glob("sweep-*"))
    assert "Predicted from the profile, and measured" in (sweep / "report.md").read_text()
    assert {p["pool"] for p in json.loads((sweep / "summary.json").read_text())["points"]} == {
        "prefork",
        "threads",
        "gevent",
    }
