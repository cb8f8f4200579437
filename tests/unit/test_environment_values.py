"""Environment values reach the log cut short: a 1 MB variable is not a 1 MB log line."""

import logging

import pytest

from opentelemetry_instrumentation_memory.core.config import (
    ENVIRONMENT_PREFIX,
    field_names,
    flag_from_environment,
    host_from_environment,
    port_from_environment,
    settings_from_environment,
)

HUGE = ["x" * 1_000_000, "9" * 1_000_000, "1e" + "9" * 1_000_000, "ü" * 1_000_000]
READERS = {
    "port": lambda environ: port_from_environment(environ, "VARIABLE", 9202),
    "flag": lambda environ: flag_from_environment(environ, "VARIABLE", False),
    "host": lambda environ: host_from_environment(environ, "VARIABLE", "localhost"),
}


@pytest.mark.parametrize("value", HUGE, ids=["letters", "digits", "exponent", "non-ascii"])
@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
def test_a_huge_value_is_echoed_cut_short(reader, value, caplog):
    with caplog.at_level(logging.WARNING):
        READERS[reader]({"VARIABLE": value})
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("VARIABLE=") and "using the default" in message
    assert value[:20] in message and len(message) < 300


@pytest.mark.parametrize("value", HUGE, ids=["letters", "digits", "exponent", "non-ascii"])
def test_huge_settings_are_echoed_cut_short(value, caplog):
    environ = {ENVIRONMENT_PREFIX + name.upper(): value for name in field_names()}
    with caplog.at_level(logging.WARNING):
        settings = settings_from_environment(environ)
    warnings = [r.getMessage() for r in caplog.records]
    refused = len(field_names()) - len(settings)
    assert refused > 0 and len(warnings) == refused
    assert all(len(w) < 400 and "using the default" in w for w in warnings), max(warnings, key=len)[:500]
