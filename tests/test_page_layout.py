"""The studio page on a phone and on a desktop, in a real Chromium: it fits 360-390 px with touch
drawing and tooltips on screen and keeps its desktop layout at 1280 px; a small drawing gets a pen in
proportion and a note; Clear and a failed load behave; training survives a reload and Stop says it
stopped; a typed seed reaches config.json exactly."""

import json
import re
import shutil

import pytest
from playwright.sync_api import expect

from helpers import SEVEN, draw, settled
from mnistlab.nets.models import MODELS
from mnistlab.web.app import create_app
from mnistlab.web.server import running

pytestmark = pytest.mark.browser

ERROR = re.compile(r"\berror\b")  # the class of a status line that reports an error
LARGEST_SEED = str(2**64 - 1)  # above 2^53: Number() would send 18446744073709552000


def touch_draw(page, strokes=SEVEN):
    """Draw `strokes` (canvas pixels) with a finger: real touch input through the DevTools protocol,
    which the page receives as pointer events of type touch."""
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [{"x": box["x"] + x * scale, "y": box["y"] + y * scale} for x, y in stroke]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
        for a, b in zip(points, points[1:]):
            for i in range(1, 9):
                step = {"x": a["x"] + (b["x"] - a["x"]) * i / 8, "y": a["y"] + (b["y"] - a["y"]) * i / 8}
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [step]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def inside_viewport(page, selector: str) -> bool:
    return page.eval_on_selector(selector, """el => { const box = el.getBoundingClientRect();
        return box.left >= 0 && box.right <= document.documentElement.clientWidth; }""")


@pytest.mark.parametrize("width", [390, 360])
def test_the_page_fits_a_phone_and_draws_by_touch(quick_runs, browser, artifacts, width):
    with running(create_app(runs_dir=quick_runs)) as url:
        context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True,
                                      locale="en-US")
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        expect(page.locator("#filters-conv2 canvas")).to_have_count(16 * 6)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for selector in ("#pad", ".drawing .hint", "#clear", "#filters-conv2", "#train-start", "#train-stop"):
            assert inside_viewport(page, selector), selector

        page.evaluate("""window.pointerTypes = [];
            document.getElementById('pad').addEventListener('pointermove', e => pointerTypes.push(e.pointerType));""")
        touch_draw(page)
        scrolled = page.evaluate("window.scrollY")
        expect(page.locator("#network-cnn .digit")).to_have_text("7", timeout=15_000)
        expect(page.locator("#network-mlp .digit")).to_have_text("7")
        assert set(page.evaluate("pointerTypes")) == {"touch"}
        assert page.evaluate("window.scrollY") == scrolled  # the finger drew; it did not scroll the page
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        for layer in page.locator("#inside-networks .layer:has(.explain)").all():  # a tap (focus) shows the explanation, on screen
            layer.focus()
            explain = layer.locator(".explain")
            expect(explain).to_be_visible()
            box = explain.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, layer.get_attribute("data-layer")
        page.evaluate("document.activeElement.blur()")
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / f"studio-phone-{width}.png"), full_page=True)
        context.close()


def contrast(page, selector: str) -> list[float]:
    """WCAG contrast ratio of each element's text colour against its background colour."""
    return page.eval_on_selector_all(selector, """els => els.map(el => {
        const channels = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => v / 255)
            .map(s => s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4);
        const luminance = c => { const [r, g, b] = channels(c); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const style = getComputedStyle(el);
        const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05); })""")


def test_the_desktop_layout_is_as_before(quick_runs, browser, artifacts):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        expect(page.locator(".train-status")).to_be_hidden()  # no empty progress bar before any training
        # the drawing, what the networks see and the answers side by side; the inside view below, full width
        drawing, seen, answers = (page.locator(s).bounding_box() for s in (".drawing", ".seen", "#networks"))
        assert drawing["y"] == seen["y"] == answers["y"]
        assert drawing["x"] + drawing["width"] < seen["x"] < seen["x"] + seen["width"] < answers["x"]
        inside = page.locator("#inside").bounding_box()
        assert inside["y"] > drawing["y"] + drawing["height"] and inside["width"] > 1000
        assert [o.text_content() for o in page.locator("#train-form select[name=model] option").all()] == \
            [entry.display_name for entry in MODELS.values()]  # the display names come from /api/info

        draw(page)
        expect(page.locator("#network-cnn .digit")).to_have_text("7", timeout=15_000)
        expect(page.locator("#inside-cnn .layer[data-layer=fc3] .out.top")).to_have_text("7")
        assert min(contrast(page, "#inside-networks .out")) >= 3  # WCAG's floor for bold or large text
        assert min(contrast(page, "#inside-networks .out.top")) >= 7  # the winner was white on pale yellow
        expect(page.locator("#inside-cnn .layer[data-layer=conv1] .map-index")).to_have_text([str(k) for k in range(1, 7)])
        expect(page.locator("#filters-conv1 .filter-index")).to_have_text([str(k) for k in range(1, 7)])
        expect(page.locator("#filters-conv2 .filter-index")).to_have_count(16)
        expect(page.locator(".scale-bar")).to_have_count(2)
        hint = page.locator("#training > .hint")
        assert "`" not in hint.text_content()
        expect(hint.locator("code")).to_have_text("mnistlab train")

        page.keyboard.press("Tab")  # keyboard focus on a layer keeps a visible ring
        page.locator("#inside-cnn .layer[data-layer=conv2]").focus()
        assert page.eval_on_selector("#inside-cnn .layer[data-layer=conv2]", "el => getComputedStyle(el).outlineStyle") != "none"
        page.evaluate("document.activeElement.blur()")
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "studio-1280.png"), full_page=True)
        page.close()


def ink(page) -> int:
    """How many of the 28×28 pixels the networks received are brighter than half."""
    return page.evaluate("""() => { const data = document.getElementById('preview').getContext('2d')
        .getImageData(0, 0, 28, 28).data; let n = 0; for (let i = 0; i < data.length; i += 4) n += data[i] > 128; return n; }""")


def test_a_small_drawing_gets_a_pen_in_proportion_and_a_note(quick_runs, browser):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        draw(page)
        expect(page.locator("#status")).to_contain_text("Answered", timeout=15_000)
        settled(page)
        expect(page.locator("#pad-note")).to_be_hidden()
        large = ink(page)
        page.click("#clear")
        small_seven = [[(200 + x / 4, 190 + y / 4) for x, y in stroke] for stroke in SEVEN]  # in a corner
        draw(page, small_seven)
        expect(page.locator("#pad-note")).to_be_visible(timeout=15_000)
        expect(page.locator("#pad-note")).to_contain_text("draw it larger")
        expect(page.locator("#status")).to_contain_text("Answered", timeout=15_000)
        settled(page)
        # With the fixed 24 px pen the small 7 reached the networks as a blob, several times the ink.
        assert 0.6 * large <= ink(page) <= 1.5 * large, (ink(page), large)
        assert page.evaluate("document.getElementById('pad').getContext('2d').lineWidth") < 10
        page.click(".lang-switch [data-lang=es]")
        expect(page.locator("#pad-note")).to_contain_text("más grande")
        page.close()


def test_clear_while_a_drawing_is_on_its_way_sends_nothing_more(quick_runs, browser):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.add_init_script(r"""window.insideCalls = 0;
            window.insideEnded = 0;
            const realFetch = window.fetch;
            window.fetch = async (url, options) => {
              if (options?.method !== 'POST' || !/\/api\/(inside|lab)/.test(String(url))) return realFetch(url, options);
              window.insideCalls += 1;
              try {
                await new Promise(resolve => {  // a slow server: 20 s, or until the page gives up on it
                  const timer = setTimeout(resolve, 20000);
                  options?.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); });
                });
                return await realFetch(url, options);
              } finally { window.insideEnded += 1; }
            };""")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        draw(page)  # the first request leaves while the stroke goes on: the rest of the stroke waits for it
        assert page.evaluate("insideCalls") == 1
        page.click("#clear")
        page.wait_for_function("insideEnded >= 1", timeout=30_000)  # the request in flight is over ...
        page.wait_for_timeout(1000)
        assert page.evaluate("insideCalls") == 1  # ... and the blank pad was not sent after it
        expect(page.locator("#status")).to_have_text("Draw a digit.")
        expect(page.locator("#network-cnn .digit")).to_have_text("\u2013")
        page.close()


def test_a_failed_load_is_tried_again_and_the_training_panel_still_works(quick_runs, browser):
    failures = []

    def fail_twice(route):
        if len(failures) < 2:
            failures.append(route.request.url)
            route.fulfill(status=503, content_type="text/plain", body="starting")
        else:
            route.continue_()

    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.route("**/api/info", fail_twice)
        page.goto(url)
        expect(page.locator("#status")).to_contain_text("Trying again in 3 s.", timeout=20_000)
        expect(page.locator("#status")).to_have_class(ERROR)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        expect(page.locator("#status")).not_to_have_class(ERROR)
        assert page.locator("#status").get_attribute("title") is None  # the error's tooltip went with it
        assert len(failures) == 2
        expect(page.locator("#train-form select[name=model] option")).to_have_count(len(MODELS))
        expect(page.locator("#train-start")).to_be_enabled()
        page.close()


def test_images_per_second_is_smoothed_and_chart_numbers_follow_the_language(quick_runs, browser):
    with running(create_app(runs_dir=quick_runs)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        # Step events as a loaded machine sent them: 18, 103-1,769 and 14,320 images/s within one run.
        events = [(64, 18), (640, 103), (640, 1769), (6400, 14320), (1280, 1500), (1280, 1700), (1280, 1600)]
        rates = page.evaluate("""async events => {
            const { Throughput } = await import('/static/train.js');
            const speed = new Throughput(3);
            return events.map(([images, rate]) => speed.add(images, rate)); }""", events)
        assert rates[0] == pytest.approx(18)
        # the last 3 s: the three last events (2.4 s), the 14,320 one (0.45 s) and the 1,769 one (0.36 s)
        window = events[2:]
        assert rates[-1] == pytest.approx(sum(i for i, _ in window) / sum(i / r for i, r in window))
        assert 1500 < rates[-1] < 14320
        ticks = "import('/static/train.js').then(m => m.axisNumbers(null, [0, 0.5, 1]).concat(m.axisNumbers(null, [0, 10000])))"
        assert page.evaluate(ticks) == ["0.0", "0.5", "1.0", "0", "10,000"]
        page.click(".lang-switch [data-lang=es]")
        expect(page.locator("#clear")).to_have_text("Borrar")
        assert page.evaluate(ticks) == ["0,0", "0,5", "1,0", "0", "10.000"]
        page.close()


@pytest.mark.slow
def test_a_reload_mid_training_shows_its_settings_and_stop_says_it_stopped(quick_runs, tmp_path, browser,
                                                                           artifacts, mnist_root):
    runs = tmp_path / "runs"
    shutil.copytree(quick_runs, runs)
    with running(create_app(runs_dir=runs, data_dir=mnist_root)) as url:
        page = browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        page.select_option("#train-form select[name=model]", "cnn")
        page.select_option("#train-form select[name=recipe]", "tuned")
        page.fill("#train-form input[name=seed]", LARGEST_SEED)
        page.fill("#train-form input[name=max_steps]", "3000")  # over the tuned CNN's one epoch (938 steps)
        page.click("#train-start")
        expect(page.locator("#train-steps")).to_contain_text("of 3,000", timeout=120_000)
        expect(page.locator("#train-speed")).to_contain_text("images/s")

        page.reload()
        form = page.locator("#train-form")
        expect(page.locator("#train-steps")).to_contain_text("of 3,000", timeout=30_000)
        expect(form.locator("select[name=model]")).to_have_value("cnn")
        expect(form.locator("select[name=recipe]")).to_have_value("tuned")
        expect(form.locator("input[name=seed]")).to_have_value(LARGEST_SEED)
        expect(form.locator("input[name=max_steps]")).to_have_value("3000")
        expect(form.locator("input[name=epochs]")).to_have_value("4")  # as many epochs as the cap needs
        expect(page.locator("#train-stop")).to_be_enabled()
        job_run = json.loads(page.evaluate("fetch('/api/train').then(r => r.text())"))["job"]["run"]

        page.route("**/api/train/*", lambda route: route.fulfill(status=503, body="busy")
                   if route.request.method == "DELETE" else route.continue_())
        page.click("#train-stop")  # a failed Stop says so and can be tried again
        expect(page.locator("#train-message")).to_have_class(ERROR)
        expect(page.locator("#train-stop")).to_be_enabled()
        page.unroute("**/api/train/*")
        page.click("#train-stop")
        message = page.locator("#train-message")
        expect(message).to_have_text("Stopped. The unfinished run was removed.", timeout=30_000)
        page.wait_for_timeout(1500)  # the stream's end must not turn it into a connection error
        expect(message).to_have_text("Stopped. The unfinished run was removed.")
        expect(message).not_to_have_class(ERROR)
        expect(page.locator("#train-start")).to_be_enabled()
        assert not (runs / job_run.split("/")[-1]).exists()
        page.screenshot(path=str(artifacts / "studio-phone-stopped.png"), full_page=True)
        page.close()


@pytest.mark.slow
def test_a_typed_seed_reaches_config_json_exactly(quick_runs, tmp_path, browser, mnist_root):
    runs = tmp_path / "runs"
    shutil.copytree(quick_runs, runs)
    with running(create_app(runs_dir=runs, data_dir=mnist_root)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Draw a digit.", timeout=20_000)
        page.select_option("#train-form select[name=model]", "mlp")
        page.select_option("#train-form select[name=recipe]", "practice")
        page.fill("#train-form input[name=seed]", LARGEST_SEED)
        page.fill("#train-form input[name=max_steps]", "2")
        page.click("#train-start")
        expect(page.locator("#train-message")).to_contain_text("Done:", timeout=300_000)
        row = page.locator("#train-epochs tbody tr")
        expect(row.locator("td").nth(1)).to_have_text("2")  # a 2-step run says its steps, not just "epoch 1"
        folder = page.locator("#train-message").get_attribute("data-run").split("/")[-1]
        config = json.loads((runs / folder / "config.json").read_text())
        assert config["seed"] == 2**64 - 1 and config["max_steps"] == 2
        loss = row.locator("td").nth(2).text_content()
        page.click(".lang-switch [data-lang=es]")  # the table's numbers follow the language
        expect(row.locator("td").nth(2)).to_have_text(loss.replace(".", ","))
        page.close()
