"""Benchmarks (make bench); a package so bench-only settings/URLconfs import as bench.<name>.*."""
