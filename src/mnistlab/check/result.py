"""The records a check produces: one Item per judged thing and the CheckResult of a submission, with the
JSON form that `mnistlab check --json` prints and `mnistlab grade` stores."""

from __future__ import annotations

from dataclasses import dataclass, field

# Stable item ids, in the order a checklist shows them.
ITEM_IDS = ("mlp.architecture", "cnn.architecture", "mlp.forward", "cnn.forward", "mlp.training", "cnn.training",
            "mlp.saved", "cnn.saved", "evaluate", "plots", "parameters", "sizes", "analysis", "accuracy")

# status: "passed" (every item passed), "failed" (some item failed), "error" (the submission could not be
# checked at all: not a notebook, unreadable, nbformat < 4; every item then fails with that reason).
STATUSES = ("passed", "failed", "error")


@dataclass
class Item:
    id: str
    passed: bool
    points: float
    max_points: float
    message: str
    notes: list[str] = field(default_factory=list)  # for a person (not in the JSON): e.g. the analysis text

    def to_json(self) -> dict:
        return {"id": self.id, "passed": self.passed, "points": self.points, "max_points": self.max_points,
                "message": self.message}


@dataclass
class CheckResult:
    submission: str
    status: str
    points: float
    max_points: float
    items: list[Item]
    notes: list[str] = field(default_factory=list)  # about the check itself (no sandbox, cells that failed)
    seconds: dict[str, float] = field(default_factory=dict)  # wall clock per phase of the check (not in the JSON)

    @classmethod
    def of(cls, submission: str, items: list[Item], notes: list[str] | None = None) -> "CheckResult":
        status = "passed" if all(item.passed for item in items) else "failed"
        return cls(submission, status, sum(i.points for i in items), sum(i.max_points for i in items), items,
                   notes or [])

    @classmethod
    def could_not_check(cls, submission: str, reason: str, rubric: dict[str, float]) -> "CheckResult":
        items = [Item(id, False, 0, rubric.get(id, 1), reason) for id in ITEM_IDS]
        return cls(submission, "error", 0, sum(i.max_points for i in items), items)

    def item(self, id: str) -> Item:
        return next(item for item in self.items if item.id == id)

    def to_json(self) -> dict:
        return {"submission": self.submission, "status": self.status, "points": self.points,
                "max_points": self.max_points, "items": [item.to_json() for item in self.items]}

    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1}.get(self.status, 2)


def scored(id: str, passed: bool, message: str, rubric: dict[str, float], notes: list[str] | None = None) -> Item:
    """An Item with its points from the rubric: all of them when passed, none otherwise."""
    max_points = float(rubric.get(id, 1))
    return Item(id, passed, max_points if passed else 0.0, max_points, message, notes or [])
