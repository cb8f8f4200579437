"""The cgroup's own memory figures, against cgroup trees laid out as fixture files under a temporary root,
and against the kernel's figure for the cgroup this test runs in."""

import logging
import os

import pytest

from opentelemetry_instrumentation_memory.core.sampling.container import MAX_READ, ContainerMemoryReader

from .test_limits import cgroup_v1, cgroup_v2, write

MIB = 1 << 20

V2_STAT = """anon 104857600
file 52428800
kernel 8388608
kernel_stack 1048576
pagetables 2097152
sock 0
shmem 4194304
file_mapped 1048576
inactive_anon 0
active_anon 104857600
inactive_file 31457280
active_file 20971520
slab 3145728
"""

V1_STAT = """cache 10485760
rss 20971520
shmem 1048576
inactive_file 4194304
total_cache 41943040
total_rss 83886080
total_shmem 2097152
total_inactive_file 16777216
"""


def v2_tree(root, path="/kubepods/pod1/app", current=str(200 * MIB), stat=V2_STAT):
    cgroup_v2(root, path, memory_max=str(512 * MIB))
    if current is not None:
        write(root, f"sys/fs/cgroup{path}/memory.current", current + "\n")
    if stat is not None:
        write(root, f"sys/fs/cgroup{path}/memory.stat", stat)
    return os.path.join(root, f"sys/fs/cgroup{path}")


def v1_tree(
    root, path="/docker/abc123", usage=str(150 * MIB), stat=V1_STAT, kmem=str(6 * MIB), mount_root="/"
):
    cgroup_v1(root, path, 256 * MIB, mount_root=mount_root)
    inside = path[len(mount_root) :] if mount_root != "/" else path
    directory = os.path.join(root, f"sys/fs/cgroup/memory{inside}")
    files = {"memory.usage_in_bytes": usage, "memory.stat": stat, "memory.kmem.usage_in_bytes": kmem}
    for name, text in files.items():
        if text is not None:
            write(root, os.path.join(directory, name), text if name == "memory.stat" else text + "\n")
    return directory


def test_cgroup_v2_usage_and_breakdown(tmp_path):
    v2_tree(str(tmp_path))
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.source == "cgroup_v2"
    assert reading.usage_bytes == 200 * MIB
    assert reading.working_set_bytes == 200 * MIB - 30 * MIB  # usage less inactive_file
    assert (reading.anon_bytes, reading.file_bytes) == (100 * MIB, 50 * MIB)
    assert (reading.kernel_bytes, reading.shmem_bytes) == (8 * MIB, 4 * MIB)


def test_cgroup_v2_kernel_summed_from_its_parts_on_kernels_without_it(tmp_path):
    stat = "".join(line + "\n" for line in V2_STAT.splitlines() if not line.startswith("kernel "))
    stat = stat.replace("slab 3145728", "slab_reclaimable 1048576\nslab_unreclaimable 2097152")
    v2_tree(str(tmp_path), stat=stat)
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.kernel_bytes == (1 + 2 + 0 + 3) * MIB  # kernel_stack, pagetables, sock, slab


def test_cgroup_v2_at_the_namespace_root_of_a_container(tmp_path):
    """With a cgroup namespace the process reads ``0::/`` and its cgroup is the mount itself."""
    v2_tree(str(tmp_path), path="/")
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert (reading.source, reading.usage_bytes) == ("cgroup_v2", 200 * MIB)


def test_cgroup_v1_usage_and_breakdown_count_the_descendants(tmp_path):
    v1_tree(str(tmp_path))
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.source == "cgroup_v1"
    assert reading.usage_bytes == 150 * MIB
    assert reading.working_set_bytes == 150 * MIB - 16 * MIB  # total_inactive_file
    assert (reading.anon_bytes, reading.file_bytes) == (80 * MIB, 40 * MIB)  # total_rss, total_cache
    assert (reading.kernel_bytes, reading.shmem_bytes) == (6 * MIB, 2 * MIB)


def test_cgroup_v1_without_totals_or_kmem(tmp_path):
    stat = "".join(line + "\n" for line in V1_STAT.splitlines() if not line.startswith("total_"))
    v1_tree(str(tmp_path), stat=stat, kmem=None)
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert (reading.anon_bytes, reading.file_bytes, reading.shmem_bytes) == (20 * MIB, 10 * MIB, 1 * MIB)
    assert reading.kernel_bytes is None
    assert reading.working_set_bytes == 150 * MIB - 4 * MIB


def test_cgroup_v1_inside_a_container_whose_mount_root_is_its_own_cgroup(tmp_path):
    v1_tree(str(tmp_path), mount_root="/docker/abc123")
    assert ContainerMemoryReader(str(tmp_path)).read().usage_bytes == 150 * MIB


def test_hybrid_hierarchy_reads_v1_when_v2_has_no_memory_controller(tmp_path):
    """systemd's hybrid layout: ``0::/`` on an unified mount without memory files, memory on v1."""
    root = str(tmp_path)
    v1_tree(root)
    with open(os.path.join(root, "proc/self/cgroup"), "a") as handle:
        handle.write("0::/\n")
    with open(os.path.join(root, "proc/self/mountinfo"), "a") as handle:
        handle.write("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    os.makedirs(os.path.join(root, "sys/fs/cgroup/unified"))
    assert ContainerMemoryReader(root).read().source == "cgroup_v1"


def test_the_working_set_is_never_negative(tmp_path):
    v2_tree(str(tmp_path), current=str(10 * MIB))
    assert ContainerMemoryReader(str(tmp_path)).read().working_set_bytes == 0


@pytest.mark.parametrize("missing", ["proc/self/cgroup", "proc/self/mountinfo", "memory.current"])
def test_no_cgroup_found_is_none_and_said_once(tmp_path, caplog, missing):
    directory = v2_tree(str(tmp_path))
    os.remove(os.path.join(directory, missing) if missing == "memory.current" else tmp_path / missing)
    reader = ContainerMemoryReader(str(tmp_path))
    with caplog.at_level(logging.INFO):
        assert [reader.read() for _ in range(3)] == [None] * 3
    assert len([r for r in caplog.records if "no cgroup" in r.getMessage()]) == 1


def test_a_missing_stat_keeps_the_usage(tmp_path):
    v2_tree(str(tmp_path), stat=None)
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.usage_bytes == 200 * MIB
    assert (reading.working_set_bytes, reading.anon_bytes, reading.kernel_bytes) == (None, None, None)


@pytest.mark.parametrize(
    "current", ["not a number", "-5", "1_000", "+5", "12 34", "", "\x00\x01", "9" * 30, "\u00b2"]
)
def test_garbage_usage_is_none_and_said_once(tmp_path, caplog, current):
    directory = v2_tree(str(tmp_path))
    with open(os.path.join(directory, "memory.current"), "wb") as handle:
        handle.write(current.encode("utf-8"))
    reader = ContainerMemoryReader(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert [reader.read() for _ in range(3)] == [None] * 3
    assert len([r for r in caplog.records if "cannot read" in r.getMessage()]) == 1


def test_a_stat_that_is_not_ascii_is_dropped_and_the_usage_kept(tmp_path):
    directory = v2_tree(str(tmp_path))
    with open(os.path.join(directory, "memory.stat"), "wb") as handle:
        handle.write(b"anon 5\n\xff\xfe\n")
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert (reading.usage_bytes, reading.anon_bytes) == (200 * MIB, None)


def test_malformed_stat_lines_are_skipped(tmp_path):
    stat = "anon lots\nfile\nkernel 1048576 extra\n\n  \n" + V2_STAT.replace("anon 104857600\n", "")
    v2_tree(str(tmp_path), stat=stat)
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.anon_bytes is None
    assert (reading.file_bytes, reading.kernel_bytes) == (50 * MIB, 8 * MIB)  # the later, valid kernel


def test_a_huge_usage_file_is_refused_unread_past_the_bound(tmp_path):
    directory = v2_tree(str(tmp_path))
    with open(os.path.join(directory, "memory.current"), "w") as handle:
        handle.write("1" * (8 * MIB))
    assert ContainerMemoryReader(str(tmp_path)).read() is None


def test_a_huge_stat_is_read_only_up_to_the_bound(tmp_path):
    padding = "".join(f"pad{i} {i}\n" for i in range(MAX_READ // 8))
    v2_tree(str(tmp_path), stat=V2_STAT + padding + "shmem 1\n" + "x" * (4 * MIB))
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert reading.shmem_bytes == 4 * MIB  # the value within the bound, not the one past it


def test_a_huge_proc_file_is_read_only_up_to_the_bound(tmp_path):
    root = str(tmp_path)
    v2_tree(root)
    with open(os.path.join(root, "proc/self/mountinfo"), "a") as handle:
        handle.write("99 1 0:99 / /elsewhere rw - tmpfs tmpfs rw\n" * (MAX_READ // 16))
    assert ContainerMemoryReader(root).read().usage_bytes == 200 * MIB  # the cgroup mount comes first


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero to stand for an endless file")
@pytest.mark.parametrize(
    "endless, readable",
    [
        ("memory.current", False),
        ("memory.stat", True),
        ("proc/self/cgroup", False),
        ("proc/self/mountinfo", False),
    ],
)
def test_an_endless_file_is_read_no_further_than_the_bound(tmp_path, endless, readable):
    """/dev/zero in place of a file: a reader without a bound would never return."""
    directory = v2_tree(str(tmp_path))
    target = os.path.join(directory if endless.startswith("memory.") else str(tmp_path), endless)
    os.remove(target)
    os.symlink("/dev/zero", target)
    reading = ContainerMemoryReader(str(tmp_path)).read()
    assert (reading is not None) == readable
    if readable:
        assert (reading.usage_bytes, reading.anon_bytes) == (200 * MIB, None)


def test_a_reading_reads_files_never_the_proc_tree_again(tmp_path, monkeypatch):
    """The cgroup is found once per process; a reading is the usage, the stat (and v1's kmem)."""
    v2_tree(str(tmp_path))
    reader = ContainerMemoryReader(str(tmp_path))
    reader.read()
    opened = []
    real_open = open

    def recording_open(path, *args, **kwargs):
        opened.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", recording_open)
    reader.read()
    assert sorted(os.path.basename(path) for path in opened) == ["memory.current", "memory.stat"]


def test_a_forked_child_finds_its_own_cgroup(tmp_path, monkeypatch):
    v2_tree(str(tmp_path))
    reader = ContainerMemoryReader(str(tmp_path))
    assert reader.read().usage_bytes == 200 * MIB
    v2_tree(str(tmp_path), path="/kubepods/pod1/child", current=str(7 * MIB))  # the child was moved
    monkeypatch.setattr(os, "getpid", lambda: -2)
    assert reader.read().usage_bytes == 7 * MIB


def test_a_removed_cgroup_is_found_again(tmp_path):
    directory = v2_tree(str(tmp_path))
    reader = ContainerMemoryReader(str(tmp_path))
    reader.read()
    os.remove(os.path.join(directory, "memory.current"))
    assert reader.read() is None
    v2_tree(str(tmp_path), path="/moved", current=str(9 * MIB))
    assert reader.read().usage_bytes == 9 * MIB


def test_read_never_raises(tmp_path, monkeypatch):
    v2_tree(str(tmp_path))
    reader = ContainerMemoryReader(str(tmp_path))
    monkeypatch.setattr(reader, "_reading", lambda *args: 1 / 0)
    assert reader.read() is None


# --- this machine's own cgroup -----------------------------------------------------------------------


def kernel_usage():
    """The kernel's usage figure for this process's cgroup, found without the reader: v2's
    memory.current (the plain or the hybrid mount), else v1's memory.usage_in_bytes."""
    try:
        lines = open("/proc/self/cgroup").read().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        path = path.strip("/")
        if hierarchy == "0" and not controllers:
            candidates += [f"/sys/fs/cgroup/{path}/memory.current"]
            candidates += [f"/sys/fs/cgroup/unified/{path}/memory.current"]  # systemd's hybrid layout
        elif "memory" in controllers.split(","):
            candidates += [f"/sys/fs/cgroup/memory/{path}/memory.usage_in_bytes"]
            candidates += ["/sys/fs/cgroup/memory/memory.usage_in_bytes"]  # a container's own mount
    for candidate in candidates:
        try:
            return candidate, int(open(candidate.replace("//", "/")).read())
        except (OSError, ValueError):
            continue
    return None


def own_cgroup_or_skip():
    found = kernel_usage()
    if found is None:
        pytest.skip("no readable cgroup memory usage under /sys/fs/cgroup for this process")
    return found


def test_this_machine_the_usage_is_the_kernels_within_5_percent():
    path, _ = own_cgroup_or_skip()
    reader = ContainerMemoryReader()
    for _ in range(20):
        before = kernel_usage()[1]
        reading = reader.read()
        after = kernel_usage()[1]
        assert reading is not None, path
        assert 0.95 * min(before, after) <= reading.usage_bytes <= 1.05 * max(before, after), (path, reading)
        assert reading.working_set_bytes <= reading.usage_bytes
        assert reading.anon_bytes is not None and reading.anon_bytes <= 1.05 * reading.usage_bytes
