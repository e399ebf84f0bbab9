"""The report's sections rendered through the Jinja2 templates beside this file: one self-contained
HTML page (inline CSS, no scripts, no network) and Markdown. Messages in the templates are translated
with the i18n extension."""

from __future__ import annotations

import re
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from mnistlab import __version__
from mnistlab.i18n import Texts, translation


def inline(text: str) -> Markup:
    """Text for HTML (escaped by markupsafe), with its `code` spans as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|") or " "


@lru_cache(maxsize=None)
def environment(lang: str) -> Environment:
    """The templates, autoescaped for HTML, with `lang`'s catalogue installed for {% trans %}."""
    env = Environment(loader=PackageLoader("mnistlab.report", "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translation(lang), newstyle=True)
    env.filters.update(inline=inline, md_cell=md_cell)
    return env


def render_html(title: str, stamp: str, sections, t: Texts) -> str:
    return environment(t.lang).get_template("report.html").render(
        lang=t.lang, title=title, stamp=stamp, sections=sections, version=__version__)


def render_markdown(title: str, stamp: str, sections, t: Texts) -> str:
    text = environment(t.lang).get_template("report.md").render(
        title=title, stamp=stamp, sections=sections, version=__version__)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"  # blocks apart by one blank line, whatever the loops left
