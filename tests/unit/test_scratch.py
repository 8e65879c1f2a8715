"""Scratch directories: removed whole, and those of dead harnesses found again."""

import os
import time

from bench.harness import scratch


def test_remove_leaves_nothing(tmp_path):
    d = tmp_path / f"{scratch.PREFIX}run-x"
    (d / "records").mkdir(parents=True)
    (d / "records" / "tasks-1.jsonl").write_text("{}\n")
    (d / "worker.log").write_text("log")
    (d / scratch.OWNER).write_text("1 1.000")
    scratch.remove(d)
    assert not d.exists()


def test_a_dead_harness_s_directory_is_removed_even_half_emptied(tmp_path):
    d = tmp_path / f"{scratch.PREFIX}run-dead"
    (d / "records").mkdir(parents=True)
    (d / scratch.OWNER).write_text("999999999 1.000")  # no such process
    assert scratch.remove_stale(tmp_path) == 1
    assert not d.exists()


def test_an_unmarked_directory_is_removed_only_when_empty_and_old(tmp_path):
    old = time.time() - scratch.UNMARKED_AGE_S - 60
    empty_old, empty_new, full_old = (tmp_path / f"{scratch.PREFIX}run-{n}" for n in ("a", "b", "c"))
    for d in (empty_old, empty_new, full_old):
        d.mkdir()
    (full_old / "something").write_text("not ours to judge")
    os.utime(empty_old, (old, old))
    os.utime(full_old, (old, old))
    assert scratch.remove_stale(tmp_path) == 1
    assert not empty_old.exists()
    assert empty_new.exists()
    assert full_old.exists()


def test_a_live_harness_s_directory_is_kept(tmp_path):
    d = scratch.make("run")
    try:
        assert scratch.remove_stale(d.parent) >= 0
        assert (d / scratch.OWNER).exists()
    finally:
        scratch.remove(d)
    assert not d.exists()
