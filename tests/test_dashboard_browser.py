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

    track = page.locator(".mc-day-slider .noUi-target").bounding_box()
    middle = track["y"] + track["height"] / 2
    page.mouse.click(track["x"] + 0.6 * track["width"], middle)  # a tap on the track
    page.locator(f'#mc-day:not([data-day="{last_day}"])').wait_for()
    day = int(caption.get_attribute("data-day"))
    assert 0.5 * last_day < day < 0.7 * last_day
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, day))
    assert _lesions(result, course, day) < _lesions(result, course, last_day)
    assert body_map.get_attribute("src") != at_end

    page.mouse.click(track["x"] + 1, middle)
    page.locator(f'#mc-day:not([data-day="{day}"])').wait_for()
    early = int(caption.get_attribute("data-day"))
    assert early < 0.02 * last_day
    assert caption.get_attribute("data-lesions") == str(_lesions(result, course, early))

    handle = page.locator(".mc-day-slider .noUi-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] + 40, middle, steps=8)  # past the end
    page.mouse.up()
    page.locator(f'#mc-day[data-day="{last_day}"]').wait_for()
    assert body_map.get_attribute("src") == at_end  # the same day draws the same map

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
