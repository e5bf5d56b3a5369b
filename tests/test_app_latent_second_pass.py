"""The latent explorer, second pass (issue 14): numbered thumbnails picked by clicking, "Move this z with the
sliders" opening the Sliders tab with the seed box saying what is loaded, and the slider image kept in view."""

import os
import shutil

import pytest
import torch
from apptest_helpers import open_page, project_a_shipped_digit, widget
from streamlit.testing.v1 import AppTest

from dcgan.latent.numbered import LABEL_PX, PADDING, numbered_grid
from ui.latent_tabs import SECTION_KEY, SLIDERS_HEIGHT


def image_captions(at: AppTest) -> list[str]:
    return [img.proto.imgs[0].caption for img in at.get("image") if img.proto.imgs]


def pills(at: AppTest, key: str):
    return next(g for g in at.get("button_group") if g.key == key)


# -- 1. numbered thumbnails, picked by clicking --------------------------------------------------------
def test_numbered_grid_draws_each_number_in_a_strip_under_its_sample():
    images = -torch.ones(12, 3, 32, 32)  # black samples: any light pixel is the strip, any dark one in it text
    grid = numbered_grid(images, columns=4, scale=2)
    cell_w, cell_h = 64 + PADDING, 64 + LABEL_PX + PADDING
    assert grid.size == (4 * cell_w + PADDING, 3 * cell_h + PADDING)
    strips = []
    for i in range(12):
        left, top = PADDING + (i % 4) * cell_w, PADDING + (i // 4) * cell_h
        sample = grid.crop((left, top, left + 64, top + 64))
        assert sample.getextrema() == ((0, 0),) * 3  # the number is not drawn over the sample
        strip = grid.crop((left, top + 64, left + 64, top + 64 + LABEL_PX)).convert("L")
        assert strip.getextrema()[0] < 100 and strip.getextrema()[1] == 255  # dark text on white
        strips.append(strip.tobytes())
    assert len(set(strips)) == 12  # twelve different numbers
    one_digit, two_digits = (sum(b < 128 for b in strips[i]) for i in (0, 10))  # "1" and "11"
    assert two_digits > one_digit


def test_arithmetic_samples_are_numbered_and_picked_by_clicking_one_number(runs_dir):
    at = open_page("latent")
    assert "samples 1 to 36: click their numbers to pick them" in image_captions(at)
    a = pills(at, "ari-A")
    assert a.options == [str(i) for i in range(1, 37)]  # one button per sample: "7" is never also 17 or 27
    assert a.value == [1, 2]
    a.select(7).run()
    assert pills(at, "ari-A").value == [1, 2, 7]
    assert not at.error and not at.exception
    pills(at, "ari-C").set_value([]).run()
    assert any("at least one sample for each" in e.value for e in at.error)


def test_interpolation_ends_are_picked_by_clicking_numbers_beside_the_grid(runs_dir):
    at = open_page("latent")
    widget(at, "int-kind").set_value("Between two samples from a grid").run()
    assert "samples 1 to 16: click their numbers to pick them" in image_captions(at)
    start, end = pills(at, "int-pick-a"), pills(at, "int-pick-b")
    assert start.options == [str(i) for i in range(1, 17)] and (start.value, end.value) == (1, 6)
    strip = next(img.proto.imgs[0].url for img in at.get("image") if "frames" in img.proto.imgs[0].caption)
    end.set_value(12).run()
    assert not at.exception and pills(at, "int-pick-b").value == 12
    assert strip not in [img.proto.imgs[0].url for img in at.get("image") if "frames" in img.proto.imgs[0].caption]


# -- 2. "Move this z with the sliders" -------------------------------------------------------------------
@pytest.mark.slow  # optimises z for 50 steps through the page
def test_move_to_sliders_opens_the_sliders_tab_and_the_seed_box_names_the_projected_z(runs_dir):
    at = open_page("latent")
    assert at.session_state[SECTION_KEY] == "Sliders"  # the tabs are tracked: a button can open one
    project_a_shipped_digit(at)
    at.session_state[SECTION_KEY] = "Projection"  # where the person is when they press the button
    widget(at, "proj-to-sliders").click().run()
    assert not at.exception
    assert at.session_state[SECTION_KEY] == "Sliders"
    seed = widget(at, "lat-seed")
    assert seed.value is None  # no stale seed: the box is empty ...
    assert seed.proto.placeholder.startswith("projected picture")  # ... and says what the sliders hold
    assert "projected picture, moved by the sliders" in image_captions(at)
    widget(at, "lat-seed").set_value(9).run()  # a typed seed starts a new sample again
    assert "seed 9, moved by the sliders" in image_captions(at)
    assert "projected picture, moved by the sliders" not in image_captions(at)


def test_seed_box_warns_nothing_and_new_sample_still_draws_a_seed(runs_dir):
    at = open_page("latent")
    assert widget(at, "lat-seed").value == 0
    widget(at, "lat-new").click().run()
    seed = widget(at, "lat-seed").value
    assert f"seed {seed}, moved by the sliders" in image_captions(at)


# -- 3. the slider image stays in view -------------------------------------------------------------------
def _blocks(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _blocks(child)


def test_sliders_scroll_in_a_fixed_height_box_beside_the_image(runs_dir):
    at = open_page("latent")
    box = next(
        b for b in _blocks(at._tree) if str(getattr(getattr(b, "proto", None), "id", "")).endswith("-lat-slider-box")
    )
    assert box.proto.height_config.pixel_height == SLIDERS_HEIGHT
    inside = {w.key for w in _blocks(box) if getattr(w, "type", "") == "slider"}
    assert {"lat-dim-1-0", "lat-pc-1-7"} <= inside  # the first dimension's and the last direction's
    images = [b for b in _blocks(box) if getattr(b, "type", "") == "image"]
    assert not images  # the image is beside the box, not in it: it does not scroll with the sliders


@pytest.mark.slow  # a Streamlit server and a real chromium
def test_the_image_stays_in_view_while_the_last_direction_slider_moves_in_chromium(runs_dir):
    playwright_api = pytest.importorskip("playwright.sync_api")
    from browser import CHROMIUM, launch_chromium, streamlit_server

    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")
    with streamlit_server({"DCGAN_RUNS_DIR": str(runs_dir)}) as url, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/latent")
        page.get_by_text("seed 0, moved by the sliders").wait_for(timeout=120_000)
        image = page.locator("[data-testid='stImage'] img").first
        last = page.locator(".st-key-lat-slider-box").get_by_role("slider").last
        last.scroll_into_view_if_needed()
        last.focus()
        for _ in range(3):
            before = image.get_attribute("src")
            page.keyboard.press("ArrowRight")
            page.wait_for_function("([el, s]) => el.src !== s", arg=[image.element_handle(), before], timeout=20_000)
            box = image.bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= 800  # the whole image on screen
        browser.close()
