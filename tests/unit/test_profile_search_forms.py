"""The search's folded forms: transliterations meet, names come before the company."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.search import COMPANY_MARK, SOUNDS_MARK, document, search_tokens, sound_words


def test_spellings_of_one_name_fold_alike() -> None:
    assert search_tokens("Lübs") == search_tokens("Luebs") == search_tokens("LUEBS") == ["lubs"]
    assert search_tokens("Søren Müller-Lüdenscheidt") == ["soren", "muller", "ludenscheidt"]
    assert search_tokens("王伟") == ["wangwei"]


def test_a_document_holds_every_spelling_then_the_company() -> None:
    names = [{"given_name": "Søren", "family_name": "Lübs"}, {"display_name": "SOEREN LUEBS"}]
    assert document(names, ["Globex GmbH", None]) == f" lubs soren {COMPANY_MARK} globex gmbh {SOUNDS_MARK} #lbs.srn"
    assert document([{"display_name": "(unnamed)"}], []) == f" {COMPANY_MARK} {SOUNDS_MARK}"


def test_a_document_holds_the_sounds_a_search_looks_for() -> None:
    # Both names' phonetic codes, in either order; a document also holds the pair with the given name's first word.
    doc = document([{"given_name": "Ann Marie", "family_name": "Knight"}], [])
    for first, family in (("Ann", "Nite"), ("Annmarie", "Night"), ("Nite", "Anne Marie")):
        assert all(f" {w} " in doc + " " for w in sound_words(first, family)), (first, family)
    assert not all(f" {w} " in doc + " " for w in sound_words("Ann", "Smith"))
    assert sound_words("Ann", None) == sound_words("", "Nite") == []


@given(st.text(max_size=30))
def test_words_are_letters_and_digits_so_they_need_no_escaping(text: str) -> None:
    assert all(word.isascii() and word.isalnum() for word in search_tokens(text))
