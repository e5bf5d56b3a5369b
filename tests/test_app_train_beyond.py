"""The app's side of issue 16's keeping: the Latent explorer offers a run's best and last generators, and the
Train page rolls an ended run back to an epoch and trains on from there."""

import pytest
from apptest_helpers import open_page, wait_for_state, widget
from conftest import finished_three_epoch_run

from dcgan.runs.snapshots import snapshot_epochs


@pytest.fixture()
def kept(runs_dir, monkeypatch):
    return finished_three_epoch_run("kept", monkeypatch)


def test_latent_explorer_offers_a_runs_best_and_last_generator(kept):
    at = open_page("latent")
    widget(at, "latent-source").set_value("From a run").run()
    choice = widget(at, "latent-From a run")
    assert list(choice.options) == ["kept", "kept · best"]
    choice.set_value("kept · best").run()
    assert not at.exception and not at.error
    best_step = min(kept.read_quality(), key=lambda r: r["frechet"])["step"]
    assert any(f"step {best_step}" in c.value and "run kept" in c.value for c in at.caption)


@pytest.mark.slow  # trains on in a background process
def test_train_page_rolls_an_ended_run_back_and_it_trains_on_from_there(kept):
    at = open_page("train", run="kept")
    widget(at, f"rollback-epoch:{kept.path}").set_value(1).run()
    widget(at, f"rollback-lr:{kept.path}").set_value(1e-4).run()
    widget(at, f"rollback:{kept.path}").click().run()
    assert not at.exception and not at.error
    assert wait_for_state(kept.path) == "finished"
    steps = [r["step"] for r in kept.read_metrics()[0]]
    assert steps == sorted(set(steps)) and steps[-1] == 24 and kept.read_config()["train"]["lr"] == 1e-4
    assert snapshot_epochs(kept) == [1, 2, 3]


def test_a_collapse_in_the_quality_score_offers_a_rollback_to_before_it(kept):
    import json

    records = kept.read_quality()
    for record in records[1:]:  # epochs 2 and 3: one class makes most samples
        record["collapsed"] = True
    records[0]["collapsed"] = False
    (kept.path / "quality.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    at = open_page("train", run="kept")
    assert any("collapsed onto one class since step 16" in w.value for w in at.warning)
    assert widget(at, f"rollback-collapse:{kept.path}").label == "Roll back to epoch 1 with learning rate 0.0001"


def test_the_comparison_table_shows_two_d_steps_and_ttur_rates(runs_dir):
    from test_app_compare import finished_run, table

    finished_run(runs_dir, "plain", 64, [10, 20], steps_per_epoch=10)
    finished_run(runs_dir, "ttur", 64, [10, 20], steps_per_epoch=10, d_steps=2, lr_g=1e-4, lr_d=4e-4)
    at = open_page("train", run="ttur")
    widget(at, "chosen-runs").set_value(["plain", "ttur"]).run()
    assert not at.exception, at.exception
    rows = table(at)
    assert rows["train.d_steps"]["plain"] == "1" and rows["train.d_steps"]["ttur"] == "2"
    assert (rows["train.lr_g"]["ttur"], rows["train.lr_d"]["ttur"]) == ("0.0001", "0.0004")
    assert rows["train.lr_g"]["plain"] == "0"  # 0: the same as lr


def test_a_diverged_run_is_offered_a_rollback_below_the_rate_that_was_healthy(kept):
    raw = kept.read_config()
    raw["train"]["lr"] = 1.0  # raised until it diverged; the snapshots trained at 2e-4
    kept.write_config(raw)
    kept.write_status(state="diverged", message="losses became NaN or infinite between steps 24 and 26")
    at = open_page("train", run="kept")
    best = min(kept.read_quality(), key=lambda r: r["frechet"])["step"] // 8
    button = widget(at, f"rollback-advice:{kept.path}:diverged")
    assert button.label == f"Roll back to epoch {best} with learning rate 0.0001"  # not 0.5, half the raised rate
