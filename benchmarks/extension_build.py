"""Builds a benchmark-only C extension for the running interpreter.

Compiles one source file with ``$CC`` (default ``gcc``) against this interpreter's headers into
``_build/`` beside it (git-ignored). Nothing in the package imports these modules and installing
the package never builds them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path


def build_extension(source: Path) -> Path:
    """The module built from ``source`` (named after its file), compiled if missing or older than it."""
    build_dir = source.parent / "_build"
    target = build_dir / f"{source.stem}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    build_dir.mkdir(exist_ok=True)
    command = [
        *shlex.split(os.environ.get("CC", "gcc")),
        "-O2", "-Wall", "-Wextra", "-fPIC", "-shared",
        f"-I{sysconfig.get_paths()['include']}",
        str(source), "-o", str(target),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return target
