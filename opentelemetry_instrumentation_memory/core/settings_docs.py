"""Writes what ``core/settings.py`` generates: the settings' entries in ``environment_variables.py`` and
the settings tables of the docs, each between its markers. The rest of those files is written by hand.

Run in a checkout: ``python -m opentelemetry_instrumentation_memory.core.settings_docs`` (``--check``
only reports stale files, exiting 1). The unit tests fail while a generated part is stale.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .settings import SETTINGS, Setting

COMMAND = "python -m opentelemetry_instrumentation_memory.core.settings_docs"
ROOT = Path(__file__).resolve().parents[2]
_WIDTH = 100


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _bounds(setting: Setting, code: Callable[[str], str], booleans: str = "true false") -> str:
    """The values ``setting`` takes, in words (``a number from 0 to 100``); ``booleans`` spells
    true and false (Python's or the environment's)."""
    if setting.kind is bool:
        return " or ".join(map(code, booleans.split()))
    if setting.choices:
        return ", ".join(map(code, setting.choices[:-1])) + f" or {code(setting.choices[-1])}"
    if setting.kind is str:
        return "a directory"
    low, high = _number(setting.minimum), setting.maximum
    words = []
    if high is not None and not setting.exclusive_minimum:
        words.append(f"from {low} to {_number(high)}")
    elif setting.exclusive_minimum:
        words += [f"above {low}"] + ([f"at most {_number(high)}"] if high is not None else [])
    elif not setting.at_least:  # else the bounding setting's own floor holds
        words.append(f"at least {low}")
    words += [f"at least {code(setting.at_least)}"] if setting.at_least else []
    words += [f"at most {code(setting.at_most)}"] if setting.at_most else []
    return ("an integer " if setting.kind is int else "a number ") + ", ".join(words)


def _variable_default(setting: Setting, code: Callable[[str], str]) -> str:
    """The default as the variable spells it (``60``, ``false``), or what an empty default means."""
    if setting.unset and setting.default == "":
        return setting.unset
    if isinstance(setting.default, bool):
        return code(str(setting.default).lower())
    if isinstance(setting.default, (int, float)):
        return code(_number(setting.default))
    return code(setting.default)


def _markdown(text: str) -> str:
    return f"`{text}`"


def _rst(text: str) -> str:
    return f"``{text}``"


def api_table() -> str:
    rows = ["| setting | type | default | values | meaning |", "|---|---|---|---|---|"]
    for setting in SETTINGS:
        default = repr(setting.default) if setting.kind is not str else f'"{setting.default}"'
        default += f" ({setting.unset})" if setting.unset and setting.default == "" else ""
        bounds = _bounds(setting, _markdown, "True False")
        rows.append(f"| `{setting.name}` | {setting.kind.__name__} | {default} | {bounds} | {setting.doc} |")
    return "\n".join(rows) + "\n"


def quick_start_table() -> str:
    rows = ["| variable | default | values | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default, bounds = _variable_default(setting, _markdown), _bounds(setting, _markdown)
        rows.append(f"| `{setting.variable}` | {default} | {bounds} | {setting.doc} |")
    return "\n".join(rows) + "\n"


def variable_entries() -> str:
    """Each setting's constant, with the ``.. envvar::`` docstring of opentelemetry-python-contrib."""
    entries = []
    for setting in SETTINGS:
        doc = re.sub(r"`([^`]+)`", r"``\1``", setting.doc)
        default = _variable_default(setting, _rst)
        default = f"(default: {default})" if setting.unset else f"(default {default})"
        usage = f"Sets ``{setting.name}``: {_bounds(setting, _rst)} {default}."
        lines = [textwrap.fill(text, _WIDTH, break_on_hyphens=False) for text in (doc, usage)]
        entries.append(
            f'{setting.variable} = "{setting.variable}"\n"""\n.. envvar:: {setting.variable}\n\n'
            + "\n\n".join(lines)
            + '\n"""\n'
        )
    return "\n".join(entries)


def _markers(path: str) -> tuple:
    begin, end = f"BEGIN GENERATED SETTINGS: {COMMAND}", "END GENERATED SETTINGS"
    if path.endswith(".py"):
        return f"# {begin}\n", f"# {end}\n"
    return f"<!-- {begin} -->\n", f"<!-- {end} -->\n"


# Each generated file, from the checkout's root, with what goes between its markers.
TARGETS: Dict[str, Callable[[], str]] = {
    "opentelemetry_instrumentation_memory/environment_variables.py": lambda: "\n" + variable_entries() + "\n",
    "docs/MEMORY_PROFILING_API.md": lambda: "\n" + api_table() + "\n",
    "docs/MEMORY_PROFILING_QUICK_START.md": lambda: "\n" + quick_start_table() + "\n",
}


def regenerated(path: str, text: str) -> str:
    """``text`` (the file at ``path``) with its generated part rewritten."""
    begin, end = _markers(path)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{path} lacks the markers {begin.strip()!r} ... {end.strip()!r}")
    return text[: start + len(begin)] + TARGETS[path]() + text[stop:]


def main(argv: Optional[Sequence[str]] = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    if not (ROOT / "pyproject.toml").is_file():
        print(f"not a checkout: {ROOT} has no pyproject.toml", file=sys.stderr)
        return 2
    stale: List[str] = []
    for path in TARGETS:
        text = (ROOT / path).read_text()
        new = regenerated(path, text)
        if new != text:
            stale.append(path)
            if not check:
                (ROOT / path).write_text(new)
    for path in stale:
        print(f"{'stale' if check else 'rewrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
