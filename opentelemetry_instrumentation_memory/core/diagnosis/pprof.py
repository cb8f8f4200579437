"""The live sampled heap as a pprof profile (gzip'd protobuf): what ``go tool pprof``, Pyroscope and
Grafana read. Encoded here by hand, field numbers from pprof's profile.proto, so that serving it
needs no protobuf runtime.

Two sample types, as Go's heap profiles have them: ``inuse_objects`` (count) and ``inuse_space``
(bytes), each an unbiased estimate from the weighted samples; the period is the mean sampling
interval in bytes. A sample's locations are its stack, innermost first; each location has one line.
"""

from __future__ import annotations

import gzip
import time
from typing import Dict, Iterable, List, Tuple

from ..sampling.allocations import Frame, Row

__all__ = ["heap_pprof"]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _number(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _packed(field: int, values: Iterable[int]) -> bytes:
    payload = b"".join(_varint(value) for value in values)
    return _bytes(field, payload) if payload else b""


class _Strings:
    """The string table: index 0 is the empty string, as pprof requires."""

    def __init__(self) -> None:
        self.index: Dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))


def heap_pprof(rows: Iterable[Row], interval: int, now_ns: int = 0) -> bytes:
    """``rows`` (the sampler's live rows: frames, samples, bytes, blocks) as a gzip'd profile."""
    strings = _Strings()
    inuse_space = strings("inuse_space")
    functions: Dict[Tuple[str, str], int] = {}
    locations: Dict[Frame, int] = {}
    samples: List[bytes] = []
    for frames, _, size, blocks in rows:
        ids = []
        for frame in frames:
            if frame not in locations:
                functions.setdefault((frame[1], frame[0]), len(functions) + 1)
                locations[frame] = len(locations) + 1
            ids.append(locations[frame])
        values = (max(int(round(blocks)), 1), int(round(size)))
        samples.append(_bytes(2, _packed(1, ids) + _packed(2, values)))
    space, bytes_unit = strings("space"), strings("bytes")
    sample_types = [
        _bytes(1, _number(1, strings("inuse_objects")) + _number(2, strings("count"))),
        _bytes(1, _number(1, inuse_space) + _number(2, bytes_unit)),
    ]
    function_messages = [
        _bytes(5, _number(1, id_) + _number(2, strings(name)) + _number(4, strings(file)))
        for (name, file), id_ in functions.items()
    ]
    location_messages = [
        _bytes(4, _number(1, id_) + _bytes(4, _number(1, functions[(func, file)]) + _number(2, line)))
        for (file, func, line), id_ in locations.items()
    ]
    message = b"".join(
        [
            *sample_types,
            *samples,
            *location_messages,
            *function_messages,
            *(_bytes(6, text.encode("utf-8", "replace")) for text in strings.index),
            _number(9, now_ns or time.time_ns()),
            _bytes(11, _number(1, space) + _number(2, bytes_unit)),
            _number(12, interval),
            _number(14, inuse_space),
        ]
    )
    return gzip.compress(message, mtime=0)
