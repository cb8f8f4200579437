"""``python -m opentelemetry_instrumentation_memory report URL [--watch [SECONDS]]``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .core.validation import require_number


def _seconds(text: str) -> float:
    try:
        return require_number("--watch", float(text), 0.1, 3600.0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="opentelemetry-instrumentation-memory")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="memory against the limit and the active leaks of a live process",
        description="Reads the JSON summary a process serves when OTEL_PYTHON_MEMORY_PROMETHEUS_SUMMARY "
        "is true.",
    )
    report.add_argument("url", help="the process's endpoint: http://host:9202, its /metrics or /memory.json")
    report.add_argument(
        "--watch", nargs="?", const=2.0, type=_seconds, metavar="SECONDS", help="refresh every SECONDS (2)"
    )
    arguments = parser.parse_args(argv)
    from .report import run

    try:
        return run(arguments.url, arguments.watch)
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
