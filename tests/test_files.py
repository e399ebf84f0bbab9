"""Whole files or none: an interrupted write leaves the old file and no temporary, JSON reads fail in
one line, and a folder swap leaves either the old folder or the new one."""

import os

import pytest

from mnistlab.errors import MnistlabError
from mnistlab.files import atomic_write, read_json, replace_dir, staging_dir, write_json


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})

    def broken(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert read_json(path, "make") == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    write_json(tmp_path / "a.json", [])
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_read_json_names_the_file_and_the_command(tmp_path):
    with pytest.raises(MnistlabError, match=r"b.json is missing; `mnistlab go` makes it"):
        read_json(tmp_path / "b.json", "mnistlab go")
    (tmp_path / "b.json").write_text("[1]")
    with pytest.raises(MnistlabError, match=r"not a JSON object\); `mnistlab go` writes it again"):
        read_json(tmp_path / "b.json", "mnistlab go")


def test_replace_dir_swaps_whole_folders(tmp_path):
    out = tmp_path / "report"
    first = staging_dir(out)
    (first / "index.html").write_text("one")
    replace_dir(first, out)
    second = staging_dir(out)
    (second / "index.html").write_text("two")
    replace_dir(second, out)
    assert (out / "index.html").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging or old folder left
