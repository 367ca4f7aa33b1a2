"""Every pack pattern's generated processor, run with PySpark's ``TwsTester`` (no JVM), finds
exactly the matches of ``cep.matcher.find_matches`` on the pack's default sample (200 events,
seed 0), fed as two micro-batches with out-of-order events within the watermark and one
end-of-stream row per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep.matcher import find_matches
from cep.packs import generate_sample, list_packs
from tests.codegen.spark_harness import (
    load_job,
    normalise_matches,
    run_tws_tester,
    write_micro_batches,
)

pytest.importorskip("pyspark.sql.streaming.tws_tester")

DELAY_S = 60.0
CASES = [(pack.name, name) for pack in list_packs() for name in pack.patterns]


@pytest.fixture(scope="module")
def samples() -> dict[str, object]:
    return {pack.name: (pack, generate_sample(pack, events=200, seed=0)[0])
            for pack in list_packs()}


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize(("pack_name", "pattern_name"), CASES,
                         ids=[f"{p}-{n}" for p, n in CASES])
def test_generated_processor_equals_the_matcher_on_pack_samples(
        pack_name: str, pattern_name: str, samples: dict[str, object], tmp_path: Path) -> None:
    pack, events = samples[pack_name]  # type: ignore[misc]
    pattern = pack.patterns[pattern_name]
    source = tmp_path / "source"
    write_micro_batches(events, pattern, source, batches=2, delay_s=DELAY_S, separate_end=True)
    job = load_job(pattern, tmp_path, {"source": {"kind": "files", "path": str(source)},
                                       "watermark_delay": f"{int(DELAY_S)}s"})
    got = run_tws_tester(job, pattern, source, DELAY_S)
    expected = normalise_matches(find_matches(pattern, events).matches, pattern.partition_by)
    assert expected, "the sample should give the pattern something to find"
    assert got == expected


def test_the_pack_cases_cover_every_kind() -> None:
    kinds = {pack.patterns[name].kind for pack in list_packs() for name in pack.patterns}
    assert len(kinds) == 13
