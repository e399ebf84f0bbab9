"""`mnistlab grade`: a class's submissions checked one by one (each in its own sandbox, in parallel),
scored with a TOML rubric, and written as results.json, grades.csv, a feedback page per student and
the class summary. A re-run reuses what was graded before from unchanged inputs; a submission that
cannot be checked gets its row and its reason, and the batch goes on."""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from mnistlab import __version__, files
from mnistlab.check import grade_evidence, grade_inputs
from mnistlab.check.result import CheckResult
from mnistlab.check.rubric import load_rubric
from mnistlab.check.sandbox import bwrap_path
from mnistlab.errors import MnistlabError
from mnistlab.i18n import resolve_lang

MARK = ".mnistlab-grade"  # inside --out: says grade wrote the folder, and keeps its cache
CHECK_DIR = Path(__file__).parent
ERROR = "error"  # the status of a submission that could not be checked


@dataclass
class GradeOptions:
    jobs: int = 1  # submissions checked at once
    timeout_s: float = 180.0  # wall-clock limit for one submission's sandboxed run (check's default)
    memory_mb: int = 6144  # address-space limit (torch alone maps about 3.5 GB) of one submission's sandboxed run
    rubric: Path | None = None  # TOML rubric; None: the package's
    lang: str | None = None  # language of messages and feedback: en or es (None: the locale's)
    data_dir: Path | None = None  # MNIST folder (None: mnistlab's default)
    sandbox: bool = True  # run students' code in bubblewrap
    full: bool = False  # run the notebooks' training cells unmodified

    def __post_init__(self):
        if self.jobs < 1:
            raise MnistlabError(f"--jobs must be at least 1 (got {self.jobs})")
        if not self.timeout_s > 0:
            raise MnistlabError(f"--timeout must be a positive number of seconds (got {self.timeout_s})")
        if self.memory_mb < 64:
            raise MnistlabError(f"--memory must be at least 64 MB (got {self.memory_mb})")
        self.lang = resolve_lang(self.lang)


@dataclass
class Graded:
    """One submission's row: the check object (points from the rubric) and the summary's evidence."""

    result: dict  # {"submission", "status", "points", "max_points", "items": [...]} (+ "reason" on errors)
    evidence: dict = field(default_factory=dict)
    origin: str = ""
    reused: bool = False


# --- the rubric (mnistlab.check.rubric reads it) ------------------------------------------------------

def apply_rubric(result: dict, rubric: dict[str, float]) -> dict:
    """`result` with each item worth its rubric points (all if passed, none if not) and the totals."""
    scored = dict(result)
    scored["items"] = []
    for item in result.get("items", []):
        worth = rubric.get(item["id"], 0.0)
        scored["items"].append({**item, "max_points": worth, "points": worth if item.get("passed") else 0.0})
    scored["points"] = sum(i["points"] for i in scored["items"])
    scored["max_points"] = sum(rubric.values())
    return scored


# --- the output folder ---------------------------------------------------------------------------------

def prepare_out(out: Path) -> Path:
    """`out` made ready: new, empty, or written by grade before (never a folder of the user's)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out} is a file; pass a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).is_dir():
        raise MnistlabError(f"--out {out} holds files mnistlab grade did not write; pass a new or empty folder")
    try:
        (out / MARK / "cache").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MnistlabError(f"cannot write --out {out} ({err.strerror}); pass another folder") from None
    return out


def fingerprint(options: GradeOptions) -> str:
    """What makes an earlier verdict stale besides the inputs: the checker's code and the options."""
    digest = hashlib.sha256(f"{__version__}|{options.lang}|{options.full}|{options.timeout_s}|"
                            f"{options.memory_mb}|{options.sandbox}".encode())
    for source in sorted(CHECK_DIR.rglob("*")):
        if source.is_file() and source.suffix in (".py", ".toml") and not source.name.startswith("grade"):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


# --- checking ----------------------------------------------------------------------------------------

def error_result(name: str, reason: str, rubric: dict[str, float]) -> dict:
    """The row of a submission that could not be checked: every item failed with `reason`."""
    return {**CheckResult.could_not_check(name, reason, rubric).to_json(), "reason": reason}


def check_one(submission: grade_inputs.Submission, options: GradeOptions, rubric: dict[str, float]) -> tuple[dict, dict]:
    """(check object, notes for a person) of one staged submission; whatever goes wrong becomes its reason."""
    if submission.notebook is None:
        handed = ", ".join(submission.others) or "nothing"
        return error_result(submission.name, f"no notebook (.ipynb) in the submission (handed in: {handed})", rubric), {}
    from mnistlab import check

    try:
        result = check.check_notebook(submission.notebook, lang=options.lang, full=options.full,
                                      data_dir=options.data_dir, sandbox=options.sandbox, timeout_s=options.timeout_s,
                                      memory_mb=options.memory_mb, pth_files=list(submission.pth_files), rubric=rubric)
    except MnistlabError as err:
        return error_result(submission.name, str(err), rubric), {}
    except Exception as err:  # noqa: BLE001 - a checker bug must not stop the class's batch
        reason = f"the checker failed on this submission ({type(err).__name__}: {err})"
        return error_result(submission.name, reason, rubric), {}
    data = {**result.to_json(), "submission": submission.name}
    notes = {"check": [str(n) for n in getattr(result, "notes", [])],
             "items": {i.id: [str(n) for n in getattr(i, "notes", [])] for i in result.items if getattr(i, "notes", None)}}
    return data, notes


def grade(paths: list[Path], out: Path, options: GradeOptions, progress: bool = True) -> list[Graded]:
    """Grade every submission in `paths` into `out`; returns the rows in the order given."""
    from mnistlab.check import grade_outputs

    rubric = load_rubric(options.rubric)
    if options.sandbox and bwrap_path() is None:
        raise MnistlabError("bubblewrap (bwrap) is not installed, so students' code cannot be sandboxed; "
                            "install it (apt-get install bubblewrap) or pass --no-sandbox to run it unconfined")
    out = prepare_out(out)
    cache = out / MARK / "cache"
    stale = fingerprint(options)
    with tempfile.TemporaryDirectory(prefix="mnistlab-grade-") as work:
        work = Path(work)
        submissions = grade_inputs.collect(paths, work / "given", exclude=out)
        if not submissions:
            raise MnistlabError("no submissions found in " + ", ".join(map(str, paths)) +
                                "; pass notebooks, folders of them or an LMS zip")
        staged = [grade_inputs.stage(s, work / "staged" / f"{i:05d}") for i, s in enumerate(submissions)]
        rows: list[Graded | None] = [None] * len(staged)
        todo = []
        for i, submission in enumerate(staged):
            key = hashlib.sha256(f"{stale}|{submission.digest}".encode()).hexdigest()
            cached = read_cached(cache / f"{key}.json")
            if cached is not None:
                cached["result"]["submission"] = submission.name
                rows[i] = Graded(cached["result"], cached["evidence"], submission.origin, reused=True)
            else:
                todo.append((i, key, submission))
        # --jobs > 1: one process per check. The checker seeds torch's global generator to make its
        # references; two checks in threads of one process would draw from it in turn and get wrong
        # references (seen: every training item failing with --jobs 2).
        if options.jobs > 1:
            import multiprocessing

            pool = ProcessPoolExecutor(max_workers=options.jobs, mp_context=multiprocessing.get_context("spawn"))
        else:
            pool = ThreadPoolExecutor(max_workers=1)
        with pool, tqdm(total=len(todo), desc="grading", unit="submission",
                        disable=None if progress else True) as bar:
            futures = {pool.submit(check_and_gather, submission, options, rubric): (i, key, submission)
                       for i, key, submission in todo}
            for future in as_completed(futures):
                i, key, submission = futures[future]
                try:
                    result, found = future.result()
                except Exception as err:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    result, found = error_result(submission.name, f"the checker's process failed ({err})", rubric), {}
                else:  # a dead worker says nothing of the submission: not kept, the next run checks it again
                    files.write_json(cache / f"{key}.json", {"result": result, "evidence": found})
                rows[i] = Graded(result, found, submission.origin)
                bar.update(1)
    graded_rows = [row for row in rows if row is not None]
    for row in graded_rows:  # the rubric of this run, also for verdicts kept from an earlier one
        row.result = apply_rubric(row.result, rubric)
    grade_outputs.write_all(out, graded_rows, rubric, options.lang)
    return graded_rows


def check_and_gather(submission: grade_inputs.Submission, options: GradeOptions, rubric: dict[str, float]):
    """(check object, evidence for the summary) of one submission; runs in a worker process with --jobs > 1."""
    result, notes = check_one(submission, options, rubric)
    try:
        test_split = load_test_split(options.data_dir) if submission.pth_files else None
        found = grade_evidence.evidence(submission.notebook, submission.pth_files, test_split)
    except Exception:  # noqa: BLE001 - evidence is for the summary; its absence is not a verdict
        found = {}
    found["notes"] = notes
    return result, found


def read_cached(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("result"), dict) and isinstance(data.get("evidence"), dict)
    return data if ok else None


@functools.lru_cache(maxsize=2)
def load_test_split(data_dir):
    """MNIST's test split, read once per process (the evidence of every submission with .pth files uses it)."""
    from mnistlab.data import ensure_mnist, load_split

    return load_split(ensure_mnist(data_dir).root, "test")
