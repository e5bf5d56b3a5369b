"""The app's pages through Streamlit's AppTest: they render, start and show a run, and turn bad input into st.error."""
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT

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
    for group in (at.number_input, at.selectbox, at.text_input, at.toggle, at.multiselect, at.button, at.slider,
                  at.radio):
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


def test_home_page_shows_device_and_shipped_samples(runs_dir):
    at = open_page("home")
    assert any("Device:" in m.value and "CPU" in m.value for m in at.markdown)
    assert len(at.get("image")) == 1  # the shipped generator's sample grid
    before = at.get("image")[0].proto.imgs[0].url  # named by a hash of the image's bytes
    widget(at, "home-new-samples").click().run()
    assert not at.exception
    first_new = at.get("image")[0].proto.imgs[0].url
    widget(at, "home-new-samples").click().run()
    assert len({before, first_new, at.get("image")[0].proto.imgs[0].url}) == 3  # new z each click


def test_train_page_renders_without_runs(runs_dir):
    at = open_page("train")
    assert any("No runs yet" in i.value for i in at.info)
    assert any("50,000 training images" in (img.proto.imgs[0].caption if img.proto.imgs else "")
               for img in at.get("image"))  # the preview of the default dataset


def test_tiny_run_started_from_the_page_shows_progress_chart_and_samples(runs_dir):
    at = open_page("train")
    fill_form(at, image_size=16, name="tiny", device="cpu", **TINY)
    press_start(at)
    assert not at.error, [e.value for e in at.error]
    assert at.query_params["run"] == "tiny"  # a browser refresh comes back to this run
    assert wait_for_state(runs_dir / "tiny") == "finished"
    at.run()
    assert not at.exception and not at.error
    progress = at.get("progress")[0].proto
    assert progress.value == 100 and progress.text.startswith("Finished: 1 epoch,")
    chart_ids = [c.proto.id for c in at.get("plotly_chart")]
    assert sum(i.endswith(f"-chart:{runs_dir / 'tiny'}") for i in chart_ids) == 1  # the loss chart
    captions = [img.proto.imgs[0].caption for img in at.get("image") if img.proto.imgs]
    assert any(c.startswith("Fixed latent batch at step 8") for c in captions)
    assert any("finished" in m.value and "tiny" in m.value for m in at.markdown)


def test_a_refreshed_browser_comes_back_to_the_run_in_the_address(runs_dir):
    from conftest import tiny_config
    from dcgan.runs import start_run

    for name in ("first", "second"):
        start_run(tiny_config(name))
        wait_for_state(runs_dir / name)
    at = open_page("train", run="first")
    assert any("**first**" in m.value for m in at.markdown)
    assert not any("**second**" in m.value for m in at.markdown)


def test_bad_folder_path_is_an_error_and_the_page_still_works(runs_dir, tmp_path):
    at = open_page("train")
    widget(at, "dataset").set_value("folder").run()
    widget(at, "folder").set_value(str(tmp_path / "no-such-folder")).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    press_start(at)
    assert any("Could not start" in e.value and "does not exist" in e.value for e in at.error)
    (tmp_path / "empty").mkdir()
    widget(at, "folder").set_value(str(tmp_path / "empty")).run()
    assert any("holds no images" in e.value for e in at.error)
    assert not (runs_dir.exists() and any(runs_dir.iterdir()))  # nothing half-made


@pytest.mark.parametrize("setting, value, message", [("lr", 0.0, "learning rate must be positive"),
                                                     ("batch_size", 0, "batch size must be at least 1"),
                                                     ("name", "bad name!", "run name")])
def test_impossible_settings_are_errors(runs_dir, setting, value, message):
    at = open_page("train")
    fill_form(at, **{setting: value})
    press_start(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_dataset_that_cannot_be_downloaded_says_what_to_do(runs_dir):
    at = open_page("train")
    widget(at, "dataset").set_value("mnist").run()
    assert not at.exception
    assert any("mnist" in e.value.lower() and ("download" in e.value or "put" in e.value) for e in at.error), \
        [e.value for e in at.error]


def test_stop_then_resume_from_the_page_continues_the_run(runs_dir):
    at = open_page("train")
    fill_form(at, image_size=16, name="long", device="cpu", **{**TINY, "epochs": 400})
    press_start(at)
    run_path = runs_dir / "long"
    wait_for_state(run_path, ("running",))
    while not (run_path / "metrics.jsonl").exists():
        time.sleep(0.1)
    at.run()
    widget(at, f"stop:{run_path}").click().run()
    assert wait_for_state(run_path, ("stopped",)) == "stopped"
    stopped_at = json.loads((run_path / "status.json").read_text())["step"]
    at.run()
    assert any("stopped" in m.value for m in at.markdown)
    widget(at, f"resume:{run_path}").click().run()
    assert not at.exception and not at.error
    wait_for_state(run_path, ("running",))
    deadline = time.time() + 60
    while json.loads((run_path / "status.json").read_text()).get("step", 0) <= stopped_at and time.time() < deadline:
        time.sleep(0.1)
    (run_path / "STOP").write_text("stop")
    wait_for_state(run_path, ("stopped",))
    steps = [json.loads(line)["step"] for line in (run_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] > stopped_at  # continued, no step written twice


def test_runs_are_compared_and_deleted_with_confirmation(runs_dir):
    from conftest import tiny_config
    from dcgan.runs import start_run

    for name in ("alpha", "beta"):
        start_run(tiny_config(name))
        wait_for_state(runs_dir / name)
    at = open_page("train")
    widget(at, "chosen-runs").set_value(["alpha", "beta"]).run()
    comparison = [c for c in at.get("plotly_chart") if c.proto.id.endswith("comparison-chart")]
    assert comparison and "alpha" in comparison[0].proto.spec and "beta" in comparison[0].proto.spec
    widget(at, "delete-runs").click().run()
    assert (runs_dir / "alpha").exists()  # not before the confirmation
    widget(at, "confirm-delete-yes").click().run()
    assert not at.exception
    assert not (runs_dir / "alpha").exists() and not (runs_dir / "beta").exists()


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
    assert at.session_state["lat-seed"] != 5 and f"seed {at.session_state['lat-seed']}, moved by the sliders" \
        in image_urls(at)


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


def test_latent_page_lists_run_generators_and_arithmetic_needs_each_concept(runs_dir):
    from conftest import tiny_config
    from dcgan.runs import start_run

    start_run(tiny_config("explore-me"))
    wait_for_state(runs_dir / "explore-me")
    at = open_page("latent")
    widget(at, "latent-source").set_value("From a run").run()
    assert not at.exception and not at.error
    assert widget(at, "latent-From a run").value == "explore-me"
    assert any("16 px" in c.value for c in at.caption)
    widget(at, "ari-B").set_value([]).run()
    assert any("at least one sample for each" in e.value for e in at.error)


def test_diverged_run_offers_a_resume_with_half_the_learning_rate(runs_dir):
    from conftest import tiny_config
    from dcgan.rundir import RunDirectory
    from dcgan.runs import start_run

    run = start_run(tiny_config("blown-up", epochs=400, lr=4e-4))
    wait_for_state(run.path, ("running",))
    run.request_stop()
    wait_for_state(run.path, ("stopped",))
    # What the trainer writes when a loss turns NaN (forcing a real NaN on purpose takes luck).
    run.write_status(state="diverged", message="losses became NaN or infinite between steps 40 and 60")
    at = open_page("train", run="blown-up")
    assert any("NaN" in e.value for e in at.error)  # the reason, in words
    assert any("lower learning rate (0.0002)" in w.value for w in at.warning)
    widget(at, f"lower-lr:{run.path}:diverged").click().run()
    assert not at.exception
    assert RunDirectory(run.path).read_config()["train"]["lr"] == pytest.approx(2e-4)
    wait_for_state(run.path, ("running",))  # resumed from its checkpoint (raises if it stays diverged)
    run.request_stop()
    wait_for_state(run.path, ("stopped", "finished"))


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
        next(u for u in at.get("file_uploader") if u.key == "latent-upload") \
            .set_value(("upload.pt", buffer.getvalue(), "application/octet-stream")).run()
        assert not at.exception
        assert any("Could not load that generator" in e.value for e in at.error)
    assert not (tmp_path / "pwned").exists()


def test_projection_from_the_page_then_moved_with_the_sliders(runs_dir):
    import io as _io

    from PIL import Image

    at = open_page("latent")
    picture = _io.BytesIO()
    Image.open(ROOT / "checkpoints" / "street-digits-32px.png").crop((2, 2, 34, 34)).save(picture, format="PNG")
    next(u for u in at.get("file_uploader") if u.key == "proj-upload") \
        .set_value(("digit.png", picture.getvalue(), "image/png")).run()
    widget(at, "proj-steps").set_value(50).run()
    widget(at, "proj-run").click().run()
    assert not at.exception and not at.error
    assert any(c.startswith("closest G(z): mean squared error") for c in image_urls(at))
    widget(at, "proj-to-sliders").click().run()
    assert "projected picture, moved by the sliders" in image_urls(at)
    widget(at, "lat-dim-2-0").set_value(1.0).run()
    assert "projected picture, moved by the sliders" in image_urls(at)  # sliders move the projected z
    widget(at, "lat-seed").set_value(9).run()
    assert "seed 9, moved by the sliders" in image_urls(at)


@pytest.fixture()
def small_lab_data(monkeypatch, data_dir):
    """The lab's pages on 3,000 street-digits instead of the full 60,000 (drawn in seconds, not 20 s)."""
    import ui.lab_views
    from dcgan.bnlab import load_lab_data

    data = load_lab_data(limit=3000)
    monkeypatch.setattr(ui.lab_views, "lab_data", lambda: data)
    return data


def wait_for_job(at: AppTest, key: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while at.session_state[key].running and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception


def test_bn_lab_trains_a_pair_live_and_reports_test_accuracies(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    assert any("first comparison" in i.value for i in at.info)
    widget(at, "bn-iterations").set_value(200)
    widget(at, "bn-eval").set_value(40)
    next(b for b in at.button if "Train the pair" in str(b.label)).click().run()
    assert not at.error
    wait_for_job(at, "bn-pair-job")
    assert [m.label for m in at.metric][:2] == ["Test accuracy without batch norm", "Test accuracy with batch norm"]
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("bn-pair-chart"))
    assert "without batch norm" in chart.proto.spec and "with batch norm" in chart.proto.spec
    assert at.get("progress")[0].proto.text.startswith("relu, lr 0.01, reasonable weights: done")


@pytest.mark.parametrize("key, value, message", [("bn-lr", 0.0, "learning rate must be positive"),
                                                 ("bn-iterations", 0, "iterations must be at least 1")])
def test_bn_lab_bad_settings_are_errors(runs_dir, key, value, message):
    at = open_page("bn_lab")
    widget(at, key).set_value(value)
    next(b for b in at.button if "Train the pair" in str(b.label)).click().run()
    assert any(message in e.value for e in at.error) and "bn-pair-job" not in at.session_state


def test_bn_lab_table_runs_every_row_beside_the_published_numbers(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    widget(at, "bn-table-n").set_value(20)
    widget(at, "bn-table-run").click().run()
    wait_for_job(at, "bn-table-job")
    table = at.dataframe[0].value  # the only table on the page
    assert len(table) == 15 and {"published without BN", "ours without BN", "ours with BN"} <= set(table.columns)
    assert (table["our iterations"] == 20).all()
    assert any("Batch norm ahead in" in c.value for c in at.caption)


def test_bn_lab_inference_demo_shows_the_collapse(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    widget(at, "bn-inference-quick").click().run()
    assert not at.exception
    scores = {m.label: float(m.value) for m in at.metric}
    assert scores["one at a time, batch statistics (training mode)"] < 0.25
    assert scores["one at a time, population statistics (eval mode)"] > 0.5
    assert any("eval mode (running statistics)" in (i.proto.imgs[0].caption if i.proto.imgs else "")
               for i in at.get("image"))


def test_bn_lab_starts_two_dcgan_runs_differing_only_in_batch_norm(runs_dir):
    from dcgan.rundir import RunDirectory

    at = open_page("bn_lab")
    widget(at, "bn-dcgan-epochs").set_value(1)
    widget(at, "bn-dcgan-limit").set_value(256)
    widget(at, "bn-dcgan-start").click().run()
    assert not at.error
    on, off = (RunDirectory(runs_dir / name) for name in at.session_state["bn-dcgan-runs"])
    a, b = on.read_config(), off.read_config()
    assert a["model"]["g_batchnorm"] and a["model"]["d_batchnorm"]
    assert not b["model"]["g_batchnorm"] and not b["model"]["d_batchnorm"]
    a["model"].update(g_batchnorm=False, d_batchnorm=False)
    assert {k: v for k, v in a.items() if k not in ("name", "created")} == \
        {k: v for k, v in b.items() if k not in ("name", "created")}  # nothing else differs
    for run in (on, off):
        wait_for_state(run.path)
    at.run()
    assert not at.exception
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("bn-dcgan-chart"))
    assert on.name in chart.proto.spec and off.name in chart.proto.spec


def test_train_page_plots_the_quality_score_and_class_histogram(runs_dir):
    from conftest import tiny_config
    from dcgan.runs import start_run

    start_run(tiny_config("scored-run", epochs=2))
    wait_for_state(runs_dir / "scored-run")
    at = open_page("train", run="scored-run")
    keys = [c.proto.id.split("-", 2)[-1] for c in at.get("plotly_chart")]
    assert any(k.endswith(f"quality:{runs_dir / 'scored-run'}") for k in keys)
    assert any(k.endswith(f"histogram:{runs_dir / 'scored-run'}") for k in keys)
    assert any("street-digits classifier" in c.value for c in at.caption)
