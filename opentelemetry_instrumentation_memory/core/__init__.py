"""The profiler without OpenTelemetry: sampling, analysis, diagnosis and records."""
