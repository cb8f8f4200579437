"""The sliced heap walks find what the single C calls find, on the real heap, running none of its code."""

import collections
import gc
import os
import subprocess
import sys
import textwrap
import types

from opentelemetry_instrumentation_memory.core.diagnosis.containers import large_containers
from opentelemetry_instrumentation_memory.core.diagnosis.holders import owning_instances
from opentelemetry_instrumentation_memory.core.diagnosis.referrers import referrers_of


class Node:
    pass


class Holder:
    def __init__(self, value):
        self.kept = value


def _ids(objects):
    return {id(obj) for obj in objects if not isinstance(obj, types.FrameType)}


def test_finds_every_referrer_that_gc_get_referrers_finds_but_tuples():
    """Tuples are never listed: one may be under construction (test_tuples_under_construction.py)."""
    targets = [Node() for _ in range(5)]
    big = [Node() for _ in range(100_000)] + [targets[0]]  # a holder with many references
    by_key = {"k": targets[1]}
    holder = Holder(targets[2])
    pair = (targets[3], targets[3])
    found = referrers_of(targets)
    for target in targets:
        expected = _ids(r for r in gc.get_referrers(target) if type(r) is not tuple) - {id(targets)}
        assert _ids(found[id(target)]) == expected
    assert id(big) in _ids(found[id(targets[0])])
    assert id(by_key) in _ids(found[id(targets[1])])
    assert id(pair) not in _ids(found[id(targets[3])])
    del holder


def test_keeps_no_reference_once_it_returns():
    target = Node()
    held = [target]
    before = sys.getrefcount(target)
    found = referrers_of([target])
    assert found[id(target)] == [held]
    found.clear()
    assert sys.getrefcount(target) == before


def test_nothing_to_search_for_returns_at_once():
    assert referrers_of([]) == {}


# After a program has awaited futures, _asyncio's freelist holds freed Future iterators. On CPython
# 3.12.0 to 3.12.5 gc.get_referents of the module hands them out and dropping them frees them again:
# the freelist became a cycle and the next collection looped forever (the unit suite hung on 3.12.1).
ASYNCIO_CHILD = textwrap.dedent(
    """
    import asyncio, gc, _asyncio
    from opentelemetry_instrumentation_memory.core.diagnosis.referrers import referrers_of
    from opentelemetry_instrumentation_memory.core.sampling.readonly import referents

    async def main():
        for _ in range(3):
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            await future

    asyncio.run(main())
    namespace = vars(_asyncio)
    for _ in range(3):
        assert any(holder is _asyncio for holder in referrers_of([namespace])[id(namespace)])
        found, count = referents(_asyncio, 100)
        assert any(held is namespace for held in found) and count == len(found)
        found.clear()
        gc.collect()
    asyncio.run(main())
    print("done")
    """
)


def test_searching_the_heap_after_asyncio_leaves_its_freelist_whole():
    result = subprocess.run(
        [sys.executable, "-c", ASYNCIO_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert result.returncode == 0 and result.stdout == "done\n", result.stderr


def test_owning_instances_names_each_container_by_its_instance_in_one_batch():
    containers = [[n] for n in range(3)]
    instances = [Holder(container) for container in containers]
    loose = [99]
    owners = owning_instances(containers + [loose])
    for instance, container in zip(instances, containers):
        assert owners[id(container)] == (instance, "kept")
    assert id(loose) not in owners


class Guarded(dict):
    """A dict whose own methods raise: the walk must read it through ``dict``'s."""

    def __len__(self):
        raise AssertionError("the host's __len__ ran")

    def __iter__(self):
        raise AssertionError("the host's __iter__ ran")


def test_large_containers_are_found_by_length_builtins_and_subclasses_alike():
    big_list = list(range(5_000))
    big_default = collections.defaultdict(list, {n: [n] for n in range(5_000)})
    big_guarded = Guarded()
    for n in range(5_000):
        dict.__setitem__(big_guarded, n, n)
    small = [[n] for n in range(100)]
    found = {id(obj) for obj in large_containers(5_000)}
    assert {id(big_list), id(big_default), id(big_guarded)} <= found
    assert id(small) not in found
    assert all(dict.__len__(o) >= 5_000 for o in large_containers(5_000) if isinstance(o, dict))


def test_discovery_names_instance_held_containers_and_searches_each_once(monkeypatch):
    from opentelemetry_instrumentation_memory.core.diagnosis import containers
    from opentelemetry_instrumentation_memory.core.diagnosis.owners import find_roots

    held = Holder(list(range(5_000)))  # an instance no module global reaches
    loose = list(range(6_000))  # a large list no instance holds

    def closure():
        return loose

    watch = containers.ContainerWatch(min_length=100)
    searched = []
    search = containers.owning_instances
    monkeypatch.setattr(
        containers, "owning_instances", lambda found: searched.append(set(map(id, found))) or search(found)
    )
    watch._discover(find_roots())
    assert watch.census()[f"<{__name__}.Holder instance>.kept"] == ("list", 5_000)
    assert {id(held.kept), id(loose)} <= searched[0]
    watch._discover(find_roots())
    assert not {id(held.kept), id(loose)} & searched[1]  # neither is searched again (the suite's
    # other large containers may fill the twenty searched each time)
    del held, closure
