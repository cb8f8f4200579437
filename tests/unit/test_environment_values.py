"""Environment values reach the log cut short: a 1 MB variable is not a 1 MB log line."""

import logging
import signal
from dataclasses import fields

import pytest

from opentelemetry_instrumentation_memory.core.baseline_signal import (
    install_baseline_reset_signal,
    uninstall_baseline_reset_signal,
)
from opentelemetry_instrumentation_memory.core.config import (
    ProfilerConfig,
    field_names,
    flag_from_environment,
    host_from_environment,
    port_from_environment,
    settings_from_environment,
)
from opentelemetry_instrumentation_memory.core.settings import ENVIRONMENT_PREFIX
from opentelemetry_instrumentation_memory.core.validation import require_host, require_reset_signal

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


NUMBER_SETTINGS = [field for field in fields(ProfilerConfig) if type(field.default) in (int, float)]
FLOAT_SETTINGS = [field for field in NUMBER_SETTINGS if type(field.default) is float]


def _refused(environ, caplog):
    """The settings ``environ`` gives, and the warnings it raised."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        settings = settings_from_environment(environ)
    return settings, [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    "value",
    ["\u0661\u0660", "\uff11\uff10", "\U0001d7cf\U0001d7ce", "1\u0660", "1_0", "0x10"],
    ids=["arabic-indic", "full-width", "mathematical", "mixed", "underscore", "hex"],
)
@pytest.mark.parametrize("field", NUMBER_SETTINGS, ids=lambda field: field.name)
def test_numbers_from_the_environment_are_ascii_digits_only(field, value, caplog):
    """int() and float() took '\u0661\u0660' (Arabic-Indic digits) as 10."""
    variable = ENVIRONMENT_PREFIX + field.name.upper()
    settings, warnings = _refused({variable: value}, caplog)
    assert field.name not in settings
    (warning,) = warnings
    assert warning.startswith(f"{variable}={value!r}") and f"using the default {field.default!r}" in warning


def test_ascii_numbers_from_the_environment_are_read():
    settings = settings_from_environment(
        {
            ENVIRONMENT_PREFIX + "SNAPSHOT_INTERVAL": " 0.5 ",
            ENVIRONMENT_PREFIX + "CENSUS_BUDGET": "1e-3",
            ENVIRONMENT_PREFIX + "WARMUP_SECONDS": ".5",
            ENVIRONMENT_PREFIX + "HISTORY_SIZE": "+200",
        }
    )
    assert settings == dict(snapshot_interval=0.5, census_budget=0.001, warmup_seconds=0.5, history_size=200)


@pytest.mark.parametrize("value", ["\u0669\u0660\u0660\u0660", "\uff19\uff10\uff10\uff10", "9_000"])
def test_a_port_from_the_environment_is_ascii_digits_only(value, caplog):
    with caplog.at_level(logging.WARNING):
        assert port_from_environment({"VARIABLE": value}, "VARIABLE", 9202) == 9202
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"VARIABLE={value!r}") and "using the default 9202" in message


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309"])
@pytest.mark.parametrize("field", FLOAT_SETTINGS, ids=lambda field: field.name)
def test_no_number_setting_takes_nan_or_infinity_from_the_environment(field, value, caplog):
    variable = ENVIRONMENT_PREFIX + field.name.upper()
    settings, (warning,) = _refused({variable: value}, caplog)
    assert field.name not in settings
    assert variable in warning and f"using the default {field.default!r}" in warning


@pytest.mark.parametrize(
    "name, value",
    [("SNAPSHOT_INTERVAL", "1e-300"), ("SNAPSHOT_INTERVAL", "0.001"), ("CENSUS_BUDGET", "1e-300")],
)
def test_settings_below_their_floor_from_the_environment_warn_and_use_the_default(name, value, caplog):
    variable = ENVIRONMENT_PREFIX + name
    settings, (warning,) = _refused({variable: value}, caplog)
    assert settings == {}
    default = getattr(ProfilerConfig(), name.lower())
    assert warning.startswith(f"{variable}={value!r}") and f"using the default {default!r}" in warning


def test_leak_owner_literal_keys_from_the_environment(caplog):
    variable = "OTEL_PYTHON_MEMORY_LEAK_OWNER_LITERAL_KEYS"
    assert settings_from_environment({variable: "true"}) == {"leak_owner_literal_keys": True}
    assert settings_from_environment({variable: " TRUE "}) == {"leak_owner_literal_keys": True}
    assert settings_from_environment({variable: "False"}) == {"leak_owner_literal_keys": False}
    settings, (warning,) = _refused({variable: "yes"}, caplog)
    assert settings == {} and warning.startswith(f"{variable}='yes'") and "using the default False" in warning


class _Profiler:
    def request_baseline_reset(self) -> None:
        pass


@pytest.mark.parametrize("value", ["TERM", "SIGTERM", "SEGV", "sigsegv", "INT", "KILL", "BUS", "15", "USR3"])
def test_only_usr1_usr2_and_hup_can_reset_the_baseline(value, caplog):
    """TERM was accepted (SIGTERM then no longer ended the process) and SEGV too (a segfault became
    a spin: the handler returns to the faulting instruction)."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGSEGV, signal.SIGINT)}
    try:
        with caplog.at_level(logging.WARNING):
            assert install_baseline_reset_signal(_Profiler(), {"VARIABLE": value}, "VARIABLE") is None
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert {signum: signal.getsignal(signum) for signum in before} == before
    (record,) = caplog.records
    assert record.getMessage() == (
        f"VARIABLE={value!r} is not one of SIGUSR1, SIGUSR2, SIGHUP; using the default (none)"
    )
    with pytest.raises(ValueError) as error:
        require_reset_signal("reset_signal", value)
    assert str(error.value) == f"reset_signal must be one of SIGUSR1, SIGUSR2, SIGHUP, got {value!r}"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("SIGUSR1", signal.SIGUSR1),
        ("usr2", signal.SIGUSR2),
        ("Hup", signal.SIGHUP),
        (signal.SIGUSR2, signal.SIGUSR2),
    ],
)
def test_the_three_reset_signals_are_accepted(value, expected):
    assert require_reset_signal("reset_signal", value) is expected
    for wrong in (signal.SIGTERM, int(signal.SIGSEGV), True, None, 2.0):
        with pytest.raises(ValueError, match="reset_signal must be one of"):
            require_reset_signal("reset_signal", wrong)


def test_an_accepted_reset_signal_is_installed_and_given_back():
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    installed = install_baseline_reset_signal(_Profiler(), {"VARIABLE": "usr1"}, "VARIABLE")
    try:
        assert installed is signal.SIGUSR1 and signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL
    finally:
        uninstall_baseline_reset_signal(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


LEGACY_IPV4 = ["0", "0x0", "0.0", "0.0.0", "127.1", "010.0.0.1", "0x7f.0x1", "2130706433", "a.b.123"]


@pytest.mark.parametrize("host", LEGACY_IPV4)
def test_ipv4_in_a_legacy_notation_is_not_a_host(host, caplog):
    """'0', '0x0' and '0.0' were taken as host names: the resolver reads them as 0.0.0.0, so the
    endpoint bound every interface (and announced '0:PORT'); '127.1' is 127.0.0.1, '010.0.0.1' is
    8.0.0.1. An address is written as a dotted quad; a name's last label is never all digits."""
    with pytest.raises(ValueError) as error:
        require_host("prometheus_host", host)
    assert str(error.value) == f"prometheus_host must be an IP address or a host name, got {host!r}"
    with caplog.at_level(logging.WARNING):
        assert host_from_environment({"VARIABLE": host}, "VARIABLE", "localhost") == "localhost"
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"VARIABLE={host!r}") and "using the default 'localhost'" in message


@pytest.mark.parametrize(
    "host", ["localhost", "0.0.0.0", "127.0.0.1", "::", "::1", "my-svc", "node-0.cluster.local", "1e100.net"]
)
def test_addresses_and_host_names_are_still_accepted(host):
    assert require_host("prometheus_host", host) == host
