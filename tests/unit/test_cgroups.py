"""bench/harness/cgroups.py against fake cgroup trees in tmp_path: which
version it finds, the files it writes for a limit, what it reads back, and
that it removes what it made and what a killed harness left."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.harness import cgroups
from bench.harness.cgroups import Applied, Figures, Limits

MIB = 2**20


@pytest.fixture(autouse=True)
def fake_rmdir(monkeypatch):
    """A fake tree's directories hold regular files, which a real cgroup's
    rmdir ignores: remove them with it."""

    def remove(path):
        if any(p.is_dir() for p in path.iterdir()):
            raise OSError(16, "Device or resource busy")  # the kernel: a cgroup with children
        if (path / "cgroup.procs").exists() and (path / "cgroup.procs").read_text().strip():
            raise OSError(16, "Device or resource busy")  # ... or with processes
        shutil.rmtree(path)

    monkeypatch.setattr(cgroups, "_remove_dir", remove)


def v1_tree(root, memsw=True):
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (root / "memory").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    if memsw:
        (root / "memory" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    (root / "unified").mkdir()  # the almost empty v2 mount of a hybrid host
    (root / "unified" / "cgroup.controllers").write_text("\n")
    return root


def v2_tree(root, controllers="cpuset cpu io memory pids"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("memory pids\n")
    return root


def test_a_hybrid_host_is_v1_and_a_unified_one_v2(tmp_path):
    v1 = cgroups.detect(mount=v1_tree(tmp_path / "a"))
    assert v1 is not None
    assert v1.version == 1
    assert v1.parents == {"cpu": tmp_path / "a/cpu/celery-bench", "memory": tmp_path / "a/memory/celery-bench"}
    v2 = cgroups.detect(mount=v2_tree(tmp_path / "b"))
    assert v2 is not None
    assert v2.version == 2
    assert set(v2.parents.values()) == {tmp_path / "b/celery-bench"}


def test_v2_without_the_controllers_and_no_v1_is_nothing(tmp_path):
    assert cgroups.detect(mount=v2_tree(tmp_path / "a", controllers="pids io")) is None
    (tmp_path / "empty").mkdir()
    assert cgroups.detect(mount=tmp_path / "empty") is None
    # only the controller asked for must be there
    tree = tmp_path / "cpu-only"
    (tree / "cpu").mkdir(parents=True)
    (tree / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroups.detect(("cpu",), tree) is not None
    assert cgroups.detect(("cpu", "memory"), tree) is None


def test_where_nothing_is_writable_it_says_what_is_needed_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    why = cgroups.unavailable(Limits(cpu=1.0), tmp_path / "empty")
    assert why is not None
    assert "\n" not in why
    assert "root" in why
    assert "write access to the cgroup hierarchy" in why
    assert cgroups.unavailable(Limits(), tmp_path / "empty") is None  # nothing to limit: nothing needed


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_tree_this_user_cannot_write_is_unavailable(tmp_path):
    tree = v1_tree(tmp_path / "t")
    for d in ("cpu", "memory"):
        (tree / d).chmod(0o555)
    try:
        assert "Permission denied" in cgroups.unavailable(Limits(cpu=1.0), tree)
    finally:
        for d in ("cpu", "memory"):
            (tree / d).chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_hierarchy_whose_top_this_user_cannot_write_is_unavailable(tmp_path):
    tree = v2_tree(tmp_path / "t")
    (tree / "cgroup.procs").write_text("1\n")
    (tree / "cgroup.procs").chmod(0o444)  # as /sys/fs/cgroup/cgroup.procs is to a user
    assert "cgroup.procs" in cgroups.unavailable(Limits(cpu=1.0), tree)


def test_a_tree_the_access_check_finds_unwritable_is_unavailable_even_to_root(tmp_path, monkeypatch):
    """The two tests above as root sees them: the files say who may write
    (os.access), whatever root may do, and the check goes by them."""
    tree = v2_tree(tmp_path / "t")
    (tree / "cgroup.procs").write_text("1\n")
    top = tree / "cgroup.procs"
    monkeypatch.setattr(cgroups.os, "access", lambda path, mode: Path(path) != top)
    why = cgroups.unavailable(Limits(cpu=1.0), tree)
    assert why is not None
    assert "\n" not in why
    assert "not writable" in why
    assert str(top) in why
    parent = tree / "celery-bench"
    monkeypatch.setattr(cgroups.os, "access", lambda path, mode: Path(path) != parent)
    why = cgroups.unavailable(Limits(cpu=1.0), tree)
    assert why is not None
    assert "not writable" in why
    assert str(parent) in why


def test_the_check_leaves_no_parent_behind(tmp_path):
    tree = v1_tree(tmp_path)
    assert cgroups.unavailable(Limits(cpu=0.5, memory_bytes=256 * MIB), tree) is None
    assert not (tree / "cpu" / "celery-bench").exists()
    assert not (tree / "memory" / "celery-bench").exists()


def test_v1_writes_the_quota_and_the_limit_with_swap_off(tmp_path):
    tree = v1_tree(tmp_path)
    group = cgroups.create(Limits(cpu=1.5, memory_bytes=512 * MIB), tree)
    assert group.version == 1
    cpu, memory = group.dirs["cpu"], group.dirs["memory"]
    assert cpu.parent == tree / "cpu" / "celery-bench"
    assert cpu.name == memory.name
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "150000"
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * MIB)
    # a fake tree's new cgroup has no memsw file: swap is kept off by swappiness
    assert (memory / "memory.swappiness").read_text() == "0"
    assert group.applied() == Applied(1, 150_000, 100_000, 512 * MIB, None)
    assert group.applied().cpu_cores == 1.5


def test_v1_with_swap_accounting_sets_memory_and_swap_to_the_same_figure(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")  # as the kernel makes it
    cgroups._limit_v1({"memory": memory}, Limits(memory_bytes=256 * MIB))
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(256 * MIB)
    assert not (memory / "memory.swappiness").exists()
    assert cgroups._applied_v1({"memory": memory}).swap_limit_bytes == 0


def test_v2_enables_the_controllers_and_writes_cpu_max_and_memory_max(tmp_path):
    tree = v2_tree(tmp_path)
    group = cgroups.create(Limits(cpu=0.5, memory_bytes=256 * MIB), tree)
    assert group.version == 2
    (place,) = group.places
    assert place.parent == tree / "celery-bench"
    assert "+cpu" in (tree / "cgroup.subtree_control").read_text()  # memory was on already
    assert "memory" not in (tree / "cgroup.subtree_control").read_text().replace("memory pids", "")
    assert (tree / "celery-bench" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (place / "cpu.max").read_text() == "50000 100000"
    assert (place / "memory.max").read_text() == str(256 * MIB)
    assert group.applied() == Applied(2, 50_000, 100_000, 256 * MIB, None)


def test_v2_turns_swap_off_where_the_kernel_has_swap_control(tmp_path):
    place = tmp_path / "g"
    place.mkdir()
    (place / "memory.swap.max").write_text("max\n")
    cgroups._limit_v2({"memory": place}, Limits(memory_bytes=64 * MIB))
    assert (place / "memory.swap.max").read_text() == "0"
    assert cgroups._applied_v2({"memory": place}) == Applied(2, None, None, 64 * MIB, 0)


def test_only_the_limits_asked_for_are_set(tmp_path):
    tree = v1_tree(tmp_path)
    group = cgroups.create(Limits(cpu=2.0), tree)
    assert set(group.dirs) == {"cpu"}
    assert not (tree / "memory" / "celery-bench").exists()
    assert group.applied() == Applied(1, 200_000, 100_000)


def test_a_tiny_quota_is_the_kernels_least():
    assert cgroups.quota_us(0.001) == cgroups.MIN_QUOTA_US
    assert cgroups.quota_us(0.25) == 25_000


def test_v1_figures_throttling_in_ns_the_high_water_mark_and_oom_kills(tmp_path):
    cpu, memory = tmp_path / "cpu", tmp_path / "memory"
    cpu.mkdir()
    memory.mkdir()
    (cpu / "cpu.stat").write_text("nr_periods 120\nnr_throttled 60\nthrottled_time 2500000000\n")
    (memory / "memory.max_usage_in_bytes").write_text("104857600\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    figures = cgroups._figures_v1({"cpu": cpu, "memory": memory})
    assert figures == Figures(
        throttled_s=2.5, throttled_periods=60, periods=120, memory_peak_bytes=100 * MIB, oom_kills=2
    )


def test_v2_figures_throttling_in_us_the_peak_and_oom_kills(tmp_path):
    place = tmp_path / "g"
    place.mkdir()
    (place / "cpu.stat").write_text("usage_usec 9000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 1500000\n")
    (place / "memory.peak").write_text("52428800\n")
    (place / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    figures = cgroups._figures_v2({"cpu": place, "memory": place})
    assert figures == Figures(throttled_s=1.5, throttled_periods=4, periods=10, memory_peak_bytes=50 * MIB, oom_kills=1)
    # an older kernel without memory.peak: the high-water mark is unknown, not 0
    (place / "memory.peak").unlink()
    assert cgroups._figures_v2({"memory": place}).memory_peak_bytes is None


def test_the_child_joins_the_cgroup_before_exec(tmp_path):
    tree = v1_tree(tmp_path)
    group = cgroups.create(Limits(cpu=1.0, memory_bytes=64 * MIB), tree)
    for place in group.places:
        (place / "cgroup.procs").touch()  # the kernel makes it with the cgroup
    proc = subprocess.Popen(["true"], preexec_fn=group.joiner())
    proc.wait(timeout=10)
    for place in group.places:
        assert (place / "cgroup.procs").read_text() == str(proc.pid)
    assert group.pids() == [proc.pid]


def test_removing_a_workers_cgroup_removes_the_empty_parent_too(tmp_path):
    tree = v1_tree(tmp_path)
    first = cgroups.create(Limits(cpu=1.0, memory_bytes=64 * MIB), tree)
    second = cgroups.create(Limits(cpu=1.0, memory_bytes=64 * MIB), tree)
    assert first.remove()
    assert not first.dirs["cpu"].exists()
    assert (tree / "cpu" / "celery-bench").exists()  # the other harness's worker is still in it
    assert second.remove()
    assert not (tree / "cpu" / "celery-bench").exists()
    assert not (tree / "memory" / "celery-bench").exists()


def test_a_cgroup_still_holding_a_process_is_not_removed(tmp_path):
    tree = v1_tree(tmp_path)
    group = cgroups.create(Limits(cpu=1.0), tree)
    (group.dirs["cpu"] / "cgroup.procs").write_text("12345")
    assert not group.remove(timeout_s=0.05)
    assert group.dirs["cpu"].exists()


def test_the_next_harness_removes_the_cgroups_a_killed_one_left(tmp_path):
    tree = v1_tree(tmp_path)
    mine = cgroups.create(Limits(cpu=1.0, memory_bytes=64 * MIB), tree)
    for parent in ("cpu", "memory"):
        # a harness that is gone (no such pid), and one whose pid was reused (another start time)
        (tree / parent / "celery-bench" / "h999999999-1-abcdef").mkdir()
        (tree / parent / "celery-bench" / f"h{os.getpid()}-1-abcdef").mkdir()
    theirs_alive = tree / "cpu" / "celery-bench" / f"{mine.dirs['cpu'].name[:-6]}fedcba"
    theirs_alive.mkdir()  # another worker of a harness that runs (this one)
    again = cgroups.create(Limits(cpu=1.0, memory_bytes=64 * MIB), tree)
    left = sorted(p.name for p in (tree / "cpu" / "celery-bench").iterdir())
    assert left == sorted([mine.dirs["cpu"].name, again.dirs["cpu"].name, theirs_alive.name])
    assert sorted(p.name for p in (tree / "memory" / "celery-bench").iterdir()) == sorted(
        [mine.dirs["memory"].name, again.dirs["memory"].name]
    )


def test_the_cores_celery_auto_would_pick_under_a_quota():
    assert cgroups.quota_concurrency(0.5, 2) == 1
    assert cgroups.quota_concurrency(1.5, 8) == 2
    assert cgroups.quota_concurrency(4.0, 2) == 2  # never above the CPUs it may run on


def test_limits_name_the_controllers_they_need():
    assert Limits().controllers == ()
    assert not Limits()
    assert Limits(cpu=0.5).controllers == ("cpu",)
    assert Limits(memory_bytes=MIB).controllers == ("memory",)
    assert Limits(0.5, MIB).controllers == ("cpu", "memory")
