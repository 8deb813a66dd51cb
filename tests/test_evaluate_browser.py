"""The evaluation report in headless Chromium: its plots load, its style applies under its
own CSP, and it fetches nothing; the README screenshot script saves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from tests.test_evaluate import NAMES, fake, fixed_evaluation
from tiequan.models.report import write_report
from tiequan.models.screenshot import WIDTH, capture

IMAGES = """() => Array.from(document.images).map(
  (img) => ({complete: img.complete, width: img.naturalWidth, alt: img.alt}))"""


def test_report_shows_its_plots_and_fetches_nothing(chromium: Any, tmp_path: Path) -> None:
    html = write_report(fixed_evaluation(candidate=fake(), live=fake()), tmp_path, NAMES)
    context = chromium.new_context()
    requested: list[str] = []
    blocked: list[str] = []

    def route(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    console: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: console.append(message.text))
        page.on("request", lambda request: requested.append(request.url))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(IMAGES)
        colour = page.eval_on_selector("h1", "(el) => getComputedStyle(el).color")
        title = page.title()
    finally:
        context.close()
    assert len(images) == 4
    assert all(img["complete"] and img["width"] > 200 for img in images), images
    alts = [img["alt"] for img in images]
    assert "各类别 F1" in alts and any(alt.startswith("混淆矩阵：candidate") for alt in alts)
    assert colour == "rgb(139, 26, 26)"  # the inline style sheet passed the page's CSP
    assert title == "模型评估报告"
    assert not [m for m in console if "Content Security Policy" in m], console
    assert not blocked
    assert {u for u in requested if not u.startswith("data:")} == {html.as_uri()}


def test_screenshot_script_saves_the_top_of_the_report(chromium: Any, tmp_path: Path) -> None:
    html = write_report(fixed_evaluation(), tmp_path / "report", NAMES)
    shot = capture(chromium, html, tmp_path / "evaluation.png", height=900)
    with Image.open(shot) as image:
        assert image.size == (WIDTH, 900)
        assert len(image.getcolors(4096) or range(4097)) > 8  # a page, not a blank
