"""Issue 14's second pass over the Train and Home pages: the ETA says "estimating…" until measured, the grid
slider stays where the person put it, Home's first "New samples" is new, the form stays collapsed while a run
is shown, and the watchdog speaks before its first verdict. Runs are faked (a run folder written by hand, its
lock held by the test so the view takes it for a live one): nothing is trained."""

import pytest
from apptest_helpers import open_page, widget
from conftest import tiny_config
from PIL import Image

from dcgan.runs.directory import RunDirectory
from dcgan.runs.records import Metric
from dcgan.train.watchdog import WatchdogConfig, diagnose, early_guidance


def fake_run(runs_dir, name="fake", grids=0, **status) -> RunDirectory:
    run = RunDirectory(runs_dir / name)
    run.path.mkdir(parents=True)
    run.write_config(tiny_config(name, epochs=50).resolved().to_dict())
    run.write_status(state="running", step=0, total_steps=400, steps_per_epoch=8, epoch=0.0, **status)
    for step in range(1, grids + 1):
        add_grid(run, step * 8)
    return run


def add_grid(run: RunDirectory, step: int) -> None:
    run.save_sample(step, Image.new("RGB", (8, 8), (step % 256, 0, 0)))


@pytest.fixture()
def live(runs_dir):
    """A faked run that the view takes for a live one: the test holds its lock, as a trainer would."""
    run = fake_run(runs_dir, "live")
    run.acquire_lock()
    yield run
    run.release_lock()


def progress_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def test_the_eta_says_estimating_until_the_trainer_has_measured_it(live):
    live.write_status(step=10, epoch=1.25, eta_s=None)
    at = open_page("train", run="live")
    assert "ETA estimating…" in progress_text(at) and "--:--" not in progress_text(at)
    live.write_status(step=30, epoch=3.75, eta_s=75.0)
    at.run()
    assert "ETA 01:15" in progress_text(at)
    # A resume: the launcher writes "starting" while the old status still holds the last estimate.
    live.write_status(state="starting", message="waiting for the trainer to start")
    at.run()
    assert "ETA estimating…" in progress_text(at)


def slider(at, run):
    return widget(at, f"sample:{run.path}")


def caption_of_grid(at) -> str:
    return next(c for c in (i.proto.imgs[0].caption for i in at.get("image")) if "Fixed latent batch" in c)


def test_the_grid_slider_stays_on_an_older_grid_when_new_ones_arrive_and_follows_again_at_the_end(runs_dir):
    run = fake_run(runs_dir, "grids", grids=3)
    at = open_page("train", run="grids")
    assert slider(at, run).value == 3 and "(3 of 3)" in caption_of_grid(at)  # follows the newest
    add_grid(run, 32)
    at.run()
    assert slider(at, run).value == 4 and "(4 of 4)" in caption_of_grid(at)
    slider(at, run).set_value(2).run()
    assert "step 16" in caption_of_grid(at)
    for step in (40, 48):  # new grids arrive while the person looks at the second
        add_grid(run, step)
        at.run()
        s = slider(at, run)
        assert (s.value, s.min, s.max) == (2, 1, len(run.samples()))
        assert "step 16" in caption_of_grid(at) and f"(2 of {len(run.samples())})" in caption_of_grid(at)
    slider(at, run).set_value(6).run()  # back to the end: follow the newest again
    add_grid(run, 56)
    at.run()
    assert slider(at, run).value == 7 and "(7 of 7)" in caption_of_grid(at)
    assert not at.exception


def readings(steps, d_loss=1.2, g_loss=1.5, d_real=0.55, d_fake=0.45):
    return [
        {
            Metric.STEP: s,
            Metric.D_LOSS: d_loss,
            Metric.G_LOSS: g_loss + (s % 40) / 40,
            Metric.D_REAL: d_real,
            Metric.D_FAKE: d_fake,
        }
        for s in steps
    ]


D_AHEAD = {"d_loss": 0.3, "d_real": 0.9, "d_fake": 0.1}
D_WINS = {"d_loss": 0.01, "g_loss": 6.0, "d_real": 0.99, "d_fake": 0.01}


def test_early_on_the_watchdog_says_d_is_ahead_as_usual_and_gives_no_verdict():
    rows = readings(range(20, 200, 20), **D_AHEAD)
    status = {"state": "running", "total_steps": 2000}
    assert diagnose(rows, status, lr=2e-4) == []
    guidance = early_guidance(rows, status)
    assert guidance.hedged and guidance.kind == "early" and guidance.suggested_lr is None
    assert "too early to judge" in guidance.message.lower() and "step 600" in guidance.message
    assert "D is ahead" in guidance.advice and "usual for the first few hundred steps" in guidance.advice
    assert early_guidance(readings(range(20, 200, 20)), status) is None  # balanced: nothing to say yet
    late = readings(range(20, 800, 20))
    assert early_guidance(late, status) is None  # a verdict is possible: diagnose speaks, not guesses


def test_a_short_run_gets_a_verdict_when_it_runs_past_the_warm_up():
    rows = readings(range(20, 300, 20)) + readings(range(300, 441, 20), **D_WINS)
    status = {"state": "finished", "total_steps": 440}
    (finding,) = diagnose(rows, status, lr=2e-4)
    assert finding.kind == "discriminator-wins" and finding.suggested_lr == pytest.approx(1e-4)
    assert early_guidance(rows, status) is None
    # The same readings with no known total (a long run) are still inside the usual window: no verdict yet.
    assert diagnose(rows, {"state": "running"}, lr=2e-4) == []
    healthy = readings(range(20, 441, 20))
    assert diagnose(healthy, status, lr=2e-4) == []


def test_a_run_shorter_than_the_warm_up_is_called_too_short_to_judge_with_what_it_showed():
    rows = readings(range(2, 41, 2), **D_WINS)
    status = {"state": "finished", "total_steps": 40, "steps_per_epoch": 8}
    assert diagnose(rows, status, lr=2e-4) == []
    note = early_guidance(rows, status)
    assert note.kind == "too-short" and note.hedged
    assert "step 40" in note.message and "400 steps" in note.message
    assert "D was ahead" in note.advice and "50 epochs" in note.advice
    assert WatchdogConfig().warmup_steps + WatchdogConfig().short_window_steps == 400


def test_the_run_view_shows_the_early_guidance(live):
    for row in readings(range(20, 161, 20), **D_AHEAD):
        live.append_metrics(row)
    live.write_status(step=160, epoch=20.0, eta_s=None)
    at = open_page("train", run="live")
    assert any("Too early to judge" in i.value and "D is ahead" in i.value for i in at.info), [i.value for i in at.info]
    assert not at.warning


def test_home_new_samples_draws_a_new_batch_from_the_first_press(runs_dir):
    at = open_page("home")
    fixed = at.get("image")[0].proto.imgs[0]
    assert "fixed latent batch" in fixed.caption
    seeds = []
    for _ in range(3):
        widget(at, "home-new-samples").click().run()
        assert not at.exception
        seeds.append(at.session_state["home-seed"])
        assert "new random samples" in at.get("image")[0].proto.imgs[0].caption
    # The shipped grid is its run's fixed batch, seeded_z(1) (the card's seed 1): never drawn again.
    assert 1 not in seeds and len(set(seeds)) == 3


def form_expanded(at) -> bool:
    (form,) = [e for e in at.expander if e.label == "Start a new run"]
    return form.proto.expanded


def test_the_form_is_collapsed_while_a_run_is_shown_and_open_when_none_is(runs_dir):
    at = open_page("train")
    assert form_expanded(at)  # no runs: the form is the page
    run = fake_run(runs_dir, "ended", grids=2)
    run.write_status(state="stopped", step=40, epoch=5.0)
    at = open_page("train", run="ended")
    assert not form_expanded(at)  # a stopped run is shown: its view, not the form, comes first
    fake_run(runs_dir, "other", grids=1).write_status(state="finished", step=400, epoch=50.0)
    at = open_page("train", run="other")
    assert not form_expanded(at)
    at = open_page("train", run="gone")
    assert form_expanded(at) and any("no run named 'gone'" in w.value for w in at.warning)
