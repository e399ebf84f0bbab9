"""Points per item: the package's rubric.toml, or a teacher's TOML file with the same [points] table."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mnistlab.check.result import ITEM_IDS
from mnistlab.errors import MnistlabError

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")


def load_rubric(path: str | Path | None = None) -> dict[str, float]:
    """{item id: points}; a file that is not TOML, names unknown items or gives non-numbers is refused."""
    path = Path(path) if path else DEFAULT_RUBRIC
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("points")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise MnistlabError(f"{path}: not a readable TOML rubric ({err}); copy {DEFAULT_RUBRIC} and edit it") from None
    if not isinstance(table, dict):
        raise MnistlabError(f"{path}: no [points] table; see {DEFAULT_RUBRIC}")
    unknown = sorted(set(table) - set(ITEM_IDS))
    if unknown:
        raise MnistlabError(f"{path}: unknown items {', '.join(unknown)}; the items are {', '.join(ITEM_IDS)}")
    points = {}
    for id in ITEM_IDS:
        value = table.get(id, 0 if table else 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise MnistlabError(f"{path}: points of {id} must be a number >= 0 (got {value!r})")
        points[id] = float(value)
    return points
