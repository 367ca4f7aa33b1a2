"""Slow, obviously-correct reference implementations that the fast matchers are checked against."""
