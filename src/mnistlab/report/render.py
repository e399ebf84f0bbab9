"""Text renderings: the report's sections as one self-contained HTML page (inline CSS, no scripts, no
network) and as Markdown, and `mnistlab summary`'s per-layer table. A section is a title and blocks:
("p", text), ("table", headers, rows), ("fig", png, caption) or ("figs", [(png, caption), ...])."""

from __future__ import annotations

import html
import re

from mnistlab import __version__
from mnistlab.errors import MnistlabError
from mnistlab.layers import format_shape, measured_shapes, parameter_rows
from mnistlab.models import DISPLAY_NAMES, count_parameters, create_model

CSS = """
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 1.9em; margin-bottom: 0.1em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.25em; margin-top: 2.2em; }
.meta { color: #59636e; margin-top: 0; }
nav ol { columns: 2; padding-left: 1.4em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 5px 9px; vertical-align: top; }
th { background: #f3f5f7; text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
td { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.long { white-space: normal; min-width: 16em; }
.scroll { overflow-x: auto; }
code { font: 0.88em ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f5f7;
       padding: 1px 4px; border-radius: 4px; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #59636e; font-size: 0.9em; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
.row figure { flex: 1 1 460px; margin: 0.6em 0; }
section.analysis p { background: #f6f8fa; border-left: 4px solid #0969da; padding: 8px 14px; }
footer { margin-top: 3em; color: #59636e; font-size: 0.85em; }
"""


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _inline(text: str) -> str:
    """Escape for HTML, keeping `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _cell(text: str) -> str:
    """A table cell; numbers and shapes stay on one line, only long prose wraps."""
    return f'<td class="long">{_inline(text)}</td>' if len(text) > 40 else f"<td>{_inline(text)}</td>"


def _html_block(block) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{_inline(block[1])}</p>"
    if kind == "table":
        head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
        body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block[2])
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    if kind == "fig":
        return (f'<figure><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}">'
                f"<figcaption>{_inline(block[2])}</figcaption></figure>")
    if kind == "figs":
        return '<div class="row">' + "".join(_html_block(("fig", *fig)) for fig in block[1]) + "</div>"
    raise ValueError(f"unknown block {kind!r}")


def render_html(title: str, stamp: str, sections) -> str:
    toc = "".join(f'<li><a href="#{_anchor(name)}">{html.escape(name)}</a></li>' for name, _ in sections)
    body = "".join(
        f'<section id="{_anchor(name)}" class="{_anchor(name)}"><h2>{i}. {html.escape(name)}</h2>'
        + "\n".join(_html_block(b) for b in blocks) + "</section>\n"
        for i, (name, blocks) in enumerate(sections, 1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Generated {html.escape(stamp)} by mnistlab {__version__}. Every number, figure and sentence
below is computed from the saved runs.</p>
<nav><ol>{toc}</ol></nav>
{body}<footer>mnistlab {__version__} · also available as report.md beside this page.</footer>
</body>
</html>
"""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def _md_block(block) -> str:
    kind = block[0]
    if kind == "p":
        return block[1]
    if kind == "table":
        lines = ["| " + " | ".join(_md_cell(h) for h in block[1]) + " |",
                 "|" + "|".join("---" for _ in block[1]) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block[2]]
        return "\n".join(lines)
    if kind == "fig":
        return f"![{block[2]}]({block[1]})\n\n*{block[2]}*"
    if kind == "figs":
        return "\n\n".join(_md_block(("fig", *fig)) for fig in block[1])
    raise ValueError(f"unknown block {kind!r}")


def render_markdown(title: str, stamp: str, sections) -> str:
    parts = [f"# {title}", f"Generated {stamp} by mnistlab {__version__}. Every number, figure and "
                           f"sentence below is computed from the saved runs."]
    for i, (name, blocks) in enumerate(sections, 1):
        parts.append(f"## {i}. {name}")
        parts += [_md_block(b) for b in blocks]
    return "\n\n".join(parts) + "\n"


def summary_table(name: str) -> str:
    """Per-layer table in the spirit of torchinfo: layer, type, output shape, weights, biases, parameters."""
    model = create_model(name)
    shapes, params = measured_shapes(model), {r.name: r for r in parameter_rows(model)}
    rows, previous = [("input", "image", format_shape((1, 28, 28)), "", "", "")], (1, 28, 28)
    for layer, module in model.named_children():
        given, produced = shapes[layer]
        if given != previous:  # a reshape inside forward(): show it as its own step
            rows.append(("flatten", "view", format_shape(given), "", "", "0"))
        p = params.get(layer)
        rows.append((layer, type(module).__name__, format_shape(produced), f"{p.weights:,}" if p else "",
                     f"{p.biases:,}" if p else "", f"{p.total:,}" if p else "0"))
        previous = produced
    total = count_parameters(model)
    if total != sum(r.total for r in params.values()):
        raise MnistlabError(f"{name}: parameters outside named layers; the table would not add up")
    headers = ("layer", "type", "output shape", "weights", "biases", "parameters")
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda r: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(line(headers))
    return "\n".join([f"{DISPLAY_NAMES[name]} (one 1 × 28 × 28 image in)", rule, line(headers), rule,
                      *map(line, rows), rule, f"total parameters: {total:,} (all trainable)"])
