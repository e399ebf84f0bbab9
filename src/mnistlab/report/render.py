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


CODE_SPAN = re.compile(r"(`[^`]+`)")  # what `inline` makes <code>; its text is literal in Markdown too
MD_SPECIAL = re.compile(r"[\\`*_\[\]#|~!<>&]")
HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_text(text: str, cell: bool = False) -> str:
    """Text for Markdown, as `inline` is for HTML: one line (a newline in a run's folder name would end
    a table row or start a heading), Markdown's specials backslash-escaped and HTML's as entities
    (a run's `device` may read `<script>`), `code` spans kept; in a table `cell`, even their | escaped."""
    parts = CODE_SPAN.split(" ".join(str(text).splitlines()))
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = part.replace("|", "\\|") if cell else part
        else:
            parts[i] = MD_SPECIAL.sub(lambda m: HTML_ENTITIES.get(m[0], "\\" + m[0]), part)
    escaped = "".join(parts)
    return "\\" + escaped if escaped[:1] in ("-", "+", "=") else escaped  # not a list item or a heading rule


def md_cell(text: str) -> str:
    return md_text(text, cell=True) or " "


@lru_cache(maxsize=None)
def environment(lang: str) -> Environment:
    """The templates, autoescaped for HTML, with `lang`'s catalogue installed for {% trans %}."""
    env = Environment(loader=PackageLoader("mnistlab.report", "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translation(lang), newstyle=True)
    env.filters.update(inline=inline, md_cell=md_cell, md_text=md_text)
    return env


def render_html(title: str, stamp: str, sections, t: Texts) -> str:
    return environment(t.lang).get_template("report.html").render(
        lang=t.lang, title=title, stamp=stamp, sections=sections, version=__version__)


def render_markdown(title: str, stamp: str, sections, t: Texts) -> str:
    text = environment(t.lang).get_template("report.md").render(
        title=title, stamp=stamp, sections=sections, version=__version__)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"  # blocks apart by one blank line, whatever the loops left
