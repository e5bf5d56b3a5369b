"""The latent explorer page through AppTest: sliders, interpolation, uploads, projection."""

import pytest
from apptest_helpers import open_page, project_a_shipped_digit, wait_for_state, widget
from conftest import ROOT
from streamlit.testing.v1 import AppTest


def image_urls(at: AppTest) -> dict[str, str]:
    return {img.proto.imgs[0].caption: img.proto.imgs[0].url for img in at.get("image") if img.proto.imgs}


def test_latent_page_slider_changes_the_image_and_reset_brings_it_back(runs_dir):
    at = open_page("latent")
    assert not at.error
    caption = "seed 0, moved by the sliders"
    before = image_urls(at)[caption]
    widget(at, "lat-dim-1-0").set_value(2.5).run()
    moved = image_urls(at)[caption]
    assert moved != before
    widget(at, "lat-pc-1-0").set_value(-2.0).run()
    assert image_urls(at)[caption] not in (before, moved)
    widget(at, "lat-reset").click().run()
    assert image_urls(at)[caption] == before  # same z, same image
    widget(at, "lat-seed").set_value(5).run()
    assert "seed 5, moved by the sliders" in image_urls(at)
    widget(at, "lat-new").click().run()
    assert at.session_state[
        "lat-seed"
    ] != 5 and f"seed {at.session_state['lat-seed']}, moved by the sliders" in image_urls(at)


@pytest.mark.slow  # renders 21 frames and encodes a GIF
def test_latent_page_interpolation_renders_n_frames_and_a_gif(runs_dir):
    at = open_page("latent")
    widget(at, "int-steps").set_value(7).run()
    assert "7 frames (slerp)" in image_urls(at)
    widget(at, "int-kind").set_value("A loop through several seeds").run()
    widget(at, "int-seeds").set_value("1, 2, 3").run()
    assert "21 frames (slerp)" in image_urls(at)  # three segments of seven, looping back to the first
    assert image_urls(at)["As an animation"].endswith(".gif")
    assert "Download GIF" in [b.label for b in at.get("download_button")]
    widget(at, "int-seeds").set_value("1, two").run()
    assert any("whole numbers" in e.value for e in at.error)


@pytest.mark.slow  # trains a real run in a background process
def test_latent_page_lists_run_generators_and_arithmetic_needs_each_concept(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import start_run

    start_run(tiny_config("explore-me"))
    wait_for_state(runs_dir / "explore-me")
    at = open_page("latent")
    widget(at, "latent-source").set_value("From a run").run()
    assert not at.exception and not at.error
    assert widget(at, "latent-From a run").value == "explore-me"
    assert any("16 px" in c.value for c in at.caption)
    next(g for g in at.get("button_group") if g.key == "ari-B").set_value([]).run()  # pills: picked by clicking
    assert any("at least one sample for each" in e.value for e in at.error)


def test_latent_page_refuses_foreign_and_malicious_uploads(runs_dir, tmp_path):
    import io as _io
    import os as _os

    import torch

    class Exploit:
        def __reduce__(self):
            return (_os.system, (f"touch {tmp_path / 'pwned'}",))

    at = open_page("latent")
    widget(at, "latent-source").set_value("Upload a file").run()
    for payload in ({"weights": torch.zeros(2)}, {"format": "dcgan-studio/generator-v1", "x": Exploit()}):
        buffer = _io.BytesIO()
        torch.save(payload, buffer)
        next(u for u in at.get("file_uploader") if u.key == "latent-upload").set_value(
            ("upload.pt", buffer.getvalue(), "application/octet-stream")
        ).run()
        assert not at.exception
        assert any("Could not load that generator" in e.value for e in at.error)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow  # optimises z for 50 steps through the page
def test_projection_from_the_page_then_moved_with_the_sliders(runs_dir):
    at = project_a_shipped_digit(open_page("latent"))
    assert not at.exception and not at.error
    assert any(c.startswith("closest G(z): mean squared error") for c in image_urls(at))
    widget(at, "proj-to-sliders").click().run()
    assert "projected picture, moved by the sliders" in image_urls(at)
    widget(at, "lat-dim-2-0").set_value(1.0).run()
    assert "projected picture, moved by the sliders" in image_urls(at)  # sliders move the projected z
    widget(at, "lat-seed").set_value(9).run()
    assert "seed 9, moved by the sliders" in image_urls(at)


def upload(at: AppTest, key: str, name: str, data: bytes, mime: str) -> AppTest:
    next(u for u in at.get("file_uploader") if u.key == key).set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_latent_page_says_in_one_error_what_is_wrong_with_an_upload_by_its_name(runs_dir):
    from test_generator_files import png_claiming

    at = open_page("latent")
    upload(at, "proj-upload", "huge.png", png_claiming(20_000, 20_000), "image/png")
    assert [e.value for e in at.error] == [
        "huge.png is too large: its header claims 400 megapixels, more than the "
        "50 megapixels allowed; make it smaller and try again"
    ]
    widget(at, "latent-source").set_value("Upload a file").run()
    upload(at, "latent-upload", "x.pt", b"a text file, renamed\n", "application/octet-stream")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Could not load that generator: x.pt is not a PyTorch file")


def test_latent_page_reports_a_generator_that_loads_but_fails_to_prepare(runs_dir, monkeypatch):
    """An odd but valid file can still fail the explorer's first computations: one message, no traceback."""
    import dcgan.latent.explore

    def failing(G, *args):
        raise RuntimeError("linalg.svd: The algorithm failed to converge because the input matrix is ill-conditioned")

    at = open_page("latent")
    monkeypatch.setattr(dcgan.latent.explore, "prepare_for_exploring", failing)
    widget(at, "latent-source").set_value("Upload a file").run()
    upload(
        at,
        "latent-upload",
        "odd.pt",
        (ROOT / "checkpoints" / "street-digits-32px.pt").read_bytes(),
        "application/octet-stream",
    )
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Could not open odd.pt in the explorer (RuntimeError: linalg.svd")
    assert not at.tabs  # nothing half-loaded is shown
