"""docs/ stays true to the code: every variable and every metric is documented, and what the docs
state of settings, variables, alerts, rules, install names and CI is what the code has."""

import inspect
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from opentelemetry_instrumentation_memory import MemoryProfiler, environment_variables, get_memory_profiler
from opentelemetry_instrumentation_memory.core import settings_docs
from opentelemetry_instrumentation_memory.core.analysis import signals
from opentelemetry_instrumentation_memory.core.analysis.rules import (
    ALERT_RULES,
    GC_SPIKE_FACTOR,
    SIGNALS,
    AlertRule,
)
from opentelemetry_instrumentation_memory.core.config import ProfilerConfig, field_names
from opentelemetry_instrumentation_memory.core.settings import BY_NAME, SETTINGS, Setting
from opentelemetry_instrumentation_memory.otel.metrics import COUNTER, INSTRUMENTS, PREFIX

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_quick_start_documents_every_environment_variable():
    text = (DOCS / "MEMORY_PROFILING_QUICK_START.md").read_text()
    for name in dir(environment_variables):
        if name.startswith("OTEL_PYTHON_MEMORY_"):
            assert f"`{name}`" in text, name


def test_quick_start_documents_every_metric_with_its_unit():
    text = (DOCS / "MEMORY_PROFILING_QUICK_START.md").read_text()
    for spec in INSTRUMENTS:
        name = PREFIX + spec.name + ("_total" if spec.kind == COUNTER else "")
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, name
        assert f"| {'counter' if spec.kind == COUNTER else 'gauge'} |" in row, name
        assert (f"`{spec.unit}`" if spec.unit else "| gauge | |") in row, name


# ---------------------------------------------------------------------------------------------------
# What the docs state must be what the code has: setting defaults, environment variables, alert
# conditions and thresholds, the rules' expressions and durations, install names, the CI interpreters.

ROOT = DOCS.parent
RULES = ROOT / "monitoring" / "alerting" / "memory_alerts.yml"
API = DOCS / "MEMORY_PROFILING_API.md"
QUICK_START = DOCS / "MEMORY_PROFILING_QUICK_START.md"
RUNBOOK = DOCS / "RUNBOOK.md"
MONITORING = DOCS / "MONITORING.md"
PROSE = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
VARIABLE = re.compile(r"OTEL_PYTHON_MEMORY_[A-Z][A-Z0-9_]*")
WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}


def _cells(line: str) -> List[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(text: str, header: str) -> List[List[str]]:
    """The rows of the Markdown table whose header line starts with ``header``, as cells."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(_cells(line))
    return rows


def _section(text: str, title: str) -> str:
    """The text under ``## title`` up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def _section_text(path: Path) -> str:
    """``path``'s prose, its generated settings tables left out (the generator's test covers them)."""
    return re.sub(r"<!-- BEGIN GENERATED.*?<!-- END GENERATED SETTINGS -->", "", path.read_text(), flags=re.S)


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(settings_docs.TARGETS))
def test_the_generated_settings_parts_are_current(path):
    text = (ROOT / path).read_text()
    assert settings_docs.regenerated(path, text) == text, (
        f"{path} is stale: run `{settings_docs.COMMAND}` after changing core/settings.py"
    )


# A default as prose states it: "(default `high`)", "the default 60", "(48 by default", "600 s by
# default", "1 % of wall time by default", "four hours by default", "(`census_budget=0.01`)", "the
# default 60 s interval".
_NUMBER_WORDS = "one|two|three|four|five|six|ten"


def _value(group: str) -> str:
    return rf"`?(?P<{group}>-?\d+(?:\.\d+)?|true|false|True|False|{_NUMBER_WORDS}|[a-z]+(?=`))(?!\w)`?"


_UNIT = r"\s*(?:%|s\b|hours?\b|minutes?\b)"
_DEFAULT = re.compile(
    rf"\bdefault:?\s+{_value('value')}(?P<unit>{_UNIT})?(?:\s+(?P<noun>interval|budget)\b)?"
    rf"|{_value('before')}(?P<before_unit>{_UNIT})?(?:\s+of wall time)?\s+by default"
    r"|`(?P<name>[a-z_]+)=(?P<assigned>[^`]+)`(?=[^.|]*\bdefault)"
)


_NOUNS = {"interval": "snapshot_interval", "budget": "census_budget"}


def _clauses(text: str) -> List[str]:
    """Table rows and sentences, each on one line."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    clauses = []
    for block in re.split(r"\n\s*\n", text):
        if block.lstrip().startswith("|"):
            clauses += block.strip().splitlines()
        else:
            clauses += re.split(r"(?<=[a-z)`]\.)\s", " ".join(block.split()))
    return clauses


def _says(stated: str, unit: str, setting: Setting) -> bool:
    """Whether ``stated`` (and its unit) is ``setting``'s default."""
    default = setting.default
    if isinstance(default, bool):
        return stated.lower() == str(default).lower()
    if isinstance(default, str):
        return stated == default
    number = WORDS.get(stated, None) if not re.fullmatch(r"-?[\d.]+", stated) else float(stated)
    if number is None:
        return False
    unit = unit.strip()
    scale = {"hour": 3600, "hours": 3600, "minute": 60, "minutes": 60}.get(unit, 1)
    if unit == "%" and not setting.name.endswith("_percent"):
        scale = 0.01  # a share of wall time stated as a percentage
    return abs(number * scale - default) < 1e-9 * max(1.0, abs(default))


_MENTION = re.compile(r"`(?P<name>[a-z_]+)(?:=[^`]*)?`|(?P<variable>OTEL_PYTHON_MEMORY_[A-Z_]+)")


def _stated_defaults(clause: str) -> Iterator[Tuple[Setting, str, str]]:
    """The defaults ``clause`` states, each with its setting: the one its words name ("interval"),
    the one it assigns, else the nearest named before the statement, else the first after."""
    by_variable = {setting.variable: setting for setting in SETTINGS}
    named = []
    for match in _MENTION.finditer(clause):
        setting = BY_NAME.get(match.group("name") or "") or by_variable.get(match.group("variable") or "")
        if setting is not None:
            named.append((match.start(), setting))
    for statement in _DEFAULT.finditer(clause):
        if statement.group("noun"):
            yield (
                BY_NAME[_NOUNS[statement.group("noun")]],
                statement.group("value"),
                statement.group("unit") or "",
            )
        elif statement.group("name"):
            if statement.group("name") in BY_NAME:
                yield BY_NAME[statement.group("name")], statement.group("assigned"), ""
        elif named:
            before = [setting for where, setting in named if where < statement.start()]
            stated = statement.group("value") or statement.group("before")
            unit = statement.group("unit") or statement.group("before_unit") or ""
            yield (before[-1] if before else named[0][1]), stated, unit


def test_every_default_the_docs_state_is_the_codes():
    """A default stated near a setting's name or variable in any doc (the generated tables aside)
    is that setting's default."""
    checked = 0
    for path in PROSE:
        for clause in _clauses(_section_text(path)):
            for setting, stated, unit in _stated_defaults(clause):
                checked += 1
                assert _says(stated, unit, setting), (
                    f"{path.name}: {clause!r} states {stated}{unit} as the default of {setting.name}, "
                    f"which is {setting.default!r}"
                )
    assert checked >= 10, f"only {checked} default statements found: the patterns no longer match the docs"


def test_every_keyword_a_documented_call_passes_exists():
    """``instrument(...)``, ``MemoryProfiler(...)``, ``configure(...)`` and ``get_memory_profiler(...)``
    in the docs take only settings and the parameters those calls have."""
    instrumentor = (Path(environment_variables.__file__).parent / "otel" / "instrumentor.py").read_text()
    known = set(BY_NAME) | set(re.findall(r'kwargs\.pop\("(\w+)"', instrumentor))
    for call in (MemoryProfiler.__init__, MemoryProfiler.configure, get_memory_profiler):
        known |= set(inspect.signature(call).parameters) - {"self", "settings", "changes"}
    seen = 0
    for path in PROSE:
        for arguments in re.findall(
            r"(?:instrument|MemoryProfiler|configure|get_memory_profiler)\(([^)]*)\)", path.read_text()
        ):
            for keyword in re.findall(r"(?<![\w*])(\w+)=", arguments):
                seen += 1
                assert keyword in known, f"{path.name}: {keyword}= is no setting or parameter of that call"
    assert seen


def test_the_assignable_thresholds_the_api_lists_are_the_profilers():
    text = " ".join(API.read_text().split())
    listed = re.search(r"The threshold attributes (.*?) can be assigned", text)
    assert listed
    stated = set(re.findall(r"`(\w+)`", listed.group(1)))
    assignable = {name for name in BY_NAME if isinstance(getattr(MemoryProfiler, name, None), property)}
    assert stated == assignable


# --- in-process alerts --------------------------------------------------------------------------------


def _alert_rows() -> Dict[str, List[str]]:
    return {row[0].strip("`"): row for row in _table(API.read_text(), "| `type` | severity | condition |")}


def _spoken_duration(seconds: float) -> List[str]:
    """How a doc may state a duration: ``5m``, ``1h`` and their words."""
    minutes = int(seconds // 60)
    spelled = f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
    return _durations(spelled) + [spelled]


# The figures of the windowed signals (core/analysis/signals.py) a condition may state, with their words.
SIGNAL_FIGURES = {
    "growth_mb_per_hour": {
        signals.GROWTH_WINDOW_SECONDS / 60: ["the last hour", "an hour"],
        signals.GROWTH_MIN_SPAN_SECONDS / 60: ["ten minutes", "10 minutes"],
    },
    "gc_collections_per_second": {
        signals.GC_WINDOW_SECONDS / 60: ["five minutes", "5 minutes"],
        signals.NORMAL_READINGS / 60: ["six hours", "6 hours"],
        GC_SPIKE_FACTOR: ["three times", "3 times", "3×"],
    },
}


def _rule_signals(rule: AlertRule) -> List[str]:
    return [comparison.signal for alternative in rule.any_of for comparison in alternative]


def test_the_api_alert_table_states_every_rules_severity_settings_and_duration():
    rows = _alert_rows()
    assert sorted(rows) == sorted(rule.type for rule in ALERT_RULES)
    for rule in ALERT_RULES:
        severity, condition = rows[rule.type][1], " ".join(rows[rule.type][2].split())
        assert severity == rule.severity, rule.type
        for setting in rule.settings:
            assert f"`{setting}`" in condition, f"{rule.type}: the condition never names {setting}"
        assert _states(condition, _spoken_duration(rule.for_seconds)), f"{rule.type}: no 'for' duration"
        for signal in _rule_signals(rule):
            for phrases in SIGNAL_FIGURES.get(signal, {}).values():
                assert _states(condition, phrases), f"{rule.type}: never says {phrases[0]}"
        # Every setting-shaped name it states exists.
        for word in re.findall(r"`([a-z_]+)`", condition):
            if word.endswith(("_percent", "_warning", "_critical", "_second", "_severity", "_seconds")):
                assert word in field_names() or word in SIGNALS, (rule.type, word)


def test_the_api_says_alerts_follow_the_rules_semantics():
    text = " ".join(API.read_text().split())
    assert "pending" in text and "resolves at the first" in text


# --- the shipped rules ---------------------------------------------------------------------------------


def _rules() -> Dict[str, Dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}


def _spellings(number: float) -> List[str]:
    """How a runbook may state a threshold: as is, or seconds as minutes or hours."""
    shown = [f"{number:g}"]
    if number >= 3600 and number % 3600 == 0:
        hours = int(number // 3600)
        shown += [f"{hours:g} hours"] + [f"{name} hours" for name, value in WORDS.items() if value == hours]
    return shown


def _durations(duration: str) -> List[str]:
    """How a runbook may state a Prometheus duration (``5m``, ``1h``, ``6h``) in words."""
    amount, unit = int(duration[:-1]), {"m": "minute", "h": "hour", "s": "second"}[duration[-1]]
    names = [word for word, value in WORDS.items() if value == amount]
    if amount == 1:
        return [f"{name} {unit}" for name in names] + [f"1 {unit}"]
    return [f"{spelled} {unit}s" for spelled in [str(amount), *names]]


def _states(text: str, spellings: List[str]) -> bool:
    text = " ".join(text.split())  # a figure may break across lines
    return any(re.search(rf"(?<![\w.]){re.escape(spelling)}(?!\w|\.\d)", text) for spelling in spellings)


def test_the_runbook_states_every_rules_settings_defaults_and_duration():
    text = RUNBOOK.read_text()
    defaults = ProfilerConfig()
    assert set(re.findall(r"^## (\w+)$", text, re.M)) == {rule.name for rule in ALERT_RULES}
    for rule in ALERT_RULES:
        section = _section(text, rule.name)
        condition = section.strip().split("\n\n")[0]  # the first paragraph states the condition
        for setting in rule.settings:
            assert f"`{setting}`" in condition, f"{rule.name}: the runbook never names {setting}"
            default = float(getattr(defaults, setting))
            assert _states(condition, _spellings(default)), (
                f"{rule.name}: never states {setting}'s {default:g}"
            )
        assert _states(condition, _spoken_duration(rule.for_seconds)), f"{rule.name}: no 'for' duration"
        for stated in re.findall(r"\bfor (an? \w+|\d+ \w+)\b", condition):
            if re.search(r"(minute|hour)s?$", stated):
                assert stated in _spoken_duration(rule.for_seconds), f"{rule.name}: 'for {stated}'"


def test_the_monitoring_table_matches_the_rules():
    rules = _rules()
    rows = {row[0].strip("`"): row for row in _table(MONITORING.read_text(), "| alert |")}
    assert set(rows) == set(rules)
    for rule in ALERT_RULES:
        _, condition, duration, severity = rows[rule.name]
        assert duration == rules[rule.name]["for"] and severity == rule.severity, rule.name
        for setting in rule.settings:
            assert f"`{setting}`" in condition, (rule.name, setting)
        for signal in _rule_signals(rule):
            assert f"{PREFIX}{signal}" in condition, (rule.name, signal)


# --- install names and interpreters ---------------------------------------------------------------


def _pyproject() -> Dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_pip_install_names_something_installable():
    project = _pyproject()["project"]
    extras = set(project["optional-dependencies"])
    known = {
        _requirement_name(requirement)
        for requirement in project["dependencies"]
        + [r for group in project["optional-dependencies"].values() for r in group]
    }
    seen = 0
    for path in PROSE:
        for line in path.read_text().splitlines():
            for command in re.findall(r"\bpip3? install ([^`&|;\n]+)", line):
                for argument in command.split():
                    argument = argument.strip("\"'")
                    if argument.startswith("-"):
                        continue
                    seen += 1
                    local = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", argument)
                    if local:
                        unknown = set((local.group(1) or "").split(",")) - extras - {""}
                        assert not unknown, f"{path.name}: {argument}: no such extra in pyproject.toml"
                    else:
                        assert _requirement_name(argument) in known, (
                            f"{path.name}: pip install {argument}: not this checkout, and not a "
                            "dependency pyproject.toml lists (the package itself is on no index)"
                        )
    assert seen


def test_the_readme_names_the_interpreters_and_tests_ci_runs():
    """README and CHANGELOG say what .ci/run does: the whole suite on one interpreter, the unit suite
    on the others; never "tested on 3.10-3.13"."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "-m pytest -q -p no:cacheprovider tests/unit\n" in script
    versions = re.search(r"for version in ([\d. ]+); do", script).group(1).split()
    listed = ", ".join(versions[:-1]) + " and " + versions[-1]  # "3.10, 3.12 and 3.13"
    development = " ".join(_section((ROOT / "README.md").read_text(), "Development").split())
    assert all(f"3.{version.split('.')[1]}" in development for version in versions), versions
    assert f"the unit suite (`tests/unit`) on {listed}" in development
    assert re.search(r"whole test suite on CPython 3\.\d+", development)
    changelog = " ".join((ROOT / "CHANGELOG.md").read_text().split())
    assert listed in changelog
    for text in (development, changelog):
        assert not re.search(r"[Tt]ested on (CPython )?3\.10", text)


# --- operations ---------------------------------------------------------------------------------------


def test_operations_states_the_exit_handlers_the_package_registers():
    package = Path(environment_variables.__file__).parent
    registering = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "atexit.register(" in path.read_text()
    )
    text = " ".join((DOCS / "OPERATIONS.md").read_text().split())
    if registering:
        assert "registers no exit handler" not in text
        for module in registering:
            assert module in text, f"OPERATIONS.md does not say that {module} registers an exit handler"


def test_operations_states_the_soak_the_test_runs():
    soak = (ROOT / "tests" / "integration" / "test_soak.py").read_text()
    snapshots = int(re.search(r"for index in range\(([\d_]+)\)", soak).group(1).replace("_", ""))
    first, _ = (
        int(n.replace("_", "")) for n in re.search(r"if index in \(([\d_]+), ([\d_]+)\)", soak).groups()
    )
    text = " ".join((DOCS / "OPERATIONS.md").read_text().split())
    paragraph = text[text.index("`tests/integration/test_soak.py`") :][:800]
    assert f"takes {snapshots:,} snapshots" in paragraph
    assert f"between snapshot {first:,}" in paragraph
