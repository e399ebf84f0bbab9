"""What `mnistlab grade` writes into --out: results.json, grades.csv, feedback/<submission>.html and
.md, and summary.html. Every file is written whole or not at all; every string from a submission is
escaped where it is shown (HTML autoescape; spreadsheet formulas defused in the CSV)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from mnistlab import __version__, files
from mnistlab.check.deliverables import band as accepted_band
from mnistlab.i18n import N_, texts, translation

RANGE_FILE = Path(__file__).parent / "accuracy_range.json"
NETWORKS = {"mlp": "MultiLayerNN", "cnn": "CNN"}
STATUS = {"passed": N_("passed"), "failed": N_("failed"), "error": N_("could not be checked")}
TOP_MISTAKES = 10


@lru_cache(maxsize=None)
def environment(lang: str) -> Environment:
    env = Environment(loader=PackageLoader("mnistlab.check", "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translation(lang), newstyle=True)
    env.filters["md"] = md_text
    return env


def md_text(text) -> str:
    """Student or checker text made inert in Markdown: no HTML, links, emphasis or table breaks."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text)


def feedback_name(submission: str) -> str:
    return submission  # already a safe, unique file name (grade_inputs.unique_names)


# --- results.json and grades.csv --------------------------------------------------------------------

def item_columns(rows, rubric: dict[str, float]) -> list[str]:
    """The rubric's items in its order, then any other item a check reported."""
    columns = list(rubric)
    for row in rows:
        for item in row.result.get("items", []):
            if item["id"] not in columns:
                columns.append(item["id"])
    return columns


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (=, +, -, @, tab, CR first)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def points_text(value: float) -> str:
    """Points as a machine writes them (the CSV, the JSON): 12.5, 3."""
    return f"{value:g}"


def shown_points(value: float, t) -> str:
    """Points as the language writes them: 12,5 (es), 12.5 (en); whole numbers without decimals."""
    value = round(value, 2)
    digits = 0 if value == int(value) else 1 if value * 10 == int(value * 10) else 2
    return t.number(value, digits)


def grades_csv(rows, rubric: dict[str, float]) -> str:
    columns = item_columns(rows, rubric)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["submission", "status", "points", "max_points", *columns, "reason"])
    for row in rows:
        result = row.result
        by_id = {item["id"]: item for item in result.get("items", [])}
        cells = [points_text(by_id[c]["points"]) if c in by_id else "" for c in columns]
        writer.writerow([spreadsheet_safe(result["submission"]), result["status"], points_text(result["points"]),
                         points_text(result["max_points"]), *cells, spreadsheet_safe(result.get("reason", ""))])
    return "\ufeff" + buffer.getvalue()  # the BOM makes Excel read UTF-8 (accents in names); Moodle and Canvas accept it


# --- the class summary -------------------------------------------------------------------------------

def accuracy_range() -> dict:
    try:
        data = json.loads(RANGE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return {n: data[n] for n in NETWORKS if isinstance(data.get(n), dict)} | {"how": data.get("how", "")}


def pass_rates(rows, columns):
    checked = [r for r in rows if r.result["status"] != "error"]
    rates = []
    for column in columns:
        verdicts = [i["passed"] for r in checked for i in r.result["items"] if i["id"] == column]
        if verdicts:
            rates.append({"id": column, "passed": sum(verdicts), "total": len(verdicts),
                          "rate": sum(verdicts) / len(verdicts)})
    return rates


def commonest_mistakes(rows):
    counts = Counter((i["id"], i["message"]) for r in rows for i in r.result.get("items", []) if not i["passed"])
    counts.update(("—", r.result["reason"]) for r in rows if r.result["status"] == "error")
    return [{"id": item, "message": message, "count": n} for (item, message), n in counts.most_common(TOP_MISTAKES)]


def identical(rows, key) -> list[list[str]]:
    """Groups of two or more submissions whose `key(row)` is the same (and not None)."""
    groups = defaultdict(list)
    for row in rows:
        value = key(row)
        if value:
            groups[value].append(row.result["submission"])
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))


def accuracy_plot(rows, network: str, practice: dict | None, t) -> dict:
    """The points of one network's strip chart (SVG coordinates) and how many fall below, in, above."""
    width, left, right = 640, 28, 28  # room for the end ticks' labels
    values = [(r.result["submission"], r.evidence["accuracy"][network])
              for r in rows if network in r.evidence.get("accuracy", {})]
    lowest = min([v["value"] for _, v in values] + ([accepted_band(practice)[0]] if practice else []) + [0.9])
    low = max(0.0, int(lowest * 20) / 20)  # down to a multiple of 5 %

    def x(value):
        return left + (value - low) / (1 - low) * (width - left - right)

    dots = [{"x": round(x(v["value"]), 1), "y": 22 + (k % 5) * 7, "submission": name,
             "label": t.percent(v["value"]), "printed": v["source"] == "printed"} for k, (name, v) in enumerate(values)]
    ticks = [{"x": round(x(low + k * (1 - low) / 4), 1), "label": t.percent(low + k * (1 - low) / 4, 1)} for k in range(5)]
    band, counts = None, None
    if practice:
        lo, hi = accepted_band(practice)  # what the `accuracy` item accepts
        band = {"x": round(x(lo), 1), "width": round(max(2.0, x(hi) - x(lo)), 1),
                "min": t.percent(lo), "max": t.percent(hi),
                "mean": t.percent(practice["mean"]), "seeds": len(practice["seeds"])}
        counts = {"below": sum(v["value"] < lo for _, v in values),
                  "inside": sum(lo <= v["value"] <= hi for _, v in values),
                  "above": sum(v["value"] > hi for _, v in values)}
    return {"network": NETWORKS[network], "width": width, "dots": dots, "ticks": ticks, "band": band,
            "counts": counts, "n": len(values), "printed": sum(d["printed"] for d in dots)}


def summary_context(rows, rubric, lang: str) -> dict:
    t = texts(lang)
    columns = item_columns(rows, rubric)
    practice = accuracy_range()
    statuses = Counter(r.result["status"] for r in rows)
    mean_points = sum(r.result["points"] for r in rows) / len(rows) if rows else 0.0
    return {
        "lang": lang,
        "t": t,
        "version": __version__,
        "stamp": t.date(datetime.now(timezone.utc)),
        "count": len(rows),
        "statuses": [{"status": s, "label": t.gettext(STATUS.get(s, s)), "count": n} for s, n in statuses.most_common()],
        "mean_points": shown_points(mean_points, t),
        "max_points": shown_points(sum(rubric.values()), t),
        "rates": pass_rates(rows, columns),
        "plots": [accuracy_plot(rows, n, practice.get(n), t) for n in NETWORKS],
        "range_how": practice.get("how", ""),
        "mistakes": commonest_mistakes(rows),
        "same_weights": {NETWORKS[n]: identical(rows, lambda r, n=n: r.evidence.get("weights", {}).get(n))
                         for n in NETWORKS},
        "same_code": identical(rows, lambda r: r.evidence.get("code")),
        "students": [{"submission": r.result["submission"], "status": r.result["status"],
                      "status_label": t.gettext(STATUS.get(r.result["status"], r.result["status"])),
                      "points": shown_points(r.result["points"], t), "href": "feedback/" + quote(feedback_name(
                          r.result["submission"])) + ".html"} for r in rows],
    }


# --- feedback ---------------------------------------------------------------------------------------

def feedback_context(row, lang: str) -> dict:
    t = texts(lang)
    result = row.result
    notes = row.evidence.get("notes") or {}
    found = row.evidence.get("accuracy", {})
    accuracies = [{"network": NETWORKS[n], "value": t.percent(found[n]["value"]), "printed": found[n]["source"] == "printed"}
                  for n in NETWORKS if n in found]
    return {
        "lang": lang,
        "version": __version__,
        "submission": result["submission"],
        "status": t.gettext(STATUS.get(result["status"], result["status"])),
        "error": result["status"] == "error",
        "reason": result.get("reason", ""),
        "points": shown_points(result["points"], t),
        "max_points": shown_points(result["max_points"], t),
        "items": [{**i, "points": shown_points(i["points"], t), "max_points": shown_points(i["max_points"], t),
                   "notes": notes.get("items", {}).get(i["id"], [])} for i in result.get("items", [])],
        "notes": notes.get("check", []),
        "accuracies": accuracies,
    }


def write_all(out: Path, rows, rubric: dict[str, float], lang: str) -> None:
    env = environment(lang)
    feedback = files.staging_dir(out / "feedback")
    try:
        for row in rows:
            context = feedback_context(row, lang)
            name = feedback_name(row.result["submission"])
            files.write_text(feedback / f"{name}.html", env.get_template("feedback.html").render(**context))
            files.write_text(feedback / f"{name}.md", env.get_template("feedback.md").render(**context))
        files.replace_dir(feedback, out / "feedback")
    finally:
        if feedback.exists():
            import shutil

            shutil.rmtree(feedback, ignore_errors=True)
    files.write_json(out / "results.json", [row.result for row in rows])
    files.write_text(out / "grades.csv", grades_csv(rows, rubric))
    files.write_text(out / "summary.html", env.get_template("summary.html").render(**summary_context(rows, rubric, lang)))
