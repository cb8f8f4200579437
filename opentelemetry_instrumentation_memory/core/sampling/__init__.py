"""Reading the process: its memory, its limit, its objects, its GC pauses; fork handling."""
