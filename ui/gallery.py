"""The Gallery's catalogue: template cards from the packs folder, loaded once and filtered.

A card is one template the Gallery shows, whatever its source: built-in template packs
(``packs/``, read by :mod:`cep.packs`), and templates users saved from the Test page (the history
store's ``list_templates``). The page groups cards by source in :data:`SOURCE_TITLES` order.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from cep.errors import CepError
from cep.history import UserTemplate
from cep.packs import (
    DEFAULT_SAMPLE_EVENTS,
    Pack,
    PlantedIncident,
    expected_matches,
    generate_sample,
    load_pack,
    packs_root,
)
from ui.history_store import get_history_store

SOURCE_PACK = "pack"
"""Cards of built-in template packs (``packs/``)."""
SOURCE_USER = "user"
"""Cards of templates users saved from the Test page (the card's ``ident`` is the template id)."""
SOURCE_TITLES: dict[str, str] = {SOURCE_PACK: "Template packs", SOURCE_USER: "Your templates"}
"""Each card source's section title, in display order."""

SAMPLE_SEED = 0
"""The seed of the sample shown and handed to the Test page (the one ``expected/`` is for)."""

SUMMARY_MAX_CHARS = 200
"""The longest summary a card shows (the detail view has the whole text)."""


@dataclass(frozen=True)
class TemplateCard:
    """What the card grid shows of one template, and what the filters and search look at.

    Attributes:
        source: where the template comes from (:data:`SOURCE_PACK`, ...).
        ident: its name within the source (a pack's folder name).
        title: the card's heading.
        industry: the industry it is for.
        use_cases: what it is used for.
        kinds: the distinct kinds of its patterns, in pattern order.
        tags: free tags.
        difficulty: beginner, intermediate or advanced (None when the source has none).
        summary: one or two sentences for the card.
        pattern_names: the names of its patterns.
        search_text: lower-case text that free-text search looks in.
        owner: who saved it (user templates; None for packs).
    """

    source: str
    ident: str
    title: str
    industry: str
    use_cases: tuple[str, ...]
    kinds: tuple[str, ...]
    tags: tuple[str, ...]
    difficulty: str | None
    summary: str
    pattern_names: tuple[str, ...]
    search_text: str
    owner: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The card's identity across sources."""
        return (self.source, self.ident)


@dataclass(frozen=True)
class CardFilter:
    """The Gallery's filters: a card passes when it passes every filter that is set.

    Within one filter any chosen value will do (industry A *or* B); search words must all appear
    (in any order, anywhere in the title, description, tags or pattern names).
    """

    industries: frozenset[str] = frozenset()
    use_cases: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    text: str = ""

    @property
    def is_empty(self) -> bool:
        """Whether no filter is set."""
        return not (self.industries or self.use_cases or self.kinds or self.text.strip())

    def accepts(self, card: TemplateCard) -> bool:
        """Return whether ``card`` passes the filters.

        >>> card = TemplateCard("pack", "x", "Card fraud", "Finance", ("card testing",),
        ...                     ("sequence",), ("fraud",), "beginner", "", ("card_testing",),
        ...                     search_text("Card fraud", ["card_testing"], ["fraud"]))
        >>> CardFilter(text="CARD testing").accepts(card), CardFilter(text="aml").accepts(card)
        (True, False)
        >>> CardFilter(industries=frozenset({"Finance", "Energy"}), kinds=frozenset({"trend"}))\\
        ...     .accepts(card)
        False
        """
        if self.industries and card.industry not in self.industries:
            return False
        if self.use_cases and not self.use_cases.intersection(card.use_cases):
            return False
        if self.kinds and not self.kinds.intersection(card.kinds):
            return False
        return all(word in card.search_text for word in self.text.lower().split())


def search_text(*parts: str | Iterable[str]) -> str:
    """Return the lower-case text search looks in; ``snake_case`` names also count as words.

    >>> search_text("Card fraud", ["card_testing"])
    'card fraud\\ncard_testing\\ncard testing'
    """
    texts: list[str] = []
    for part in parts:
        texts.extend([part] if isinstance(part, str) else part)
    words = [text.lower() for text in texts]
    spaced = [text.replace("_", " ") for text in words if "_" in text]
    return "\n".join(words + spaced)


def filter_cards(cards: Sequence[TemplateCard], card_filter: CardFilter) -> list[TemplateCard]:
    """Return the cards that pass ``card_filter``, in their order."""
    return [card for card in cards if card_filter.accepts(card)]


def filter_options(cards: Sequence[TemplateCard]) -> dict[str, list[str]]:
    """Return the values each filter offers: ``industries``, ``use_cases`` and ``kinds``, sorted
    (a card without an industry adds none)."""
    return {
        "industries": sorted({card.industry for card in cards if card.industry}, key=str.lower),
        "use_cases": sorted({u for card in cards for u in card.use_cases}, key=str.lower),
        "kinds": sorted({k for card in cards for k in card.kinds}),
    }


def summarize(text: str, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """Return the first sentence of ``text``, cut at a word with an ellipsis when it is long.

    >>> summarize("Fraud costs money. Catch it early.")
    'Fraud costs money.'
    >>> summarize("One very long sentence about many things", max_chars=20)
    'One very long…'
    """
    head, dot, _ = " ".join(text.split()).partition(". ")
    sentence = head + (dot.strip() or "")
    if len(sentence) <= max_chars:
        return sentence
    return sentence[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def pack_card(pack: Pack) -> TemplateCard:
    """Return the card of a template pack."""
    meta = pack.meta
    patterns = pack.patterns.values()
    return TemplateCard(
        source=SOURCE_PACK,
        ident=pack.name,
        title=meta.title,
        industry=meta.industry,
        use_cases=meta.use_cases,
        kinds=tuple(dict.fromkeys(p.kind for p in patterns)),
        tags=meta.tags,
        difficulty=meta.difficulty,
        summary=summarize(meta.why_it_matters),
        pattern_names=tuple(pack.patterns),
        search_text=search_text(
            meta.title,
            meta.why_it_matters,
            meta.tags,
            list(pack.patterns),
            [p.description for p in patterns if p.description],
        ),
    )


def template_card(template: UserTemplate) -> TemplateCard:
    """Return the card of a user template (no industry, use case or difficulty of its own)."""
    pattern_name = str(template.pattern.get("name", ""))
    return TemplateCard(
        source=SOURCE_USER,
        ident=template.id,
        title=template.name,
        industry="",
        use_cases=(),
        kinds=(template.kind,),
        tags=template.tags,
        difficulty=None,
        summary=summarize(template.description),
        pattern_names=(pattern_name,) if pattern_name else (),
        search_text=search_text(
            template.name,
            template.description,
            template.tags,
            [pattern_name, template.owner],
        ),
        owner=template.owner,
    )


def load_user_templates() -> list[UserTemplate]:
    """Return every saved user template, by name.

    Raises:
        StoreError: the history database cannot be read (or its settings are wrong).
    """
    return get_history_store().list_templates()


@dataclass(frozen=True)
class PackCatalogue:
    """Every pack folder under a root: the packs that loaded, and why the others did not.

    Attributes:
        root: the packs folder.
        packs: the packs that loaded, by name.
        expected_counts: per pack, the stored expected match count of each pattern on the
            default sample (None when its ``expected/`` file is missing or unreadable).
        problems: per broken folder, what is wrong with it.
    """

    root: Path
    packs: dict[str, Pack] = field(default_factory=dict)
    expected_counts: dict[str, dict[str, int | None]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def cards(self) -> list[TemplateCard]:
        """The packs' cards, by pack name."""
        return [pack_card(pack) for pack in self.packs.values()]


def pack_folders(root: Path) -> list[str]:
    """Return the names of the folders under ``root`` that hold a ``pack.yaml``, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "pack.yaml").is_file())


def folder_fingerprint(root: Path) -> str:
    """Return a digest of the path, mtime and size of every file under ``root``: the cache key of
    its packs, so an edited pack is reloaded and an unchanged folder costs one directory walk."""
    if not root.is_dir():
        return ""
    entries = []
    for path in root.rglob("*"):
        try:
            info = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            entries.append((path.relative_to(root).as_posix(), info.st_mtime_ns, info.st_size))
    return hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()


def count_text(shown: Sequence[TemplateCard], total: Sequence[TemplateCard]) -> str:
    """Return how many cards pass the filters, out of how many: "3 of 12 packs".

    >>> card = TemplateCard("pack", "x", "X", "", (), (), (), None, "", (), "")
    >>> count_text([], [card, card])
    '0 of 2 packs'
    """
    noun = "packs" if all(card.source == SOURCE_PACK for card in total) else "templates"
    return f"{len(shown)} of {len(total)} {noun}"


def _expected_count(pack: Pack, pattern: str) -> int | None:
    try:
        return len(expected_matches(pack, pattern))
    except CepError:
        return None


@st.cache_data(show_spinner="Loading the template packs…", max_entries=4)
def _load_catalogue(root: str, fingerprint: str) -> PackCatalogue:
    del fingerprint  # in the cache key only: an edited pack folder loads anew
    base = Path(root)
    catalogue = PackCatalogue(root=base)
    for name in pack_folders(base):
        try:
            pack = load_pack(name, root=base)
        except CepError as e:
            catalogue.problems[name] = str(e)
            continue
        catalogue.packs[name] = pack
        catalogue.expected_counts[name] = {p: _expected_count(pack, p) for p in pack.patterns}
    return catalogue


def load_catalogue(root: Path | None = None) -> PackCatalogue:
    """Load every pack under ``root`` (default: ``LAKESTREAM_PACKS_DIR`` or ``packs/``), cached
    until a file under it changes. A broken pack folder is reported, not raised."""
    base = root if root is not None else packs_root()
    return _load_catalogue(str(base), folder_fingerprint(base))


@st.cache_data(show_spinner="Generating the sample events…", max_entries=16)
def _pack_sample(
    root: str, name: str, events: int, seed: int, fingerprint: str
) -> tuple[Any, list[PlantedIncident]]:
    del fingerprint  # in the cache key only: a changed pack folder generates anew
    return generate_sample(load_pack(name, root=Path(root)), events=events, seed=seed)


def pack_sample(
    catalogue: PackCatalogue,
    name: str,
    *,
    events: int = DEFAULT_SAMPLE_EVENTS,
    seed: int = SAMPLE_SEED,
) -> tuple[Any, list[PlantedIncident]]:
    """Return a pack's generated sample (a Polars frame) and its planted incidents, cached.

    Raises:
        CepError: the pack cannot generate that sample.
    """
    return _pack_sample(str(catalogue.root), name, events, seed, folder_fingerprint(catalogue.root))
