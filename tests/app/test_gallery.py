"""AppTest checks of the Gallery page: cards, filters, search, the detail view, Open in Test."""

from __future__ import annotations

import doctest
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.gallery
import ui.gallery_templates
import ui.gallery_view
from cep.explain import describe_pattern
from cep.history import (
    HistorySettings,
    HistoryStore,
    TemplateDraft,
    create_history_engine,
    resolve_owner,
)
from cep.model import parse_pattern
from cep.packs import expected_matches, generate_sample, load_pack
from ui import state
from ui.gallery import CardFilter, filter_cards, filter_options, pack_card
from ui.gallery_handoff import EVENTS_PACK_SAMPLE

ROOT = Path(__file__).resolve().parents[2]
THREE_PACKS = ("account_security", "card_fraud", "iot_maintenance")
TIMEOUT_S = 120


@pytest.fixture
def packs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A packs folder holding copies of the three original packs, used by the app under test."""
    root = tmp_path / "packs"
    for name in THREE_PACKS:
        shutil.copytree(ROOT / "packs" / name, root / name)
    monkeypatch.setenv("LAKESTREAM_PACKS_DIR", str(root))
    return root


@pytest.fixture(autouse=True)
def history_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history database of each test's own: user templates never come from the developer's."""
    for name in ("LAKESTREAM_DATABASE_URL", "PGHOST", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "lakestream"
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(folder))
    return folder


def history_store() -> HistoryStore:
    """The real store on the database the app under test uses."""
    settings = HistorySettings.from_env(os.environ)
    return HistoryStore(create_history_engine(settings), settings)


def open_gallery() -> AppTest:
    at = AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()
    at.switch_page("pages/gallery.py").run()
    assert not at.exception
    return at


def shown_cards(at: AppTest) -> set[str]:
    """The packs whose card is on the page (each card has one "View details" button)."""
    prefix = state.GALLERY_OPEN_PREFIX + "pack."
    return {b.key.removeprefix(prefix) for b in at.button if b.key and b.key.startswith(prefix)}


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def plain(markdown: str) -> str:
    """Markdown text without the backslashes escape_markdown adds."""
    return markdown.replace("\\", "")


def open_detail(at: AppTest, pack: str) -> AppTest:
    at.button(key=state.GALLERY_OPEN.format(source="pack", ident=pack)).click().run()
    assert not at.exception
    assert not at.error, texts(at.error)
    return at


@pytest.mark.usefixtures("packs_dir")
def test_gallery_shows_one_card_per_pack_with_its_kinds_tags_and_difficulty() -> None:
    at = open_gallery()

    assert at.title[0].value == "Template gallery"
    assert not at.error
    assert shown_cards(at) == set(THREE_PACKS)
    assert "**3 of 3 packs**" in texts(at.markdown)
    page = plain(texts(at.markdown))
    assert "**Card fraud**" in page
    assert (
        ":green-badge[beginner] :violet-badge[count_threshold] :violet-badge[velocity] "
        ":violet-badge[sequence]"
    ) in page
    assert ":gray-badge[#payments]" in page
    assert (
        ":orange-badge[intermediate] :violet-badge[count_threshold] :violet-badge[trend] "
        ":violet-badge[outlier]"
    ) in page
    assert "Manufacturing · 3 patterns" in plain(texts(at.caption))


def test_the_real_packs_folder_gives_a_card_to_every_pack() -> None:
    at = open_gallery()
    on_disk = {p.parent.name for p in (ROOT / "packs").glob("*/pack.yaml")}
    assert set(THREE_PACKS) <= on_disk
    assert shown_cards(at) == on_disk - set(ui.gallery.load_catalogue(ROOT / "packs").problems)
    assert f"of {len(on_disk)} packs**" in texts(at.markdown)


@pytest.mark.usefixtures("packs_dir")
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (state.GALLERY_INDUSTRIES, ["Financial services"], {"card_fraud"}),
        (state.GALLERY_INDUSTRIES, ["Cybersecurity", "Manufacturing"],
         {"account_security", "iot_maintenance"}),
        (state.GALLERY_USE_CASES, ["card testing"], {"card_fraud"}),
        (state.GALLERY_USE_CASES, ["fault bursts", "brute force detection"],
         {"iot_maintenance", "account_security"}),
        (state.GALLERY_KINDS, ["trend"], {"iot_maintenance"}),
        (state.GALLERY_KINDS, ["sequence"], {"card_fraud", "account_security"}),
        (state.GALLERY_KINDS, ["absence", "velocity"], {"account_security", "card_fraud"}),
        (state.GALLERY_KINDS, ["count_threshold"], set(THREE_PACKS)),
    ],
    ids=["one-industry", "two-industries", "use-case", "two-use-cases", "kind-trend",
         "kind-sequence", "two-kinds", "kind-in-every-pack"],
)  # fmt: skip
def test_each_filter_narrows_the_cards(key: str, value: list[str], expected: set[str]) -> None:
    at = open_gallery()
    at.multiselect(key=key).set_value(value).run()

    assert not at.exception
    assert shown_cards(at) == expected
    assert f"**{len(expected)} of 3 packs**" in texts(at.markdown)


@pytest.mark.usefixtures("packs_dir")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password", {"account_security"}),  # a pattern's description (reset_storm)
        ("card_testing", {"card_fraud"}),  # a pattern name
        ("CARD testing", {"card_fraud"}),  # the same name as words, any case
        ("payments", {"card_fraud"}),  # a tag
        ("chargeback", {"card_fraud"}),  # why it matters
        ("vibration spike", {"iot_maintenance"}),
        ("iot", {"iot_maintenance"}),  # the title
        ("login", {"account_security"}),
        ("fraud payments", {"card_fraud"}),  # every word must appear
        ("fraud vibration", set()),
    ],
)
def test_search_looks_in_titles_descriptions_tags_and_pattern_names(
    text: str, expected: set[str]
) -> None:
    at = open_gallery()
    at.text_input(key=state.GALLERY_SEARCH).input(text).run()

    assert not at.exception
    assert shown_cards(at) == expected


@pytest.mark.usefixtures("packs_dir")
def test_filters_combine_and_the_empty_state_resets_them() -> None:
    at = open_gallery()
    at.multiselect(key=state.GALLERY_INDUSTRIES).set_value(["Financial services"]).run()
    at.multiselect(key=state.GALLERY_KINDS).set_value(["trend"]).run()

    assert shown_cards(at) == set()
    assert "**0 of 3 packs**" in texts(at.markdown)
    assert "No pack matches these filters" in texts(at.info)

    at.button(key=state.GALLERY_RESET).click().run()

    assert not at.exception
    assert shown_cards(at) == set(THREE_PACKS)
    assert at.multiselect(key=state.GALLERY_INDUSTRIES).value == []
    assert at.multiselect(key=state.GALLERY_KINDS).value == []
    assert at.text_input(key=state.GALLERY_SEARCH).value == ""
    assert not at.info


@pytest.mark.usefixtures("packs_dir")
def test_filter_options_come_from_the_packs() -> None:
    at = open_gallery()
    assert at.multiselect(key=state.GALLERY_INDUSTRIES).options == [
        "Cybersecurity", "Financial services", "Manufacturing",
    ]  # fmt: skip
    assert at.multiselect(key=state.GALLERY_KINDS).options == [
        "absence", "count_threshold", "outlier", "sequence", "trend", "velocity",
    ]  # fmt: skip
    assert len(at.multiselect(key=state.GALLERY_USE_CASES).options) == 9


@pytest.mark.usefixtures("packs_dir")
def test_every_gallery_input_has_help_text() -> None:
    at = open_gallery()
    grid_inputs = [*at.text_input, *at.multiselect, *at.button]
    at.multiselect(key=state.GALLERY_KINDS).set_value(["trend", "velocity"]).run()
    at.text_input(key=state.GALLERY_SEARCH).input("nothing like this").run()
    empty_inputs = list(at.button)
    at.button(key=state.GALLERY_RESET).click().run()
    open_detail(at, "card_fraud")
    detail_inputs = list(at.button)

    assert len(grid_inputs) == 4 + 3
    assert {b.key for b in empty_inputs} == {state.GALLERY_RESET}
    assert len(detail_inputs) == 1 + 3
    inputs = grid_inputs + empty_inputs + detail_inputs
    assert all(w.help for w in inputs), [w.label for w in inputs if not w.help]


def test_detail_view_explains_each_pattern_and_shows_schema_and_sample(packs_dir: Path) -> None:
    at = open_detail(open_gallery(), "card_fraud")
    pack = load_pack("card_fraud", root=packs_dir)
    frame, planted = generate_sample(pack, events=200, seed=0)

    assert at.header[0].value == "Card fraud"
    assert not shown_cards(at)
    page = plain(texts(at.markdown))
    assert " ".join(pack.meta.why_it_matters.split()) in " ".join(page.split())
    assert ":blue-badge[Financial services] :green-badge[beginner]" in page
    for name, pattern in pack.patterns.items():
        english = describe_pattern(pattern).partition("\n")[2].strip()
        assert f"**{name}** :violet-badge[{pattern.kind}]" in page
        assert "**In plain English** — For each card_id separately" in page
        assert all(line.removeprefix("- ") in page for line in english.splitlines())
        assert f"**What the alert means** — {pack.meta.alerts[name]}" in page
        assert any(f"name: {name}" in c.value for c in at.code if c.language == "yaml")
        assert any(f'"name": "{name}"' in c.value for c in at.code if c.language == "json")
    for name in pack.patterns:
        n = len(expected_matches(pack, name))
        assert f"Finds {n} {'match' if n == 1 else 'matches'} in the sample" in texts(at.caption)
    assert f"200 events generated with seed 0 over {frame['card_id'].n_unique()} card" in texts(
        at.caption
    )

    tables = [df.value for df in at.dataframe]
    schema = tables[0]
    assert list(schema["field"]) == list(pack.schema.fields)
    assert list(schema.columns) == ["field", "type", "unit", "description", "examples"]
    amount = schema[schema["field"] == "amount"].iloc[0]
    assert (amount["type"], amount["unit"]) == ("float", "USD")
    assert amount["examples"] == "12.5, 89.99, 1"

    sample = tables[1]
    assert sample.shape == (200, len(frame.columns))
    assert list(sample["event_id"]) == frame["event_id"].to_list()
    assert list(sample["card_id"]) == frame["card_id"].to_list()
    incidents = tables[2]
    assert list(incidents["incident"]) == [inc.id for inc in planted]
    assert set(incidents["role"]) == {"incident", "decoy"}
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.usefixtures("packs_dir")
def test_back_from_the_detail_view_keeps_the_filters() -> None:
    at = open_gallery()
    at.multiselect(key=state.GALLERY_INDUSTRIES).set_value(["Manufacturing"]).run()
    open_detail(at, "iot_maintenance")
    assert at.header[0].value == "IoT predictive maintenance"

    at.button(key=state.GALLERY_BACK).click().run()

    assert not at.exception
    assert shown_cards(at) == {"iot_maintenance"}
    assert at.multiselect(key=state.GALLERY_INDUSTRIES).value == ["Manufacturing"]


PATTERNS = [
    (pack, name)
    for pack in THREE_PACKS
    for name in sorted(load_pack(pack, root=ROOT / "packs").patterns)
]


@pytest.mark.parametrize(("pack_name", "pattern"), PATTERNS, ids=[f"{p}/{n}" for p, n in PATTERNS])
def test_open_in_test_runs_the_pattern_on_the_sample_and_finds_the_expected_matches(
    packs_dir: Path, pack_name: str, pattern: str
) -> None:
    pack = load_pack(pack_name, root=packs_dir)
    expected = expected_matches(pack, pattern)
    at = open_detail(open_gallery(), pack_name)

    at.button(key=state.GALLERY_OPEN_IN_TEST.format(pack=pack_name, pattern=pattern)).click()
    at.run()

    assert not at.exception
    assert not at.error, texts(at.error)
    assert at.title[0].value == "Test a pattern"
    assert at.radio(key=state.TEST_EVENTS_CHOICE).value == EVENTS_PACK_SAMPLE
    assert f'"name": "{pattern}"' in at.text_area(key=state.TEST_PATTERN_TEXT).value
    outcome = at.session_state[state.TEST_OUTCOME]
    assert outcome["result"]["matches"] == expected
    assert outcome["events_label"] == f"{pack_name} sample (200 events, seed 0)"
    assert {m.label: m.value for m in at.metric}["Matches"] == str(len(expected))
    assert {m.label: m.value for m in at.metric}["Events"] == "200"
    n = len(expected)
    assert f"**{n} {'match' if n == 1 else 'matches'}** for pattern **{pattern}**" in plain(
        texts(at.markdown)
    )
    assert state.TEST_AUTORUN not in at.session_state


@pytest.mark.usefixtures("packs_dir")
def test_the_handed_over_run_happens_once_and_the_sample_stays_a_choice() -> None:
    at = open_detail(open_gallery(), "card_fraud")
    at.button(
        key=state.GALLERY_OPEN_IN_TEST.format(pack="card_fraud", pattern="card_testing")
    ).click().run()
    assert state.TEST_AUTORUN not in at.session_state
    first = at.session_state[state.TEST_OUTCOME]
    # AppTest reruns the page it last switched to itself, not one the script switched to.
    at.switch_page("pages/test.py").run()
    assert at.session_state[state.TEST_OUTCOME] is first or (
        at.session_state[state.TEST_OUTCOME]["inputs"] == first["inputs"]
    )
    assert "changed since this run" not in texts(at.caption)

    at.text_area(key=state.TEST_PATTERN_TEXT).set_value(
        at.text_area(key=state.TEST_PATTERN_TEXT).value.replace('"10m"', '"9m"')
    ).run()

    assert at.session_state[state.TEST_OUTCOME] is not None
    assert at.session_state[state.TEST_OUTCOME]["inputs"] == first["inputs"]
    assert "changed since this run" in texts(at.caption)
    assert at.radio(key=state.TEST_EVENTS_CHOICE).options == [
        "Sample stock ticks", "Upload a file", EVENTS_PACK_SAMPLE,
    ]  # fmt: skip


def test_the_test_page_offers_no_pack_sample_before_the_gallery_hands_one_over() -> None:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    assert not at.exception
    assert at.radio(key=state.TEST_EVENTS_CHOICE).options == ["Sample stock ticks", "Upload a file"]


def test_a_broken_pack_folder_is_an_error_message_and_the_other_packs_still_show(
    packs_dir: Path,
) -> None:
    meta = packs_dir / "iot_maintenance" / "pack.yaml"
    meta.write_text(meta.read_text().replace("difficulty: intermediate", "difficulty: expert"))

    at = open_gallery()

    assert not at.exception
    assert len(at.error) == 1
    message = plain(at.error[0].value)
    assert message.startswith("**Could not load the pack 'iot_maintenance'** — ")
    assert (
        f"{meta}: difficulty: Input should be 'beginner', 'intermediate' or 'advanced'" in message
    )
    assert "Traceback" not in message
    assert shown_cards(at) == {"account_security", "card_fraud"}
    assert "**2 of 2 packs**" in texts(at.markdown)


def test_a_pack_with_a_bad_pattern_file_names_the_file(packs_dir: Path) -> None:
    bad = packs_dir / "card_fraud" / "patterns" / "card_testing.yaml"
    bad.write_text("kind: count_threshold\nname: [unclosed\n")

    at = open_gallery()

    assert not at.exception
    assert [plain(e.value).split(" — ")[0] for e in at.error] == [
        "**Could not load the pack 'card_fraud'**"
    ]
    assert "card_fraud/patterns/card_testing.yaml: malformed YAML" in plain(at.error[0].value)
    assert shown_cards(at) == {"account_security", "iot_maintenance"}


def test_an_edited_pack_is_reloaded(packs_dir: Path) -> None:
    at = open_gallery()
    assert shown_cards(at) == set(THREE_PACKS)
    shutil.rmtree(packs_dir / "account_security")

    at.run()

    assert shown_cards(at) == {"card_fraud", "iot_maintenance"}


def test_an_empty_packs_folder_says_where_packs_are_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESTREAM_PACKS_DIR", str(tmp_path))
    at = open_gallery()
    assert not at.exception
    assert not at.error
    assert "No template packs in" in texts(at.info)
    assert "LAKESTREAM_PACKS_DIR" in texts(at.info)
    assert not at.multiselect


def test_cards_filters_and_options_from_packs() -> None:
    cards = [pack_card(load_pack(name, root=ROOT / "packs")) for name in THREE_PACKS]
    assert [c.ident for c in filter_cards(cards, CardFilter(text="spend velocity"))] == [
        "card_fraud"
    ]
    assert CardFilter().is_empty
    assert not CardFilter(text=" x ").is_empty
    assert filter_cards(cards, CardFilter()) == cards
    assert filter_options(cards)["industries"] == [
        "Cybersecurity", "Financial services", "Manufacturing",
    ]  # fmt: skip
    card = cards[1]
    assert (card.title, card.industry, card.difficulty) == (
        "Card fraud",
        "Financial services",
        "beginner",
    )
    assert card.kinds == ("count_threshold", "velocity", "sequence")
    assert card.key == ("pack", "card_fraud")


@pytest.mark.parametrize(
    "module", [ui.gallery, ui.gallery_view, ui.gallery_templates], ids=lambda m: m.__name__
)
def test_doctests_pass(module: object) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


# ------------------------------------------------------------------------------------------
# User templates next to the packs

USER_TREND = {
    "kind": "trend", "name": "rising_coolant", "partition_by": ["device_id"],
    "value_field": "coolant_bar", "direction": "up", "count": 4,
}  # fmt: skip


def save_user_template(name: str, tags: tuple[str, ...], description: str) -> str:
    template = history_store().save_template(
        resolve_owner(None),
        TemplateDraft(
            name=name, tags=tags, description=description, pattern=parse_pattern(USER_TREND)
        ),
    )
    return f"user.{template.id}"


def shown_card_keys(at: AppTest) -> set[str]:
    """Every card on the page as ``source.ident``."""
    prefix = state.GALLERY_OPEN_PREFIX
    return {b.key.removeprefix(prefix) for b in at.button if b.key and b.key.startswith(prefix)}


@pytest.mark.usefixtures("packs_dir")
def test_user_templates_show_next_to_the_packs_under_their_own_heading() -> None:
    user = save_user_template(
        "Hot devices", ("myteam",), "Coolant pressure climbing four readings in a row."
    )
    at = open_gallery()

    assert shown_card_keys(at) == {f"pack.{p}" for p in THREE_PACKS} | {user}
    assert [s.value for s in at.subheader] == ["Template packs", "Your templates"]
    assert "**4 of 4 templates**" in texts(at.markdown)
    page = plain(texts(at.markdown))
    assert "**Hot devices**" in page
    assert ":violet-badge[trend]" in page
    assert ":gray-badge[#myteam]" in page
    assert f"saved by {resolve_owner(None)} · 1 pattern" in plain(texts(at.caption))


@pytest.mark.usefixtures("packs_dir")
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (state.GALLERY_KINDS, ["trend"], {"pack.iot_maintenance", "USER"}),
        (state.GALLERY_KINDS, ["sequence"], {"pack.card_fraud", "pack.account_security"}),
        (state.GALLERY_SEARCH, "myteam", {"USER"}),
        (state.GALLERY_SEARCH, "rising coolant", {"USER"}),  # the pattern name as words
        (state.GALLERY_SEARCH, "climbing", {"USER"}),  # the description
        (state.GALLERY_INDUSTRIES, ["Manufacturing"], {"pack.iot_maintenance"}),
        (state.GALLERY_USE_CASES, ["card testing"], {"pack.card_fraud"}),
    ],
    ids=["kind-trend", "kind-sequence", "tag", "pattern-name", "description",
         "industry-set", "use-case-set"],
)  # fmt: skip
def test_the_gallery_filters_apply_to_user_templates_too(
    key: str, value: object, expected: set[str]
) -> None:
    user = save_user_template(
        "Hot devices", ("myteam",), "Coolant pressure climbing four readings in a row."
    )
    at = open_gallery()
    widget = at.text_input(key=key) if key == state.GALLERY_SEARCH else at.multiselect(key=key)

    widget.set_value(value).run()

    assert not at.exception
    assert shown_card_keys(at) == {user if k == "USER" else k for k in expected}


@pytest.mark.usefixtures("packs_dir")
def test_the_kind_filter_offers_the_kinds_of_user_templates() -> None:
    history_store().save_template(
        resolve_owner(None),
        TemplateDraft(name="Silent", pattern=parse_pattern(
            {"kind": "heartbeat", "name": "silent_device", "partition_by": ["device_id"],
             "interval": "1m"}
        )),
    )  # fmt: skip
    at = open_gallery()
    assert "heartbeat" in at.multiselect(key=state.GALLERY_KINDS).options
