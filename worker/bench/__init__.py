"""``tunesmith bench``: the speed figures written to BENCHMARKS.md."""
