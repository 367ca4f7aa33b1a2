"""Detector kinds: one module per kind, each with a batch ``find_matches`` and a streaming ``Engine``."""
