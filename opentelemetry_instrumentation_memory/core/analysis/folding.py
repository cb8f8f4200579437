"""One bug, one record. A leaking type whose objects (nearly) all sit in one watched container is
that container's leak: reported once, as the container's, naming the type as its entries'
(``entry_type``; several, comma-separated, when it holds several leaking types), from the type's
verdict on (the container's own counts may take longer to convince), and its bytes are counted
once."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Iterable, List, Mapping, Optional

from ..records import Leak

# The share of a type leak's sampled objects one container must hold to be its leak.
FOLD_SHARE = 0.8


def holding_container(leak: Leak, watched: Mapping[str, str]) -> Optional[str]:
    """The owner path of the watched container holding a type leak's objects, if one holds them."""
    if leak.kind != "type" or not leak.retained_by:
        return None
    holder, share = leak.retained_by[0]
    return holder if share >= FOLD_SHARE and holder in watched else None


def as_entries(leak: Leak, container: str, container_type: str) -> Leak:
    """A type leak as the leak of the container holding its objects."""
    return replace(
        leak,
        kind="container",
        container=container,
        object_type=container_type,
        entry_type=leak.object_type,
        retained_by=(),
    )


def with_entry_type(entry_types: str, added: str) -> str:
    """A container holding several leaking types' objects names each of them, once, in order."""
    names = [name for name in entry_types.split(", ") if name]
    return ", ".join(sorted({*names, added}))


def one_per_bug(active: Iterable[Leak], folded: Mapping[str, str], watched: Mapping[str, str]) -> List[Leak]:
    """The detectors' active leaks with each folded type as its container's leak, and left out
    where the container's own counts found it too."""
    active = list(active)
    containers = {leak.key for leak in active if leak.kind == "container"}
    reported: Dict[str, Leak] = {}
    for leak in active:
        into = folded.get(leak.key)
        if into is not None:
            if into in containers:
                continue
            leak = as_entries(leak, into, watched.get(into, ""))
        reported.setdefault(leak.key, leak)
    return list(reported.values())
