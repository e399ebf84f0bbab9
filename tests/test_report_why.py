"""The report's "Why the CNN wins" (report/why.py): with the lab's experiment runs, its figure, tables
and sentences follow the numbers; without them, the robustness part alone; experiment runs never
join the lesson's two networks."""

import re

import pytest

from mnistlab.report import build_report
from mnistlab.report.build import select_experiments, select_runs
from mnistlab.training.runs import load_run


@pytest.fixture(scope="module")
def report(lab_runs, mnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("why") / "report"
    build_report([], out, lab_runs, mnist_root, "en")
    return out, (out / "report.md").read_text()


def section(markdown: str) -> str:
    return markdown[markdown.index("## 8. Why the CNN wins"):]


def test_experiment_runs_stay_out_of_the_lessons_pair(lab_runs):
    groups = select_runs([], lab_runs)
    assert {name: [r.path.name for r in group] for name, group in groups.items()} == \
        {"mlp": ["mlp-quick"], "cnn": ["cnn-quick"]}
    permuted, small = select_experiments([], lab_runs, groups)
    assert {name: run.path.name for name, run in permuted.items()} == {"mlp": "mlp-permuted", "cnn": "cnn-permuted"}
    assert small.path.name == "mlp-small"
    given = select_runs([lab_runs / f for f in ("mlp-quick", "cnn-quick", "cnn-permuted", "mlp-small")], lab_runs)
    assert sorted(given) == ["cnn", "mlp"] and all(len(group) == 1 for group in given.values())


def test_the_section_holds_the_measured_numbers(report, lab_runs):
    out, markdown = report
    # read as a person sees it: report.md backslash-escapes a cell's leading + or - (not a list item)
    why = re.sub(r"\\([+\-=])", r"\1", section(markdown))
    accuracy = {f: load_run(lab_runs / f).metrics.overall_accuracy for f in
                ("mlp-quick", "cnn-quick", "mlp-permuted", "cnn-permuted", "mlp-small")}
    # the permuted-pixel table: each network's accuracy as it is and scrambled, and the change
    for name, plain, scrambled in (("MultiLayerNN", "mlp-quick", "mlp-permuted"), ("CNN", "cnn-quick", "cnn-permuted")):
        change = (accuracy[scrambled] - accuracy[plain]) * 100
        assert f"| {name} | {accuracy[plain]:.2%} | {accuracy[scrambled]:.2%} | {change:+.2f} |" in why
    assert f"the MultiLayerNN loses nothing ({accuracy['mlp-quick']:.2%} → {accuracy['mlp-permuted']:.2%})" in why
    assert f"the CNN falls to {accuracy['cnn-permuted']:.2%} (from {accuracy['cnn-quick']:.2%})" in why
    # the same-budget table, and its verdict follows the numbers
    assert re.search(rf"\| SmallMLP \| 61,225 \| {accuracy['mlp-small']:.2%} \| [\d.]+% \| [\d.]+% \|", why)
    verdict = "With the same budget an MLP does worse" if accuracy["cnn-quick"] > accuracy["mlp-small"] + 0.005 \
        else "the same budget spent as an MLP does as well here"
    assert verdict in why
    # the robustness rows: unmoved is the test accuracy, and the sentence quotes the table's 3 px row
    assert f"| moved 0 px | {accuracy['mlp-quick']:.2%} | {accuracy['cnn-quick']:.2%} | {accuracy['mlp-small']:.2%} |" in why
    mlp3, cnn3 = re.search(r"\| moved 3 px \| ([\d.]+)% \| ([\d.]+)% \|", why).groups()
    assert f"Moved 3 pixels, the MultiLayerNN still reads {float(mlp3):.1f}% of the test digits and the CNN " \
           f"{float(cnn3):.1f}%" in why
    assert "a convolution shares its weights" in why and "Max pooling then forgives" in why
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG" and "](robustness.png)" in why


def test_spanish_section(report, lab_runs, mnist_root, tmp_path):
    build_report([], tmp_path / "informe", lab_runs, mnist_root, "es")
    why = (tmp_path / "informe" / "report.md").read_text()
    why = why[why.index("## 8. Por qué gana la CNN"):]
    assert "Desplazados 3 píxeles, el MultiLayerNN todavía lee el" in why and "el MultiLayerNN no pierde nada" in why
    assert "la CNN cae al" in why and "Por qué: una convolución comparte sus pesos." in why
    assert "SmallMLP" in why and " the " not in why


def test_without_the_experiments_the_curves_alone(quick_runs, mnist_root, tmp_path):
    build_report([], tmp_path / "report", quick_runs, mnist_root, "en")
    why = section((tmp_path / "report" / "report.md").read_text())
    assert "](robustness.png)" in why and "| moved 8 px |" in why and "Moved 3 pixels" in why
    assert "pixels scrambled" not in why and "SmallMLP" not in why
    assert "`mnistlab run --experiments` also trains" in why
