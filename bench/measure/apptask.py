"""A user's own Celery task as the thing measured: the app (what `celery -A`
takes), the task's registered name, and the arguments of its calls.

Pure: parsing and checking what the user gave, and redacting secrets in
it. Importing the app happens in a subprocess (harness/appinfo.py), never
in the harness's own process.
"""

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from bench.errors import UsageError
from bench.harness import appinfo
from bench.harness.machine import git_commit
from bench.harness.urls import redact
from bench.harness.worker import PROJECT_ROOT

DEFAULT_CALLS = 100  # calls `profile` measures, one at a time
DEFAULT_WARMUP = 5  # calls it runs first and discards
BROKER_FROM_APP = "from-app"  # --broker value: the app's own broker, only when asked
MAX_CALLS = 100_000  # lines of an --args-file
# Keys whose values are secrets wherever they appear in a task's arguments.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|auth|credential", re.IGNORECASE)
_URL_WITH_USER = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/@]+@", re.IGNORECASE)


@dataclass(frozen=True)
class Call:
    args: tuple[Any, ...]  # positional arguments, JSON values
    kwargs: tuple[
        tuple[str, Any], ...
    ]  # keyword arguments as sorted (name, JSON value) pairs (a tuple, so the call is hashable)

    def as_json(self) -> dict[str, Any]:
        return {"args": list(self.args), "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class UserTask:
    app: str  # MODULE[:ATTR], as `celery -A` takes it
    task: str  # the task's registered name
    calls: tuple[Call, ...]  # one call's arguments each, used in order and cycled
    workdir: str  # absolute directory the app is imported from (`celery -A` imports from the cwd)
    args_source: str  # where the calls came from: "--args/--kwargs" or the --args-file path
    # The commit of the git checkout holding the app ("+dirty" with changes),
    # so results over time key on the app's history, not the harness's; None
    # outside a git checkout.
    git_commit: str | None = None

    def call(self, i: int) -> Call:
        """The arguments of the i-th call (cycled)."""
        return self.calls[i % len(self.calls)]

    def to_json(self) -> dict[str, Any]:
        """For the result's config: the calls with secrets redacted."""
        return {
            "app": self.app,
            "task": self.task,
            "workdir": self.workdir,
            "args_source": self.args_source,
            "git_commit": self.git_commit,
            "calls": len(self.calls),
            "arguments": [redact_value(c.as_json()) for c in self.calls[:20]],
        }


def _json(text, option):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc})") from None


def parse_args(text: str) -> list[Any]:
    """--args: a JSON list of positional arguments."""
    value = _json(text, "--args")
    if not isinstance(value, list):
        raise UsageError(f"--args: expected a JSON list such as '[1, \"a\"]', got {type(value).__name__}")
    return value


def parse_kwargs(text: str) -> dict[str, Any]:
    """--kwargs: a JSON object of keyword arguments."""
    value = _json(text, "--kwargs")
    if not isinstance(value, dict):
        raise UsageError(f"--kwargs: expected a JSON object such as '{{\"size\": 64}}', got {type(value).__name__}")
    return value


def _call(args, kwargs):
    return Call(tuple(args), tuple(sorted(kwargs.items())))


def read_args_file(path: str | Path) -> tuple[Call, ...]:
    """--args-file: one JSON object {"args": [...], "kwargs": {...}} per line
    (both optional; blank lines skipped). UsageError naming the line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"--args-file: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--args-file: {path} is not text") from None
    calls = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"--args-file: {path} line {number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(item, dict) or set(item) - {"args", "kwargs"}:
            raise UsageError(f'{where}: expected {{"args": [...], "kwargs": {{...}}}}')
        args, kwargs = item.get("args", []), item.get("kwargs", {})
        if not isinstance(args, list):
            raise UsageError(f'{where}: "args" must be a JSON list')
        if not isinstance(kwargs, dict):
            raise UsageError(f'{where}: "kwargs" must be a JSON object')
        calls.append(_call(args, kwargs))
        if len(calls) > MAX_CALLS:
            raise UsageError(f"--args-file: {path} has more than {MAX_CALLS} calls")
    if not calls:
        raise UsageError(f"--args-file: {path} has no calls")
    return tuple(calls)


def build_user_task(
    *,
    app: str | None,
    task: str | None,
    args: str | None = None,
    kwargs: str | None = None,
    args_file: str | Path | None = None,
    workdir: str | Path | None = None,
    cwd: str | Path | None = None,
) -> UserTask | None:
    """Check the options naming a user's task (without importing anything).
    `args`/`kwargs` are the option texts; `cwd` is where the command runs."""
    if task is not None and app is None:
        raise UsageError(
            f"--task {task}: give the app it belongs to with --app MODULE[:ATTR] (what `celery -A` takes); "
            "the built-in workloads are chosen with --workload"
        )
    if app is None:
        given = {"--args": args, "--kwargs": kwargs, "--args-file": args_file, "--workdir": workdir}
        for option, value in given.items():
            if value is not None:
                raise UsageError(f"{option}: only with --app and --task")
        return None
    if not task:
        raise UsageError(f"--app {app}: name the task to measure with --task NAME")
    if not re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?", app):
        raise UsageError(f"--app: expected MODULE[:ATTR] as `celery -A` takes it, got {app!r}")
    if args_file is not None and (args is not None or kwargs is not None):
        raise UsageError("--args-file gives every call's arguments; leave out --args and --kwargs")
    base = Path(cwd) if cwd is not None else Path.cwd()
    directory = (base / workdir).resolve() if workdir is not None else base.resolve()
    if not directory.is_dir():
        raise UsageError(f"--workdir: {workdir} is not a directory")
    if args_file is not None:
        calls, source = read_args_file(base / args_file), str(args_file)
    else:
        calls = (_call(parse_args(args) if args is not None else [], parse_kwargs(kwargs) if kwargs else {}),)
        source = "--args/--kwargs"
    return UserTask(
        app=app, task=task, calls=calls, workdir=str(directory), args_source=source, git_commit=git_commit(directory)
    )


def check_task(task: str, known: Sequence[str], app: str) -> None:
    """UsageError unless `task` is one of the app's `known` task names,
    naming the closest ones."""
    if task in known:
        return
    close = difflib.get_close_matches(task, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else (f"; it has {', '.join(known[:8])}" if known else "")
    raise UsageError(f"--task: the app {app} has no task named {task!r}{hint}")


def redact_value(value: Any) -> Any:
    """A JSON value with secrets replaced by "**": the password of any URL in a
    string (as in broker URLs), and every value under a key that names a
    secret (password, token, api_key...)."""
    if isinstance(value, dict):
        return {k: ("**" if _SECRET_KEY.search(str(k)) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, str) and _URL_WITH_USER.search(value):
        return " ".join(redact(word) if "://" in word else word for word in value.split(" "))
    return value


class TaskOptions(TypedDict, total=False):
    """The options that name a user's task, as texts (--app, --task,
    --args, --kwargs, --args-file, --workdir): build_user_task's keywords."""

    app: Required[str | None]
    task: Required[str | None]
    args: str | None
    kwargs: str | None
    args_file: str | Path | None
    workdir: str | Path | None


def resolve_user_task(**options: Unpack[TaskOptions]) -> tuple[UserTask, appinfo.AppInfo] | tuple[None, None]:
    """(UserTask, AppInfo) from the options, the app imported in a subprocess
    and the task checked against it; (None, None) when no user's task is
    named. `--task proj.tasks.X` alone means the tutorial's app."""
    task = options["task"]
    if options["app"] is None and task is not None and task.startswith("proj."):
        options["app"], options["workdir"] = "proj", str(PROJECT_ROOT)
    user = build_user_task(**options)
    if user is None:
        return None, None
    info = appinfo.inspect_app(user.app, user.workdir)
    check_task(user.task, list(info.tasks), user.app)
    return user, info


def read_profile(path: str | Path, task: str) -> dict[str, Any]:
    """The profile document of `task` written by `python -m bench profile`."""
    try:
        doc = json.loads(Path(path).read_text())
        float(doc["per_call"]["cpu_s"]), float(doc["per_call"]["wait_s"])
    except OSError as exc:
        raise UsageError(f"--from-profile: cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--from-profile: {path} is not a profile written by `python -m bench profile`") from None
    if doc.get("task") != task:
        raise UsageError(f"--from-profile: {path} profiles {doc.get('task')!r}, not {task!r}")
    return doc


def profile_times(doc: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(CPU s, waiting s) per call of a profile document, or None."""
    return (doc["per_call"]["cpu_s"], doc["per_call"]["wait_s"]) if doc is not None else None
