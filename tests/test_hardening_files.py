"""The user's files are never mnistlab's to delete: `train --out` and `report --out` replace only a
folder that is their own (a run, a report), links are written through, odd paths and files get one
line; crafted files, full or read-only disks and Ctrl+C at start-up included."""

import json
import os

import pytest

from helpers import write_fake_run
from mnistlab import files
from mnistlab.errors import MnistlabError
from mnistlab.report import build
from mnistlab.runs import load_run, not_a_run
from mnistlab.train import TrainConfig, train_run

QUICK = dict(model="mlp", epochs=2, train_size=640, device="cpu")  # 20 steps


def quiet(line):
    pass


def snapshot(folder):
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in sorted(folder.iterdir())}


def one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


# --- train --out ---------------------------------------------------------------------------------

def test_train_refuses_a_folder_of_the_users_files_and_touches_nothing(invoke, mnist_root, tmp_path):
    """The issue's case: `train cnn --out mywork` where mywork/ holds a notebook and a cnn.pth."""
    mywork = tmp_path / "mywork"
    mywork.mkdir()
    (mywork / "practice.ipynb").write_text("{}")
    (mywork / "cnn.pth").write_bytes(b"my weights")
    (mywork / "data").mkdir()
    before = snapshot(mywork)
    result = invoke("train", "cnn", "--max-steps", 1, "--out", mywork, "--data-dir", mnist_root)
    one_line_error(result, f"--out {mywork} holds cnn.pth, data/ and practice.ipynb, which no run writes",
                   "nothing was touched")
    assert snapshot(mywork) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mywork"]


@pytest.mark.parametrize("present, refused", [
    ([], False), (["model.pth"], True), (["config.json"], False), (["config.json", "model.pth", "loss.png"], False),
    (["config.json", "history.json", "model.pth", "metrics.json", "loss.png"], False),
    (["metrics.json", "notes.txt"], True), (["config.json", ".ipynb_checkpoints/"], True),
    (["metrics.json/"], True),  # a folder where a run's file belongs may hold anything
])
def test_only_a_runs_own_files_make_a_folder_replaceable(tmp_path, present, refused):
    for name in present:
        (tmp_path / name.rstrip("/")).mkdir() if name.endswith("/") else (tmp_path / name).write_text("x")
    assert (not_a_run(tmp_path) is not None) == refused


def test_out_dot_is_refused_in_one_line(invoke, mnist_root, tmp_path, monkeypatch):
    """`--out .` trained, then crashed on PosixPath('.') having no name; `..` is above the folder too."""
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", "runs/.."):
        result = invoke("train", "mlp", "--max-steps", 1, "--out", out, "--data-dir", mnist_root)
        one_line_error(result, f"--out {out} is ", "pass a folder of its own, such as --out runs/mine")
    assert list(tmp_path.iterdir()) == []


def test_report_of_the_current_folder_no_longer_suggests_training_into_it(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("report", ".", "--out", tmp_path / "r")
    one_line_error(result, ". is not a run folder", "`mnistlab train mlp` or `mnistlab run` makes one")
    assert "--out ." not in result.output


def test_files_put_into_the_run_folder_during_training_are_kept(mnist_root, tmp_path):
    out = write_fake_run(tmp_path / "runs" / "mlp-practice-seed0", accuracy=0.9793)

    def user_writes(epoch, result):
        (out / "notes.txt").write_text("written while the run trained")

    with pytest.raises(MnistlabError, match="holds notes.txt, which no run writes .put there while"):
        train_run(TrainConfig(**QUICK), out, mnist_root, log=quiet, on_epoch=user_writes)
    assert (out / "notes.txt").exists() and load_run(out).metrics.overall_accuracy == 0.9793
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # the new run's staging folder is gone


def test_train_writes_through_a_link_and_leaves_no_old_link(invoke, mnist_root, tmp_path):
    target = write_fake_run(tmp_path / "disk" / "mlp-run", accuracy=0.9793)
    link = tmp_path / "work" / "run"
    link.parent.mkdir()
    link.symlink_to(target)
    result = invoke("train", "mlp", "--max-steps", 5, "--out", link, "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load_run(target).metrics.steps == 5  # the new run is where the link points
    assert [p.name for p in link.parent.iterdir()] == ["run"]  # no `.run.old.<pid>.tmp` link
    assert [p.name for p in target.parent.iterdir()] == ["mlp-run"]


def test_a_link_to_the_users_folder_or_to_nothing_is_refused(invoke, mnist_root, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "cnn.pth").write_bytes(b"mine")
    (tmp_path / "to-mine").symlink_to(mine)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    one_line_error(invoke("train", "cnn", "--out", tmp_path / "to-mine", "--data-dir", mnist_root), "holds cnn.pth")
    for command in (["train", "mlp", "--data-dir", mnist_root], ["report"]):
        one_line_error(invoke(*command, "--out", tmp_path / "dangling"),
                       f"--out {tmp_path / 'dangling'} is a link to {tmp_path / 'gone'}, which does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "mine", "to-mine"]
    assert snapshot(mine) == {"cnn.pth": b"mine"}


def test_replace_dir_never_swaps_a_link_for_a_folder(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    (target / "index.html").write_text("one")
    (tmp_path / "link").symlink_to(target)
    staging = files.staging_dir(target)
    (staging / "index.html").write_text("two")
    files.replace_dir(staging, tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and (target / "index.html").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


# --- report --out --------------------------------------------------------------------------------

def write(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("x")
    return folder


def test_a_report_folder_is_replaceable_only_with_the_reports_files(tmp_path):
    assert build.not_a_report(write(tmp_path / "empty")) is None
    # an earlier version's report (no list of what it wrote): its pages and figures
    assert build.not_a_report(write(tmp_path / "old", "index.html", "report.md", "per_digit.png")) is None
    assert "holds notes.txt, which the report did not write" in build.not_a_report(
        write(tmp_path / "old", "notes.txt"))
    assert "holds other files and no report (index.html and todo.txt)" in build.not_a_report(
        write(tmp_path / "site", "index.html", "todo.txt"))
    # this version's report lists what it wrote: a picture added by the user is not among them
    new = write(tmp_path / "new", "index.html", "report.md", "per_digit.png")
    (new / build.WRITTEN).write_text(json.dumps({"files": ["index.html", "per_digit.png", "report.md"]}))
    assert build.not_a_report(new) is None
    write(new, "holiday.png")
    assert "holds holiday.png, which the report did not write" in build.not_a_report(new)


def test_report_refuses_a_folder_with_the_users_files_before_any_work(invoke, fake_runs, tmp_path):
    out = write(tmp_path / "report", "index.html", "report.md", "thesis.docx")
    before = snapshot(out)
    result = invoke("report", "--runs", fake_runs, "--out", out)
    one_line_error(result, f"--out {out} holds thesis.docx, which the report did not write", "nothing was touched")
    assert snapshot(out) == before


@pytest.mark.slow
def test_report_replaces_an_older_report_through_a_link(fake_runs, mnist_root, tmp_path):
    old = write(tmp_path / "disk" / "report", "index.html", "report.md", "loss_mlp.png")
    link = tmp_path / "report"
    link.symlink_to(old)
    assert build.build_report([], link, fake_runs, mnist_root) == link / "index.html"
    assert link.is_symlink() and (old / "index.html").read_text().startswith("<!DOCTYPE html>")
    written = json.loads((old / build.WRITTEN).read_text())["files"]
    assert sorted(p.name for p in old.iterdir()) == sorted([*written, build.WRITTEN])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "report", "runs"]
    assert [p.name for p in old.parent.iterdir()] == ["report"]
    build.build_report([], link, fake_runs, mnist_root)  # and the next report replaces this one
