"""The studio's lab controls in a real Chromium: moving, rotating and un-centring the drawing changes
what the networks see and their answers, the confidence-while-sliding chart has a line per network,
and the pixel-permuted networks can be chosen, their inside view showing the scrambled input."""

import pytest
from playwright.sync_api import expect

from helpers import draw, settled
from mnistlab.web.app import create_app
from mnistlab.web.server import running

pytestmark = pytest.mark.browser

CENTRE_X = """() => {  // the ink's mean column in the 28×28 preview of what the networks see
    const data = document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data;
    let mass = 0, moment = 0;
    for (let i = 0; i < 28 * 28; i++) { mass += data[4 * i]; moment += data[4 * i] * (i % 28); }
    return moment / mass; }"""


def answered(page, text: str):
    settled(page)
    expect(page.locator("#status")).to_contain_text("Answered", timeout=20_000)
    expect(page.locator("output[for=lab-dx]")).to_have_text(text)


def test_lab_controls_move_the_drawing_and_swap_in_the_permuted_networks(lab_runs, browser, artifacts):
    with running(create_app(runs_dir=lab_runs)) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 1000}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.")
        expect(page.locator("#lab-variant-row")).to_be_visible()  # lab_runs has both permuted networks
        draw(page)
        for name in ("mlp", "cnn"):
            expect(page.locator(f"#network-{name} .digit")).to_have_text("7", timeout=20_000)
        expect(page.locator("#lab-chart polyline")).to_have_count(2)
        expect(page.locator("#lab-legend")).to_contain_text("CNN: 7")
        expect(page.locator("#inside-cnn .lab-input .layer-sub")).to_have_text("what this network sees")
        settled(page)
        at_rest = page.evaluate(CENTRE_X)

        page.locator("#lab-dx").fill("6")
        page.wait_for_function(f"() => ({CENTRE_X})() > {at_rest + 4}", timeout=20_000)
        answered(page, "6 px")
        page.locator("#lab-angle").fill("45")
        expect(page.locator("output[for=lab-angle]")).to_have_text("45°")
        page.locator("#lab-centre").uncheck()
        answered(page, "6 px")
        page.screenshot(path=str(artifacts / "studio-lab-moved.png"), full_page=True)

        page.click("#lab-reset")
        page.wait_for_function(f"() => Math.abs(({CENTRE_X})() - {at_rest}) < 0.5", timeout=20_000)
        page.select_option("#lab-variant", "permuted")
        expect(page.locator("#network-cnn .lab-badge")).to_be_visible(timeout=20_000)
        expect(page.locator("#inside-cnn .lab-input .layer-sub")).to_have_text("what it sees: the pixels scrambled")
        expect(page.locator("#lab-chart polyline")).to_have_count(2)
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "studio-lab-permuted.png"), full_page=True)
        page.select_option("#lab-variant", "plain")
        expect(page.locator("#network-cnn .lab-badge")).to_be_hidden(timeout=20_000)
        page.close()


def test_without_permuted_runs_there_is_no_choice(quick_runs, browser):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(locale="es-ES")
        page.goto(url)
        expect(page.locator("#lab legend")).to_have_text("Mover el dibujo")
        expect(page.locator("#lab-dx")).to_be_visible()
        expect(page.locator("#lab-variant-row")).to_be_hidden()
        page.close()
