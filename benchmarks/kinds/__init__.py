"""Per-kind benchmarks: realistic generators, pure-Python implementations and measurements."""
