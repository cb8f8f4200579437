"""Environment variables read by ``MemoryInstrumentor``; each names a ``MemoryProfiler`` setting.

A keyword argument to ``instrument()`` takes precedence over its variable. A malformed value is
logged as a warning naming the variable and the value, and the default is used instead. Numbers are
read in ASCII digits only, in plain decimal notation (``60``, ``0.5``, ``1e-3``): ``nan``, ``inf``,
underscores and other scripts' digits are malformed. Booleans are ``true`` or ``false``, in any case.
"""

OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL = "OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL

Seconds between snapshots, at least 0.01 (default 60): below, the loop would compete with the
program for the GIL.
"""

OTEL_PYTHON_MEMORY_CENSUS_BUDGET = "OTEL_PYTHON_MEMORY_CENSUS_BUDGET"
"""
.. envvar:: OTEL_PYTHON_MEMORY_CENSUS_BUDGET

Share of wall time the object census may take, from 0.0001 (0.01 %: below, the census would in
effect never run again) to 1 (default 0.01). When a census
costs more than this at the snapshot interval, censuses are spaced out; the cheap figures (memory,
GC, alerts on them) still come every interval.
"""

OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE = "OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE

Longest the census may hold the GIL in one call, in seconds, 0-60 (default 0: no bound). Listing the
heap is the longest call (about 10 ms per million objects); after three censuses in a row over the
bound, the next is an hour later and object and leak figures stay as last counted, while the cheap
figures (memory, GC) still come every interval.
"""

OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC = "OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC"
"""
.. envvar:: OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC

``true`` to run tracemalloc while profiling (default ``false``: it slows allocation several times over).
"""

OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES = "OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES"
"""
.. envvar:: OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES

Frames tracemalloc keeps per allocation, 1-100 (default 1).
"""

OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT = "OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT

Object types exported with their counts (default 20).
"""

OTEL_PYTHON_MEMORY_HISTORY_SIZE = "OTEL_PYTHON_MEMORY_HISTORY_SIZE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HISTORY_SIZE

Snapshots kept in the history ring (default 1000).
"""

OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT

Heap percent of the memory limit above which ``heap_warning`` fires (default 80).
"""

OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT = "OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT

Heap percent of the memory limit above which ``heap_critical`` fires (default 90).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING = "OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING

Memory growth, in MB per hour over the last hour, above which ``growth_rate_high`` fires
(MemoryGrowthRateHigh; default 100).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL = "OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL

Memory growth, in MB per hour over the last hour, above which ``growth_rate_critical`` fires
(MemoryGrowthRateCritical; default 500).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW = "OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW

Snapshots the out-of-memory forecast's regression looks back over (default 60).
"""

OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS = "OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS

Forecast horizon, in seconds, under which ``MemoryOOMPredicted`` fires (default 14400, four hours);
exported as ``fogcompute_memory_oom_horizon_seconds`` so that the rule reads it per process.
"""

OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND = "OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND

Garbage collections per second below which ``gc_spike`` never fires on the rate (default 10). Above
it, a spike is a rate three times the process's own median rate since its warm-up; a busy service's
steady rate is its normal, not a spike.
"""

OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT

Share of wall time in garbage-collection pauses over the last five minutes above which ``gc_spike``
fires whatever the rate (default 5).
"""

OTEL_PYTHON_MEMORY_WARMUP_SECONDS = "OTEL_PYTHON_MEMORY_WARMUP_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_WARMUP_SECONDS

Seconds after the first snapshot before the baseline is taken and resident-memory growth is rated
(default 600): caches, pools and imports fill first, and a startup ramp is not growth.
"""

OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL = "OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_BASELINE_RESET_SIGNAL

A signal, ``SIGUSR1``, ``SIGUSR2`` or ``SIGHUP`` (with or without ``SIG``, in any case), that makes
the next snapshot the baseline (``reset_baseline()`` without code: ``kill -USR2 <pid>`` after a
deployment). Unset (the default): none. Any other signal is warned about and none is installed: a
handler on ``SIGTERM`` would keep it from ending the process, one on ``SIGSEGV`` would turn a crash
into a spin. Installed only
when instrumenting from the main thread and only if the signal still has its default disposition; a
handler the program set is kept, with a warning naming this variable. The baseline moves with the
next snapshot (within ``OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL``). gunicorn sets its workers' signals
back to their defaults after ``post_fork``: instrument its workers in ``post_worker_init`` instead.
"""

OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT

Heap drift from the baseline, in percent, for ``baseline_drift_high`` (default 50).
"""

OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT = "OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT

Heap drift from the baseline, in percent, for ``baseline_drift_critical`` (default 100).
"""

OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT = "OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT

A type's drift from its baseline count, in percent, that makes it significant (default 50).
"""

OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT = "OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT

The fewest objects a type must drift by to be significant (default 100).
"""

OTEL_PYTHON_MEMORY_LEAK_WINDOW = "OTEL_PYTHON_MEMORY_LEAK_WINDOW"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_WINDOW

Snapshots each type's trend is judged over (default 48).
"""

OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS = "OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS

Snapshots before a type can first be judged a leak (default 24).
"""

OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH = "OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH

The smallest growth, in objects over the window, reported as a leak (default 50).
"""

OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS = "OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS

Leak records kept for ``get_detected_leaks()`` (default 100).
"""

OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY = "OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY

Least leak severity that raises ``leak_detected`` and counts in ``paging_leaks``: ``low``, ``medium``,
``high`` (default) or ``critical``. Every leak is still recorded, logged and counted.
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE = "OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE

``true`` (the default) to turn tracemalloc on for a short window when a leak is found, and report
the allocation sites that grew most; ``false`` to never touch tracemalloc.
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS = "OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS

How long that capture keeps tracemalloc on, in seconds (default 5, at most 300).
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS = "OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS

The least time between two captures, in seconds (default 600): repeated leaks do not keep tracemalloc on.
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT = "OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT

Allocation-site paths under this directory are reported relative to it (default: the working
directory); paths under site-packages or dist-packages start at the package, wherever they are.
"""

OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS = "OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS

``true`` to name dict keys in leak owner paths by their text (``SESSIONS['alice@example.com']``);
``false`` (the default) names them by type and a short salted digest (``SESSIONS[<str #3f2a9c>]``).
Literal keys are the program's data: session tokens, e-mail addresses and the like would leave the
process as metric label values and log attributes, to whoever reads the metrics and logs.
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_PORT = "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_PORT

Serve the memory metrics on their own Prometheus endpoint at this port (9202 is the convention),
besides exporting them through the meter provider. Unset (the default): no endpoint of its own,
except in the worker processes of a process the SDK's Prometheus reader serves
(``OTEL_METRICS_EXPORTER=prometheus``), which serve from ``OTEL_EXPORTER_PROMETHEUS_PORT`` + 1 on;
with that reader, it sets where the workers' range starts, and the main process is served by the
reader alone. ``MemoryExporter()`` reads it too (9202 when unset).
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_HOST = "OTEL_PYTHON_MEMORY_PROMETHEUS_HOST"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_HOST

Address that endpoint binds to (default ``localhost``; ``0.0.0.0`` to be scraped from outside a container):
an IP address or a host name; anything else is warned about and the default used, IPv4 in the C
library's legacy notations included (``0``, ``0x0`` and ``0.0`` would bind every interface). The only
source of the host: the SDK reader's ``OTEL_EXPORTER_PROMETHEUS_HOST`` is never read. A host that
binds every interface is warned about once.
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN = "OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_PORT_SPAN

How many ports from ``OTEL_PYTHON_MEMORY_PROMETHEUS_PORT`` on the endpoint may use (default 16,
at most 1024): each worker process of a multi-worker server, forked or started apart, serves on the
first free one; a worker that finds none says so once.
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR = "OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_SD_DIR

A directory where each process serving that endpoint announces it in
``otel-memory-<host>-<pid>-<start>.json``, for Prometheus's ``file_sd_configs`` (default: unset, no
files); the file goes when the process stops serving or exits, or, if it was killed, when another
process of the same host and pid namespace next writes there. Read once and made absolute; what
others plant there is never followed or opened (docs/OPERATIONS.md, Security).
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY = "OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY

``true`` to serve a JSON summary at ``/memory.json`` beside ``/metrics`` on that endpoint, which
``python -m opentelemetry_instrumentation_memory report URL`` reads (default ``false``). It carries
what the metrics carry: memory against the limit, the time to it, and each active leak with its
series' labels, growth per hour and retained MB.
"""

OTEL_PYTHON_MEMORY_SPAN_PROCESSOR = "OTEL_PYTHON_MEMORY_SPAN_PROCESSOR"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SPAN_PROCESSOR

``true`` to add ``MemorySpanProcessor`` to the tracer provider: every span gets its resident memory
at its start as an attribute, and a histogram shows its change over spans by span name (default
``false``).
"""

OTEL_PYTHON_MEMORY_SEMCONV = "OTEL_PYTHON_MEMORY_SEMCONV"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SEMCONV

Semantic-convention instruments to emit as well as the ``fogcompute_memory_*`` families, a
comma-separated list (default: none): ``process`` for ``process.memory.usage`` and
``process.memory.virtual`` (2 series), ``cpython`` for ``cpython.gc.collections``,
``cpython.gc.collected_objects`` and ``cpython.gc.uncollectable_objects`` by generation (9 series).
Unknown names are warned about and ignored.
"""
