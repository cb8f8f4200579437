"""Builds the benchmark-only ``_census`` extension for the running interpreter (CPython 3.12+).

    python benchmarks/compiled_census/build.py

Compiles ``_census.c`` with ``$CC`` (default ``gcc``) against this interpreter's headers into
``benchmarks/compiled_census/_build/`` (git-ignored) and prints the module's path. Nothing in the
package imports it and installing the package never builds it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_census.c"
BUILD_DIR = HERE / "_build"


def build() -> Path:
    """The path of ``_census`` built for this interpreter, compiled if missing or older than its source."""
    if sys.implementation.name != "cpython" or sys.version_info < (3, 12):
        raise RuntimeError("the prototype needs CPython 3.12+ (PyUnstable_GC_VisitObjects)")
    target = BUILD_DIR / f"_census{sysconfig.get_config_var('EXT_SUFFIX')}"
    if target.exists() and target.stat().st_mtime >= SOURCE.stat().st_mtime:
        return target
    BUILD_DIR.mkdir(exist_ok=True)
    command = [
        *shlex.split(os.environ.get("CC", "gcc")),
        "-O2", "-Wall", "-Wextra", "-fPIC", "-shared",
        f"-I{sysconfig.get_paths()['include']}",
        str(SOURCE), "-o", str(target),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return target


if __name__ == "__main__":
    print(build())
