"""Unit tests for bench.scenario: the scenario file, and the command line
overriding it. Bad files are one line, exit 2, nothing started."""

import json

import pytest

from bench import cli
from bench.cli import scenario
from bench.errors import UsageError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_celery_bench_toml_gives_the_options_of_each_command(tmp_path):
    path = write(
        tmp_path,
        "celery-bench.toml",
        'app = "thumbs"\ntask = "thumbs.thumbnail"\nargs = ["u", 1]\nkwargs = {size = 64}\n'
        'pools = ["prefork", "threads"]\nconcurrency = [2, 8]\nprofile = "quick"\npool = "threads"\nc = 8\n',
    )
    found = scenario.read(path)
    sweep = scenario.options(found, "sweep", [])
    assert sweep["pools"] == ["prefork", "threads"]
    assert sweep["concurrency"] == [2, 8]
    assert sweep["profile"] == "quick"
    assert json.loads(sweep["args"]) == ["u", 1]
    assert json.loads(sweep["kwargs"]) == {"size": 64}
    run = scenario.options(found, "run", [])
    assert (run["pool"], run["concurrency"]) == ("threads", 8)
    assert "pools" not in run
    assert "profile" not in run


def test_the_command_line_overrides_the_file(tmp_path):
    path = write(tmp_path, "celery-bench.toml", 'app = "a"\ntask = "t"\nargs-file = "calls.jsonl"\npool = "solo"\n')
    found = scenario.options(scenario.read(path), "run", ["--pool", "gevent", "--args", "[1]"])
    assert "pool" not in found
    assert "args_file" not in found  # --args replaces the file's calls
    assert found["app"] == "a"


def test_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "celery-bench.toml", 'workdir = "."\nargs-file = "calls.jsonl"\n')
    found = scenario.read(path)
    assert found["workdir"] == str((tmp_path / "sub").resolve())
    assert found["args-file"] == str((tmp_path / "sub" / "calls.jsonl").resolve())


def test_a_pyproject_table_is_found_and_read(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n[tool.celery-bench]\napp = "proj"\n')
    path = scenario.find(tmp_path)
    assert path == tmp_path / "pyproject.toml"
    assert scenario.read(path) == {"app": "proj"}


def test_a_pyproject_without_the_table_is_not_a_scenario(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert scenario.find(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app = ", "not valid TOML"),
        ('app = "a"\npool_size = 3\n', "unknown key(s) pool_size"),
        ("c = 'eight'\n", "c must be a int"),
        ("args = 5\n", "args must be a list"),
        ("kwargs = [1]\n", "kwargs must be a dict"),
        ("c = true\n", "c must be a int"),
    ],
)
def test_a_bad_scenario_is_refused_in_one_line(tmp_path, text, message):
    path = write(tmp_path, "celery-bench.toml", text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scenario.read(path)


@pytest.fixture
def nothing_starts(monkeypatch):
    def refuse(*_args, **_kwargs):
        pytest.fail("bad input reached the pipeline: a broker or worker would have started")

    monkeypatch.setattr("bench.measure.runner.services", refuse)
    monkeypatch.setattr("bench.harness.broker.embedded", refuse)
    monkeypatch.setattr("bench.harness.appinfo.inspect_app", refuse)


def test_a_bad_scenario_file_exits_2_with_one_line_and_nothing_started(tmp_path, monkeypatch, capsys, nothing_starts):
    write(tmp_path, "celery-bench.toml", 'app = "a"\nbogus = 1\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "unknown key(s) bogus" in err


def test_config_option_names_the_file(tmp_path, monkeypatch, capsys, nothing_starts):
    path = write(tmp_path, "elsewhere.toml", "[tool.celery-bench]\nprofile = 3\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", "--config", str(path)]) == 2
    assert "profile must be a str" in capsys.readouterr().err


def test_scenario_args_of_a_wrong_kind_are_bad_input(tmp_path, monkeypatch, capsys, nothing_starts):
    write(tmp_path, "celery-bench.toml", 'app = "a"\ntask = "a.t"\nconcurrency = [0]\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep"]) == 2
    assert "concurrency" in capsys.readouterr().err
