"""The pytest plugin: ``@pytest.mark.no_leaks`` runs a test's body repeatedly and fails naming what
grows; the ``leak_check`` fixture does the same for a loop the test writes (docs/TESTING_FOR_LEAKS.md).

Registered under the ``pytest11`` entry point named after this module, so ``-p`` or
``pytest_plugins`` naming it too loads it once. The check itself is imported only when a test uses it.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Sequence

import pytest

if TYPE_CHECKING:
    from .leakcheck import CheckOptions

MARKER = "no_leaks"
_OPTIONS = ("iterations", "warmup", "kinds")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(iterations=16, warmup=4, kinds=('type', 'container')): run the test body "
        "warmup + iterations times and fail naming what grows in every quarter of the runs "
        "(owner path, type, line)",
    )


def _options(arguments: Sequence[Any], keywords: Mapping[str, Any]) -> "CheckOptions":
    from .leakcheck import CheckOptions

    if arguments:
        raise ValueError(f"{MARKER} takes keyword arguments only ({', '.join(_OPTIONS)}), got {arguments!r}")
    unknown = sorted(set(keywords) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"{MARKER} has no option {unknown[0]!r} (it takes {', '.join(_OPTIONS)})")
    return CheckOptions(**keywords)


def _check(options: "CheckOptions", root: str) -> Iterator[int]:
    from .leakcheck import LeakCheck, LeaksFound

    message = ""
    try:
        yield from LeakCheck(options, root).loop()
    except LeaksFound as found:
        message = str(found)
    if message:  # failed outside the handler: the report is the message, with no chained traceback
        pytest.fail(message, pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Call a marked test's function as pytest would, once per run of the check."""
    marker = pyfuncitem.get_closest_marker(MARKER)
    if marker is None:
        return None
    try:
        options = _options(marker.args, marker.kwargs)
    except ValueError as error:
        misuse = str(error)
    else:
        misuse = ""
    if misuse:
        pytest.fail(misuse, pytrace=False)
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        pytest.fail(f"{MARKER} runs synchronous tests; loop with the leak_check fixture", pytrace=False)
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    for _ in _check(options, str(pyfuncitem.config.rootpath)):
        function(**arguments)
    return True


class LeakLoop:
    """``for _ in leak_check(iterations=16, warmup=4, kinds=("type", "container")): body()`` runs
    the body ``warmup + iterations`` times (a few more once something grows) and, when the loop
    ends, fails the test naming what grew. Leaving the loop early skips the check."""

    def __init__(self, root: str) -> None:
        self._root = root

    def __call__(self, **options: Any) -> Iterator[int]:
        return _check(_options((), options), self._root)


@pytest.fixture
def leak_check(request: pytest.FixtureRequest) -> LeakLoop:
    """Loops whose every run is measured for growth: see ``LeakLoop``."""
    return LeakLoop(str(request.config.rootpath))
