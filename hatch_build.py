"""Builds the optional ``_sampler`` extension (the sampled heap profile) into the wheel.

Where it cannot be built (no C compiler, no Python headers, an interpreter other than CPython
3.10-3.13), the wheel is pure Python and the package falls back to tracemalloc windows, saying so
once at run time: installing never fails for want of a compiler.

``python hatch_build.py`` builds it in place, next to the sources, for a checkout's own tests.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import warnings
from typing import Any, Dict, Optional

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script: only build_inplace() is needed
    BuildHookInterface = object  # type: ignore[assignment,misc]

PACKAGE = "opentelemetry_instrumentation_memory"
NAME = PACKAGE + "._sampler"
HEADERS = ("_sampler_stack.h", "_sampler_intern.h", "_sampler_table.h", "_sampler_report.h")


def supported() -> bool:
    return platform.python_implementation() == "CPython" and (3, 10) <= sys.version_info[:2] <= (3, 13)


def build(root: str, target: str) -> Optional[str]:
    """Compile the extension from the sources under ``root`` into ``target``; its path, or None
    (with a warning) when it cannot be built here."""
    if not supported():
        warnings.warn(f"{NAME} supports CPython 3.10-3.13 only: installing without it", stacklevel=2)
        return None
    scratch = tempfile.mkdtemp(prefix="sampler-build-")
    try:
        from setuptools import Distribution, Extension

        source = os.path.join(root, PACKAGE)
        extension = Extension(
            NAME,
            sources=[os.path.join(source, "_sampler.c")],
            depends=[os.path.join(source, header) for header in HEADERS],
            extra_compile_args=["-O2", "-std=gnu11", "-fvisibility=hidden"],
            libraries=["m"],
        )
        distribution = Distribution({"name": PACKAGE, "ext_modules": [extension]})
        command = distribution.get_command_obj("build_ext")
        command.build_lib = target
        command.build_temp = scratch
        command.ensure_finalized()
        command.run()
        return command.get_ext_fullpath(NAME)
    except BaseException as error:  # a missing compiler exits through SystemExit in distutils
        if isinstance(error, KeyboardInterrupt):
            raise
        warnings.warn(f"{NAME} could not be built ({error}): installing without it", stacklevel=2)
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def build_inplace() -> Optional[str]:
    root = os.path.dirname(os.path.abspath(__file__))
    return build(root, root)


class SamplerBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Hatchling's hook: the built extension joins the wheel, which is then tagged for this
    interpreter and platform; an editable install builds it in place instead."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if version == "editable":
            build_inplace()
            return
        built = build(self.root, tempfile.mkdtemp(prefix="sampler-wheel-"))
        if built is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"][built] = f"{PACKAGE}/{os.path.basename(built)}"


if __name__ == "__main__":
    path = build_inplace()
    print(path or f"{NAME} not built ({sysconfig.get_platform()}, Python {platform.python_version()})")
    sys.exit(0 if path else 1)
