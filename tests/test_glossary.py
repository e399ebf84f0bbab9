"""One Spanish vocabulary: the catalogue (report, page strings, CLI tables) and the solved notebook
follow src/mnistlab/locale/glossary.toml, one word per concept."""

import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import mnistlab
from mnistlab.web.strings import STRINGS

LOCALE = Path(mnistlab.__file__).parent / "locale"
GLOSSARY = tomllib.loads((LOCALE / "glossary.toml").read_text())["term"]
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def prose(text: str) -> str:
    """`text` without {placeholders} and `code spans`, which are not words of the language."""
    return re.sub(r"`[^`]*`|\{[^}]*\}", " ", text)


def has(term: str, text: str) -> bool:
    return re.search(rf"(?<![\w.])(?:{term})(?!\w|\.\w)", prose(text), re.IGNORECASE) is not None  # not loss.backward()


def catalogue():
    with open(LOCALE / "es" / "LC_MESSAGES" / "mnistlab.po", "rb") as po:
        for message in read_po(po):
            if message.id:
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                yield ids[0], " ".join(ids), " ".join(strings)


def test_the_catalogue_follows_the_glossary():
    wrong = []
    for key, english, spanish in catalogue():
        for term in GLOSSARY:
            if has(term["en"], english) and not has(term["es"], spanish):
                wrong.append(f"{key!r}: {term['en']!r} should be {term['es']!r} in {spanish!r}")
            wrong += [f"{key!r}: {avoid!r} in {spanish!r}" for avoid in term.get("avoid", []) if has(avoid, spanish)]
    assert not wrong, "\n".join(wrong)


def test_the_page_strings_are_in_the_checked_catalogue():
    ids = {key for key, _english, _spanish in catalogue()}
    assert set(STRINGS.values()) <= ids


@pytest.mark.parametrize("notebook", ["practica2_resuelta.py"])
def test_the_solved_notebook_follows_the_glossary(notebook):
    text = (NOTEBOOKS / notebook).read_text()
    found = [avoid for term in GLOSSARY for avoid in term.get("avoid", []) if has(avoid, text)]
    assert not found


def test_the_glossary_catches_what_it_is_for():
    assert has("precisión", "Precisión en test") and has("conjunto de test", "el conjunto de test.")
    assert not has("acierto", "la diagonal cuenta los aciertos") and not has("tuned", "`--recipe tuned`")
