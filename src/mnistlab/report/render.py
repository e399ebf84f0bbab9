"""Text renderings: the report's sections through the Jinja2 templates beside this file (one
self-contained HTML page, inline CSS, no scripts, no network; and Markdown), and `mnistlab summary`'s
per-layer table. Messages in the templates are translated with the i18n extension."""

from __future__ import annotations

import re
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from mnistlab import __version__
from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.i18n import Texts, texts, translation
from mnistlab.layers import format_shape, measured_shapes, parameter_rows
from mnistlab.models import MODELS, count_parameters, create_model


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


def summary_table(name: str, lang: str | None = None) -> str:
    """Per-layer table in the spirit of torchinfo: layer, type, output shape, weights, biases, parameters."""
    t = texts(lang)
    _ = t.gettext
    model = create_model(name)
    shapes, params = measured_shapes(model), {r.name: r for r in parameter_rows(model)}
    image = (1, IMAGE_SIDE, IMAGE_SIDE)
    rows, previous = [(_("input"), t.pgettext("layer type", "image"), format_shape(image), "", "", "")], image
    for layer, module in model.named_children():
        given, produced = shapes[layer]
        if given != previous:  # a reshape inside forward(): show it as its own step
            rows.append(("flatten", t.pgettext("layer type", "view"), format_shape(given), "", "", "0"))
        p = params.get(layer)
        rows.append((layer, type(module).__name__, format_shape(produced), t.number(p.weights) if p else "",
                     t.number(p.biases) if p else "", t.number(p.total) if p else "0"))
        previous = produced
    total = count_parameters(model)
    if total != sum(r.total for r in params.values()):
        raise MnistlabError(f"{name}: parameters outside named layers; the table would not add up")
    headers = (_("layer"), _("type"), _("output shape"), _("weights"), _("biases"), _("parameters"))
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda r: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(line(headers))
    return "\n".join([_("{network} (one {shape} image in)").format(network=MODELS[name].display_name, shape=format_shape(image)),
                      rule, line(headers), rule, *map(line, rows), rule,
                      _("total parameters: {total} (all trainable)").format(total=t.number(total))])
