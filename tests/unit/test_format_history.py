"""The result format's history (bench/results/versions.py) against a file of
every version in tests/data: each holds the keys its history gives it and
none of a later version's, reads them as the newest file does, and reads a
later version's fields as their defaults. Version-2 files, written before
the history was numbered, read exactly as they did then."""

import dataclasses
import json
from pathlib import Path

import pytest

from bench.analysis.latency_verdict import decide as latency_decide
from bench.analysis.verdict import DEGRADES
from bench.errors import UsageError
from bench.output.openloop_plot import verdict_markdown
from bench.results.codec import run_to_json, sweep_summary_to_json
from bench.results.io import read_json, read_run, read_sweep_summary
from bench.results.versions import (
    HISTORY,
    MIXED,
    NUMBERED_AFTERWARDS,
    SCHEMA_VERSION,
    added_in,
    holds,
    may_hold,
    unreadable,
)

DATA = Path(__file__).resolve().parents[1] / "data"
NUMBERED = range(MIXED + 1, SCHEMA_VERSION + 1)  # the versions with one file each, cut to what they held
# What a run without worker nodes reads as: one worker ran every task.
ONE_WORKER = {"samples.node": lambda run: (0,) * len(run.samples.pid), "summary.tasks_per_worker": lambda run: (11,)}


def raw(path):
    return json.loads(path.read_text())


def as_json(document):
    return json.loads(json.dumps(document))


def keys(kind):
    """(version, path, optional) of every key of document kind `kind` the history names."""
    return [
        (v.number, key.split(":", 1)[1], key in v.optional)
        for v in HISTORY
        for key in v.keys
        if key.split(":", 1)[0] == kind
    ]


def present(document, path):
    """Whether `path` ("summary.resources.per_worker") is in the JSON
    document; through a list, in every item of it."""
    head, _, rest = path.partition(".")
    if isinstance(document, list):
        return all(present(item, path) for item in document)
    if not isinstance(document, dict) or head not in document:
        return False
    return not rest or document[head] is None or present(document[head], rest)


def typed(record, path):
    """The attribute at `path` of a typed record; through a tuple, a tuple of them."""
    head, _, rest = path.partition(".")
    if isinstance(record, tuple):
        return tuple(typed(item, path) for item in record)
    # A record's free-form part (config.user_task) is a JSON object: its key, or None when absent.
    value = record.get(head) if isinstance(record, dict) else getattr(record, head)
    return value if not rest or value is None else typed(value, rest)


def default(record, path):
    """What `path` reads as when absent: its field's default (None where
    what holds it is absent too)."""
    *parents, name = path.split(".")
    owner = typed(record, ".".join(parents)) if parents else record
    if owner is None:
        return None
    if isinstance(owner, tuple):
        return tuple(default(item, name) for item in owner)
    if isinstance(owner, dict):  # a JSON object's absent key
        return None
    (field,) = [f for f in dataclasses.fields(owner) if f.name == name]
    return field.default


def cut(value, path):
    """`value` with the attribute at `path` at its default: what a version
    before the one that added it held."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(cut(item, path) for item in value)
    head, _, rest = path.partition(".")
    if isinstance(value, dict):  # a JSON object: before its key was added, it did not have it
        if rest:
            return {**value, head: cut(value.get(head), rest)}
        return {key: item for key, item in value.items() if key != head}
    return dataclasses.replace(value, **{head: cut(getattr(value, head), rest) if rest else default(value, head)})


def as_of(number, kind, path):
    """What the newest file holds at `path`, less what versions after `number` added inside it."""
    value = typed(NEWEST[kind], path)
    for version, inner, _optional in keys(kind):
        if version > number and inner.startswith(path + "."):
            value = cut(value, inner.removeprefix(path + "."))
    return value


def documents(kind):
    """(part of the document the keys of `kind` start from, its typed record) for a run or a sweep's points."""
    if kind == "run":
        return lambda doc: doc, read_run
    if kind == "point":
        return lambda doc: doc["points"], lambda path: read_sweep_summary(path).points
    return lambda doc: doc, read_sweep_summary


NEWEST = {"run": read_run(DATA / f"v{SCHEMA_VERSION}" / "run.json")}
NEWEST["sweep"] = read_sweep_summary(DATA / f"v{SCHEMA_VERSION}" / "summary.json")
NEWEST["point"] = NEWEST["sweep"].points


# --- The history itself -----------------------------------------------------------


def test_the_history_numbers_every_version_once_in_order_and_the_writer_writes_the_last():
    assert [v.number for v in HISTORY] == list(range(1, len(HISTORY) + 1))
    assert [v.date for v in HISTORY] == sorted(v.date for v in HISTORY)
    assert SCHEMA_VERSION == HISTORY[-1].number == 30
    assert all(v.commit and v.added for v in HISTORY)
    every = [key for v in HISTORY for key in v.keys]
    assert len(every) == len(set(every)), "a key is added once"
    assert all(set(v.optional) <= set(v.keys) for v in HISTORY)


def test_a_mixed_version_2_may_hold_every_numbered_version_but_surely_holds_none():
    assert holds(2, 2)
    assert holds(1, 1)
    assert not holds(1, 2)
    assert not any(holds(MIXED, n) for n in NUMBERED)
    assert all(may_hold(MIXED, n) for n in range(MIXED + 1, NUMBERED_AFTERWARDS + 1))
    # versions added since the history was numbered were never written as 2
    assert not any(may_hold(MIXED, n) for n in range(NUMBERED_AFTERWARDS + 1, SCHEMA_VERSION + 1))
    assert all(holds(n, n) and not holds(n, n + 1) for n in NUMBERED)
    assert added_in("run:samples.node") == 6
    with pytest.raises(KeyError):
        added_in("run:no.such.key")


def test_a_version_newer_than_known_or_not_a_version_is_refused_in_one_line(tmp_path):
    assert unreadable(SCHEMA_VERSION) is None
    assert unreadable(1) is None
    for bad in (SCHEMA_VERSION + 1, 0, "2", True, None):
        assert "\n" not in unreadable(bad)
    path = tmp_path / "newer.json"
    path.write_text(json.dumps({**raw(DATA / "v12" / "run.json"), "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(UsageError, match=f"schema_version {SCHEMA_VERSION + 1} is newer than this celery-bench reads"):
        read_run(path)


# --- A file of every version --------------------------------------------------------


def test_there_is_a_file_of_every_version():
    assert (DATA / "v1" / "run.json").exists()
    assert raw(DATA / "sweep-small" / "summary.json")["schema_version"] == 1
    for number in range(2, SCHEMA_VERSION + 1):
        for name in ("run.json", "summary.json"):
            assert raw(DATA / f"v{number}" / name)["schema_version"] == number, (number, name)


@pytest.mark.parametrize("number", NUMBERED)
@pytest.mark.parametrize("kind", ["run", "point", "sweep"])
def test_each_version_holds_its_keys_and_none_of_a_later_one(number, kind):
    part, _ = documents(kind)
    document = part(raw(DATA / f"v{number}" / ("run.json" if kind == "run" else "summary.json")))
    for version, path, _optional in keys(kind):
        # the files hold every key of their version, the optional ones too
        assert present(document, path) == (version <= number), (version, path)


@pytest.mark.parametrize("number", NUMBERED)
@pytest.mark.parametrize("kind", ["run", "point", "sweep"])
def test_each_version_reads_its_keys_as_the_newest_and_the_later_ones_as_defaults(number, kind):
    _, read = documents(kind)
    record = read(DATA / f"v{number}" / ("run.json" if kind == "run" else "summary.json"))
    for version, path, _optional in keys(kind):
        got = typed(record, path)
        if version <= number:
            assert got == as_of(number, kind, path), (version, path)
        elif path in ONE_WORKER and kind == "run":
            assert got == ONE_WORKER[path](record), path
        else:
            assert got == default(record, path), (version, path)


def test_the_newest_file_is_what_the_writer_writes():
    assert as_json(run_to_json(NEWEST["run"])) == raw(DATA / f"v{SCHEMA_VERSION}" / "run.json")
    assert as_json(sweep_summary_to_json(NEWEST["sweep"])) == raw(DATA / f"v{SCHEMA_VERSION}" / "summary.json")


def test_a_run_that_holds_worker_nodes_must_have_them(tmp_path):
    document = raw(DATA / "v6" / "run.json")
    del document["samples"]["node"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError, match=r"malformed document.*'node'"):
        read_run(path)


# --- Files written before the history was numbered ------------------------------------


def test_version_2_files_read_as_the_newest_does_but_for_their_number():
    every = read_run(DATA / "v2" / "run-every-field.json")
    assert every.schema_version == 2
    newest = NEWEST["run"]
    # but for what versions after NUMBERED_AFTERWARDS added (never written as 2): 14's cpu_governor, 16's
    # user_task.git_commit
    for version, inner, _optional in keys("run"):
        if version > NUMBERED_AFTERWARDS:
            newest = cut(newest, inner)
    assert dataclasses.replace(every, schema_version=SCHEMA_VERSION) == newest
    plain = read_run(DATA / "v2" / "run.json")
    assert plain.summary.tasks_per_worker == (11,)
    assert plain.samples.node == (0,) * 12
    assert (plain.hosts, plain.schedule, plain.worker_log, plain.config.worker_reported) == (None,) * 4


def test_a_version_2_run_without_worker_nodes_reads_as_one_worker(tmp_path):
    document = raw(DATA / "v2" / "run.json")
    del document["samples"]["node"], document["summary"]["tasks_per_worker"], document["config"]["workers"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    old = read_run(path)
    assert old.samples.node == (0,) * 12
    assert old.summary.tasks_per_worker == (11,)
    assert old == read_run(DATA / "v2" / "run.json")


def test_version_2_sweep_files_read_and_write_back_as_they_were_but_for_their_number():
    summary = read_sweep_summary(DATA / "v2" / "summary.json")
    written = raw(DATA / "v2" / "summary.json")
    # ... with the point fields added after the mixed versions (never written as 2), each at its default
    later = [path for version, path, _ in keys("point") if version > NUMBERED_AFTERWARDS]
    assert later, "the point keys added after version 12"
    written["points"] = [{**point, **dict.fromkeys(later)} for point in written["points"]]
    # ... and the sweep's config fields added after them (18: cpu_limit, memory_limit), each at its default
    config = [path.removeprefix("config.") for version, path, _ in keys("sweep") if version > NUMBERED_AFTERWARDS]
    assert config, "the sweep config keys added after version 12"
    written["config"] = {**written["config"], **dict.fromkeys(config)}
    assert as_json(sweep_summary_to_json(summary)) == {**written, "schema_version": SCHEMA_VERSION}
    manifest = read_json(DATA / "v2" / "manifest.json", "sweep", "sweep manifest")
    assert manifest["schema_version"] == 2


def test_version_1_sweep_points_read_their_throughput_and_load_average():
    old = read_sweep_summary(DATA / "sweep-small" / "summary.json")
    same = read_sweep_summary(DATA / "v2" / "summary.json")
    first = raw(DATA / "sweep-small" / "summary.json")["points"][1]
    assert old.points[1].throughput.median_per_s == first["throughput_per_s"]["median"]
    assert old.points[1].load_average_1m_before == first["load_average_before"]
    assert old.points[1:] == same.points[1:]


# --- Words a document may hold -------------------------------------------------------


def test_from_version_15_a_verdict_may_say_degrades_and_the_report_says_it():
    assert "degrades" in HISTORY[14].added
    document = raw(DATA / "v15" / "open_loop.json")
    assert document["schema_version"] == 15
    (verdict,) = document["verdicts"]["sleep-20ms"].values()
    assert verdict["word"] == DEGRADES
    assert verdict == as_stored(latency_decide(cells(document), cores=1.0))
    section = verdict_markdown(document)
    assert f"| **{DEGRADES}** | {verdict['reason']} |" in section
    assert f"**{DEGRADES}**: beyond 2x cores raises it" in section


def cells(document):
    """{-c: {rate: cell}} of an open-loop summary's points, as the verdict reads them."""
    return {p["concurrency"]: {c["rate"]: c for c in p["rates"]} for p in document["points"]}


def as_stored(verdict):
    """A verdict as open_loop.json holds it."""
    return {"word": verdict.word, "reason": verdict.reason}
