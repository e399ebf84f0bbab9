"""The analysis report built from short real runs: its numbers and tables, its figures in a real
browser, sentences that follow the numbers, bad input, and the `summary` command."""

import json
import re
import shutil
import statistics
from pathlib import Path

import pytest
from torchinfo import summary as torchinfo_summary

from mnistlab.errors import MnistlabError
from mnistlab.nets.layers import parameter_rows
from mnistlab.nets.models import lesson_models, create_model
from mnistlab.report import build_report, figures
from mnistlab.report.analysis import Network, analysis_sentences

SECTIONS = ["1. Setup", "2. Results", "3. Where they fail", "4. Training", "5. Parameters",
            "6. CNN layer sizes", "7. Analysis", "8. Why the CNN wins"]



@pytest.fixture(scope="module")
def quick(invoke, mnist_root, tmp_path_factory):
    """`mnistlab run --seeds 2` capped at 60 steps: four real runs, and the report it ends with."""
    base = tmp_path_factory.mktemp("report")
    result = invoke("run", "--seeds", 2, "--max-steps", 60, "--device", "cpu", "--runs-dir", base / "runs",
                    "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    return base, result.output


def metrics_of(base, name, seed):
    return json.loads((base / "runs" / f"{name}-practice-seed{seed}" / "metrics.json").read_text())


def test_run_with_seeds_ends_with_the_report(quick):
    base, output = quick
    assert output.rstrip().endswith(f"report: {base / 'report' / 'index.html'}")
    for name in lesson_models():
        assert [metrics_of(base, name, s)["seed"] for s in (0, 1)] == [0, 1]


def test_report_holds_the_measured_numbers(quick):
    base, _ = quick
    page = (base / "report" / "index.html").read_text()
    markdown = (base / "report" / "report.md").read_text()
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page and f"## {section}" in markdown
    for text in (page, markdown):
        assert "669,706" in text and "61,706" in text and "10.9×" in text
    # deliverable 4: every row of the CNN's sizes, as the input → output cells of its table
    for layer, kind, given, produced in [
            ("conv1", "Conv2d", "1 × 28 × 28", "6 × 28 × 28"), ("pool1", "MaxPool2d", "6 × 28 × 28", "6 × 14 × 14"),
            ("conv2", "Conv2d", "6 × 14 × 14", "16 × 10 × 10"), ("pool2", "MaxPool2d", "16 × 10 × 10", "16 × 5 × 5"),
            ("flatten", "view", "16 × 5 × 5", "400"), ("fc1", "Linear", "400", "120"), ("fc2", "Linear", "120", "84"),
            ("fc3", "Linear", "84", "10")]:
        assert f"| {layer} | {kind} | {given} | {produced} |" in markdown
        assert f"<td>{layer}</td><td>{kind}</td><td>{given}</td><td>{produced}</td>" in page
    assert "| conv1 | Conv2d | 1 × 28 × 28 | 6 × 28 × 28 | 6 | 5 | 1 | 2 | O = (28 − 5 + 2·2) / 1 + 1 = 28 |" in markdown
    # ... and as a picture: the feature maps of one test digit, in the same section as the table
    sizes = page[page.index('id="cnn-layer-sizes"'):page.index('id="analysis"')]
    assert 'src="feature_maps.png"' in sizes and "6 feature maps they make" in sizes
    assert "](feature_maps.png)" in markdown
    # accuracies: each seed exactly as metrics.json says, and their mean ± std
    for seed in (0, 1):
        mlp, cnn = (metrics_of(base, name, seed)["overall_accuracy"] for name in lesson_models())
        assert f"| seed {seed} | {mlp:.2%} | {cnn:.2%} |" in markdown
    cells = []
    for name in lesson_models():
        values = [metrics_of(base, name, s)["overall_accuracy"] for s in (0, 1)]
        cells.append(f"{statistics.fmean(values):.2%} ± {statistics.stdev(values) * 100:.2f}")
    assert f"| test accuracy | {cells[0]} | {cells[1]} |" in markdown
    assert "quick runs capped at 60 training steps" in markdown
    # self-contained: every link is a local file beside the page or an anchor
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert link.startswith(("#", "data:")) or (base / "report" / link).read_bytes()[:4] == b"\x89PNG", link
    assert "http" not in page


@pytest.mark.browser
def test_report_opens_in_chromium_with_every_image(quick, artifacts, browser):
    base, _ = quick
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((base / "report" / "index.html").as_uri())
    page.wait_for_load_state("load")
    widths = page.evaluate("[...document.images].map(img => [img.getAttribute('src'), img.naturalWidth])")
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    page.close()
    assert len(widths) == 10 and ["feature_maps.png"] == [src for src, _ in widths if "feature" in src]
    assert all(width > 0 for _, width in widths), widths
    assert errors == []


def numbers(name, accuracy, weak_digit, confused_with, epoch_losses, seeds=1, spread=0.0):
    """A made-up network result: every digit at `accuracy` except `weak_digit`, 10 points lower."""
    per_digit = [accuracy - (0.1 if d == weak_digit else 0.0) for d in range(10)]
    confusion = [[1000 if t == p else 0 for p in range(10)] for t in range(10)]
    confusion[weak_digit][confused_with] = 100
    confusion[weak_digit][weak_digit] = 900
    return Network(
        name=name, accuracies=[accuracy + spread * (i - (seeds - 1) / 2) for i in range(seeds)],
        per_digit=[per_digit] * seeds, confusion=confusion,
        loss=[value for value in epoch_losses for _ in range(100)], epoch_loss=list(epoch_losses),
        steps_per_epoch=100, layers=parameter_rows(create_model(name)), train_seconds=[12.0] * seeds,
        images_per_second=[5000.0] * seeds, device="cpu")


def test_analysis_follows_the_numbers():
    first = analysis_sentences(numbers("mlp", 0.94, 8, 3, [0.5, 0.3, 0.2]),
                               numbers("cnn", 0.98, 4, 9, [0.2, 0.1, 0.0995]), "en")
    second = analysis_sentences(numbers("mlp", 0.995, 2, 7, [0.5, 0.4, 0.39]),
                                numbers("cnn", 0.96, 5, 3, [0.5, 0.3, 0.2]), "en")
    text, other = " ".join(first), " ".join(second)
    assert first != second
    assert text.startswith("The CNN wins: 98.00% against 94.00%") and "4.00 percentage points" in text
    assert other.startswith("The MultiLayerNN wins: 99.50% against 96.00%")
    assert "MultiLayerNN's hardest digit is 8, 84.0% correct, most often taken for 3 (100 times)" in text
    assert "CNN's hardest digit is 5, 86.0% correct, most often taken for 3 (100 times)" in other
    # convergence from the last two epochs' mean loss
    assert "0.200 against 0.300 the epoch before (-33.3%): still falling" in text
    assert "0.100 against 0.100 the epoch before (-0.5%): flat" in text
    assert "0.390 against 0.400 the epoch before (-2.5%): still falling" in other
    # LeCun et al. 1998: 4.7% / 3.05% for the perceptrons, 0.95% for LeNet-5
    assert "test error of 6.00% (it has 2 hidden layers of 512 and 512 units) is 1.3× the 4.7%" in text
    assert "test error of 0.50% (it has 2 hidden layers of 512 and 512 units) is below the 4.7%" in other
    assert "CNN's test error of 2.00% is 2.1× the 0.95% of their LeNet-5" in text
    level = analysis_sentences(numbers("mlp", 0.970, 8, 3, [0.3, 0.2], seeds=3, spread=0.01),
                               numbers("cnn", 0.975, 8, 3, [0.3, 0.2], seeds=3, spread=0.01), "en")
    assert level[0].startswith("The two networks are level")
    assert "accuracy points per 1,000 parameters" not in text
    assert "The CNN has 61,706 parameters, 10.9× fewer than the MultiLayerNN's 669,706, while being more accurate: " \
           "98.00% test accuracy against 94.00%." in text


def test_more_epochs_would_help_only_when_the_training_set_accuracy_says_so():
    """A falling loss alone does not decide it: beside the test accuracy, the training-set accuracy."""
    from dataclasses import replace

    from mnistlab.i18n import texts
    from mnistlab.report.analysis import convergence_sentence

    falling = numbers("cnn", 0.96, 5, 3, [0.5, 0.3, 0.2])
    t = texts("en")
    assert "cannot be told without the training-set accuracy" in convergence_sentence(falling, t)
    assert "(96.50%) is within 0.50 points of its test accuracy (96.00%), so it is not overfitting and more epochs " \
           "would likely help" in convergence_sentence(replace(falling, train_accuracy=[0.965]), t)
    overfit = convergence_sentence(replace(falling, train_accuracy=[0.995]), t)
    assert "is already 3.50 points above its test accuracy (96.00%): more epochs would mostly fit the training " \
           "images better (overfitting)" in overfit and "would likely help" not in overfit


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_bad_input_is_one_clear_error_and_leaves_out_alone(invoke, quick, tmp_path, monkeypatch):
    base, _ = quick
    out = tmp_path / "report"
    shutil.copytree(base / "report", out)
    before = snapshot(out)
    run = {(name, s): tmp_path / f"{name}{s}" for name in lesson_models() for s in (0, 1)}
    for (name, s), folder in run.items():
        shutil.copytree(base / "runs" / f"{name}-practice-seed{s}", folder)

    def fails(paths, match, **kwargs):
        with pytest.raises(MnistlabError, match=match):
            build_report(paths, out, **kwargs)
        assert snapshot(out) == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    (run["mlp", 0] / "history.json").unlink()
    fails([run["mlp", 0], run["cnn", 0]], re.escape(f"{run['mlp', 0] / 'history.json'} is missing; "
                                                    f"`mnistlab train mlp --out {run['mlp', 0]}` makes it"))
    fails([run["mlp", 1], base / "runs" / "mlp-practice-seed0"], "no finished cnn run among the folders given .found 2 mlp runs")
    (run["cnn", 0] / "metrics.json").write_text('{"overall_accuracy": 0.9,')
    fails([run["mlp", 1], run["cnn", 0]], re.escape(f"{run['cnn', 0] / 'metrics.json'} is corrupted"))
    metrics = json.loads((run["cnn", 1] / "metrics.json").read_text())
    del metrics["confusion_matrix"]
    (run["cnn", 1] / "metrics.json").write_text(json.dumps(metrics))
    fails([run["mlp", 1], run["cnn", 1]], "metrics.json is corrupted .no 'confusion_matrix'.; `mnistlab train cnn")
    fails([], "no finished mlp run in", runs_dir=tmp_path / "empty")
    # a failure halfway through (here: while drawing) leaves the old report whole
    monkeypatch.setattr(figures, "plot_confusion", lambda *a, **k: (_ for _ in ()).throw(MnistlabError("disk full")))
    fails([base / "runs" / "mlp-practice-seed0", base / "runs" / "cnn-practice-seed0"], "disk full")

    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("mine")
    with pytest.raises(MnistlabError, match="holds other files and no report"):
        build_report([], stranger, runs_dir=base / "runs")
    assert snapshot(stranger) == {"todo.txt": b"mine"}
    result = invoke("report", run["mlp", 1], "--out", out)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output

@pytest.mark.slow
def test_report_command_replaces_the_report(invoke, quick, mnist_root, tmp_path):
    base, _ = quick
    out = tmp_path / "report"
    result = invoke("report", base / "runs" / "mlp-practice-seed0", base / "runs" / "cnn-practice-seed0",
                    "--out", out, "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert "| Seeds | 0 (1 run per network) |" in (out / "report.md").read_text()
    result = invoke("report", "--runs-dir", base / "runs", "--out", out, "--data-dir", mnist_root)
    assert result.exit_code == 0 and f"report: {out / 'index.html'}" in result.output
    assert "| Seeds | 0, 1 (2 runs per network) |" in (out / "report.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left beside it


@pytest.mark.parametrize("name", lesson_models())
def test_summary_counts_match_pytorch_and_torchinfo(invoke, name):
    result = invoke("summary", name)
    assert result.exit_code == 0, result.output
    model = create_model(name)
    total = sum(p.numel() for p in model.parameters())
    assert total == torchinfo_summary(model, input_size=(1, 1, 28, 28), verbose=0).total_params
    assert f"total parameters: {total:,}" in result.output
    rows = [line.split() for line in result.output.splitlines() if re.match(r"(conv|fc|pool)\d", line)]
    assert sum(int(row[-1].replace(",", "")) for row in rows) == total
    for row in rows:
        layer = getattr(model, row[0])
        assert int(row[-1].replace(",", "")) == sum(p.numel() for p in layer.parameters())
    if name == "cnn":
        assert re.search(r"conv2\s+Conv2d\s+16 × 10 × 10\s+2,400\s+16\s+2,416", result.output)


# --- Spanish ---------------------------------------------------------------------------------------

ENGLISH_WORDS = re.compile(r"\b(the|and|of|against|wins|digit|digits|epoch|epochs|steps|hardest|easiest|"
                           r"loss|trained|images|parameters|network|networks|its|their|below|times)\b")


def spanish_sentences_check(spanish: list[str], english: list[str]) -> None:
    """Each Spanish sentence is a translation: not the English one, and no English word left in it."""
    assert len(spanish) == len(english)
    for es, en in zip(spanish, english):
        assert es != en
        assert not ENGLISH_WORDS.search(es.replace("`mnistlab run --seeds 3`", "")), es


def test_analysis_in_spanish_follows_the_numbers():
    mlp, cnn = numbers("mlp", 0.94, 8, 3, [0.5, 0.3, 0.2]), numbers("cnn", 0.98, 4, 9, [0.2, 0.1, 0.0995])
    spanish = analysis_sentences(mlp, cnn, "es")
    spanish_sentences_check(spanish, analysis_sentences(mlp, cnn, "en"))
    text = " ".join(spanish)
    assert text.startswith("Gana la CNN: 98,00\u00a0% de accuracy en prueba frente al 94,00\u00a0% "
                           "del MultiLayerNN")
    assert "El dígito más difícil del MultiLayerNN es el 8, con un 84,0\u00a0% de aciertos, confundido sobre todo " \
           "con el 3 (100 veces)" in text
    assert "El dígito más difícil de la CNN es el 4" in text
    assert "0,200, frente a 0,300 en la época anterior (-33,3\u00a0%): todavía bajaba" in text
    assert "un 6,00\u00a0% (tiene 2 capas ocultas de 512 y 512 unidades), es 1,3 veces el 4,7\u00a0%" in text
    assert "La CNN tiene 61.706 parámetros, 10,9 veces menos que los 669.706 del MultiLayerNN" in text
    # singular and plural through ngettext: behind on one digit, then on two
    behind_on_one = analysis_sentences(numbers("mlp", 0.94, 8, 3, [0.3, 0.2]), numbers("cnn", 0.96, 5, 3, [0.3, 0.2]), "es")
    assert "queda por detrás en 1 dígito: 5 (-8,0)" in behind_on_one[1]
    level = analysis_sentences(numbers("mlp", 0.970, 8, 3, [0.3, 0.2], seeds=3, spread=0.01),
                               numbers("cnn", 0.975, 8, 3, [0.3, 0.2], seeds=3, spread=0.01), "es")
    assert level[0].startswith("Las dos redes están empatadas: la CNN tiene un 97,50\u00a0% ± 1,00 de accuracy en prueba")


def section(markdown: str, number: int) -> str:
    return markdown.split(f"\n## {number}. ")[1].split("\n## ")[0]


def test_spanish_report_from_the_locale(quick, mnist_root, tmp_path, monkeypatch):
    """LANG=es_ES.UTF-8 and the runs of the English report: the same report, in Spanish."""
    base, _ = quick
    labels = []
    save = figures.save_figure

    def record(fig, path):
        labels.extend(text for ax in fig.axes for text in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
        fig.canvas.draw()  # tick labels exist once drawn
        labels.extend(tick.get_text() for ax in fig.axes for tick in ax.get_xticklabels() + ax.get_yticklabels())
        return save(fig, path)

    monkeypatch.setattr(figures, "save_figure", record)
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    page_path = build_report([], tmp_path / "informe", base / "runs", mnist_root)
    page, markdown = page_path.read_text(), (tmp_path / "informe" / "report.md").read_text()
    english = (base / "report" / "report.md").read_text()
    assert '<html lang="es">' in page
    for number, title in enumerate(["Configuración", "Resultados", "Dónde fallan", "Entrenamiento", "Parámetros",
                                    "Tamaños de las capas de la CNN", "Análisis"], 1):
        assert f"<h2>{number}. {title}</h2>" in page and f"## {number}. {title}" in markdown
    for text in (page, markdown):
        assert "669.706" in text and "61.706" in text and "10,9 veces" in text and "669,706" not in text
    for seed in (0, 1):
        accuracies = [f"{metrics_of(base, name, seed)['overall_accuracy'] * 100:.2f}".replace(".", ",") + "\u00a0%"
                      for name in lesson_models()]
        assert f"| semilla {seed} | {accuracies[0]} | {accuracies[1]} |" in markdown
    # the analysis: one Spanish paragraph for each English one, none of them English
    spanish_sentences_check(section(markdown, 7).strip().split("\n\n"), section(english, 7).strip().split("\n\n"))
    assert not re.search(r"\| (test accuracy|digit|parameters|value|layer) \|", markdown)
    # the figures: drawn with Spanish labels
    assert "dígito predicho" in labels and "época" in labels and "predicted digit" not in labels
    ticks = [label for label in labels if re.fullmatch(r"[\d.,−-]+", label)]
    assert any("," in tick for tick in ticks) and not any("." in tick for tick in ticks)  # a decimal comma


def test_lang_en_gives_the_english_report_whatever_the_locale(invoke, quick, mnist_root, tmp_path, monkeypatch):
    base, _ = quick
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    result = invoke("report", "--lang", "en", "--runs-dir", base / "runs", "--out", tmp_path / "r",
                    "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    english, again = ((folder / "report.md").read_text().split("\n") for folder in (base / "report", tmp_path / "r"))
    assert english[0] == again[0] == "# mnistlab report: MultiLayerNN vs CNN"
    assert english[3:] == again[3:]  # all but the line with the date
    assert '<html lang="en">' in (tmp_path / "r" / "index.html").read_text()
    result = invoke("report", "--lang", "xx", "--runs-dir", base / "runs", "--out", tmp_path / "r")
    assert result.exit_code == 1 and result.output == "mnistlab: error: --lang must be one of en, es (got 'xx')\n"


def comparable_folder(runs, name, model, steps, recipe="practice", max_steps=None, age=0):
    """A fake finished run with `steps` steps (capped at `max_steps`), `age` seconds old."""
    import os

    from helpers import write_fake_run

    folder = write_fake_run(runs / name, model)
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    config.update(recipe=recipe, max_steps=max_steps)
    metrics.update(recipe=recipe, steps=steps)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    stamp = (folder / "metrics.json").stat().st_mtime - age
    os.utime(folder / "metrics.json", (stamp, stamp))
    return folder


def test_the_report_picks_comparable_runs_or_says_how_they_differ(tmp_path):
    """The latest cnn run is a 200-step one and the latest mlp one saw 1,585 steps: the report takes
    the newest pair trained alike instead, and says so plainly when no pair is."""
    from mnistlab.i18n import texts
    from mnistlab.report.build import difference_note, select_runs

    runs = tmp_path / "runs"
    comparable_folder(runs, "mlp-full", "mlp", 9380, age=300)
    comparable_folder(runs, "cnn-full", "cnn", 9380, age=200)
    comparable_folder(runs, "mlp-quick", "mlp", 1585, max_steps=1585, age=100)
    comparable_folder(runs, "cnn-quick", "cnn", 200, max_steps=200, age=0)
    groups = select_runs([], runs)
    assert {name: [r.path.name for r in g] for name, g in groups.items()} == {"mlp": ["mlp-full"], "cnn": ["cnn-full"]}

    for name in ("mlp-full", "cnn-full"):
        shutil.rmtree(runs / name)
    groups = select_runs([], runs)
    assert [g[0].path.name for g in groups.values()] == ["mlp-quick", "cnn-quick"]
    networks = [Network(name, [0.5], [[0.5] * 10], [[1] * 10] * 10, [2.3], [], 938, [], runs=g)
                for name, g in groups.items()]
    note = difference_note(networks, texts("en"))
    assert note.startswith("These runs were not trained alike (MultiLayerNN: recipe practice, 1,585 steps "
                           "(1.69 epochs, 101,408 training images seen); CNN: recipe practice, 200 steps "
                           "(0.21 epochs, 12,800 training images seen))")
    assert "not which one is better" in note
    assert difference_note(networks[:1] * 2, texts("en")) is None


def test_found_runs_are_counted_in_plain_words(tmp_path):
    comparable_folder(tmp_path / "runs", "mlp-a", "mlp", 1)
    with pytest.raises(MnistlabError, match=r"\(found 1 mlp run\); .*or give the practice's weights with --cnn FILE"):
        build_report([], tmp_path / "report", tmp_path / "runs")
    with pytest.raises(MnistlabError, match=r"no finished mlp run in .* \(found no run\)"):
        build_report([], tmp_path / "report", tmp_path / "empty")


@pytest.mark.slow
def test_a_report_from_the_practices_own_files_says_what_it_cannot_know(invoke, practice_files, mnist_root, tmp_path):
    result = invoke("report", "--mlp", practice_files["mlp"], "--cnn", practice_files["cnn"], "--out",
                    tmp_path / "report", "--runs", tmp_path / "no-runs", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "report.md").read_text()
    for said in ("Not necessarily like for like: MultiLayerNN and CNN come from .pth files whose training is unknown",
                 "| Recipe | unknown: a .pth file holds only the weights |",
                 f"the weights file `{practice_files['cnn']}`, evaluated here on the test and training images",
                 "MultiLayerNN: no loss history. A .pth file holds only the weights",
                 "| training time (s) | — | — |", "| training steps | — | — |", "| training-set accuracy | "):
        assert said in markdown, said
    assert "loss_comparison.png" not in markdown and not (tmp_path / "report" / "loss_mlp.png").exists()
    assert "Over the MultiLayerNN's last epoch" not in markdown  # no history: no convergence sentence
