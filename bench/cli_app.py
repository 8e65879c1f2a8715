"""The command-line options that name a user's own task, shared by `run`,
`sweep` and `profile`, and their check: options -> UserTask + AppInfo.
Importing the app happens in a subprocess (harness/appinfo.py)."""

import json
from pathlib import Path

from bench.errors import UsageError
from bench.harness.worker import PROJECT_ROOT
from bench.measure.apptask import BROKER_FROM_APP, build_user_task, check_task


def add_task_options(parser, required=False):
    """--app, --task, --args, --kwargs, --args-file, --workdir, --from-profile."""
    group = parser.add_argument_group(
        "your own task (instead of a built-in workload)",
        "The worker imports your app as `celery -A` does, from the current directory or --workdir; "
        "nothing in your code changes. The private broker is used unless you give --broker URL or "
        f"--broker {BROKER_FROM_APP} (your app's own broker: take care, it may be production).",
    )
    group.add_argument("--app", metavar="MODULE[:ATTR]", help="your Celery app, as `celery -A` takes it")
    group.add_argument("--task", metavar="NAME", help="the registered name of the task to measure")
    group.add_argument("--args", metavar="JSON_LIST", help="one call's positional arguments, e.g. '[64, \"a.png\"]'")
    group.add_argument("--kwargs", metavar="JSON_OBJECT", help="one call's keyword arguments, e.g. '{\"size\": 64}'")
    group.add_argument(
        "--args-file",
        metavar="FILE.jsonl",
        help='many calls: one {"args": [...], "kwargs": {...}} per line, used in order and cycled',
    )
    group.add_argument("--workdir", metavar="DIR", help="import the app from DIR (default: the current directory)")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="a scenario file ([tool.celery-bench] in pyproject.toml, or celery-bench.toml; default: the one in "
        "the current directory, if any); command-line options override it",
    )
    if not required:
        group.add_argument(
            "--from-profile",
            metavar="PROFILE.json",
            help="the task's profile (written by `python -m bench profile`): its ceiling is estimated from it",
        )


def user_task_from(args):
    """(UserTask, AppInfo) from the parsed options, or (None, None) when no
    user's task is named. `--task proj.tasks.X` alone means the tutorial's app."""
    app, workdir = args.app, args.workdir
    if app is None and args.task is not None and args.task.startswith("proj."):
        app, workdir = "proj", str(PROJECT_ROOT)
    user = build_user_task(
        app=app,
        task=args.task,
        args=args.args,
        kwargs=args.kwargs,
        args_file=args.args_file,
        workdir=workdir,
    )
    if user is None:
        return None, None
    from bench.harness.appinfo import inspect_app

    info = inspect_app(user.app, user.workdir)
    check_task(user.task, list(info.tasks), user.app)
    return user, info


def read_profile(path):
    """(CPU s, waiting s) per call from a profile's JSON (see `profile`)."""
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text())
        return float(doc["per_call"]["cpu_s"]), float(doc["per_call"]["wait_s"])
    except OSError as exc:
        raise UsageError(f"--from-profile: cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--from-profile: {path} is not a profile written by `python -m bench profile`") from None
