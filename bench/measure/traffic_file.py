"""A traffic file read into a Traffic (traffic.py), every key checked
with a one-line UsageError, and its classes that are a user's tasks
resolved in their app: a traffic TOML ([[class]] tables), or a
pyproject.toml / celery-bench.toml with [tool.celery-bench.traffic].
The format is described in traffic.py and docs/traffic.md."""

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.harness.appinfo import AppInfo
from bench.measure.apptask import build_user_task, check_task, resolve_user_task
from bench.measure.traffic import MAX_TASK_MS, Traffic, TrafficClass
from bench.workloads import WORKLOADS

DISTRIBUTIONS = ("fixed", "exponential", "lognormal", "two-point")
MAX_CLASSES = 16
SIZE_KEYS = ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share")
USER_KEYS = ("app", "task", "args", "kwargs", "args_file")
ETA_KEYS = ("countdown_ms", "eta_share")
CLASS_KEYS = frozenset(
    {"name", "workload", "weight", "rate", "distribution", "queue", *SIZE_KEYS, *USER_KEYS, *ETA_KEYS}
)
MAX_COUNTDOWN_MS = 3_600_000.0
USER_WORKLOAD = "task"  # a user's task's workload name (config.USER_TASK_WORKLOAD)


def read(path: str | Path, option: str = "--traffic") -> Traffic:
    """The traffic of a file: a traffic TOML ([[class]] tables) or a
    pyproject.toml / celery-bench.toml with [tool.celery-bench.traffic];
    UsageError (one line) for anything it cannot take."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option}: {path} is not valid TOML ({exc})") from None
    table = data.get("tool", {}).get("celery-bench", {}).get("traffic") if "tool" in data else data
    if "tool" not in data and "traffic" in data:  # a celery-bench.toml whose table is optional
        table = data["traffic"]
    if not isinstance(table, Mapping):
        raise UsageError(f"{option}: {path} has no traffic: [[class]] tables, or [tool.celery-bench.traffic]")
    return parse(table, str(path), option, base=path.parent)


def parse(table: Mapping[str, Any], source: str, option: str = "--traffic", base: Path | None = None) -> Traffic:
    """The traffic of a TOML table holding [[class]] entries, checked."""
    unknown = sorted(set(table) - {"class"})
    if unknown:
        raise UsageError(f"{option}: unknown key {unknown[0]!r} in {source}; a traffic file holds [[class]] tables")
    raw = table.get("class")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, Mapping) for c in raw):
        raise UsageError(f"{option}: {source} lists no [[class]] tables")
    if len(raw) > MAX_CLASSES:
        raise UsageError(f"{option}: {len(raw)} classes in {source}; at most {MAX_CLASSES}")
    checked = [_one_class(c, i, option, base or Path.cwd()) for i, c in enumerate(raw)]
    names = [c["name"] for c in checked]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{option}: the class name {dupes[0]!r} is given twice; each class needs its own name")
    has_rate = [c["rate"] is not None for c in checked]
    if any(has_rate) and not all(has_rate):
        raise UsageError(f"{option}: give every class a weight, or every class a rate, not some of each")
    apps = {c["app"] for c in checked}
    if len(apps) > 1:
        named = sorted(a for a in apps if a is not None)
        what = f"the apps {', '.join(named)}" if None not in apps else f"built-in workloads and the app {named[0]}"
        raise UsageError(
            f"{option}: a mix runs in one app's workers, and {source} names {what}; give every class a "
            "workload, or every class a task of one app"
        )
    amounts = [c["rate"] if c["rate"] is not None else c["weight"] for c in checked]
    total = math.fsum(amounts)
    return Traffic(
        tuple(
            TrafficClass(
                name=c["name"],
                workload=c["workload"],
                task_ms=c["task_ms"],
                share=amount / total,
                rate_per_s=c["rate"],
                distribution=c["distribution"],
                p50_ms=c["p50_ms"],
                p99_ms=c["p99_ms"],
                long_ms=c["long_ms"],
                long_share=c["long_share"],
                app=c["app"],
                task=c["task"],
                args=c["args"],
                kwargs=c["kwargs"],
                args_file=c["args_file"],
                queue=c["queue"],
                countdown_ms=c["countdown_ms"],
                eta_share=c["eta_share"],
            )
            for c, amount in zip(checked, amounts, strict=True)
        ),
        source,
    )


def _number(entry, key, where, option, *, positive=True, at_most=None):
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{option}: {where}: {key} must be a number, got {value!r}")
    if positive and value <= 0:
        raise UsageError(f"{option}: {where}: {key} must be above 0, got {value:g}")
    if at_most is not None and value > at_most:
        raise UsageError(f"{option}: {where}: {key} must be at most {at_most:g}, got {value:g}")
    return float(value)


def _one_class(entry: Mapping[str, Any], index: int, option: str, base: Path) -> dict[str, Any]:
    name = entry.get("name")
    where = f"class {name!r}" if isinstance(name, str) and name else f"class {index + 1}"
    if not isinstance(name, str) or not name.strip() or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(f'{option}: {where} needs a name: letters, digits, -, _ or . (e.g. name = "short")')
    unknown = sorted(set(entry) - CLASS_KEYS)
    if unknown:
        raise UsageError(f"{option}: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(CLASS_KEYS))})")
    user = {key: entry.get(key) for key in USER_KEYS}
    queue = entry.get("queue")
    if queue is not None and (not isinstance(queue, str) or not queue.replace("-", "_").isidentifier()):
        raise UsageError(f"{option}: {where}: queue must be a name of letters, digits, - and _, got {queue!r}")
    eta = _eta(entry, where, option)
    user_given = [key for key in USER_KEYS if user[key] is not None]
    if user_given:
        return {**_user_class(entry, name, where, option, base, user), "queue": queue, **eta}
    workload = entry.get("workload", "sleep")
    if workload not in WORKLOADS:
        raise UsageError(f"{option}: {where}: unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    if WORKLOADS[workload].needs_stub:
        raise UsageError(f"{option}: {where}: the {workload} workload is not supported in a mix yet")
    distribution = entry.get("distribution", "fixed")
    if distribution not in DISTRIBUTIONS:
        raise UsageError(
            f"{option}: {where}: unknown distribution {distribution!r}; choose from {', '.join(DISTRIBUTIONS)}"
        )
    out = {
        **dict.fromkeys(USER_KEYS),
        **eta,
        "queue": queue,
        "name": name,
        "workload": workload,
        "distribution": distribution,
        "weight": _number(entry, "weight", where, option),
        "rate": _number(entry, "rate", where, option, at_most=100_000.0),
        "task_ms": _number(entry, "task_ms", where, option, at_most=MAX_TASK_MS),
        "p50_ms": _number(entry, "p50_ms", where, option, at_most=MAX_TASK_MS),
        "p99_ms": _number(entry, "p99_ms", where, option, at_most=MAX_TASK_MS),
        "long_ms": _number(entry, "long_ms", where, option, at_most=MAX_TASK_MS),
        "long_share": _number(entry, "long_share", where, option, at_most=1.0),
    }
    if out["weight"] is not None and out["rate"] is not None:
        raise UsageError(f"{option}: {where}: give a weight or a rate, not both")
    if out["weight"] is None and out["rate"] is None:
        raise UsageError(f"{option}: {where} needs a weight (its share of the arrivals) or a rate (tasks/s)")
    sized = WORKLOADS[workload].sized
    if not sized:
        given = [k for k in ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share") if out[k] is not None]
        if given or distribution != "fixed":
            leave = given[0] if given else "distribution"
            raise UsageError(f"{option}: {where}: the {workload} workload has no size; leave out {leave}")
        return out
    needs = {
        "fixed": ("task_ms",),
        "exponential": ("task_ms",),
        "lognormal": ("p50_ms", "p99_ms"),
        "two-point": ("task_ms", "long_ms", "long_share"),
    }[distribution]
    extra = [
        k for k in ("task_ms", "p50_ms", "p99_ms", "long_ms", "long_share") if out[k] is not None and k not in needs
    ]
    if extra:
        raise UsageError(f"{option}: {where}: {extra[0]} is not a parameter of the {distribution} distribution")
    if out["task_ms"] is None and "task_ms" in needs and distribution == "fixed":
        out["task_ms"] = WORKLOADS[workload].default_task_ms
    missing = [k for k in needs if out[k] is None]
    if missing:
        raise UsageError(f"{option}: {where}: the {distribution} distribution needs {missing[0]}")
    if distribution == "lognormal" and out["p99_ms"] <= out["p50_ms"]:
        raise UsageError(f"{option}: {where}: p99_ms must be above p50_ms")
    return out


def _eta(entry: Mapping[str, Any], where: str, option: str) -> dict[str, float | None]:
    """A class's countdown and the share of its tasks sent with it, checked."""
    countdown = _number(entry, "countdown_ms", where, option, at_most=MAX_COUNTDOWN_MS)
    share = _number(entry, "eta_share", where, option, at_most=1.0)
    if share is not None and countdown is None:
        raise UsageError(f"{option}: {where}: eta_share is the share sent with a countdown; give countdown_ms too")
    return {"countdown_ms": countdown, "eta_share": share}


def _user_class(
    entry: Mapping[str, Any], name: str, where: str, option: str, base: Path, user: Mapping[str, Any]
) -> dict[str, Any]:
    """A class that is a task of the user's app: checked as written (the app is imported later)."""
    built_in = [key for key in ("workload", "distribution", *SIZE_KEYS) if key in entry]
    if built_in:
        raise UsageError(f"{option}: {where}: {built_in[0]} is for a built-in workload; a task of your app has none")
    if not isinstance(user["app"], str) or not isinstance(user["task"], str):
        raise UsageError(f'{option}: {where}: a task of your app needs app = "MODULE" and task = "NAME"')
    if user["args"] is not None and not isinstance(user["args"], list):
        raise UsageError(f"{option}: {where}: args must be a list, got {user['args']!r}")
    if user["kwargs"] is not None and not isinstance(user["kwargs"], Mapping):
        raise UsageError(f"{option}: {where}: kwargs must be a table, got {user['kwargs']!r}")
    if user["args_file"] is not None and not isinstance(user["args_file"], str):
        raise UsageError(f"{option}: {where}: args_file must be a path, got {user['args_file']!r}")
    if user["args_file"] is not None and (user["args"] is not None or user["kwargs"] is not None):
        raise UsageError(f"{option}: {where}: args_file gives every call's arguments; leave out args and kwargs")
    weight = _number(entry, "weight", where, option)
    rate = _number(entry, "rate", where, option, at_most=100_000.0)
    if (weight is None) == (rate is None):
        raise UsageError(f"{option}: {where} needs a weight (its share of the arrivals) or a rate, one of them")
    return {
        **dict.fromkeys(SIZE_KEYS),
        "name": name,
        "workload": USER_WORKLOAD,
        "distribution": "fixed",
        "weight": weight,
        "rate": rate,
        "app": user["app"],
        "task": user["task"],
        "args": None if user["args"] is None else tuple(user["args"]),
        "kwargs": None if user["kwargs"] is None else tuple(sorted(user["kwargs"].items())),
        "args_file": None if user["args_file"] is None else str((base / user["args_file"]).resolve()),
    }


def resolve_users(mix: Traffic, workdir: str | None = None) -> tuple[Traffic, AppInfo | None]:
    """The mix with each user's class resolved: its app imported (once, in
    a subprocess, from `workdir` or the current directory), its task
    checked against the app's, its calls read; and the app's AppInfo
    (None: built-in workloads only). UsageError names the class."""
    if mix.app is None:
        return mix, None
    info = None
    classes = []
    for klass in mix.classes:
        if klass.task is None:
            classes.append(klass)
            continue
        options = {
            "app": klass.app,
            "task": klass.task,
            "args": None if klass.args is None else json.dumps(list(klass.args)),
            "kwargs": None if klass.kwargs is None else json.dumps(dict(klass.kwargs)),
            "args_file": klass.args_file,
            "workdir": workdir,
        }
        try:
            if info is None:
                user, info = resolve_user_task(**options)
            else:
                user = build_user_task(**options)
                if user is not None:
                    check_task(user.task, list(info.tasks), user.app)
        except UsageError as exc:
            raise UsageError(f"--traffic: class {klass.name!r}: {exc}") from None
        classes.append(dataclasses.replace(klass, user=user))
    return dataclasses.replace(mix, classes=tuple(classes)), info
