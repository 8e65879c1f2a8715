"""A scenario file, so a CI job is one line: `[tool.celery-bench]` in a
pyproject.toml, or a celery-bench.toml, naming the app, the task and its
arguments, pools, -c lists and profile. Command-line options override it.

    [tool.celery-bench]            # (in celery-bench.toml, the table is optional)
    app = "thumbs"
    task = "thumbs.thumbnail"
    args-file = "calls.jsonl"      # or args = [...], kwargs = {...}
    pools = ["prefork", "threads"] # sweep
    concurrency = [2, 8]           # sweep; run takes c = 8 and pool = "threads"
    profile = "quick"              # sweep (and ab: it takes what sweep takes)

    [[tool.celery-bench.traffic.class]]   # run and sweep: a traffic mix, as --traffic FILE holds it
    name = "short"
    task_ms = 10
    weight = 99

Paths (workdir, args-file, output-dir) are relative to the file's directory.
find, read and options are pure: they return option values; `apply` sets
them on the parsed options, before the request is built (so they count as
given, parser.given).
"""

import argparse
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.measure import traffic_file

FILE_NAMES = ("celery-bench.toml", "pyproject.toml")
PATH_KEYS = ("workdir", "args-file", "output-dir")
# key -> (argparse dest, the option strings that override it, the commands it applies to, type check)
KEYS = {
    "app": ("app", ("--app",), ("run", "sweep", "profile", "ab"), str),
    "task": ("task", ("--task",), ("run", "sweep", "profile", "ab"), str),
    "args": ("args", ("--args",), ("run", "sweep", "profile", "ab"), list),
    "kwargs": ("kwargs", ("--kwargs",), ("run", "sweep", "profile", "ab"), dict),
    "args-file": ("args_file", ("--args-file",), ("run", "sweep", "profile", "ab"), str),
    "workdir": ("workdir", ("--workdir",), ("run", "sweep", "profile", "ab"), str),
    "broker": ("broker", ("--broker",), ("run", "sweep", "profile", "ab"), str),
    "pool": ("pool", ("--pool", "-P"), ("run",), str),
    "c": ("concurrency", ("-c", "--concurrency"), ("run",), int),
    "tasks": ("tasks", ("--tasks",), ("run",), int),
    "warmup": ("warmup", ("--warmup",), ("run", "profile"), int),
    "prefetch-multiplier": ("prefetch_multiplier", ("--prefetch-multiplier",), ("run", "sweep", "ab"), int),
    "output-dir": ("output_dir", ("--output-dir",), ("run", "sweep", "ab"), str),
    "pools": ("pools", ("--pools",), ("sweep", "ab"), list),
    "concurrency": ("concurrency", ("--concurrency",), ("sweep", "ab"), list),
    "profile": ("profile", ("--profile",), ("sweep", "ab"), str),
    "repeats": ("repeats", ("--repeats",), ("sweep", "ab"), int),
    "seed": ("seed", ("--seed",), ("sweep", "ab"), int),
    "calls": ("calls", ("--calls",), ("profile",), int),
    "traffic": ("traffic", ("--traffic",), ("run", "sweep"), dict),
}


def find(directory: str | Path) -> Path | None:
    """The scenario file in `directory`: celery-bench.toml, else a
    pyproject.toml with a [tool.celery-bench] table; None when neither."""
    directory = Path(directory)
    if (directory / FILE_NAMES[0]).is_file():
        return directory / FILE_NAMES[0]
    pyproject = directory / FILE_NAMES[1]
    if pyproject.is_file():
        try:
            if "celery-bench" in tomllib.loads(pyproject.read_text()).get("tool", {}):
                return pyproject
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None  # not ours to judge: it is read only when it has our table
    return None


def read(path: str | Path) -> dict[str, Any]:
    """{key: value} of the scenario in `path`, checked: UsageError (one line)
    for a file that does not parse, unknown keys, or values of a wrong type."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"--config: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    if "tool" in data and "celery-bench" in data.get("tool", {}):
        table, where = data["tool"]["celery-bench"], "[tool.celery-bench]"
    elif path.name == FILE_NAMES[1]:
        raise UsageError(f"{path}: no [tool.celery-bench] table")
    else:
        table, where = data.get("celery-bench", data), "the file"
    if not isinstance(table, dict):
        raise UsageError(f"{path}: {where} is not a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(KEYS)}")
    for key, value in table.items():
        expected = KEYS[key][3]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise UsageError(f"{path}: {key} must be a {expected.__name__}, got {value!r}")
    out = dict(table)
    for key in PATH_KEYS:
        if key in out:
            out[key] = str((path.parent / out[key]).resolve())
    if "traffic" in out:  # checked here, as --traffic FILE is: one line for what it cannot take
        out["traffic"] = traffic_file.parse(out["traffic"], f"{path}'s traffic table", option=str(path))
    return out


def options(scenario: Mapping[str, Any], command: str, argv: Sequence[str]) -> dict[str, Any]:
    """{argparse dest: value} from the scenario for `command`, leaving out
    every option given on the command line (`argv`), which wins."""
    given = {a.split("=", 1)[0] for a in argv}
    # One call's arguments and a file of calls exclude each other: either on
    # the command line replaces both in the file.
    if given & {"--args", "--kwargs", "--args-file"}:
        given |= {"--args", "--kwargs", "--args-file"}
    out = {}
    for key, value in scenario.items():
        dest, flags, commands, _ = KEYS[key]
        if command not in commands or given & set(flags):
            continue
        if key in ("args", "kwargs"):
            value = json.dumps(value)
        elif key == "pools":
            value = [str(v) for v in value]
        elif key == "concurrency":
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
                raise UsageError(f"concurrency must be a list of whole numbers of at least 1, got {value!r}")
        out[dest] = value
    return out


def apply(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Fill the options not given on the command line from the scenario file
    (--config FILE, else celery-bench.toml or a pyproject.toml with
    [tool.celery-bench] in the current directory)."""
    if args.command not in ("run", "sweep", "profile", "ab") or getattr(args, "resume", None):
        return
    path = args.config or find(Path.cwd())
    if path is None:
        return
    values = options(read(path), args.command, argv)
    if {"--workload", "-w", "--workloads", "--traffic"} & set(argv):  # workloads asked for by name win
        values = {k: v for k, v in values.items() if k not in ("app", "task", "args", "kwargs", "args_file")}
    if {"--workload", "-w", "--workloads", "--task-ms", "--app", "--task"} & set(argv):
        values.pop("traffic", None)  # ... and so does a workload or task asked for instead of the file's mix
    for dest, value in values.items():
        setattr(args, dest, value)
