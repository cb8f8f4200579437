"""Pure, clock-free analysis over records: history, leak detection, baseline drift, forecast, alerts."""
