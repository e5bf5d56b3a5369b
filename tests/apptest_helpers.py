"""Helpers for driving the app's pages with Streamlit's AppTest (shared by the test_app_* files)."""

import json
import time

from conftest import ROOT
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "streamlit_app.py")
TINY = {"limit": 256, "epochs": 1, "batch_size": 32, "g_width": 8, "d_width": 8}


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    if page != "home":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def widget(at: AppTest, key: str):
    for group in (
        at.number_input,
        at.selectbox,
        at.text_input,
        at.toggle,
        at.multiselect,
        at.button,
        at.slider,
        at.select_slider,
        at.radio,
    ):
        for element in group:
            if element.key == key:
                return element
    raise KeyError(f"no widget with key {key!r}")


def fill_form(at: AppTest, dataset: str = "street-digits", **settings) -> None:
    for name, value in settings.items():
        widget(at, f"{dataset}:{name}").set_value(value)


def press_start(at: AppTest) -> AppTest:
    next(b for b in at.button if "Start training" in str(b.label)).click().run()
    assert not at.exception, at.exception
    return at


def wait_for_state(run_path, states=("finished", "stopped", "failed", "diverged"), timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = json.loads((run_path / "status.json").read_text()).get("state")
        except (FileNotFoundError, json.JSONDecodeError):
            state = None
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"run at {run_path} did not reach {states} in {timeout} s")


def project_a_shipped_digit(at: AppTest, steps: int = 50) -> AppTest:
    """Upload one digit cropped from the shipped generator's sample grid to the Projection tab and project it."""
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.open(ROOT / "checkpoints" / "street-digits-32px.png").crop((2, 2, 34, 34)).save(picture, format="PNG")
    next(u for u in at.get("file_uploader") if u.key == "proj-upload").set_value(
        ("digit.png", picture.getvalue(), "image/png")
    ).run()
    widget(at, "proj-steps").set_value(steps).run()
    return widget(at, "proj-run").click().run()
