"""Slider-to-image latency of the latent explorer, 32 px shipped generator, median over 100 slider moves.

  compute:   what one move costs in Python: set the coordinate, run G in eval mode, enlarge, encode the PNG
             (ours: the generator held in memory, as st.cache_resource holds it);
  reference: the same with the generator loaded from disk on each move (a page without a resource cache);
  browser:   (with --browser) a slider moved by keyboard in chromium until the new image is on screen.
Target: under 50 ms of compute on a 2-core CPU.
  python -m benchmarks.latent_latency [--moves 100] [--browser]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from dcgan.images import image_grid, png_bytes, upscale
from dcgan.latent.explore import generate
from dcgan.models import seeded_z
from dcgan.runs.generator_file import load_generator

ROOT = Path(__file__).resolve().parent.parent

GENERATOR = ROOT / "checkpoints" / "street-digits-32px.pt"


def one_move(G, z: torch.Tensor, value: float) -> bytes:
    z = z.clone()
    z[0, 0] = value
    return png_bytes(image_grid(upscale(generate(G, z), 256 // G.cfg.image_size)))


def median_ms(fn, moves: int) -> float:
    times = []
    for i in range(moves):
        start = time.perf_counter()
        fn(-3 + 6 * i / moves)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def browser_ms(moves: int) -> float:
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_chromium, streamlit_server

    times = []
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/latent")
        image = page.locator("[data-testid='stImage'] img").first  # the Sliders tab's sample
        image.wait_for(timeout=60_000)
        thumb = page.get_by_role("slider").first
        thumb.focus()
        for _ in range(moves):
            before = image.get_attribute("src")
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([el, src]) => el.src !== src", arg=[image.element_handle(), before], timeout=10_000
            )
            times.append(time.perf_counter() - start)
        browser.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--browser", action="store_true", help="also time moves end to end in chromium")
    args = parser.parse_args()
    G, _ = load_generator(GENERATOR)
    z = seeded_z(0, 1, G.cfg.z_dim)
    one_move(G, z, 0.0)  # warm-up
    ours = median_ms(lambda v: one_move(G, z, v), args.moves)
    reference = median_ms(lambda v: one_move(load_generator(GENERATOR)[0], z, v), args.moves)
    print(f"32 px generator, median of {args.moves} slider moves (compute only):")
    print(f"  reference (generator loaded per move): {reference:7.2f} ms")
    print(
        f"  ours (generator held in memory):       {ours:7.2f} ms  ({reference / ours:.1f}x faster; "
        f"target under 50 ms: {'met' if ours < 50 else 'NOT met'})"
    )
    if args.browser:
        print(
            "  end to end in chromium (key press until the new image is shown): "
            f"{browser_ms(min(args.moves, 40)):.0f} ms"
        )


if __name__ == "__main__":
    main()
