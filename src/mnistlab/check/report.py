"""A CheckResult for people: the checklist the CLI prints (✓/✗ per item with its message, then notes)."""

from __future__ import annotations

from mnistlab.check.result import CheckResult
from mnistlab.i18n import texts


def checklist(result: CheckResult, lang: str | None = None) -> str:
    t = texts(lang)
    _ = t.gettext
    note = _("note: {note}")
    width = max(len(item.id) for item in result.items)
    lines = [f"{result.submission}: " + _("{points} of {max_points} points").format(
        points=t.number(result.points, 1), max_points=t.number(result.max_points, 1))]
    for item in result.items:
        lines.append(f"  {'✓' if item.passed else '✗'} {item.id:<{width}}  {item.message}")
        lines += ["      " + note.format(note=text) for text in item.notes[:1 if item.id == "analysis" else None]]
    lines += ["  " + note.format(note=text) for text in result.notes]
    return "\n".join(lines)
