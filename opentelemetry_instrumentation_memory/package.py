# The profiler instruments the interpreter itself, not a third-party library: nothing to require.
_instruments: tuple = ()

_supports_metrics = True
