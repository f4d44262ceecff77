"""The drawing pad in Chromium, drawn on with Playwright's mouse (real pointer events).

A vertical stroke is a 1 and a closed loop a 0 for both the judge and the Bayes classifier;
Undo and Clear empty the pad; on the VAE page a drawing lands on the sliders.
"""

import math

from playwright.sync_api import expect
from server import open_page, wait_idle

CC, VAE = "pages/2_Class_Conditional_Sampling.py", "pages/3_VAE_Latent_Space.py"


def _canvas(page):
    canvas = page.locator("[data-testid='stMain'] canvas.pad-canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    return canvas


def _stroke(page, points) -> None:
    """Press, move through ``points`` (in [0, 1] of the pad's side), release; wait for the
    rerun the stroke's end starts."""
    box = _canvas(page).bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()
    wait_idle(page)


def _vertical(page) -> None:
    _stroke(page, [(0.5, 0.15 + 0.7 * i / 20) for i in range(21)])


def _loop(page) -> None:
    _stroke(page, [(0.5 + 0.22 * math.sin(t), 0.5 - 0.33 * math.cos(t))
                   for t in (2 * math.pi * i / 40 for i in range(41))])


def _readings(page) -> tuple[str, str]:
    """(the judge's line, the Bayes classifier's metric value)."""
    main = page.locator("[data-testid='stMain']")
    judge = main.get_by_text("The judge reads it as")
    expect(judge).to_be_visible(timeout=30_000)
    metric = main.locator("[data-testid='stMetric']").filter(has_text="Bayes classifier says")
    return judge.inner_text(), metric.locator("[data-testid='stMetricValue']").inner_text()


def test_a_vertical_stroke_is_a_one_and_a_loop_a_zero(page, server, screenshot_dir):
    """Drawn with the mouse: a vertical stroke, then (after Clear) a closed loop."""
    open_page(page, server, CC)
    page.get_by_role("tab", name="Your digit").click()
    _vertical(page)
    judge, bayes = _readings(page)
    assert judge.startswith("The judge reads it as 1") and bayes == "1", (judge, bayes)
    page.screenshot(path=str(screenshot_dir / "drawing_pad_one.png"))
    page.get_by_role("button", name="Clear").click()
    wait_idle(page)
    expect(page.get_by_text("Draw a digit on the pad")).to_be_visible()
    _loop(page)
    judge, bayes = _readings(page)
    assert judge.startswith("The judge reads it as 0") and bayes == "0", (judge, bayes)
    assert page.locator("[data-testid='stException']").count() == 0


def test_undo_removes_the_last_stroke(page, server):
    """A 1 with a flag and a base; Undo twice leaves the plain vertical stroke's reading."""
    open_page(page, server, CC)
    page.get_by_role("tab", name="Your digit").click()
    _vertical(page)
    panel = page.get_by_role("tabpanel", name="Your digit")
    first = panel.locator("[data-testid='stImage'] img").first  # the digit as MNIST
    plain = first.get_attribute("src")
    _stroke(page, [(0.5, 0.15), (0.35, 0.3)])
    _stroke(page, [(0.3, 0.85), (0.7, 0.85)])
    assert first.get_attribute("src") != plain
    for _ in range(2):
        page.get_by_role("button", name="Undo").click()
        wait_idle(page)
    expect(first).to_have_attribute("src", plain)
    page.get_by_role("button", name="Undo").click()
    wait_idle(page)
    expect(page.get_by_text("Draw a digit on the pad")).to_be_visible()


def test_a_dot_gives_a_message(page, server):
    """One click on the pad: 'that is a dot', no exception."""
    open_page(page, server, CC)
    page.get_by_role("tab", name="Your digit").click()
    box = _canvas(page).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_idle(page)
    expect(page.get_by_text("that is a dot")).to_be_visible()
    assert page.locator("[data-testid='stException']").count() == 0


def test_vae_drawing_lands_on_the_sliders(page, server):
    """VAE page: a drawn 0 is encoded, and Explore's sliders hold its code."""
    open_page(page, server, VAE)
    page.get_by_role("tab", name="Your digit").click()
    _loop(page)
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("As MNIST (top), reconstructed")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Explore").click()
    values = main.locator("[data-testid='stSliderThumbValue']").all_inner_texts()
    assert sum(float(v) != 0 for v in values if v.strip()) >= 3, values  # all 0 before
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_finger_draws_on_a_phone(browser, server):
    """390 px touch screen: a finger's vertical stroke (real touch events through Chromium's
    input pipeline) is a 1, and the page does not scroll under the finger."""
    context = browser.new_context(viewport={"width": 390, "height": 900}, has_touch=True,
                                  is_mobile=True)
    try:
        page = context.new_page()
        open_page(page, server, CC)
        page.get_by_role("tab", name="Your digit").click()
        canvas = _canvas(page)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        cdp = context.new_cdp_session(page)
        points = [(box["x"] + 0.5 * box["width"], box["y"] + (0.15 + 0.035 * i) * box["height"])
                  for i in range(21)]
        before = canvas.bounding_box()["y"]
        for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * 20, points):
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        wait_idle(page)
        judge, bayes = _readings(page)
        assert judge.startswith("The judge reads it as 1") and bayes == "1", (judge, bayes)
        assert abs(canvas.bounding_box()["y"] - before) < 1  # touch-action: none
    finally:
        context.close()


def test_invert_changes_only_the_look(page, server):
    """Invert: the pad turns white with dark ink, and the digit sent on is the same."""
    open_page(page, server, CC)
    page.get_by_role("tab", name="Your digit").click()
    _vertical(page)
    panel = page.get_by_role("tabpanel", name="Your digit")
    digit = panel.locator("[data-testid='stImage'] img").first
    before = digit.get_attribute("src")
    corner = "c => Array.from(c.getContext('2d').getImageData(1, 1, 1, 1).data.slice(0, 3))"
    canvas = _canvas(page)
    assert canvas.evaluate(corner) == [0, 0, 0]
    page.get_by_role("button", name="Invert").click()
    assert canvas.evaluate(corner) == [255, 255, 255]
    _stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # the same line again: the same digit
    expect(digit).to_have_attribute("src", before)
    page.get_by_role("button", name="Invert").click()  # back to MNIST's look for other tests
    assert canvas.evaluate(corner) == [0, 0, 0]
