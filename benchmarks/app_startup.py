"""App cold start: `streamlit run streamlit_app.py` until the Home page is fully drawn in chromium.

Reference, in the same process: a one-line Streamlit app (st.title) started and drawn the same way, which
is the floor Streamlit itself sets. Prints each phase, the totals and the ratio. Target: under 5 s.
  python -m benchmarks.app_startup [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser import launch_chromium, streamlit_server  # noqa: E402


def cold_start(playwright, script: Path | None, ready_text: str, ready_selector: str | None) -> tuple[float, float]:
    """(seconds until the server answers, seconds until the page shows what it should) from launch."""
    browser = launch_chromium(playwright)  # started first: a user's browser is already open
    page = browser.new_page()
    start = time.perf_counter()
    with streamlit_server(script=script) as url:
        server_up = time.perf_counter() - start
        page.goto(url)
        page.get_by_text(ready_text).first.wait_for(timeout=60_000)
        if ready_selector:
            page.locator(ready_selector).first.wait_for(timeout=60_000)
        drawn = time.perf_counter() - start
    browser.close()
    return server_up, drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text("import streamlit as st\nst.title('Hello')\n")
        results = {"reference (one-line app)": [], "DCGAN Studio Home": []}
        for _ in range(args.repeat):
            results["reference (one-line app)"].append(cold_start(p, minimal, "Hello", None))
            # Home is drawn when the device line and the shipped generator's sample grid are both there.
            results["DCGAN Studio Home"].append(cold_start(p, None, "Device:", "[data-testid='stImage'] img"))
    medians = {}
    for name, runs in results.items():
        up, drawn = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        medians[name] = drawn
        print(f"{name:28s} server up {up:5.2f} s · page drawn {drawn:5.2f} s (median of {len(runs)})")
    ref, ours = medians.values()
    print(
        f"cold start: {ours:.2f} s ({ours / ref:.2f}x the one-line app; target under 5 s: "
        f"{'met' if ours < 5 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
