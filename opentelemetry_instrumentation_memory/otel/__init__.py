"""The OpenTelemetry layer: instruments over cached state, events, the endpoint, spans, the instrumentor."""
