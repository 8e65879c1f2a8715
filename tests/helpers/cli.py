"""`python -m bench` as a user runs it: no TTY, CI set, and always this
checkout's bench (first on PYTHONPATH), whatever directory it runs in."""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.paths import ROOT


def bench_argv(*args):
    """The argv of `python -m bench ARGS` on this interpreter."""
    return [sys.executable, "-m", "bench", *map(str, args)]


def bench_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The test's own environment with CI set, then `env` over it (a value of
    None unsets the variable), and this checkout first on PYTHONPATH."""
    out = {**os.environ, "CI": "true"}
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    return out


def run_bench(
    *args, cwd: Path = ROOT, env: Mapping[str, str | None] | None = None, timeout: float = 180, **run
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bench ARGS` in `cwd` to its end (at most `timeout` s:
    subprocess.TimeoutExpired after) and return it, its output captured as
    text. `env`: variables set over the test's own (see bench_env); `run`:
    any other subprocess.run argument."""
    return subprocess.run(
        bench_argv(*args), cwd=cwd, env=bench_env(env), capture_output=True, text=True, timeout=timeout, **run
    )


def start_bench(*args, cwd: Path = ROOT, env: Mapping[str, str | None] | None = None, **popen) -> subprocess.Popen[str]:
    """Start `python -m bench ARGS` in `cwd` and return it running, for a test
    that acts on it while it runs; its stdout and stderr are pipes of text
    unless `popen` says otherwise (any other subprocess.Popen argument too).
    The caller ends it (the autouse leak check fails a test that does not)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(bench_argv(*args), cwd=cwd, env=bench_env(env), **popen)
