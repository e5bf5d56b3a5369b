"""One real-browser test: the app in chromium, a tiny run started by clicking, watched live, stopped."""

import json
import os
import shutil

import pytest
from browser import CHROMIUM, ROOT, launch_chromium, streamlit_server

playwright_api = (
    pytest.importorskip("playwright.sync_api")
    if not os.environ.get("CI")
    else __import__("playwright.sync_api", fromlist=["sync_playwright"])
)
if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it", allow_module_level=True)

SCREENSHOTS = ROOT / "test-output"

pytestmark = pytest.mark.slow  # a Streamlit server and a real chromium


def test_start_watch_and_stop_a_run_in_chromium(runs_dir):
    with streamlit_server({"DCGAN_RUNS_DIR": str(runs_dir)}) as url, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{url}/train")
        page.get_by_text("training images at 32 px").wait_for(timeout=60_000)  # the preview
        for label, value in {
            "Use at most N images": "256",
            "Epochs": "200",
            "Batch size": "32",
            "Generator width": "8",
            "Discriminator width": "8",
            "Run name": "browser-run",
        }.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label("Image size (px)", exact=True).click()
        page.get_by_role("option", name="16", exact=True).click()
        page.get_by_role("button", name="Start training").click()

        page.get_by_text("Fixed latent batch at step").wait_for(timeout=90_000)
        page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=30_000)
        # The newest sample grid, drawn (the form and its dataset preview are collapsed while a run is shown).
        images = page.locator("[data-testid='stImage'] img")
        assert images.evaluate_all("imgs => imgs.some(img => img.complete && img.naturalWidth > 0)")
        page.get_by_test_id("stButton").get_by_role(
            "button", name="Stop", exact=True
        ).click()  # not the header's own Stop
        page.get_by_text("stopped", exact=False).first.wait_for(timeout=60_000)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "train-page-chromium.png"), full_page=True)
        browser.close()
    status = json.loads((runs_dir / "browser-run" / "status.json").read_text())
    assert status["state"] == "stopped" and 0 < status["step"] < status["total_steps"]
    assert (runs_dir / "browser-run" / "checkpoint.pt").exists()
