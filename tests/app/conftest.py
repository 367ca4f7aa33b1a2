"""AppTest scripts run in this process, so compile the matcher's kernels once up front.

The numba kernels compile on first use (several seconds each on a cold cache, far more on a busy
machine); without this warm-up the first AppTest that runs a given kind can hit its script
timeout, which would say nothing about the page.
"""

from __future__ import annotations

import pytest

from cep.matcher import find_matches
from cep.packs import generate_sample, list_packs


@pytest.fixture(scope="session", autouse=True)
def _compiled_matcher_kernels() -> None:
    for pack in list_packs():
        frame, _ = generate_sample(pack)
        for pattern in pack.patterns.values():
            find_matches(pattern, frame)
