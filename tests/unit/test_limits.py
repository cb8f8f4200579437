"""The effective limit, against cgroup trees laid out as fixture files under a temporary root."""

import os

import pytest

from opentelemetry_instrumentation_memory import effective_memory_limit

GIB = 1 << 30
PHYSICAL = 16 * GIB


def physical():
    return PHYSICAL


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def cgroup_v2(root, path="/", memory_max=None, parent_max=None):
    write(root, "proc/self/cgroup", f"0::{path}\n")
    write(root, "proc/self/mountinfo", "35 30 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n")
    if memory_max is not None:
        write(root, f"sys/fs/cgroup{path}/memory.max", memory_max + "\n")
    if parent_max is not None:
        parent = os.path.dirname(path.rstrip("/"))
        write(root, f"sys/fs/cgroup{parent}/memory.max", parent_max + "\n")


def cgroup_v1(root, path, limit, mount_root="/"):
    write(root, "proc/self/cgroup", f"12:cpu,cpuacct:{path}\n4:memory:{path}\n1:name=systemd:{path}\n")
    write(
        root,
        "proc/self/mountinfo",
        f"40 31 0:36 {mount_root} /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        f"41 31 0:37 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct\n",
    )
    inside = path[len(mount_root) :] if mount_root != "/" else path
    write(root, f"sys/fs/cgroup/memory{inside}/memory.limit_in_bytes", f"{limit}\n")


def test_cgroup_v2_limit_below_physical(tmp_path):
    cgroup_v2(str(tmp_path), "/kubepods/pod1/app", memory_max=str(512 << 20))
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (512 << 20, "cgroup_v2")


def test_cgroup_v2_max_means_physical(tmp_path):
    cgroup_v2(str(tmp_path), "/user.slice", memory_max="max")
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (PHYSICAL, "physical")


def test_cgroup_v2_parent_limit_binds_the_child(tmp_path):
    cgroup_v2(str(tmp_path), "/kubepods/pod1/app", memory_max="max", parent_max=str(GIB))
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (GIB, "cgroup_v2")


def test_cgroup_v2_limit_above_physical_is_ignored(tmp_path):
    cgroup_v2(str(tmp_path), "/big", memory_max=str(64 * GIB))
    assert effective_memory_limit(str(tmp_path), physical).source == "physical"


def test_cgroup_v1_limit(tmp_path):
    cgroup_v1(str(tmp_path), "/docker/abc123", 256 << 20)
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (256 << 20, "cgroup_v1")


def test_cgroup_v1_unlimited_sentinel_means_physical(tmp_path):
    cgroup_v1(str(tmp_path), "/docker/abc123", 9223372036854771712)
    assert effective_memory_limit(str(tmp_path), physical).source == "physical"


def test_cgroup_v1_inside_a_container_whose_mount_root_is_its_own_cgroup(tmp_path):
    cgroup_v1(str(tmp_path), "/docker/abc123", 300 << 20, mount_root="/docker/abc123")
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (300 << 20, "cgroup_v1")


@pytest.mark.parametrize("missing", ["proc/self/cgroup", "proc/self/mountinfo", "limit file"])
def test_missing_files_fall_back_to_physical(tmp_path, missing):
    cgroup_v1(str(tmp_path), "/docker/abc123", 256 << 20)
    target = (
        "sys/fs/cgroup/memory/docker/abc123/memory.limit_in_bytes" if missing == "limit file" else missing
    )
    os.remove(os.path.join(str(tmp_path), target))
    limit = effective_memory_limit(str(tmp_path), physical)
    assert (limit.bytes, limit.source) == (PHYSICAL, "physical")


def test_garbage_in_the_limit_file_falls_back_to_physical(tmp_path):
    cgroup_v2(str(tmp_path), "/app", memory_max="not a number")
    assert effective_memory_limit(str(tmp_path), physical).source == "physical"


def test_this_machine_reports_a_positive_limit_no_larger_than_physical():
    import psutil

    limit = effective_memory_limit()
    assert 0 < limit.bytes <= psutil.virtual_memory().total
    assert limit.source in ("cgroup_v2", "cgroup_v1", "physical")
