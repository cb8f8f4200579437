"""The live sampled heap as pprof on the endpoint's opt-in path: decoded with pprof's own message
definitions (profile.proto, written here with protobuf's descriptor API), it names the leaking line."""

import gzip
import os
import urllib.request

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from opentelemetry_instrumentation_memory import MemoryExporter, MemoryProfiler
from opentelemetry_instrumentation_memory.core.diagnosis.pprof import heap_pprof
from opentelemetry_instrumentation_memory.core.sampling.allocations import SAMPLER

_F = descriptor_pb2.FieldDescriptorProto
INT64, UINT64, STRING, BOOL, MESSAGE = (
    _F.TYPE_INT64,
    _F.TYPE_UINT64,
    _F.TYPE_STRING,
    _F.TYPE_BOOL,
    _F.TYPE_MESSAGE,
)
ONE, MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# github.com/google/pprof/proto/profile.proto, field for field.
PROFILE_PROTO = {
    "Profile": [
        ("sample_type", 1, MESSAGE, MANY, "ValueType"),
        ("sample", 2, MESSAGE, MANY, "Sample"),
        ("mapping", 3, MESSAGE, MANY, "Mapping"),
        ("location", 4, MESSAGE, MANY, "Location"),
        ("function", 5, MESSAGE, MANY, "Function"),
        ("string_table", 6, STRING, MANY, None),
        ("drop_frames", 7, INT64, ONE, None),
        ("keep_frames", 8, INT64, ONE, None),
        ("time_nanos", 9, INT64, ONE, None),
        ("duration_nanos", 10, INT64, ONE, None),
        ("period_type", 11, MESSAGE, ONE, "ValueType"),
        ("period", 12, INT64, ONE, None),
        ("comment", 13, INT64, MANY, None),
        ("default_sample_type", 14, INT64, ONE, None),
    ],
    "ValueType": [("type", 1, INT64, ONE, None), ("unit", 2, INT64, ONE, None)],
    "Sample": [
        ("location_id", 1, UINT64, MANY, None),
        ("value", 2, INT64, MANY, None),
        ("label", 3, MESSAGE, MANY, "Label"),
    ],
    "Label": [
        ("key", 1, INT64, ONE, None),
        ("str", 2, INT64, ONE, None),
        ("num", 3, INT64, ONE, None),
        ("num_unit", 4, INT64, ONE, None),
    ],
    "Mapping": [
        ("id", 1, UINT64, ONE, None),
        ("memory_start", 2, UINT64, ONE, None),
        ("memory_limit", 3, UINT64, ONE, None),
        ("file_offset", 4, UINT64, ONE, None),
        ("filename", 5, INT64, ONE, None),
        ("build_id", 6, INT64, ONE, None),
        ("has_functions", 7, BOOL, ONE, None),
        ("has_filenames", 8, BOOL, ONE, None),
        ("has_line_numbers", 9, BOOL, ONE, None),
        ("has_inline_frames", 10, BOOL, ONE, None),
    ],
    "Location": [
        ("id", 1, UINT64, ONE, None),
        ("mapping_id", 2, UINT64, ONE, None),
        ("address", 3, UINT64, ONE, None),
        ("line", 4, MESSAGE, MANY, "Line"),
        ("is_folded", 5, BOOL, ONE, None),
    ],
    "Line": [("function_id", 1, UINT64, ONE, None), ("line", 2, INT64, ONE, None)],
    "Function": [
        ("id", 1, UINT64, ONE, None),
        ("name", 2, INT64, ONE, None),
        ("system_name", 3, INT64, ONE, None),
        ("filename", 4, INT64, ONE, None),
        ("start_line", 5, INT64, ONE, None),
    ],
}


def profile_class():
    file = descriptor_pb2.FileDescriptorProto(
        name="profile.proto", package="perftools.profiles", syntax="proto3"
    )
    for name, fields in PROFILE_PROTO.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = ".perftools.profiles." + type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


Profile = profile_class()
CACHE = {}


def leak(count):
    for i in range(count):
        CACHE[i] = bytes(2000)  # the leaking line


LEAKING_LINE = leak.__code__.co_firstlineno + 2


def decoded(body):
    profile = Profile()
    profile.ParseFromString(gzip.decompress(body))
    return profile


def bytes_by_line(profile):
    """inuse_space by the innermost (file, function, line) of each sample."""
    strings = profile.string_table
    functions = {f.id: (strings[f.filename], strings[f.name]) for f in profile.function}
    locations = {loc.id: (*functions[loc.line[0].function_id], loc.line[0].line) for loc in profile.location}
    space = [strings[t.type] for t in profile.sample_type].index("inuse_space")
    lines = {}
    for sample in profile.sample:
        leaf = locations[sample.location_id[0]]
        lines[leaf] = lines.get(leaf, 0) + sample.value[space]
    return lines


def test_an_encoded_profile_decodes_to_its_rows():
    rows = [
        ((("a.py", "f", 3), ("b.py", "<module>", 9)), 2, 4096.0, 3.2),
        ((("a.py", "g", 7),), 1, 100.0, 1.0),
    ]
    profile = decoded(heap_pprof(rows, 524288, now_ns=5))
    strings = profile.string_table
    assert strings[0] == "" and [strings[t.type] for t in profile.sample_type] == [
        "inuse_objects",
        "inuse_space",
    ]
    assert strings[profile.default_sample_type] == "inuse_space" and profile.period == 524288
    assert strings[profile.period_type.type] == "space" and strings[profile.period_type.unit] == "bytes"
    assert bytes_by_line(profile) == {("a.py", "f", 3): 4096, ("a.py", "g", 7): 100}
    assert [list(s.value) for s in profile.sample] == [[3, 4096], [1, 100]]
    assert len(profile.sample[0].location_id) == 2 and profile.time_nanos == 5


@pytest.mark.skipif(not SAMPLER.available, reason="the _sampler extension is not built")
def test_the_endpoint_serves_the_live_heap_and_it_names_the_leaking_line():
    profiler = MemoryProfiler(snapshot_interval=3600.0, heap_sampling_interval=16 * 1024)
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=profiler, pprof=True, environ={})
    profiler.start()
    exporter.serve()
    try:
        leak(4000)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{exporter.port}/debug/pprof/heap", timeout=30
        ) as answer:
            assert answer.headers["Content-Type"] == "application/octet-stream"
            profile = decoded(answer.read())
    finally:
        exporter.close()
        profiler.stop()
        truth = sum(len(value) for value in CACHE.values())
        CACHE.clear()
    leaking = {key: size for key, size in bytes_by_line(profile).items() if key[2] == LEAKING_LINE}
    ((file, function, _), size), *others = leaking.items()
    assert file == os.path.abspath(__file__) and function == "leak" and not others
    assert 0.7 * truth < size < 1.5 * truth, (size, truth)


def test_the_path_is_opt_in():
    exporter = MemoryExporter(host="127.0.0.1", port=0, profiler=MemoryProfiler(), environ={})
    exporter.serve()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/debug/pprof/heap", timeout=30)
        assert refused.value.code == 404
    finally:
        exporter.close()
