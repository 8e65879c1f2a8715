"""Unit tests for bench.measure.apptask: the options naming a user's task,
checked without importing anything, and secrets redacted in arguments."""

import pytest

from bench.errors import UsageError
from bench.measure.apptask import (
    build_user_task,
    check_task,
    parse_args,
    parse_kwargs,
    read_args_file,
    redact_value,
)


def build(tmp_path, **options):
    return build_user_task(**({"app": "myapp", "task": "myapp.work", "cwd": tmp_path} | options))


def test_args_and_kwargs_make_one_call(tmp_path):
    user = build(tmp_path, args="[5, 20]", kwargs='{"size": 64}')
    assert len(user.calls) == 1
    assert user.call(0).as_json() == {"args": [5, 20], "kwargs": {"size": 64}}
    assert user.workdir == str(tmp_path.resolve())


def test_no_arguments_is_one_call_with_none(tmp_path):
    assert build(tmp_path).call(7).as_json() == {"args": [], "kwargs": {}}


def test_args_file_calls_are_used_in_order_and_cycled(tmp_path):
    (tmp_path / "calls.jsonl").write_text('{"args": [1]}\n\n{"kwargs": {"n": 2}}\n{"args": [3], "kwargs": {}}\n')
    user = build(tmp_path, args_file="calls.jsonl")
    assert [user.call(i).as_json()["args"] for i in range(4)] == [[1], [], [3], [1]]
    assert user.args_source == "calls.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [("{}", "JSON list"), ("5", "JSON list"), ("[1,", "not valid JSON")],
)
def test_args_must_be_a_json_list(text, message):
    with pytest.raises(UsageError, match=f"--args: .*{message}"):
        parse_args(text)


@pytest.mark.parametrize("text", ["[1]", '"a"', "nope"])
def test_kwargs_must_be_a_json_object(text):
    with pytest.raises(UsageError, match="--kwargs"):
        parse_kwargs(text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"args": [1]}\nnot json\n', "line 2: not valid JSON"),
        ("[1, 2]\n", "line 1: expected"),
        ('{"args": 5}\n', 'line 1: "args" must be a JSON list'),
        ('{"kwargs": []}\n', 'line 1: "kwargs" must be a JSON object'),
        ('{"args": [], "extra": 1}\n', "line 1: expected"),
        ("\n\n", "no calls"),
    ],
)
def test_a_bad_args_file_line_is_named(tmp_path, content, message):
    path = tmp_path / "calls.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_args_file(path)


def test_missing_args_file_is_bad_input(tmp_path):
    with pytest.raises(UsageError, match="--args-file: cannot read"):
        build(tmp_path, args_file="nope.jsonl")


def test_task_without_app_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"--task myapp\.work: give the app"):
        build_user_task(app=None, task="myapp.work", cwd=tmp_path)


def test_app_without_task_is_refused(tmp_path):
    with pytest.raises(UsageError, match="--task NAME"):
        build(tmp_path, task=None)


@pytest.mark.parametrize("option", ["args", "kwargs", "args_file", "workdir"])
def test_task_options_without_app_are_refused(tmp_path, option):
    with pytest.raises(UsageError, match="only with --app"):
        build_user_task(app=None, task=None, cwd=tmp_path, **{option: "[]"})


def test_no_app_and_no_task_is_a_built_in_run(tmp_path):
    assert build_user_task(app=None, task=None, cwd=tmp_path) is None


def test_args_file_with_args_is_refused(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"args": []}\n')
    with pytest.raises(UsageError, match="leave out --args"):
        build(tmp_path, args_file="c.jsonl", args="[]")


def test_a_malformed_app_name_is_refused(tmp_path):
    with pytest.raises(UsageError, match="MODULE"):
        build(tmp_path, app="my app; rm")


def test_workdir_must_be_a_directory(tmp_path):
    with pytest.raises(UsageError, match="--workdir"):
        build(tmp_path, workdir="missing")


def test_an_unknown_task_names_the_close_matches():
    with pytest.raises(UsageError, match=r"no task named 'myapp.wrok'; did you mean myapp.work"):
        check_task("myapp.wrok", ["myapp.work", "myapp.boom"], "myapp")


def test_an_unknown_task_with_nothing_close_lists_the_tasks():
    with pytest.raises(UsageError, match=r"it has myapp\.work"):
        check_task("zzz", ["myapp.work"], "myapp")


def test_secrets_in_arguments_are_redacted():
    value = {
        "args": ["redis://user:hunter2@db:6379/0", "plain"],
        "kwargs": {"api_key": "abc", "password": "x", "nested": {"token": "t", "ok": 1}},
    }
    out = redact_value(value)
    assert out["args"] == ["redis://user:**@db:6379/0", "plain"]
    assert out["kwargs"]["api_key"] == "**"
    assert out["kwargs"]["password"] == "**"
    assert out["kwargs"]["nested"] == {"token": "**", "ok": 1}
    assert "hunter2" not in str(out)


def test_the_result_json_of_a_user_task_is_redacted(tmp_path):
    user = build(tmp_path, kwargs='{"dsn": "postgres://me:pw@h/db"}')
    assert "pw@" not in str(user.to_json())
