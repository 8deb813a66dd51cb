"""README picture of the evaluation report: ``python -m tiequan.models.screenshot`` (in
`make screenshots`).

Evaluates the live model (``tiequan.cli.evaluate_cmd.resolve_model``) on the reference and
synthetic test splits (no database: the held-out set is shown empty), writes the report to a
temporary directory, opens it in headless Chromium and saves the top of the page as
docs/screenshots/evaluation.png.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from detectors.config import default_config_dir
from tiequan.models.evaluate import EvalSet, evaluate, reference_set, synthetic_set
from tiequan.models.report import write_report
from tiequan.web.screenshots import OUT_DIR, save_png

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1280, 1800


def capture(browser: Any, html: Path, out: Path, height: int = HEIGHT) -> Path:
    """Save the top ``height`` pixels of the report ``html`` as a PNG at ``out``."""
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    try:
        page = context.new_page()
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": height}
        out.parent.mkdir(parents=True, exist_ok=True)
        return save_png(page.screenshot(full_page=True, clip=clip), out)
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR / "evaluation.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from playwright.sync_api import sync_playwright

    from tiequan.cli.detect_cmd import category_names
    from tiequan.cli.evaluate_cmd import resolve_model
    from tiequan.web.live import launch_chromium

    config = default_config_dir()
    sets = [
        reference_set(config),
        synthetic_set(config),
        EvalSet("holdout", (), "截图时未连接数据库"),
    ]
    evaluation = evaluate({"live": resolve_model("live")}, sets)
    with tempfile.TemporaryDirectory(prefix="tiequan-evaluation-") as tmp:
        html = write_report(evaluation, Path(tmp), category_names())
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                capture(browser, html, args.out)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
