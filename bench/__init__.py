"""Benchmarks: ``make bench`` (bench/README.md)."""
