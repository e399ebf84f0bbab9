"""The user's files are never mnistlab's to delete: `train --out` and `report --out` replace only a
folder that is their own (a run, a report), links are written through, odd paths and files get one
line; crafted files, full or read-only disks and Ctrl+C at start-up included."""

import json
import os

import pytest

from helpers import quiet, write_fake_run
from mnistlab import files
from mnistlab.errors import MnistlabError
from mnistlab.report import build
from mnistlab.training.runs import load_run, not_a_run
from mnistlab.training.train import TrainConfig, train_run

QUICK = dict(model="mlp", epochs=2, train_size=640, device="cpu")  # 20 steps



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


# --- crafted weights -----------------------------------------------------------------------------

def crafted_weights(path, **extra):
    """The mlp's state_dict with `extra` tensors put in: each a stride-0 view, a few bytes on disk."""
    import torch

    from mnistlab.nets.models import create_model

    state = create_model("mlp").state_dict()
    state.update(extra)
    torch.save(state, path)
    return path


def test_a_tensor_declaring_a_trillion_elements_is_refused_before_it_is_touched(invoke, fake_runs, tmp_path):
    """The issue's model.pth: an extra tensor `torch.zeros(1).expand(10**12)` in a 2.7 MB file made
    evaluate, predict, report and serve try to allocate 4 TB."""
    import torch

    from mnistlab.inference.predict import load_latest
    from mnistlab.nets.models import load_weights

    weights = crafted_weights(fake_runs / "mlp-practice-seed0" / "model.pth", extra=torch.zeros(1).expand(10**12))
    assert weights.stat().st_size < 3_000_000
    declares = "extra declares 1,000,000,000,000 values, more than a weights file of at most 64 MB holds"
    with pytest.raises(MnistlabError, match=declares):
        load_weights(weights)
    huge = crafted_weights(tmp_path / "huge.pth", **{"fc3.bias": torch.zeros(1).expand(10**12)})
    with pytest.raises(MnistlabError, match="fc3.bias declares 1,000,000,000,000 values"):
        load_weights(huge)
    small = crafted_weights(tmp_path / "small.pth", extra=torch.zeros(3))  # unknown keys are refused by name
    with pytest.raises(MnistlabError, match="fits neither network .[a-z, -]+.: it holds a tensor 'extra' that neither"):
        load_weights(small)
    one_line_error(invoke("evaluate", weights), declares)
    image = tmp_path / "digit.png"
    image.write_bytes(b"")  # never read: the weights fail first
    one_line_error(invoke("predict", image, "--model", "mlp", "--runs", fake_runs), declares)
    one_line_error(invoke("report", "--runs", fake_runs, "--out", tmp_path / "report"), declares)
    networks = load_latest(fake_runs)  # what serve loads: the other network goes on
    assert list(networks.loaded) == ["cnn"] and declares in networks.missing[0]


# --- regular files only, and only so much of them --------------------------------------------------

def within(seconds, fn):
    """fn()'s exception (or None), failing the test if fn takes longer (a read that hangs)."""
    import threading

    outcome = []

    def call():
        try:
            fn()
            outcome.append(None)
        except Exception as err:  # noqa: BLE001 - handed back to the test
            outcome.append(err)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still reading after {seconds} s"
    return outcome[0]


@pytest.mark.parametrize("name, make, message", [
    ("history.json", lambda p: p.symlink_to("/dev/zero"), "history.json cannot be read (a device, not a file)"),
    ("config.json", os.mkfifo, "config.json cannot be read (a named pipe, not a file)"),
    ("metrics.json", os.mkfifo, "metrics.json cannot be read (a named pipe, not a file)"),
    ("metrics.json", lambda p: (p.touch(), os.truncate(p, 40 << 20)), "metrics.json is 40.0 MB, more than the 32 MB"),
    ("model.pth", lambda p: p.symlink_to("/dev/zero"), "model.pth is not a regular file"),
])
def test_run_files_that_are_not_regular_files_are_one_line_and_never_hang(fake_runs, name, make, message):
    from mnistlab.inference.predict import load_latest

    path = fake_runs / "mlp-practice-seed0" / name
    path.unlink()
    make(path)
    problem = within(10, lambda: load_latest(fake_runs, ("mlp",)))
    assert isinstance(problem, MnistlabError) and message in str(problem), problem
    served = within(10, lambda: load_latest(fake_runs).loaded)  # serve and predict: the cnn answers
    assert served is None


def test_predict_reads_only_regular_image_files(invoke, fake_runs, tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "big.png").touch()
    os.truncate(tmp_path / "big.png", 40 << 20)
    for image, message in [("/dev/zero", "/dev/zero: cannot be read (a device, not a file)"),
                           (tmp_path / "pipe.png", "pipe.png: cannot be read (a named pipe, not a file)"),
                           (tmp_path / "big.png", "big.png: is 40.0 MB, more than the 32 MB read"),
                           (tmp_path, ": cannot be read (a folder, not a file)")]:
        result = within(10, lambda: one_line_error(invoke("predict", image, "--runs", fake_runs), message))
        assert result is None, result


def test_read_bytes_reads_regular_files_whole(tmp_path):
    (tmp_path / "a").write_bytes(b"12345")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert files.read_bytes(tmp_path / "link", 5) == b"12345"
    with pytest.raises(files.UnreadableFile, match="is 0.0 MB, more than the"):
        files.read_bytes(tmp_path / "a", 4)
    with pytest.raises(FileNotFoundError):
        files.read_bytes(tmp_path / "missing", 5)


# --- report.md escapes what it quotes ---------------------------------------------------------------

@pytest.mark.slow
def test_report_markdown_escapes_every_quoted_value(mnist_root, tmp_path):
    """A run's device `<script>alert(1)</script>` and a folder named with a newline and `# heading`."""
    runs = tmp_path / "runs"
    mlp = write_fake_run(runs / "mlp\n# heading", "mlp")
    cnn = write_fake_run(runs / "cnn|x", "cnn")
    for run in (mlp, cnn):
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "device": "<script>alert(1)</script>",
                                                      "torch_version": "*2.x* [link](http://a) _b_"}))
    build.build_report([mlp, cnn], tmp_path / "report", runs, mnist_root)
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert not [line for line in markdown.splitlines() if line.startswith("# heading")]
    assert "\\*2.x\\* \\[link\\](http://a) \\_b\\_" in markdown
    rows = [line for line in markdown.splitlines() if "heading" in line]
    assert rows and all(line.startswith("| ") and line.endswith(" |") for line in rows), rows  # tables whole
    assert "`" + str(cnn).replace("|", "\\|") + "`" in markdown  # the | of a folder name does not split a cell
    assert "<script" not in (tmp_path / "report" / "index.html").read_text()


def test_markdown_text_keeps_code_spans_and_escapes_the_rest():
    from mnistlab.report.render import md_cell, md_text

    assert md_text("in `runs/a<b>` on <b>x</b> & *y*") == "in `runs/a<b>` on &lt;b&gt;x&lt;/b&gt; &amp; \\*y\\*"
    assert md_text("line\n# heading") == "line \\# heading" and md_text("- item") == "\\- item"
    assert md_cell("`a|b` c|d") == "`a\\|b` c\\|d" and md_text("one ` tick") == "one \\` tick"


# --- full or read-only disks, odd data folders --------------------------------------------------------

def full_disk(monkeypatch, only=""):
    """Every file written through files.atomic_write (whose path contains `only`) fails with ENOSPC."""
    import errno

    real = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real(fd, mode, *args, **kwargs)
        return Full(handle) if "w" in mode and only in os.readlink(f"/proc/self/fd/{fd}") else handle

    monkeypatch.setattr(files.os, "fdopen", fdopen)


@pytest.mark.parametrize("only", ["history.json", "model.pth", "loss.png"])
def test_train_on_a_full_disk_is_one_line_and_the_old_run_stays(invoke, mnist_root, tmp_path, monkeypatch, only):
    out = write_fake_run(tmp_path / "runs" / "mlp-run", accuracy=0.9793)
    before = snapshot(out)
    full_disk(monkeypatch, only)
    result = invoke("train", "mlp", "--max-steps", 3, "--device", "cpu", "--out", out, "--data-dir", mnist_root)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    last = [line for line in result.output.splitlines() if line.startswith("mnistlab: error:")]
    assert len(last) == 1, result.output
    last = last[0]
    assert last == (f"mnistlab: error: cannot write the run folder {out} (No space left on device while writing "
                    f"{only}); free some space or pass another --out")
    assert snapshot(out) == before and [p.name for p in out.parent.iterdir()] == ["mlp-run"]


def test_report_on_a_read_only_disk_is_one_line_before_any_work(invoke, fake_runs, tmp_path, monkeypatch):
    import errno

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(files.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(build.data, "load_split", lambda *a, **k: pytest.fail("the work began"))
    one_line_error(invoke("report", "--runs", fake_runs, "--out", tmp_path / "report"),
                   f"cannot write the report {tmp_path / 'report'} (Read-only file system); give another --out")


@pytest.mark.slow
def test_report_on_a_full_disk_is_one_line_and_the_old_report_stays(invoke, fake_runs, mnist_root, tmp_path,
                                                                     monkeypatch):
    out = write(tmp_path / "report", "index.html", "report.md")
    full_disk(monkeypatch)
    one_line_error(invoke("report", "--runs", fake_runs, "--out", out, "--data-dir", mnist_root),
                   f"cannot write the report {out} (No space left on device while writing ", "free some space")
    assert snapshot(out) == {"index.html": b"x", "report.md": b"x"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "runs"]


def test_a_data_folder_name_over_255_characters_is_one_line(invoke, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA_DIR", str(tmp_path / ("d" * 300)))
    one_line_error(invoke("data"), "cannot be used (File name too long); pass another --data-dir")
    one_line_error(invoke("train", "mlp", "--out", tmp_path / "run"), "File name too long")


def test_a_data_folder_pointing_at_mnist_raw_is_recognised(invoke, mnist_root, tmp_path):
    from mnistlab.data import ensure_mnist, raw_dir

    assert ensure_mnist(raw_dir(mnist_root)).root == mnist_root
    assert ensure_mnist(mnist_root / "MNIST").root == mnist_root
    result = invoke("data", "--data-dir", raw_dir(mnist_root))
    assert result.exit_code == 0 and f"MNIST ready in {raw_dir(mnist_root)} " in result.output, result.output
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")  # the files straight in the folder: said, not fetched
    one_line_error(invoke("data", "--data-dir", tmp_path),
                   f"MNIST's files belong in {raw_dir(tmp_path)} (torchvision's layout)")
    assert [p.name for p in tmp_path.iterdir()] == ["train-images-idx3-ubyte"]


# --- Ctrl+C at start-up, article, loopback --------------------------------------------------------------

INTERRUPTED_IMPORT = """
import sys

class CtrlC:  # Ctrl+C pressed while torch imports, the first second or two of every command
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
from mnistlab.cli import main  # what the `mnistlab` script does
sys.exit(main())
"""


def test_ctrl_c_while_the_modules_import_is_one_line_and_exit_130():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT, "summary", "mlp"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == "mnistlab: interrupted before starting; nothing was done\n"


def test_ctrl_c_before_a_command_runs_is_one_line(monkeypatch, capsys):
    from mnistlab import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 130 and "interrupted before starting" in capsys.readouterr().err


def test_error_messages_use_a_and_an_rightly():
    import io

    from PIL import Image

    from mnistlab.errors import an
    from mnistlab.inference.preprocess import decode_image

    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "ICO")
    with pytest.raises(MnistlabError, match="the upload is an ICO image; send a PNG or JPEG"):
        decode_image(buffer.getvalue(), "the upload")
    assert [an(w) for w in ("ICO", "MPO", "PNG", "GIF", "application/json", "image/png", "text/plain", "user")] == [
        "an ICO", "an MPO", "a PNG", "a GIF", "an application/json", "an image/png", "a text/plain", "a user"]


@pytest.mark.parametrize("host", ["127.1", "LOCALHOST", "0x7f.0.0.1", "127.0.0.1"])
def test_loopback_in_any_spelling_lets_the_page_train(host, invoke, fake_runs, monkeypatch):
    from mnistlab.cli import is_loopback

    assert is_loopback(host)
    made = {}
    real = __import__("mnistlab.web.app", fromlist=["create_app"]).create_app

    def create_app(**kwargs):
        made.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr("mnistlab.web.app.create_app", create_app)
    monkeypatch.setattr("mnistlab.web.server.serve_forever", lambda app, sock: sock.close())
    result = invoke("serve", "--host", host, "--port", 0, "--runs", fake_runs)
    assert result.exit_code == 0, result.output
    assert made["allow_training"] is True


def test_a_pth_for_a_network_that_model_leaves_out_is_refused_not_ignored(invoke, fake_runs, tmp_path):
    """`predict --model mlp --cnn cnn.pth` used to answer with the latest MLP run, the file unread."""
    image = tmp_path / "digit.png"
    image.write_bytes(b"")
    one_line_error(invoke("predict", image, "--model", "mlp", "--cnn", fake_runs / "cnn-practice-seed0" / "model.pth",
                          "--runs", fake_runs), "--cnn given but --model asks for mlp; give --mlp FILE")
