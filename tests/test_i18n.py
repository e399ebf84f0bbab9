"""Languages: which one a user gets, the Spanish catalogue (complete, compiled, in step with the code)
and the numbers, percentages and dates formatted the way each language writes them."""

import io
import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from mnistlab import i18n
from mnistlab.errors import MnistlabError

REPO = Path(__file__).resolve().parents[1]
PO = i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "mnistlab.po"
MO = PO.with_suffix(".mo")


def spanish_catalogue():
    with PO.open("rb") as f:
        return read_po(f, locale="es")


def message_key(context, message) -> tuple:
    return context, message if isinstance(message, str) else message[0]


def test_every_message_has_a_spanish_translation():
    catalogue = spanish_catalogue()
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 100
    for message in messages:
        assert "fuzzy" not in message.flags, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (catalogue.num_plurals if message.pluralizable else 1), message.id
        assert all(s.strip() for s in strings), message.id
    assert catalogue.num_plurals == 2 and catalogue.plural_expr == "(n != 1)"  # Spanish: uno / varios


def test_compiled_catalogue_is_up_to_date_with_the_po():
    compiled = io.BytesIO()
    write_mo(compiled, spanish_catalogue())
    assert MO.read_bytes() == compiled.getvalue(), "run `make i18n-compile`"


def test_catalogue_holds_every_message_of_the_code_and_templates():
    """What babel.cfg extracts today is in the .po: nobody added a message without `make i18n`."""
    with (REPO / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {message_key(context, message)
             for _, _, message, _, context in extract_from_dir(REPO / "src" / "mnistlab", method_map, options_map,
                                                               keywords={**DEFAULT_KEYWORDS, "N_": None})}
    known = {message_key(m.context, m.id) for m in spanish_catalogue() if m.id}
    assert found - known == set(), "run `make i18n` and translate what is new"
    assert ("network", "the CNN") in found and (None, "Analysis") in found


def test_translations_keep_their_placeholders():
    """Every number the English gives is in the Spanish; a network may be named with its article instead
    ({best} → {the_best}, {network} → {of_the}: "del MultiLayerNN", "de la CNN")."""
    articles = r"\{(the|The|of_the|to_the)%s\}"
    for message in spanish_catalogue():
        if not message.id:
            continue
        pairs = zip(message.id, message.string) if message.pluralizable else [(message.id, message.string)]
        for english, spanish in pairs:
            for name in re.findall(r"\{(\w+)\}", english):
                if re.fullmatch(r"(the|The)(_\w+)?", name):
                    role = name.partition("_")[2]
                    assert re.search(articles % (f"_{role}" if role else ""), spanish), (english, spanish)
                elif name in ("best", "other", "big", "small", "network") and "{" + name + "}" not in spanish:
                    assert re.search(articles % ("" if name == "network" else f"_{name}"), spanish), (english, spanish)
                else:
                    assert "{" + name + "}" in spanish, (english, spanish)


def test_gettext_ngettext_and_pgettext_in_spanish():
    t = i18n.texts("es")
    assert t.gettext("Analysis") == "Análisis"
    assert t.ngettext("{digit} ({count} time)", "{digit} ({count} times)", 1) == "el {digit} ({count} vez)"
    assert t.ngettext("{digit} ({count} time)", "{digit} ({count} times)", 3) == "el {digit} ({count} veces)"
    assert t.pgettext("network", "of the MultiLayerNN") == "del MultiLayerNN"
    assert i18n.texts("en").gettext("Analysis") == "Analysis"


@pytest.mark.parametrize("environ, lang", [
    ({"LANG": "es_ES.UTF-8"}, "es"), ({"LANG": "es_MX.UTF-8"}, "es"), ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"), ({}, "en"), ({"LC_ALL": "en_GB.UTF-8", "LANG": "es_ES.UTF-8"}, "en"),
    ({"LC_MESSAGES": "es_AR.UTF-8", "LANG": "en_US.UTF-8"}, "es"), ({"LANGUAGE": "es:en"}, "es"),
])
def test_language_from_the_locale(environ, lang):
    assert i18n.resolve_lang(None, environ) == lang
    assert i18n.resolve_lang("en", environ) == "en"  # the flag wins


def test_unknown_language_is_one_clear_line():
    with pytest.raises(MnistlabError, match=r"^--lang must be one of en, es \(got 'xx'\)$"):
        i18n.resolve_lang("xx")


@pytest.mark.parametrize("header, lang", [
    ("es-ES,es;q=0.9,en;q=0.8", "es"), ("en-US,en;q=0.9,es;q=0.8", "en"), ("fr-FR,es;q=0.5", "es"),
    ("es;q=0.2,en;q=0.9", "en"), ("", "en"), (None, "en"), ("de", "en"),
])
def test_browser_languages(header, lang):
    assert i18n.negotiate(header) == lang


def test_numbers_percentages_and_dates_per_language():
    es, en = i18n.texts("es"), i18n.texts("en")
    assert es.percent(0.9793) == "97,93\u00a0%" and en.percent(0.9793) == "97.93%"
    assert es.number(669706) == "669.706" and en.number(669706) == "669,706"
    assert es.number(10.857, 1) == "10,9" and en.number(10.857, 1) == "10.9"
    assert es.signed(4) == "+4,00" and en.signed(-0.5) == "-0.50"
    assert es.signed_percent(-0.333) == "-33,3\u00a0%" and en.signed_percent(0.05) == "+5.0%"
    assert es.exact(0.01) == "0,01" and en.exact(0.0005) == "0.0005" and es.exact(64) == "64"
    moment = datetime(2026, 3, 7, 16, 5)
    assert es.date(moment) == "7 mar 2026, 16:05"
    assert en.date(moment).startswith("Mar 7, 2026, 4:05") and en.date(moment).endswith("PM")
