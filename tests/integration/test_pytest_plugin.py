"""The pytest plugin on real pytest sessions (pytester, each in a child process): a leaking marked
test fails naming the owner path, the type and the line; clean tests, warm-up caches and bounded
caches pass, a clean marked test in about two seconds at most; the ``leak_check`` fixture does the same
for explicit loops; misused options name themselves."""

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "opentelemetry_instrumentation_memory.pytest_plugin"
REPOSITORY = Path(__file__).resolve().parents[2]

COMMON = """
import functools

import pytest


class Session:
    def __init__(self, user):
        self.user = user
        self.scratch = {"user": user}


SESSIONS = []


def remember(user):
    SESSIONS.append(Session(user))  # the leak
"""


@pytest.fixture
def run(pytester, monkeypatch):
    """Run a test module (``COMMON`` and ``body``) in a child pytest with the plugin; its output."""
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY))  # the child imports this checkout
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(body: str, *arguments: str):
        pytester.makepyfile(test_suite=COMMON + body)
        result = pytester.runpytest_subprocess("-p", PLUGIN, "-rA", *arguments, timeout=120)
        return result, result.stdout.str()

    run.path = pytester.path
    return run


def _failure(output: str, test: str) -> str:
    """The failure section of ``test`` in pytest's report."""
    match = re.search(rf"_+ {test} _+\n(.*?)(?=\n_{{3,}} |\n=+ )", output, re.S)
    assert match, f"no failure section for {test}:\n{output}"
    return match.group(1)


def test_a_leaking_marked_test_fails_naming_owner_type_and_line(run):
    result, output = run(
        """
@pytest.mark.no_leaks
def test_leaking():
    remember("alice")


@pytest.mark.no_leaks(kinds=("container",))
def test_containers_only():
    remember("bob")
"""
    )
    result.assert_outcomes(failed=2)
    leaking = _failure(output, "test_leaking")
    written = (result.stdout.lines and run.path / "test_suite.py").read_text().splitlines()
    line = next(n for n, text in enumerate(written, 1) if "# the leak" in text)
    assert "type test_suite.Session: +1.0 objects per run" in leaking
    assert "held by test_suite.SESSIONS (" in leaking
    assert "container test_suite.SESSIONS (list): +1.0 entries per run" in leaking
    assert f"allocated at test_suite.py:{line}" in leaking
    assert "Traceback" not in leaking  # the message, not the plugin's frames
    containers = _failure(output, "test_containers_only")
    assert "container test_suite.SESSIONS (list)" in containers
    assert "type test_suite.Session" not in containers


def test_clean_tests_warm_up_and_bounded_caches_pass(run):
    result, output = run(
        """
ROUTES = {}


@pytest.mark.no_leaks
def test_clean():
    sessions = [Session(n) for n in range(200)]
    assert len(sessions) == 200


@pytest.mark.no_leaks(iterations=20, warmup=1)
def test_warm_up_cache():
    if len(ROUTES) < 40:  # a table filled over the first measured runs too, then stable
        for n in range(10):
            ROUTES[len(ROUTES)] = Session(n)


@functools.lru_cache(maxsize=64)
def lookup(n):
    return Session(n)


COUNTER = [0]


@pytest.mark.no_leaks
def test_bounded_cache_filling():
    COUNTER[0] += 1
    lookup(COUNTER[0])  # a new entry every run, in a cache that states its bound
""",
        "--durations=0",
        "--durations-min=0",
    )
    result.assert_outcomes(passed=3)
    seconds = float(re.search(r"^([\d.]+)s call +test_suite\.py::test_clean$", output, re.M).group(1))
    assert seconds < 2.5, output


def test_the_fixture_checks_explicit_loops(run):
    result, output = run(
        """
def test_loop_leaking(leak_check):
    handlers = []
    for _ in leak_check(warmup=1):
        handlers.append(Session("carol"))


def test_loop_clean(leak_check):
    for n in leak_check():
        assert Session(n).user == n
"""
    )
    result.assert_outcomes(passed=1, failed=1)
    leaking = _failure(output, "test_loop_leaking")
    assert "type test_suite.Session: +1.0 objects per run" in leaking
    assert "in a local variable of test_loop_leaking()" in leaking


def test_misused_options_fail_naming_the_option_and_value(run):
    result, output = run(
        """
@pytest.mark.no_leaks(iterations=3)
def test_too_few():
    pass


@pytest.mark.no_leaks(repeat=3)
def test_unknown():
    pass


@pytest.mark.no_leaks(kinds="type")
def test_kinds_as_a_string():
    pass
"""
    )
    result.assert_outcomes(failed=3)
    assert "iterations must be >= 16 and <= 10000, got 3" in _failure(output, "test_too_few")
    assert "no_leaks has no option 'repeat'" in _failure(output, "test_unknown")
    assert "kinds must be a sequence of type, container, got 'type'" in _failure(
        output, "test_kinds_as_a_string"
    )
