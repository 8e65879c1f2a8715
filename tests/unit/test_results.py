"""Unit tests for bench.results: atomic writing, loading, and the compact samples."""

import json
import math
from dataclasses import asdict

import pytest

from bench.analysis.stats import TaskRecord, latency
from bench.errors import UsageError
from bench.measure.result import compact_samples
from bench.results.io import RUN_PARTS, read_json, write_atomic
from bench.results.schema import SCHEMA_VERSION, TaskError, latency_fields

MINIMAL = {"schema_version": SCHEMA_VERSION, "config": {}, "summary": {}, "metadata": {}}


def load(path):
    """The one reader, as it reads a run's document."""
    return read_json(path, "run", "result", RUN_PARTS)


def rec(id_, published, started, finished, state="SUCCESS", pid=7, error=None):
    return TaskRecord(id_, published, started, finished, state, pid, error)


# write_atomic


def test_write_atomic_writes_valid_json(tmp_path):
    path = tmp_path / "r.json"
    document = {**MINIMAL, "summary": {"throughput_per_s": 12.5, "names": ["a", "é"]}}
    assert write_atomic(path, document) == path
    assert json.loads(path.read_text()) == document


def test_write_atomic_leaves_no_temp_file(tmp_path):
    write_atomic(tmp_path / "r.json", MINIMAL)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_atomic_replaces_an_existing_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old, and not JSON")
    write_atomic(path, MINIMAL)
    assert json.loads(path.read_text()) == MINIMAL
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_atomic_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "r.json"
    write_atomic(path, MINIMAL)
    assert load(path) == MINIMAL


def test_write_atomic_into_an_unwritable_directory_is_a_usage_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("a regular file, not a directory")
    with pytest.raises(UsageError) as excinfo:
        write_atomic(afile / "x.json", MINIMAL)
    assert str(afile) in str(excinfo.value)
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_write_atomic_that_fails_midway_leaves_neither_file_nor_temp(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(ValueError, match="JSON"):
        write_atomic(path, {"bad": math.nan})  # allow_nan=False: NaN is not JSON
    assert list(tmp_path.iterdir()) == []


# load


def test_load_reads_a_valid_minimal_document(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(MINIMAL))
    assert load(path) == MINIMAL


def test_load_accepts_a_string_path(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(MINIMAL))
    assert load(str(path)) == MINIMAL


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"schema_version": 1, "config": {', "not valid JSON"),  # truncated
        ("this is not JSON", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2, 3]", "schema_version"),
        ('{"config": {}, "summary": {}, "metadata": {}}', "schema_version"),
        ('{"schema_version": 999, "config": {}, "summary": {}, "metadata": {}}', "999"),
        ('{"schema_version": "1", "config": {}, "summary": {}, "metadata": {}}', "schema_version"),
        ('{"schema_version": 0, "config": {}, "summary": {}, "metadata": {}}', "schema_version"),
        ('{"schema_version": 1, "summary": {}, "metadata": {}}', "'config'"),
        ('{"schema_version": 1, "config": {}, "metadata": {}}', "'summary'"),
        ('{"schema_version": 1, "config": {}, "summary": {}}', "'metadata'"),
    ],
    ids=[
        "truncated",
        "not-json",
        "empty",
        "json-list",
        "no-schema-version",
        "newer-schema",
        "string-schema",
        "schema-zero",
        "no-config",
        "no-summary",
        "no-metadata",
    ],
)
def test_load_refuses_what_is_not_a_result_and_names_the_file(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError) as excinfo:
        load(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert words in message
    assert "\n" not in message


def test_load_refuses_non_utf8_bytes(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UsageError, match=r"bin\.json"):
        load(path)


def test_load_of_a_missing_file_is_a_usage_error(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(UsageError, match=r"nope\.json"):
        load(path)


def test_load_of_a_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load(tmp_path)


# compact_samples


def test_compact_samples_times_are_relative_to_the_first_publish():
    published = {"a": 100.0, "b": 100.5, "c": 101.0}
    records = [rec("b", 100.5, 101.25, 102.0), rec("a", 100.0, 100.25, 100.75)]
    samples = compact_samples(published, records)
    assert samples.published_s == (0.5, 0.0)
    assert samples.started_s == (1.25, 0.25)
    assert samples.finished_s == (2.0, 0.75)
    assert samples.pid == (7, 7)
    assert samples.state == ("SUCCESS", "SUCCESS")
    assert "first publish" in samples.time_origin


def test_compact_samples_lists_missing_ids():
    published = {"t3": 1.0, "t1": 1.0, "t2": 1.0, "t0": 1.0}
    samples = compact_samples(published, [rec("t0", 1.0, 2.0, 3.0), rec("t2", 1.0, 2.0, 3.0)])
    assert samples.missing_ids == ("t1", "t3")


def test_compact_samples_lists_errors_by_id():
    records = [rec("a", 0.0, 1.0, 2.0), rec("b", 0.0, 1.0, 2.0, state="FAILURE", error="ZeroDivisionError: x")]
    samples = compact_samples({"a": 0.0, "b": 0.0}, records)
    assert samples.errors == (TaskError("b", "ZeroDivisionError: x"),)
    assert samples.missing_ids == ()


def test_compact_samples_rounds_to_microseconds():
    samples = compact_samples({"a": 10.0}, [rec("a", 10.0, 10.1234567891, 10.2)])
    assert samples.started_s == (0.123457,)


def test_compact_samples_are_json_serialisable():
    published = {f"t{i}": i * 0.01 for i in range(5)}
    records = [rec(f"t{i}", i * 0.01, i * 0.01 + 0.1, i * 0.01 + 0.2) for i in range(3)]
    assert json.loads(json.dumps(asdict(compact_samples(published, records))))["missing_ids"] == ["t3", "t4"]


def test_compact_samples_of_nothing():
    samples = compact_samples({}, [])
    assert samples.published_s == ()
    assert samples.missing_ids == ()


# latency_fields


def test_latency_fields_are_flat_keys_with_their_unit():
    records = [rec("a", 0.0, 1.0, 3.0), rec("b", 0.0, 2.0, 3.0)]
    fields = latency_fields(latency(records))
    kinds, stats = ("wait", "service", "sojourn"), ("p50", "p90", "p99", "max", "mean")
    assert set(fields) == {f"{k}_{s}_s" for k in kinds for s in stats}
    assert fields["wait_p50_s"] == 1.0
    assert fields["service_p99_s"] == 2.0
    assert fields["sojourn_max_s"] == 3.0
    assert fields["wait_mean_s"] == pytest.approx(1.5)


def test_latency_fields_of_no_records_are_none():
    fields = latency_fields(latency([]))
    assert all(value is None for value in fields.values())
    assert "sojourn_max_s" in fields
