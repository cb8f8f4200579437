"""The OpenTelemetry layer: instruments over cached state, events, the endpoint, spans, the instrumentor."""

# The one instrumentation scope of every signal the package emits (metrics, log records, spans): the
# package's name, as OpenTelemetry's contrib instrumentations name theirs.
SCOPE = "opentelemetry_instrumentation_memory"
