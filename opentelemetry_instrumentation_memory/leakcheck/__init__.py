"""Leak checks for test suites: run a body repeatedly and fail naming what grows."""

from .check import LeakCheck
from .options import KINDS, CheckOptions
from .report import Growth, LeaksFound

__all__ = ["KINDS", "CheckOptions", "Growth", "LeakCheck", "LeaksFound"]
