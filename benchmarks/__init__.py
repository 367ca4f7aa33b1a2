"""Benchmarks of the ``match_recognize`` matcher against hand-written alternatives (``make bench``).

``benchmarks.data`` generates the events, ``benchmarks.handwritten`` holds the pure-Python and
Polars formulations a user could write for each benchmark pattern, and ``benchmarks.run``
measures them all and writes ``BENCHMARKS.md``.
"""
