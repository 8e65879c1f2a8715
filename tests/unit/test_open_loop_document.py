"""The open-loop keys of a run's document: written when present, read back,
and absent from (and None when reading) every other run."""

from bench.results.schema import Metadata, RunResult, RunSettings, RunStatus, run_from_json, run_to_json


def result(**extra):
    return RunResult(RunStatus("ok"), RunSettings(pool="gevent"), Metadata(), run_id="r", **extra)


def test_open_loop_keys_round_trip():
    block = {"offered_rate_per_s": 40.0, "sojourn_p99_s": 0.07, "producer_limited": False}
    schedule = {"rate_per_s": 40.0, "arrival": "uniform", "scheduled_s": [0.0, 0.025], "sent_s": [0.001, 0.026]}
    doc = run_to_json(result(open_loop=block, schedule=schedule))
    assert doc["open_loop"] == block
    assert doc["schedule"] == schedule
    back = run_from_json(doc)
    assert back.open_loop == block
    assert back.schedule == schedule


def test_a_drain_run_has_no_open_loop_keys_and_older_files_read_without_them():
    doc = run_to_json(result())
    assert "open_loop" not in doc
    assert "schedule" not in doc
    doc["schema_version"] = 1
    back = run_from_json(doc)
    assert back.open_loop is None
    assert back.schedule is None
