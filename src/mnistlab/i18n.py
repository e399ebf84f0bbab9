"""Languages: which one a user gets (flag, then locale), gettext catalogues (src/mnistlab/locale, made
with Babel: `make i18n`) and Babel's number, percent and date formatting for that language."""

from __future__ import annotations

import copy
import gettext
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time

from mnistlab.errors import MnistlabError

LANGUAGES = ("en", "es")  # English is the source language of every message
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "mnistlab"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")  # in the order POSIX gives them weight


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined; it is translated where it is shown."""
    return message


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise MnistlabError(f"--lang must be one of {', '.join(LANGUAGES)} (got {lang!r})")
    return lang


def resolve_lang(lang: str | None = None, environ=None) -> str:
    """`lang` if given, else the first locale variable that is set: es* gives Spanish, anything else English."""
    if lang:
        return check_lang(lang)
    environ = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            first = value.split(":")[0]  # LANGUAGE may list several
            return "es" if first.lower().startswith("es") else DEFAULT
    return DEFAULT


QUALITY = re.compile(r"q=(0(\.\d{0,3})?|1(\.0{0,3})?)")  # RFC 9110's qvalue; anything else is not one


def negotiate(accept_language: str | None, default: str | None = DEFAULT) -> str | None:
    """The best of LANGUAGES for an HTTP Accept-Language header (quality values honoured, q=0 meaning
    "not this one"); `default` when it asks for none of them. The one parser of that header."""
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, *params = [piece.strip() for piece in part.split(";")]
        quality = 1.0
        for param in params:
            if param.lower().startswith("q="):
                quality = float(param[2:]) if QUALITY.fullmatch(param.lower()) else 0.0  # q=nan: not a quality
        if quality > 0:
            ranked.append((-quality, i, tag.lower()))
    for _, _, tag in sorted(ranked):
        if tag[:2] in LANGUAGES and tag[2:3] in ("", "-", "_"):
            return tag[:2]
    return default


@lru_cache(maxsize=None)
def translation(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of `lang` (English: the messages as written)."""
    check_lang(lang)
    if lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])  # a missing .mo is a packaging bug


def _apply(kind: str, value: float, lang: str, digits: int) -> str:
    """The language's own decimal or percent pattern (separators, spacing) with exactly `digits` decimals."""
    locale = Locale.parse(check_lang(lang))
    pattern = copy.copy((locale.percent_formats if kind == "percent" else locale.decimal_formats)[None])
    pattern.frac_prec = (digits, digits)
    return pattern.apply(value, locale)


def percent(value: float, lang: str, digits: int = 2) -> str:
    """0.9793 → '97.93%' (en) or '97,93 %' (es, with a no-break space)."""
    return _apply("percent", value, lang, digits)


def number(value: float, lang: str, digits: int = 0) -> str:
    """669706 → '669,706' (en) or '669.706' (es); `digits` decimals."""
    return _apply("decimal", value, lang, digits)


def date(moment: datetime, lang: str) -> str:
    """The day and the minute: 'Nov 29, 2026, 5:12 AM' (en), '29 nov 2026, 5:12' (es)."""
    locale = Locale.parse(check_lang(lang))
    return f"{format_date(moment, 'medium', locale)}, {format_time(moment, 'short', locale=locale)}"


def signed(value: float, lang: str, digits: int = 2, kind: str = "decimal") -> str:
    """A difference with its sign always shown: +4.00 / -0.50 (en), +4,00 / -0,50 (es); kind="percent"
    for +3.5% / +3,5 %."""
    text = _apply(kind, value, lang, digits)
    return text if text.startswith("-") else "+" + text


@dataclass(frozen=True)
class Texts:
    """One language for code that speaks to a learner: `t.gettext`, `t.ngettext`, `t.pgettext` and the
    number formats, so a function takes one `t` instead of a language code and five helpers."""

    lang: str

    def gettext(self, message: str) -> str:
        return translation(self.lang).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return translation(self.lang).ngettext(singular, plural, count)

    def pgettext(self, context: str, message: str) -> str:
        return translation(self.lang).pgettext(context, message)

    def percent(self, value: float, digits: int = 2) -> str:
        return percent(value, self.lang, digits)

    def number(self, value: float, digits: int = 0) -> str:
        return number(value, self.lang, digits)

    def signed(self, value: float, digits: int = 2) -> str:
        return signed(value, self.lang, digits)

    def signed_percent(self, value: float, digits: int = 1) -> str:
        return signed(value, self.lang, digits, "percent")

    def exact(self, value: float) -> str:
        """A setting as it was written (0.01, 0.0005, 64) with the language's decimal sign."""
        text = repr(value)
        digits = len(text.split(".")[1]) if "." in text and "e" not in text else 0
        return number(value, self.lang, digits if "e" not in text else 8)

    def date(self, moment: datetime) -> str:
        return date(moment, self.lang)


def texts(lang: str | None = None) -> Texts:
    """The Texts of `lang` (None: the locale's language, see resolve_lang)."""
    return Texts(resolve_lang(lang))
