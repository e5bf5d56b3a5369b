"""Start -> first loss point on screen: the Train page in chromium, Start on the defaults (street-digits).

Fresh: a data folder that has never been drawn (a new machine: the set is drawn while the run trains).
Reference, in the same process: the same with the set already drawn and cached (a warm machine). Prints,
for each, the seconds from the click until metrics.jsonl has its first line and until the chart shows that
point, and the ratio fresh / warm. `--busy N` keeps N processes spinning on the CPU meanwhile (a busy
machine, which is when people use it). Target (issue 14): the first point within 15 s of Start, fresh.
  python -m benchmarks.start_to_first_chart [--busy 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser import launch_chromium, streamlit_server

# A plotly marker in the training chart: the run's first metrics line drawn (ui/charts.py draws markers
# while a run has few points).
FIRST_POINT = "[data-testid='stPlotlyChart'] .scatterlayer .trace .points path"


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int):
    workers = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()


def first_line(runs: Path) -> bool:
    return any(p.stat().st_size > 0 for p in runs.glob("*/metrics.jsonl"))


def start_and_wait(playwright, data_dir: Path, runs_dir: Path) -> tuple[float, float]:
    """(seconds from Start until metrics.jsonl has a line, until the chart shows a point)."""
    browser = launch_chromium(playwright)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    env = {"DCGAN_DATA_DIR": str(data_dir), "DCGAN_RUNS_DIR": str(runs_dir)}
    with streamlit_server(env=env) as url:
        page.goto(f"{url}/train")
        start_button = page.get_by_role("button", name="Start training")
        start_button.wait_for(timeout=120_000)
        page.get_by_text("training images at").first.wait_for(timeout=120_000)  # the preview, as a person waits
        clicked = time.perf_counter()
        start_button.click()
        on_disk = None
        deadline = clicked + 180
        while time.perf_counter() < deadline:
            if on_disk is None and first_line(runs_dir):
                on_disk = time.perf_counter() - clicked
            if page.locator(FIRST_POINT).count():
                break
            page.wait_for_timeout(100)
        on_screen = time.perf_counter() - clicked
        with contextlib.suppress(Exception):
            page.get_by_role("button", name="Stop", exact=True).click(timeout=5_000)
            page.get_by_text("stopped").first.wait_for(timeout=60_000)
    browser.close()
    return on_disk if on_disk is not None else float("nan"), on_screen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU meanwhile")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.busy} busy processes")
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        results: dict[str, list[tuple[float, float]]] = {"fresh": [], "warm": []}
        for i in range(args.repeat):
            data = Path(tmp) / f"data-{i}"  # never drawn: the fresh machine
            with busy(args.busy):
                results["fresh"].append(start_and_wait(playwright, data, Path(tmp) / f"runs-fresh-{i}"))
            from dcgan.data.street_digits import load_street_digits

            load_street_digits("train", data / "cache", 32, 3)  # the warm machine: the set drawn and cached
            with busy(args.busy):
                results["warm"].append(start_and_wait(playwright, data, Path(tmp) / f"runs-warm-{i}"))
        for name, runs in results.items():
            for on_disk, on_screen in runs:
                print(f"{name:6} first metrics line {on_disk:6.1f} s   first point on screen {on_screen:6.1f} s")
        fresh = min(r[1] for r in results["fresh"])
        warm = min(r[1] for r in results["warm"])
        print(f"fresh / warm (on screen): {fresh / warm:.2f}x   target: fresh under 15 s -> {fresh < 15}")


if __name__ == "__main__":
    main()
