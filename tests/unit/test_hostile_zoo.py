"""The read-only heap contract, proved on a zoo of hostile objects: across censuses, container
walks, holder searches, sizing and site lookups, no profiler thread runs any hook of theirs."""

import time

from opentelemetry_instrumentation_memory import MemoryProfiler
from tests.unit import hostile_zoo as zoo
from tests.unit.running import FAST_LEAKS

ZOO = zoo.__name__
SETTINGS = dict(FAST_LEAKS, leak_site_window_seconds=0.3, leak_site_cooldown_seconds=0.0)


def _found(profiler):
    return {leak.key: leak for leak in profiler.detected_leaks}


def _diagnosed(found):
    # Its holders found: named on its record, or it is reported as the leak of a list holding it.
    leaked = found.get(f"{ZOO}.Leaked")
    folded = any(f"{ZOO}.Leaked" in leak.entry_type.split(", ") for leak in found.values())
    return (
        ((leaked is not None and leaked.retained_by) or folded)
        and f"{ZOO}.HOSTILE_LIST" in found
        and f"{ZOO}.HOLDER.kept" in found
        and f"{ZOO}.LOCAL.kept (thread-local)" in found
        and f"{ZOO}.cached (lru_cache)" in found
        and any(key.startswith(f"{ZOO}.KEYED[") for key in found)
        and any(leak.sites for leak in found.values())
    )


def test_no_profiler_thread_ever_calls_a_hostile_hook():
    profiler = MemoryProfiler(**SETTINGS)
    profiler.register_leak_callback(lambda leak: None)
    profiler.start()
    step = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (step > 40 and _diagnosed(_found(profiler))):
            zoo.grow(step)
            step += 1
            time.sleep(0.05)
    finally:
        assert profiler.stop(timeout=10)
    assert zoo.calls_off_main() == []
    found = _found(profiler)
    assert _diagnosed(found), sorted(found)  # the walks did go through the zoo


def test_dict_keys_of_the_host_never_become_text():
    """The hostile str keys are named by type and digest: no key's text, no key's __format__."""
    found = [key for key in _found_after_growth() if key.startswith(f"{ZOO}.KEYED[")]
    assert found and all("group" not in key for key in found), found
    assert all(f"[<{ZOO}.HostileKey #" in key for key in found), found
    assert zoo.calls_off_main() == []


def _found_after_growth():
    profiler = MemoryProfiler(leak_site_capture=False, **SETTINGS)
    for step in range(40):
        zoo.grow(1000 + step)
        profiler.snapshot()
    return _found(profiler)
