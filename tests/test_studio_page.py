"""The studio page in a real Chromium: drawing a 7 lights up every layer of both networks and shows the
learned filters, a short training from the page draws its loss and accuracy and then the page answers
with the new network, and the page speaks Spanish or English as the browser asks, with a switch."""

import base64
import shutil

import httpx
import pytest
from playwright.sync_api import expect

from helpers import draw
from mnistlab.web.app import create_app
from mnistlab.web.server import running

pytestmark = pytest.mark.browser


def lit(page, selector: str) -> int:
    """How many of the canvases matching `selector` show some activation (the colour ramp starts black)."""
    return page.eval_on_selector_all(selector, """canvases => canvases.filter(c => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return data.some((v, i) => i % 4 === 0 && v > 40); }).length""")


def coloured(page, selector: str) -> int:
    """How many of the canvases matching `selector` have a red or blue pixel (a filter weight far from 0)."""
    return page.eval_on_selector_all(selector, """canvases => canvases.filter(c => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return data.some((v, i) => i % 4 === 0 && Math.abs(v - data[i + 2]) > 60); }).length""")


def test_drawing_shows_every_layer_and_the_filters(quick_runs, browser, artifacts):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.")
        expect(page.locator("#filters-conv1 canvas")).to_have_count(6)
        expect(page.locator("#filters-conv2 canvas")).to_have_count(16 * 6)
        conv1 = page.locator("#inside-cnn .layer[data-layer=conv1] canvas.map")
        conv2 = page.locator("#inside-cnn .layer[data-layer=conv2] canvas.map")
        expect(conv1).to_have_count(6)
        expect(conv2).to_have_count(16)
        expect(page.locator("#inside-cnn .layer[data-layer=conv1] .shape")).to_have_text("6 × 28 × 28")
        expect(page.locator("#inside-mlp .layer[data-layer=fc1] .shape")).to_have_text("512")
        assert lit(page, "#inside-cnn canvas.map") == 0

        draw(page)
        for name in ("mlp", "cnn"):
            expect(page.locator(f"#network-{name} .digit")).to_have_text("7", timeout=15_000)
            expect(page.locator(f"#inside-{name} .layer[data-layer=fc3] .out.top")).to_have_text("7")
        assert lit(page, "#inside-cnn .layer[data-layer=conv1] canvas.map") >= 4
        assert lit(page, "#inside-cnn .layer[data-layer=conv2] canvas.map") >= 4
        assert lit(page, "#inside-mlp .layer:not(.lab-input) canvas.map") == 2  # fc1, fc2 (the lab's input column aside)
        assert coloured(page, "#filters-conv1 canvas") == 6 and coloured(page, "#filters-conv2 canvas") >= 48

        page.hover("#inside-cnn .layer[data-layer=conv2]")
        explain = page.locator("#inside-cnn .layer[data-layer=conv2] .explain")
        expect(explain).to_be_visible()
        expect(explain).to_contain_text("O = (W − F + 2P) / S + 1")
        expect(explain).to_contain_text("O = (14 − 5 + 2·0) / 1 + 1 = 10")
        expect(explain).to_contain_text("2,400 weights (16 × 6 × 5 × 5) + 16 biases = 2,416")
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "studio-inside.png"), full_page=True)

        page.click("#clear")
        expect(page.locator("#network-cnn .digit")).to_have_text("\u2013")
        assert lit(page, "#inside-cnn canvas.map") == 0
        page.close()


@pytest.mark.slow
def test_training_from_the_page_then_answering_with_the_new_network(quick_runs, tmp_path, browser, artifacts, mnist_root):
    runs = tmp_path / "runs"
    shutil.copytree(quick_runs, runs)
    with running(create_app(runs_dir=runs, data_dir=mnist_root)) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.")
        page.select_option("#train-form select[name=model]", "cnn")
        page.select_option("#train-form select[name=recipe]", "tuned")
        page.fill("#train-form input[name=max_steps]", "200")
        page.click("#train-start")
        expect(page.locator("#train-stop")).to_be_enabled()
        chart = page.locator("#train-chart")
        page.wait_for_function("Number(document.getElementById('train-chart').dataset.points || 0) > 0",
                               timeout=120_000)
        first = int(chart.get_attribute("data-points"))
        accuracy = page.locator("#train-epochs td.accuracy")
        expect(accuracy).to_have_count(1, timeout=300_000)
        assert int(chart.get_attribute("data-points")) == 200 > first  # the chart grew to every step
        expect(accuracy).to_contain_text("%")
        expect(page.locator("#train-message")).to_contain_text("Done:", timeout=60_000)
        expect(page.locator("#train-start")).to_be_enabled()

        new_run = page.locator("#train-message").get_attribute("data-run")
        folder = new_run.split("/")[-1]
        assert folder.startswith("cnn-tuned-seed0-") and (runs / folder / "metrics.json").exists()
        # the new run is offered, not swapped in: the page answers with it once it is chosen
        expect(page.locator("#network-cnn .network-meta")).not_to_contain_text(folder)
        page.click("#train-use")
        expect(page.locator("#network-cnn .network-meta")).to_contain_text(folder)

        draw(page)
        expect(page.locator("#network-cnn .digit")).to_have_text("7", timeout=15_000)
        drawing = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
        png = base64.b64decode(drawing.split(",", 1)[1])
        answer = httpx.post(url + "api/inside", content=png, headers={"Content-Type": "image/png"}).json()
        shown = page.eval_on_selector_all("#network-cnn .bar", "bars => bars.map(b => b.title)")
        assert shown[answer["networks"]["cnn"]["digit"]].startswith(f"{answer['networks']['cnn']['digit']}: ")
        top = max(answer["networks"]["cnn"]["probabilities"])
        expect(page.locator("#network-cnn .confidence")).to_have_text(f"{100 * top:.1f}% sure")
        page.wait_for_timeout(400)
        page.screenshot(path=str(artifacts / "studio.png"), full_page=True)
        page.close()


def test_the_page_speaks_the_browsers_language_and_switches(quick_runs, browser):
    with running(create_app(runs_dir=quick_runs)) as url:
        spanish = browser.new_context(locale="es-ES")
        page = spanish.new_page()
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Dibuja un dígito.")
        assert page.evaluate("document.documentElement.lang") == "es"
        expect(page.locator("#clear")).to_have_text("Borrar")
        expect(page.locator("#train-start")).to_have_text("Empezar")
        draw(page)
        expect(page.locator("#network-cnn .confidence")).to_contain_text(" %", timeout=15_000)  # 97,3 %

        page.click(".lang-switch [data-lang=en]")
        expect(page.locator("#clear")).to_have_text("Clear")
        assert page.evaluate("document.documentElement.lang") == "en"
        expect(page.locator("#network-cnn .confidence")).to_contain_text("% sure")
        page.reload()  # the choice is remembered
        expect(page.locator("#clear")).to_have_text("Clear")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.click(".lang-switch [data-lang=es]")
        expect(page.locator("#clear")).to_have_text("Borrar")
        assert page.evaluate("document.documentElement.lang") == "es"
        expect(page.locator(".lang-switch [data-lang=es]")).to_have_attribute("aria-pressed", "true")
        spanish.close()

        english = browser.new_context(locale="en-US")
        page = english.new_page()
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.")
        assert page.evaluate("document.documentElement.lang") == "en"
        expect(page.locator("#inside h2")).to_have_text("Inside the networks")
        english.close()
