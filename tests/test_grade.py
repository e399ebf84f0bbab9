"""`mnistlab grade`: what it finds in folders and LMS zips, how it opens zips, the output folder it
will and will not write, the re-run that skips unchanged submissions, the rubric, and the files it
writes (CSV, feedback, summary) with students' text escaped. The checker here is a stand-in that
answers from the notebook's text (the real checker's verdicts are tested in test_grade_real.py)."""

import csv
import io
import json
import os
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from mnistlab.check import grade as grading, grade_inputs, ITEM_IDS, CheckResult, Item, load_rubric
from mnistlab.check.grade import GradeOptions, grade
from mnistlab.errors import MnistlabError
from mnistlab.nets.models import create_model

RUBRIC = '[points]\n"mlp.architecture" = 2\n"cnn.architecture" = 3\n'


class FakeChecker:
    """Stands in for check_notebook: passes mlp.architecture when the code says `nn.Linear(784, 512)`,
    raises on what is not JSON, and counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, path, **options):
        self.calls.append((Path(path).name, options))
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        if "checker bug" in text:
            raise RuntimeError("boom")
        try:
            json.loads(text)
        except ValueError:
            raise MnistlabError(f"{Path(path).name} is not a notebook (not JSON)") from None
        good = "nn.Linear(784, 512)" in text
        message = "fc1 is Linear(784, 512)" if good else "fc1 should be <b>Linear(784, 512)</b> & is not"
        return CheckResult.of(Path(path).name, [Item("mlp.architecture", good, 0, 0, message),
                                                Item("cnn.architecture", True, 0, 0, "ok", notes=["a note <i>"])])


@pytest.fixture
def checker(monkeypatch):
    fake = FakeChecker()
    monkeypatch.setattr("mnistlab.check.check_notebook", fake, raising=False)
    return fake


@pytest.fixture
def rubric(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text(RUBRIC)
    return path


def notebook(path: Path, code: str, printed: str = "") -> Path:
    cell = nbformat.v4.new_code_cell(code)
    if printed:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


GOOD = "self.fc1 = nn.Linear(784, 512)"
BAD = "self.fc1 = nn.Linear(784, 500)"


def options(rubric, **kw):
    return GradeOptions(rubric=rubric, sandbox=False, lang="en", **kw)


def moodle_class(root: Path) -> Path:
    """A Moodle 'download all submissions' folder: one folder per student."""
    notebook(root / "Ana López_1001_assignsubmission_file_" / "practica2.ipynb", GOOD,
             "Resultados MultiLayerNN:\n\nAccuracy General: 0.9712\n")
    notebook(root / "Bruno Díaz_1002_assignsubmission_file_" / "Práctica 2.ipynb", BAD)
    (root / "Carla Ruiz_1003_assignsubmission_file_").mkdir()
    (root / "Carla Ruiz_1003_assignsubmission_file_" / "practica2.pdf").write_bytes(b"%PDF-1.4")
    return root


# --- what is found --------------------------------------------------------------------------------

def test_a_moodle_folder_gives_one_submission_per_student_with_its_weights(tmp_path):
    root = moodle_class(tmp_path / "class")
    torch.save(create_model("mlp").state_dict(), root / "Ana López_1001_assignsubmission_file_" / "multinn.pth")
    found = {s.name: s for s in grade_inputs.collect([root], tmp_path / "work")}
    assert sorted(found) == ["Ana López_1001", "Bruno Díaz_1002", "Carla Ruiz_1003"]
    assert found["Ana López_1001"].notebook.name == "practica2.ipynb"
    assert [p.name for p in found["Ana López_1001"].pth_files] == ["multinn.pth"]
    assert found["Bruno Díaz_1002"].notebook.name == "Práctica 2.ipynb"
    assert found["Carla Ruiz_1003"].notebook.suffix == ".pdf"  # one file, not a notebook: checked, and said so


def test_flat_lms_exports_group_files_by_their_prefix(tmp_path):
    root = tmp_path / "flat"
    notebook(root / "Ana López_1001_assignsubmission_file_practica2.ipynb", GOOD)
    torch.save(create_model("cnn").state_dict(), root / "Ana López_1001_assignsubmission_file_cnn.pth")
    notebook(root / "diazbruno_1002_5551_practica2.ipynb", BAD)  # Canvas
    torch.save(create_model("mlp").state_dict(), root / "diazbruno_1002_5551_multinn.pth")
    found = {s.name: s for s in grade_inputs.collect([root], tmp_path / "work")}
    assert sorted(found) == ["Ana López_1001", "diazbruno_1002_5551"]
    assert [p.name for p in found["Ana López_1001"].pth_files] == ["Ana López_1001_assignsubmission_file_cnn.pth"]
    staged = grade_inputs.stage(found["diazbruno_1002_5551"], tmp_path / "staged")
    assert sorted(p.name for p in staged.pth_files) == ["multinn.pth"]  # the practice's own name again
    assert sorted(p.name for p in (tmp_path / "staged").iterdir()) == ["multinn.pth", "practica2.ipynb"]


def test_notebooks_named_alike_get_distinct_names(tmp_path):
    a = notebook(tmp_path / "a" / "practica2.ipynb", GOOD)
    b = notebook(tmp_path / "b" / "practica2.ipynb", GOOD)
    names = [s.name for s in grade_inputs.collect([a, b], tmp_path / "work")]
    assert names == ["practica2", "practica2 (2)"]


def test_names_are_safe_file_names():
    assert grade_inputs.safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert grade_inputs.safe_name("José María <b>") == "José María _b_"
    assert grade_inputs.safe_name("...") == "submission"


# --- zips -------------------------------------------------------------------------------------------

def zip_of(path: Path, members: dict[str, bytes], links: dict[str, str] = {}) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def test_a_moodle_zip_is_graded_like_its_folder(tmp_path, checker, rubric):
    folder = moodle_class(tmp_path / "class")
    archive = zip_of(tmp_path / "export.zip", {str(p.relative_to(folder)): p.read_bytes()
                                               for p in folder.rglob("*") if p.is_file()})
    rows = grade([archive], tmp_path / "out", options(rubric))
    assert [r.result["submission"] for r in rows] == ["Ana López_1001", "Bruno Díaz_1002", "Carla Ruiz_1003"]
    assert [r.result["points"] for r in rows] == [5, 3, 0]


@pytest.mark.parametrize("member", ["../evil.ipynb", "/etc/evil.ipynb", "a/../../evil.ipynb", "C:/evil.ipynb"])
def test_a_zip_reaching_outside_is_refused_and_writes_nothing_outside(tmp_path, member):
    archive = zip_of(tmp_path / "slip.zip", {"ok/practica2.ipynb": b"{}", member: b"pwned"})
    with pytest.raises(MnistlabError, match="path traversal"):
        grade_inputs.unzip(archive, tmp_path / "deep" / "target")
    assert not list(tmp_path.rglob("evil.ipynb"))


def test_a_zip_with_a_link_is_refused(tmp_path):
    archive = zip_of(tmp_path / "link.zip", {"a/practica2.ipynb": b"{}"}, links={"a/secret": "/etc/passwd"})
    with pytest.raises(MnistlabError, match="symbolic link"):
        grade_inputs.unzip(archive, tmp_path / "target")


def test_zip_bombs_are_stopped_by_size_and_count(tmp_path):
    bomb = zip_of(tmp_path / "bomb.zip", {"a/practica2.ipynb": b"\0" * (4 * 2**20)})  # 4 MiB of zeros, ~4 KB packed
    assert bomb.stat().st_size < 50_000
    with pytest.raises(MnistlabError, match="zip bomb"):
        grade_inputs.unzip(bomb, tmp_path / "t1", max_total_bytes=2**20)  # declared size
    with pytest.raises(MnistlabError, match="zip bomb"):
        grade_inputs.unzip(bomb, tmp_path / "t2", max_member_bytes=2**20)  # bytes really unpacked
    many = zip_of(tmp_path / "many.zip", {f"s{i}/x.txt": b"x" for i in range(30)})
    with pytest.raises(MnistlabError, match="30 files"):
        grade_inputs.unzip(many, tmp_path / "t3", max_members=20)


def test_a_file_that_is_not_a_zip_is_one_line(tmp_path):
    fake = tmp_path / "export.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(MnistlabError, match="not a readable zip"):
        grade_inputs.unzip(fake, tmp_path / "t")


# --- the output folder and the re-run ----------------------------------------------------------------

def test_a_folder_of_the_users_is_never_written(tmp_path, checker, rubric):
    root = moodle_class(tmp_path / "class")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(MnistlabError, match="did not write"):
        grade([root], mine, options(rubric))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"
    with pytest.raises(MnistlabError, match="is a file"):
        grade([root], mine / "notes.txt", options(rubric))


def test_a_rerun_checks_only_what_changed(tmp_path, checker, rubric):
    root = moodle_class(tmp_path / "class")
    out = tmp_path / "out"
    first = grade([root], out, options(rubric))
    assert len(checker.calls) == 3  # Carla handed in a PDF: checked, and found not a notebook
    again = grade([root], out, options(rubric))
    assert len(checker.calls) == 3 and all(r.reused for r in again)
    assert [r.result for r in again] == [r.result for r in first]
    notebook(root / "Bruno Díaz_1002_assignsubmission_file_" / "Práctica 2.ipynb", GOOD)  # Bruno fixes fc1
    third = grade([root], out, options(rubric))
    assert [name for name, _ in checker.calls[3:]] == ["Práctica 2.ipynb"]
    assert [r.reused for r in third] == [True, False, True]
    assert third[1].result["points"] == 5


def test_a_checker_process_that_died_is_not_remembered_as_a_verdict(tmp_path, checker, rubric, monkeypatch):
    from mnistlab.check import grade as grading

    root = moodle_class(tmp_path / "class")
    out = tmp_path / "out"
    real = grading.check_and_gather

    def dying(submission, *args):
        if "Bruno" in submission.name:
            raise OSError("the worker was killed")
        return real(submission, *args)

    monkeypatch.setattr(grading, "check_and_gather", dying)
    first = grade([root], out, options(rubric))
    assert "the checker's process failed" in json.dumps(first[1].result)
    monkeypatch.setattr(grading, "check_and_gather", real)
    again = grade([root], out, options(rubric))
    assert [r.reused for r in again] == [True, False, True]
    assert "the checker's process failed" not in json.dumps(again[1].result)


def test_an_out_folder_inside_the_class_folder_is_not_a_student(tmp_path, checker, rubric):
    root = moodle_class(tmp_path / "class")
    grade([root], root / "grades", options(rubric))
    again = grade([root], root / "grades", options(rubric))
    assert [r.result["submission"] for r in again] == ["Ana López_1001", "Bruno Díaz_1002", "Carla Ruiz_1003"]


def test_a_failing_submission_gets_its_row_and_never_stops_the_batch(tmp_path, checker, rubric):
    root = tmp_path / "class"
    notebook(root / "a_1_assignsubmission_file_" / "p.ipynb", GOOD)
    notebook(root / "b_2_assignsubmission_file_" / "p.ipynb", "# checker bug")
    (root / "c_3_assignsubmission_file_").mkdir()
    (root / "c_3_assignsubmission_file_" / "p.ipynb").write_text("print('not json')")
    rows = grade([root], tmp_path / "out", options(rubric))  # (--jobs 2 runs the real checker in processes)
    by_name = {r.result["submission"]: r.result for r in rows}
    assert by_name["a_1"]["status"] == "passed"
    assert by_name["b_2"]["status"] == "error" and "RuntimeError: boom" in by_name["b_2"]["reason"]
    assert by_name["c_3"]["status"] == "error" and "not a notebook" in by_name["c_3"]["reason"]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["submission"] for r in results] == ["a_1", "b_2", "c_3"]


def test_the_options_reach_the_checker(tmp_path, checker, rubric):
    notebook(tmp_path / "p.ipynb", GOOD)
    grade([tmp_path / "p.ipynb"], tmp_path / "out", options(rubric, timeout_s=7, memory_mb=700, full=True))
    (_, given), = checker.calls
    assert (given["timeout_s"], given["memory_mb"], given["full"], given["sandbox"], given["lang"]) == \
           (7, 700, True, False, "en")


def test_without_bwrap_grade_refuses_unless_told(tmp_path, checker, rubric, monkeypatch):
    notebook(tmp_path / "p.ipynb", GOOD)
    monkeypatch.setattr(grading, "bwrap_path", lambda: None)
    with pytest.raises(MnistlabError, match="--no-sandbox"):
        grade([tmp_path / "p.ipynb"], tmp_path / "out", GradeOptions(rubric=rubric, sandbox=True))
    assert not (tmp_path / "out").exists()
    grade([tmp_path / "p.ipynb"], tmp_path / "out", GradeOptions(rubric=rubric, sandbox=False))


# --- the rubric ---------------------------------------------------------------------------------------

def test_the_package_rubric_gives_every_item_points():
    rubric = load_rubric()
    assert list(rubric) == list(ITEM_IDS) and all(v > 0 for v in rubric.values())


@pytest.mark.parametrize("text, message", [
    ("mlp = [", "not a readable TOML rubric"),
    ('[points]\n"mlp.architecture" = -1', "must be a number >= 0"),
    ('[points]\n"mlp.architecture" = "two"', "must be a number >= 0"),
    ('[points]\n"mlp.architectura" = 1', "unknown items mlp.architectura"),
    ('"mlp.architecture" = 1', "no \\[points\\] table"),
])
def test_a_bad_rubric_is_one_line(tmp_path, text, message):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(MnistlabError, match=message) as err:
        load_rubric(path)
    assert "\n" not in str(err.value)


def test_the_rubric_sets_the_points(tmp_path, checker):
    notebook(tmp_path / "p.ipynb", BAD)
    path = tmp_path / "r.toml"
    path.write_text('[points]\n"mlp.architecture" = 4\n"cnn.architecture" = 0.5\n')
    result = grade([tmp_path / "p.ipynb"], tmp_path / "out", options(path))[0].result
    assert (result["points"], result["max_points"]) == (0.5, 4.5)
    assert [(i["id"], i["points"], i["max_points"]) for i in result["items"]] == \
           [("mlp.architecture", 0, 4), ("cnn.architecture", 0.5, 0.5)]


# --- what is written ------------------------------------------------------------------------------------

def test_grades_csv_opens_in_a_spreadsheet_and_defuses_formulas(tmp_path, checker, rubric):
    root = tmp_path / "class"
    notebook(root / "@SUM(A1)_7_assignsubmission_file_" / "p.ipynb", GOOD)
    notebook(root / "Ana_1_assignsubmission_file_" / "p.ipynb", BAD)
    grade([root], tmp_path / "out", options(rubric))
    raw = (tmp_path / "out" / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["submission", "status", "points", "max_points", *ITEM_IDS, "reason"]
    assert rows[0][4:6] == ["mlp.architecture", "cnn.architecture"]
    blanks = [""] * (len(ITEM_IDS) - 2)  # items the stand-in checker does not report
    assert rows[1:] == [["'@SUM(A1)_7", "passed", "5", "5", "2", "3", *blanks, ""],
                        ["Ana_1", "failed", "3", "5", "0", "3", *blanks, ""]]


def test_feedback_and_summary_escape_students_text(tmp_path, checker, rubric):
    root = tmp_path / "class"
    notebook(root / "<script>alert(1)<_script>_1_assignsubmission_file_" / "p.ipynb", BAD)
    grade([root], tmp_path / "out", options(rubric))
    out = tmp_path / "out"
    pages = [out / "summary.html", *sorted((out / "feedback").glob("*.html"))]
    assert len(pages) == 2
    for page in pages:
        html = page.read_text()
        assert "<script" not in html and "<b>" not in html
    assert "&lt;b&gt;Linear(784, 512)&lt;/b&gt; &amp; is not" in pages[1].read_text()
    assert "a note &lt;i&gt;" in pages[1].read_text()  # an item's note for a person (the analysis text, say)
    md = next((out / "feedback").glob("*.md")).read_text()
    assert "<b>" not in md and r"\<b\>Linear\(784, 512\)\</b\>" in md


def test_feedback_speaks_the_learners_language(tmp_path, checker, rubric):
    notebook(tmp_path / "p.ipynb", BAD)
    grade([tmp_path / "p.ipynb"], tmp_path / "out", GradeOptions(rubric=rubric, sandbox=False, lang="es"))
    html = (tmp_path / "out" / "feedback" / "p.html").read_text()
    assert "Corrección: p" in html and "Puntos: 3 / 5" in html and 'lang="es"' in html
    assert "Resumen de la clase" in (tmp_path / "out" / "summary.html").read_text()


def test_summary_flags_identical_weights_and_code_and_places_accuracies(tmp_path, checker, rubric, mnist_root):
    root = tmp_path / "class"
    torch.manual_seed(0)
    shared = create_model("cnn").state_dict()
    for student in ("Ana_1", "Bea_2", "Eva_3"):
        folder = root / f"{student}_assignsubmission_file_"
        notebook(folder / "p.ipynb", f"{GOOD}  # {student}" if student != "Bea_2" else f"{GOOD}  # Ana_1",
                 "Resultados CNN:\n\nAccuracy General: 0.9850\n" if student == "Eva_3" else "")
    torch.save(shared, root / "Ana_1_assignsubmission_file_" / "cnn.pth")
    torch.save(shared, root / "Bea_2_assignsubmission_file_" / "mi_cnn.pth")  # same tensors, another file name
    rows = grade([root], tmp_path / "out", options(rubric, data_dir=mnist_root))
    assert rows[0].evidence["weights"]["cnn"] == rows[1].evidence["weights"]["cnn"]
    assert rows[0].evidence["accuracy"]["cnn"]["source"] == "weights"  # scored by mnistlab
    assert rows[2].evidence["accuracy"]["cnn"] == {"value": 0.985, "source": "printed"}
    summary = (tmp_path / "out" / "summary.html").read_text()
    assert "Identical weights (CNN):</span> Ana_1, Bea_2" in summary
    assert "Identical code:</span> Ana_1, Bea_2" in summary
    assert "Eva_3: 98.50%" in summary  # its dot, hollow: as printed
    assert summary.count("<circle") == 3
    assert 'href="feedback/Ana_1.html"' in summary


def test_the_cli_grades_and_reports_bad_flags_in_one_line(tmp_path, checker, rubric, invoke):
    notebook(tmp_path / "p.ipynb", GOOD)
    result = invoke("grade", tmp_path / "p.ipynb", "--out", tmp_path / "out", "--rubric", rubric, "--no-sandbox")
    assert result.exit_code == 0, result.output
    assert "graded 1 submissions" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
           [".mnistlab-grade", "feedback", "grades.csv", "results.json", "summary.html"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[[")
    result = invoke("grade", tmp_path / "p.ipynb", "--out", tmp_path / "out2", "--rubric", bad, "--no-sandbox")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "not a readable TOML rubric" in result.output
    assert not (tmp_path / "out2").exists()


# --- a real class, hostile students included (the real checker, sandboxed) -------------------------------

@pytest.mark.slow
def test_a_class_with_hostile_submissions_gets_its_verdicts_and_nothing_escapes(tmp_path, mnist_root, listener):
    """Each hostile submission gets the verdict HOSTILE_EXPECTED names, item by item, in one batch with
    --jobs 2; the listener is never reached, nothing is written outside the sandbox, and neither the
    other submission nor the grader's files are touched."""
    import hostile_submissions as hostile
    import submissions

    port, reached = listener
    root, out = tmp_path / "class", tmp_path / "out"
    folder = lambda name: root / f"{name}_1_assignsubmission_file_"  # noqa: E731
    solved = submissions.write(submissions.solved(), (folder("solved").mkdir(parents=True) or folder("solved")) / "p.ipynb")
    before = solved.read_bytes()
    grader_home = Path(os.environ["HOME"])
    grader_home.mkdir(parents=True, exist_ok=True)
    out.mkdir()
    (out / ".mnistlab-grade" / "cache").mkdir(parents=True)  # as a first run leaves it
    tag = uuid.uuid4().hex[:8]
    targets = [str(solved), str(out / "results.json"), str(out / ".mnistlab-grade" / "cache" / "forged.json")]
    variants = {"intruder": hostile.intruder(port, str(grader_home), targets, tag), "forger": hostile.forger(),
                "deaf_loop": hostile.deaf_loop(), "fork_bomb": hostile.fork_bomb(), "memory_hog": hostile.memory_hog()}
    for name, notebook in variants.items():
        folder(name).mkdir()
        submissions.write(notebook, folder(name) / "p.ipynb")
    folder("not_a_notebook").mkdir()
    (folder("not_a_notebook") / "p.ipynb").write_text("print('hola')\n")

    rows = grade([root], out, GradeOptions(jobs=2, timeout_s=240, lang="en", data_dir=mnist_root))
    verdicts = {r.result["submission"].removesuffix("_1"): r.result for r in rows}
    assert sorted(verdicts) == sorted([*hostile.HOSTILE_EXPECTED, "solved"])
    for name, (status, expected) in {**hostile.HOSTILE_EXPECTED, "solved": hostile.HOSTILE_EXPECTED["intruder"]}.items():
        got = {item["id"]: item["passed"] for item in verdicts[name]["items"]}
        assert (verdicts[name]["status"], got) == (status, expected), (name, verdicts[name])
    assert "not a notebook" in verdicts["not_a_notebook"]["reason"] or "JSON" in verdicts["not_a_notebook"]["reason"]
    assert not reached.is_set()
    assert solved.read_bytes() == before
    assert not (out / ".mnistlab-grade" / "cache" / "forged.json").exists()
    assert not list(grader_home.glob("robado*")) and not Path(f"/tmp/robado-{tag}.txt").exists()
    assert "manipulado" not in (out / "results.json").read_text()
    summary = (out / "summary.html").read_text()
    assert summary.count("feedback/") == 7
