"""Environment variables read by ``MemoryInstrumentor``: one per ``MemoryProfiler`` setting, generated
from ``core/settings.py``, then the instrumentor's own, written here by hand.

A keyword argument to ``instrument()`` takes precedence over its variable. A malformed value is
logged as a warning naming the variable and the value, and the default is used instead. Numbers are
read in ASCII digits only, in plain decimal notation (``60``, ``0.5``, ``1e-3``): ``nan``, ``inf``,
underscores and other scripts' digits are malformed. Booleans are ``true`` or ``false``, in any case.
"""

# BEGIN GENERATED SETTINGS: python -m opentelemetry_instrumentation_memory.core.settings_docs

OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL = "OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SNAPSHOT_INTERVAL

Seconds between snapshots; below 0.01 the loop would compete with the program for the GIL.

Sets ``snapshot_interval``: a number at least 0.01 (default ``60``).
"""

OTEL_PYTHON_MEMORY_CENSUS_BUDGET = "OTEL_PYTHON_MEMORY_CENSUS_BUDGET"
"""
.. envvar:: OTEL_PYTHON_MEMORY_CENSUS_BUDGET

Share of wall time the object census may take (it holds the GIL); when a census costs more at the
interval, censuses are spaced out while the cheap figures (memory, GC) keep every interval. Below
0.0001 the census would in effect never run again.

Sets ``census_budget``: a number from 0.0001 to 1 (default ``0.01``).
"""

OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE = "OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_CENSUS_MAX_PAUSE

Longest the census may hold the GIL in one call, in seconds (0: no bound); after three censuses in a
row over it, the next is an hour later and object and leak figures stay as last counted
(``census_interval_seconds`` reads 3600). Listing the heap, the longest call, takes about 10 ms per
million objects.

Sets ``census_max_pause``: a number from 0 to 60 (default ``0``).
"""

OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC = "OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC"
"""
.. envvar:: OTEL_PYTHON_MEMORY_ENABLE_TRACEMALLOC

Run tracemalloc while profiling: off by default, as it slows allocation 6-14 times over (measured).

Sets ``enable_tracemalloc``: ``true`` or ``false`` (default ``false``).
"""

OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES = "OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES"
"""
.. envvar:: OTEL_PYTHON_MEMORY_TRACEMALLOC_FRAMES

Frames tracemalloc keeps per traced allocation.

Sets ``tracemalloc_frames``: an integer from 1 to 100 (default ``1``).
"""

OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT = "OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_TOP_OBJECTS_COUNT

Object types exported with their counts (``top_objects``, ``object_drift``,
``fogcompute_memory_object_count``).

Sets ``top_objects_count``: an integer from 0 to 10000 (default ``20``).
"""

OTEL_PYTHON_MEMORY_HISTORY_SIZE = "OTEL_PYTHON_MEMORY_HISTORY_SIZE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HISTORY_SIZE

Snapshots kept in the history ring.

Sets ``history_size``: an integer from 2 to 1000000 (default ``1000``).
"""

OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_WARNING_PERCENT

Heap percent of the memory limit above which ``heap_warning`` fires.

Sets ``heap_warning_percent``: a number from 0 to 100 (default ``80``).
"""

OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT = "OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_CRITICAL_PERCENT

Heap percent of the memory limit above which ``heap_critical`` fires.

Sets ``heap_critical_percent``: a number from 0 to 100, at least ``heap_warning_percent`` (default
``90``).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING = "OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_WARNING

Memory growth over the last hour, in MB per hour, above which ``growth_rate_high`` fires (the rule
MemoryGrowthRateHigh).

Sets ``growth_rate_warning``: a number at least 0 (default ``100``).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL = "OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_CRITICAL

Memory growth over the last hour, in MB per hour, above which ``growth_rate_critical`` fires (the
rule MemoryGrowthRateCritical).

Sets ``growth_rate_critical``: a number at least ``growth_rate_warning`` (default ``500``).
"""

OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW = "OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GROWTH_RATE_WINDOW

Snapshots the out-of-memory forecast's regression looks back over.

Sets ``growth_rate_window``: an integer from 3 to 10000 (default ``60``).
"""

OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS = "OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_OOM_HORIZON_SECONDS

Forecast horizon, in seconds, under which ``oom_predicted`` (MemoryOOMPredicted) fires (four hours
by default).

Sets ``oom_horizon_seconds``: a number above 0 (default ``14400``).
"""

OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND = "OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GC_SPIKE_PER_SECOND

Collections per second over the last five minutes below which ``gc_spike`` never fires on the rate;
above it, only at three times the process's normal rate (a busy service's steady rate is its normal,
not a spike).

Sets ``gc_spike_per_second``: a number above 0 (default ``10``).
"""

OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_GC_PAUSE_WARNING_PERCENT

Share of wall time in collection pauses over the last five minutes, in percent, above which
``gc_spike`` fires whatever the rate.

Sets ``gc_pause_warning_percent``: a number from 0 to 100 (default ``5``).
"""

OTEL_PYTHON_MEMORY_WARMUP_SECONDS = "OTEL_PYTHON_MEMORY_WARMUP_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_WARMUP_SECONDS

Seconds after the first snapshot before the baseline is settled, memory growth is rated and the
process's normal collection rate is learnt: caches, pools and imports fill first, and a startup ramp
is not growth.

Sets ``warmup_seconds``: a number from 0 to 604800 (default ``600``).
"""

OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT = "OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_BASELINE_DRIFT_WARNING_PERCENT

Memory drift from the baseline, in percent, above which ``baseline_drift_high`` fires.

Sets ``baseline_drift_warning_percent``: a number at least 0 (default ``50``).
"""

OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT = "OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_BASELINE_DRIFT_CRITICAL_PERCENT

Memory drift from the baseline, in percent, above which ``baseline_drift_critical`` fires.

Sets ``baseline_drift_critical_percent``: a number at least ``baseline_drift_warning_percent``
(default ``100``).
"""

OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT = "OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_PERCENT

A type's drift from its baseline count, in percent, that makes it significant.

Sets ``significant_drift_percent``: a number at least 0 (default ``50``).
"""

OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT = "OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_SIGNIFICANT_DRIFT_MIN_COUNT

The fewest objects a type must drift by to be significant.

Sets ``significant_drift_min_count``: an integer at least 0 (default ``100``).
"""

OTEL_PYTHON_MEMORY_LEAK_WINDOW = "OTEL_PYTHON_MEMORY_LEAK_WINDOW"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_WINDOW

Snapshots each type's trend is judged over (docs/LEAK_DETECTION.md).

Sets ``leak_window``: an integer from 8 to 10000 (default ``48``).
"""

OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS = "OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_MIN_SNAPSHOTS

Snapshots before a type can first be judged a leak; growth in a type watched longer is judged as
soon as it stands out (docs/LEAK_DETECTION.md).

Sets ``leak_min_snapshots``: an integer at least 8, at most ``leak_window`` (default ``12``).
"""

OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH = "OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_MIN_GROWTH

The smallest growth, in objects over the window, reported as a leak.

Sets ``leak_min_growth``: an integer at least 1 (default ``50``).
"""

OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS = "OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_MAX_DETECTED_LEAKS

Leak records kept for ``get_detected_leaks()``, the oldest dropped first.

Sets ``max_detected_leaks``: an integer from 1 to 100000 (default ``100``).
"""

OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY = "OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_ALERT_SEVERITY

Least leak severity that raises ``leak_detected`` and counts in ``paging_leaks``; every leak is
still recorded, logged and counted.

Sets ``leak_alert_severity``: ``low``, ``medium``, ``high`` or ``critical`` (default ``high``).
"""

OTEL_PYTHON_MEMORY_HEAP_SAMPLING = "OTEL_PYTHON_MEMORY_HEAP_SAMPLING"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_SAMPLING

Sample allocations all along (the ``_sampler`` extension, about one per ``heap_sampling_interval``
bytes allocated): each leak's sites come from the live sampled heap at its verdict, and tracemalloc
is never touched. Off, or where the extension is not built, sites come from tracemalloc windows
(``leak_site_capture``).

Sets ``heap_sampling``: ``true`` or ``false`` (default ``true``).
"""

OTEL_PYTHON_MEMORY_HEAP_SAMPLING_INTERVAL = "OTEL_PYTHON_MEMORY_HEAP_SAMPLING_INTERVAL"
"""
.. envvar:: OTEL_PYTHON_MEMORY_HEAP_SAMPLING_INTERVAL

Mean bytes allocated between two sampled allocations (random, exponential intervals): smaller finds
small leaks' lines sooner and costs more (docs/PERFORMANCE.md).

Sets ``heap_sampling_interval``: an integer from 1024 to 1073741824 (default ``524288``).
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE = "OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_CAPTURE

Without heap sampling: on a new leak, turn tracemalloc on for a short window and report the
allocation sites that grew most; off, tracemalloc is never touched.

Sets ``leak_site_capture``: ``true`` or ``false`` (default ``true``).
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS = "OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_WINDOW_SECONDS

How long that capture keeps tracemalloc on, in seconds.

Sets ``leak_site_window_seconds``: a number above 0, at most 300 (default ``5``).
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS = "OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_COOLDOWN_SECONDS

The least time between two captures, in seconds: repeated leaks do not keep tracemalloc on.

Sets ``leak_site_cooldown_seconds``: a number at least 0 (default ``600``).
"""

OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT = "OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_SITE_PATH_ROOT

Allocation-site paths under this directory are reported relative to it; paths under site-packages or
dist-packages start at the package, wherever they are.

Sets ``leak_site_path_root``: a directory (default: the working directory).
"""

OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS = "OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS"
"""
.. envvar:: OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS

Name dict keys in leak owner paths by their text (``SESSIONS['alice@example.com']``), not by type
and a short salted digest (``SESSIONS[<str #3f2a9c>]``). Risk: literal keys are the program's data
(session tokens, e-mail addresses), and they leave the process as metric label values and log
attributes, to whoever reads those (docs/OPERATIONS.md, What leaves the process).

Sets ``leak_owner_literal_keys``: ``true`` or ``false`` (default ``false``).
"""

# END GENERATED SETTINGS

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

OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE = "OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_PAGE

``true`` to serve a page at ``/memory`` beside ``/metrics`` on that endpoint, and the JSON summary at
``/memory.json`` it reads (default ``false``): the heap over time against the limit and the active
leaks (owner, type, severity, growth, retained MB, holder, line), refreshed every 2 seconds
(``/memory?refresh=SECONDS``). Self-contained: no external asset, nothing the summary does not carry.
"""

OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF = "OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF"
"""
.. envvar:: OTEL_PYTHON_MEMORY_PROMETHEUS_PPROF

``true`` to serve the live sampled heap as a gzip'd pprof profile at ``/debug/pprof/heap`` beside
``/metrics`` on that endpoint, for ``go tool pprof``, Pyroscope or Grafana (default ``false``;
empty while ``OTEL_PYTHON_MEMORY_HEAP_SAMPLING`` is off). It names the program's files, functions
and lines, and estimates the bytes each holds: code, never data.
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
