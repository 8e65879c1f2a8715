"""mypy on bench/, as `tox -e type` runs it (configured in pyproject.toml's
[tool.mypy]), so CI, which runs only pytest, enforces the types too."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_type_errors_in_bench(tmp_path):
    # A cache of its own: a mypy the developer runs meanwhile (or tox -e
    # type) writes .mypy_cache in the checkout, and two writers race there.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"mypy found type errors:\n{done.stdout}{done.stderr}"
