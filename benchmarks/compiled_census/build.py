"""Builds the benchmark-only ``_census`` extension for the running interpreter (CPython 3.12+).

    python benchmarks/compiled_census/build.py

Compiles ``_census.c`` with ``$CC`` (default ``gcc``) against this interpreter's headers into
``benchmarks/compiled_census/_build/`` (git-ignored) and prints the module's path. Nothing in the
package imports it and installing the package never builds it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from extension_build import build_extension  # noqa: E402

SOURCE = HERE / "_census.c"


def build() -> Path:
    """The path of ``_census`` built for this interpreter, compiled if missing or older than its source."""
    if sys.implementation.name != "cpython" or sys.version_info < (3, 12):
        raise RuntimeError("the prototype needs CPython 3.12+ (PyUnstable_GC_VisitObjects)")
    return build_extension(SOURCE)


if __name__ == "__main__":
    print(build())
