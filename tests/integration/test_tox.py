"""`tox -e py` works from a fresh clone: tox builds the package, installs it
with its test extra into an environment of its own, and runs pytest bare
(not `python -m pytest`), where only pyproject's `pythonpath` puts the
checkout on sys.path for `tests.helpers`. Here on one small unit test file
that imports tests.helpers, in a copy of the checkout's files as git knows
them (tracked and not ignored: what a clone and the work in progress hold)."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration
SMALL_FILE = "tests/unit/test_run_result.py"  # imports tests.helpers: hand_made_run, golden, paths
TOX_TIMEOUT_S = 600  # a fresh environment: pip installs celery, gevent, numpy, scipy, matplotlib...


def checkout_files():
    """The checkout's files as a fresh clone has them, plus new files not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.timeout(TOX_TIMEOUT_S + 60)
def test_tox_py_runs_a_unit_test_file_that_imports_the_test_helpers(tmp_path):
    if importlib.util.find_spec("tox") is None:
        pytest.skip(f"tox is not installed for {sys.executable} (it is in the test extra: pip install -e '.[test]')")
    clone = tmp_path / "clone"
    for name in checkout_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    assert (clone / SMALL_FILE).is_file()
    # The outer pytest's xdist and leak-check variables are not the inner run's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CELERY_BENCH_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tox", "-e", "py", "--", SMALL_FILE, "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'inner'}"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=TOX_TIMEOUT_S,
    )  # fmt: skip
    said = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, said
    summary = re.search(r"=+ (\d+) passed(?:, [^=]*)? in [\d.]+s", done.stdout)
    assert summary, said
    assert int(summary.group(1)) >= 10, said  # the file's tests ran, not none of them
    assert not re.search(r"\d+ (failed|error)", summary.group(0)), said
