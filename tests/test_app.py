"""The Home and Train pages through Streamlit's AppTest: they render, start and show runs, and turn bad input into
st.error."""

import json
import time

import pytest
from apptest_helpers import TINY, fill_form, open_page, press_start, wait_for_state, widget


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
    assert any(
        "50,000 training images" in (img.proto.imgs[0].caption if img.proto.imgs else "") for img in at.get("image")
    )  # the preview of the default dataset


@pytest.mark.slow  # trains real runs in background processes
def test_tiny_run_started_from_the_page_shows_progress_chart_and_samples(runs_dir):
    at = open_page("train")
    fill_form(at, image_size=16, name="tiny", device="cpu", score_samples=200, score_every=4, **TINY)
    press_start(at)
    assert not at.error, [e.value for e in at.error]
    assert at.query_params["run"] == "tiny"  # a browser refresh comes back to this run
    train = json.loads((runs_dir / "tiny" / "config.json").read_text())["train"]
    assert (train["score_samples"], train["score_every"]) == (200, 4)
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


@pytest.mark.slow  # trains real runs in background processes
def test_a_refreshed_browser_comes_back_to_the_run_in_the_address(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import start_run

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


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("lr", 0.0, "learning rate must be positive"),
        ("batch_size", 0, "batch size must be at least 1"),
        ("name", "bad name!", "run name"),
        ("score_every", -5, "score every must be 0"),
    ],
)
def test_impossible_settings_are_errors(runs_dir, setting, value, message):
    at = open_page("train")
    fill_form(at, **{setting: value})
    press_start(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_dataset_that_cannot_be_downloaded_says_what_to_do(runs_dir, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # offline for sure, and at once: not mirror timeouts
    at = open_page("train")
    widget(at, "dataset").set_value("mnist").run()
    assert not at.exception
    assert any("mnist" in e.value.lower() and ("download" in e.value or "put" in e.value) for e in at.error), [
        e.value for e in at.error
    ]


@pytest.mark.slow  # trains real runs in background processes
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


@pytest.mark.slow  # trains real runs in background processes
def test_runs_are_compared_and_deleted_with_confirmation(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import start_run

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


@pytest.mark.slow  # trains real runs in background processes
def test_diverged_run_offers_a_resume_with_half_the_learning_rate(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.directory import RunDirectory
    from dcgan.runs.manage import start_run

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


@pytest.mark.slow  # trains real runs in background processes
def test_train_page_plots_the_quality_score_and_class_histogram(runs_dir, monkeypatch):
    from conftest import tiny_config

    from dcgan.runs.manage import start_run

    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # the background trainer inherits it: score every epoch
    start_run(tiny_config("scored-run", epochs=2))
    wait_for_state(runs_dir / "scored-run")
    at = open_page("train", run="scored-run")
    keys = [c.proto.id.split("-", 2)[-1] for c in at.get("plotly_chart")]
    assert any(k.endswith(f"quality:{runs_dir / 'scored-run'}") for k in keys)
    assert any(k.endswith(f"histogram:{runs_dir / 'scored-run'}") for k in keys)
    assert any("street-digits classifier" in c.value for c in at.caption)
