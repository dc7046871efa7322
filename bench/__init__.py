"""Benchmarks: one script per speed concern, run as `python bench/NAME.py`."""
