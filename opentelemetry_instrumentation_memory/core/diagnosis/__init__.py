"""On-demand, bounded diagnosis of a leak once one is found: where it is allocated."""
