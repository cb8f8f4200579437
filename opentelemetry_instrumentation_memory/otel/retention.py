"""Keeping the attribute sets the SDK retains for an asynchronous instrument to those reported now."""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["forget_unreported"]


def forget_unreported(instrument: object, keep: Callable[[Mapping[str, object]], bool]) -> None:
    """Drop what the SDK retains for the attribute sets of ``instrument`` that ``keep`` refuses.

    The SDK keeps the state of every attribute set an asynchronous instrument has ever reported
    (with cumulative and delta temporality alike) and, past its cardinality limit (2000 by
    default), files every new set under ``otel.metric.overflow``: a process whose top types churn
    would stop exporting new types by name. No public API forgets an attribute set, so this reaches
    the SDK's per-reader storage: it works on every reader of the instrument's provider (Prometheus,
    OTLP), including a provider the user owns. Called from the instrument's own callback, during a
    collection, before the new observations are taken in. Nothing is lost: a gauge's point is its
    last observation, and a type back in the top N starts a new one. Where the SDK's layout differs
    (another SDK, a no-op provider), nothing is dropped, and the test of this promise fails.
    """
    instrument = getattr(instrument, "_real_instrument", None) or instrument  # the API's proxy
    consumer = getattr(instrument, "_measurement_consumer", None)
    storages = getattr(consumer, "_reader_storages", None)
    if not isinstance(storages, Mapping):
        return
    for storage in list(storages.values()):
        matches = getattr(storage, "_instrument_view_instrument_matches", {})
        for match in matches.get(instrument, ()):
            retained = getattr(match, "_attributes_aggregation", None)
            lock = getattr(match, "_lock", None)
            if not isinstance(retained, dict) or lock is None:
                continue
            with lock:
                match._attributes_aggregation = {
                    key: aggregation
                    for key, aggregation in retained.items()
                    if keep(getattr(aggregation, "_attributes", None) or {})
                }
