"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

The app is served on a free localhost port; the page is used as a person would (choose
a cancer, type a seed, click Run, move the time slider), and what it shows is checked
against the library's own result for the same scenario and seed. A screenshot goes to
``out/screenshots/dashboard.png``.

Chromium comes from Debian (``make test`` installs it as root); Playwright cannot
download its own browsers here. Without /usr/bin/chromium the tests are skipped, unless
``CI`` is ``"true"``: then they fail.
"""

import os
import time
import urllib.request
from pathlib import Path

import pytest

from metacascade import simulate
from metacascade.clinic.course import follow
from metacascade.dashboard.runs import DRAWS, SCANS
from metacascade.scenario import Scenario

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "out" / "screenshots" / "dashboard.png"
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    reason = (f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root) "
              "to run the dashboard's browser tests")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("panel")


@pytest.fixture(scope="module")
def url():
    from metacascade.dashboard import free_port, serve

    port = free_port()
    server = serve(port=port, show=False, threaded=True, verbose=False)
    address = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(address, timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)
    yield address
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1500, "height": 1150})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator('#mc-status[data-state="idle"]').wait_for()
    yield page
    context.close()


def _run(page, number):
    page.locator(".mc-run button").click()
    page.locator(f'#mc-status[data-run="{number}"]:not([data-state="running"])'
                 ':not([data-state="idle"])').wait_for()
    return page.locator("#mc-status").get_attribute("data-state")


def _value(page, element_id):
    return page.locator(f"#{element_id}").get_attribute("data-value")


def _tap_slider(page, fraction, shown_day):
    """Tap the time slider's track at ``fraction`` of its width; the day it then shows."""
    # noUiSlider ignores taps while the handle still slides from the last one (300 ms).
    page.locator(".mc-day-slider .noUi-state-tap").wait_for(state="detached")
    track = page.locator(".mc-day-slider .noUi-target").bounding_box()
    page.mouse.click(track["x"] + max(fraction * track["width"], 1.0),
                     track["y"] + track["height"] / 2)
    caption = page.locator(f'#mc-day:not([data-day="{shown_day}"])')
    caption.wait_for()
    return int(caption.get_attribute("data-day"))


def _library_run(cancer, seed):
    """The library's own result and course for the dashboard's scenario."""
    scenario = Scenario.from_dict({
        "cancer": cancer, "seed": seed, "horizon_years": 10.0,
        "clinic": {"scans": [dict(s) for s in SCANS], "draws": [dict(d) for d in DRAWS]}})
    result = simulate(scenario)
    return result, follow(result, scenario)


def _lesions(result, course, day):
    return int((result.model.diameter_mm(course.cells_at(result, day)[1:]) >= 0.2).sum())


def test_a_run_shows_the_library_s_numbers_and_the_slider_moves_the_body_map(page):
    page.locator(".mc-cancer select").select_option("colon")
    seed = page.locator(".mc-seed input")
    seed.fill("3")
    seed.press("Enter")
    sync_api.expect(page.locator(".mc-body select")).to_have_value("adult_male")
    assert _run(page, 1) == "done"

    result, course = _library_run("colon", 3)
    draws = course.draws()
    arm = draws[draws["site"] == "arm_vein"]
    assert _value(page, "mc-num-seed") == "3"
    assert _value(page, "mc-num-colonies") == str(len(result.colonies))
    assert _value(page, "mc-num-macrometastases") == str(len(result.macrometastases()))
    assert _value(page, "mc-num-metastases_detected") == str(len(course.detected - {0}))
    assert _value(page, "mc-num-m1_day") == str(course.first_detection_day or "")
    assert _value(page, "mc-num-last_ctc") == str(int(arm["count"].iloc[-1]))
    assert page.locator("#mc-num-colonies .mc-value").inner_text() == f"{len(result.colonies):,}"

    caption = page.locator("#mc-day")
    body_map = page.locator(".mc-body-map img")
    last_day = int(course.end_day)
    assert caption.get_attribute("data-day") == str(last_day)
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, last_day))
    at_end = body_map.get_attribute("src")
    assert at_end.startswith("data:image/png;base64,")

    day = _tap_slider(page, 0.6, last_day)
    assert 0.5 * last_day < day < 0.7 * last_day
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, day))
    assert _lesions(result, course, day) < _lesions(result, course, last_day)
    assert body_map.get_attribute("src") != at_end

    early = _tap_slider(page, 0.0, day)
    assert early < 0.02 * last_day
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, early))
    late = _tap_slider(page, 0.97, early)
    assert 0.95 * last_day < late < last_day
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, late))

    page.locator(".mc-ctc img").wait_for()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_zero_horizon_shows_a_message_in_the_page(page):
    horizon = page.locator(".mc-horizon input")
    horizon.fill("0")
    horizon.press("Enter")
    assert _run(page, 0) == "error"
    message = page.locator("#mc-alert-message")
    assert message.is_visible()
    assert "horizon_years" in message.inner_text()
    assert "Traceback" not in page.content()
    assert page.locator(".mc-run button").is_enabled()


def test_a_cohort_runs_and_a_large_one_can_be_cancelled(page):
    page.locator(".mc-mode button", has_text="cohort").click()
    patients = page.locator(".mc-patients input")
    patients.fill("4")
    patients.press("Enter")
    horizon = page.locator(".mc-horizon input")
    horizon.fill("4")
    horizon.press("Enter")
    assert _run(page, 1) == "done"
    assert _value(page, "mc-cohort-patients") == "4"
    assert page.locator("#mc-organ-table").is_visible()
    assert page.locator(".mc-survival img").is_visible()

    patients.fill("300")
    patients.press("Enter")
    page.locator(".mc-run button").click()
    page.locator('#mc-status[data-run="2"][data-state="running"]').wait_for()
    page.locator(".mc-cancel button").click()
    page.locator('#mc-status[data-run="2"][data-state="cancelled"]').wait_for()
    assert "cancelled after" in page.locator("#mc-status").inner_text()
