"""The batch-norm lab, second pass (issue 14): its last results kept on disk across a reload, a page switch and a
server restart; the whole lesson's table and its chart; the DCGAN pair's Fréchet distances side by side; an ETA
measured from iterations; *Custom std* enabled only for custom weights."""

import json
import math
import time

import pytest
from apptest_helpers import open_page, widget
from test_app_bn_lab import small_lab_data, wait_for_job  # noqa: F401 (a fixture)

from dcgan.bnlab import store
from dcgan.bnlab.experiment import LabConfig, NetworkResult


def reload_page(restart: bool = False):
    """A new session on the lab page, as a reload gives; `restart`: as if the server had restarted too (no job of
    this process is found, only what is on disk)."""
    if restart:
        import ui.jobs

        ui.jobs._SHARED.clear()
    return open_page("bn_lab")


def train_pair_button(at):
    return widget(at, "bn-pair-train")


# -- the store, engine side -------------------------------------------------------------------------------
def test_a_saved_pair_comes_back_with_its_diverged_points(runs_dir):
    without = NetworkResult(False, [(50, 0.5), (100, float("nan"))], [(50, 1.0), (100, float("inf"))], 100, 0.098, 100)
    with_bn = NetworkResult(True, [(50, 0.8), (100, 0.9)], [(50, 0.4), (100, 0.3)], None, 0.91, 100)
    store.save(store.Saved(store.PAIR, vars(LabConfig(iterations=100)), "finished", 100, 100, [(without, with_bn)]))
    assert store.path_of(store.PAIR) == runs_dir / ".bn-lab" / "pair.json"
    record = json.loads((runs_dir / ".bn-lab" / "pair.json").read_text())  # strict JSON: no NaN
    assert record["results"][0][0]["validation"][1] == [100, None] and record["version"] == 1
    saved, note = store.load(store.PAIR)
    assert note == "" and saved.state == "finished" and saved.config == LabConfig(iterations=100)
    a, b = saved.results[0]
    assert math.isnan(a.validation[1][1]) and a.diverged_at == 100 and b.test_accuracy == 0.91 and b.batchnorm


@pytest.mark.parametrize(
    "content, why",
    [
        (b"{not json", "could not be read"),
        (b'{"kind": "table", "version": 1}', "not the lab's pair file"),
        (b'{"kind": "pair", "version": 99}', "version 99"),
        (b"\xff\xfe", "could not be read"),
        (b"[1, 2]", "not the lab's pair file"),
    ],
)
def test_a_damaged_or_foreign_pair_file_is_ignored_with_a_note(runs_dir, content, why):
    path = store.path_of(store.PAIR)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    saved, note = store.load(store.PAIR)
    assert saved is None and why in note and str(path) in note


def test_a_pair_file_with_impossible_settings_is_ignored(runs_dir):
    store.save(store.Saved(store.PAIR, vars(LabConfig(lr=-1.0))))
    assert store.load(store.PAIR)[0] is None and "learning rate" in store.load(store.PAIR)[1]


def test_an_older_experiment_ending_after_a_newer_one_started_leaves_the_newer_ones_file(runs_dir):
    old = store.Recorder(store.Saved(store.PAIR, vars(LabConfig(seed=1))))
    store.Recorder(store.Saved(store.PAIR, vars(LabConfig(seed=2))))
    old.finish([], stopped=True)  # the old one was stopped by the new start and ends just after it
    assert store.load(store.PAIR)[0].config.seed == 2


def test_the_dcgan_pair_names_are_kept_and_a_foreign_file_is_ignored(runs_dir):
    store.save_dcgan_pair(["bn-on-1", "bn-off-1"])
    assert store.load_dcgan_pair() == (["bn-on-1", "bn-off-1"], "")
    store.path_of(store.DCGAN_PAIR).write_text('{"kind": "dcgan-pair", "runs": ["../etc", "x"]}')
    names, note = store.load_dcgan_pair()
    assert names == [] and "not a run's folder name" in note


def test_the_lab_folder_is_not_listed_as_a_run(runs_dir):
    from dcgan.runs.manage import list_runs

    store.save_dcgan_pair(["a", "b"])
    assert list_runs() == []


# -- the ETA ------------------------------------------------------------------------------------------------
def test_the_eta_waits_for_a_measurement_and_does_not_grow_while_the_count_stalls():
    import threading

    from test_lab_jobs import FakeClock

    from ui.jobs import BackgroundJob

    clock, go_on = FakeClock(), threading.Event()
    job = BackgroundJob(lambda progress, should_stop: go_on.wait(10), clock=clock)
    try:
        assert job.eta_s() is None
        clock.now += 30  # loading the data: not training
        job._report(0, 1000)
        clock.now += 5
        assert job.eta_s() is None  # one report measures nothing: "estimating…"
        job._report(100, 1000)  # 100 iterations in 5 s
        assert job.eta_s() == pytest.approx(45.0)
        clock.now += 60  # the count stalls for a minute (a validation, a busy CPU)
        job._report(100, 1000)
        assert job.eta_s() == pytest.approx(45.0)
        job._report(200, 1000)  # 200 in 65 s
        assert job.eta_s() == pytest.approx(65 / 200 * 800)
    finally:
        go_on.set()


def test_the_progress_says_estimating_until_iterations_are_measured(runs_dir):
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from ui import lab_views
        from ui.jobs import BackgroundJob

        job = BackgroundJob(lambda progress, should_stop: should_stop() or None, clock=lambda: 0.0)
        job.finished, job.progress, job._first_report = None, (10, 100, None), (0.0, 10)
        lab_views.job_progress(job, "relu")
        st.caption("shown")

    at = AppTest.from_function(page).run()
    assert "ETA estimating…" in at.get("progress")[0].proto.text


# -- the page ----------------------------------------------------------------------------------------------
def test_custom_std_is_enabled_only_for_custom_weights(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    assert widget(at, "bn-std").disabled
    widget(at, "bn-weights").set_value("bad").run()
    assert widget(at, "bn-std").disabled
    widget(at, "bn-weights").set_value("custom").run()
    assert not widget(at, "bn-std").disabled
    widget(at, "bn-std").set_value(0.2)
    widget(at, "bn-iterations").set_value(20)
    widget(at, "bn-eval").set_value(10)
    train_pair_button(at).click().run()
    try:
        assert not at.error and at.session_state["bn-pair-job"].info.std == 0.2
    finally:
        wait_for_job(at, "bn-pair-job")


def test_a_reload_and_a_restart_show_the_last_pair_again(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    widget(at, "bn-iterations").set_value(100)
    widget(at, "bn-eval").set_value(20)
    train_pair_button(at).click().run()
    wait_for_job(at, "bn-pair-job")
    saved = json.loads(store.path_of(store.PAIR).read_text())
    assert saved["state"] == "finished" and saved["iteration"] == 100 and len(saved["results"][0][0]["validation"]) == 5
    for restart in (False, True):
        again = reload_page(restart)
        assert not again.exception and not any("first comparison" in i.value for i in again.info)
        assert [m.label for m in again.metric][:2] == [
            "Test accuracy without batch norm",
            "Test accuracy with batch norm",
        ]
        assert any(c.proto.id.endswith("bn-pair-chart") for c in again.get("plotly_chart"))
        assert again.get("progress")[0].proto.text.startswith("relu, lr 0.01, reasonable weights: done in")


def test_a_reload_finds_a_pair_still_training_and_can_stop_it(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    widget(at, "bn-iterations").set_value(100_000)
    train_pair_button(at).click().run()
    job = at.session_state["bn-pair-job"]
    try:
        deadline = time.monotonic() + 60
        while (job.progress is None or job.progress[0] == 0) and job.running and time.monotonic() < deadline:
            time.sleep(0.05)  # past loading the data: the reloaded page shows an iteration count
        again = reload_page()
        assert again.session_state["bn-pair-job"] is job and job.running
        assert "iteration" in again.get("progress")[0].proto.text
        widget(again, "bn-pair-stop").click().run()
    finally:
        job.stop()
        wait_for_job(at, "bn-pair-job")
    assert json.loads(store.path_of(store.PAIR).read_text())["state"] == "stopped"
    shown = reload_page(restart=True).get("progress")[0].proto.text
    assert "stopped at iteration" in shown and "of 100,000" in shown


def test_a_pair_that_was_training_when_the_server_stopped_says_so(runs_dir):
    store.save(store.Saved(store.PAIR, vars(LabConfig()), "running", 400, 2000, device="CPU"))
    at = reload_page(restart=True)
    assert not at.exception
    assert "interrupted at iteration 400 of 2,000: the server stopped" in at.get("progress")[0].proto.text


def test_a_damaged_saved_pair_is_a_note_and_the_page_starts_empty(runs_dir):
    path = store.path_of(store.PAIR)
    path.parent.mkdir(parents=True)
    path.write_text('{"kind": "pair", "version": 1, "state": "finished"')
    at = reload_page(restart=True)
    assert not at.exception and any("could not be read and is ignored" in w.value for w in at.warning)
    assert any("first comparison" in i.value for i in at.info)


def test_the_whole_table_and_its_chart_come_back_after_a_restart(runs_dir, small_lab_data, monkeypatch):  # noqa: F811
    import streamlit

    heights, dataframe = [], streamlit.dataframe

    def spy(data, **kwargs):  # the height is not in the element AppTest shows
        heights.append(kwargs.get("height"))
        return dataframe(data, **kwargs)

    monkeypatch.setattr(streamlit, "dataframe", spy)
    at = open_page("bn_lab")
    assert len(at.dataframe[0].value) == 15 and heights == ["content"]  # every row: "auto" shows ten
    widget(at, "bn-table-n").set_value(20)
    widget(at, "bn-table-run").click().run()
    wait_for_job(at, "bn-table-job")
    again = reload_page(restart=True)
    table = next(d for d in again.dataframe if "row" in d.value.columns)  # not the kept results' comparison
    shown = table.value
    assert len(shown) == 15 and (shown["our iterations"] == 20).all()
    key_columns = ["weights", "lr", "activation", "published without BN", "published with BN"]
    assert list(shown.columns)[:7] == ["row", *key_columns[:3], "published iterations", *key_columns[3:]]
    assert {"ours without BN", "ours with BN"} <= set(shown.columns) and list(shown.columns)[-1] == "note"
    assert set(heights) == {"content", None}  # the lesson's table at its full height; the comparison as it comes
    chart = next(c for c in again.get("plotly_chart") if c.proto.id.endswith("bn-table-chart"))
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"] if t.get("showlegend", True)] == [
        "without batch norm",
        "with batch norm",
    ]
    assert len([t for t in spec["data"] if t.get("mode") == "markers"]) == 4  # published and ours, each a pair
    assert any("Batch norm ahead in" in c.value for c in again.caption)
    assert "done in" in again.get("progress")[0].proto.text


def test_the_table_chart_shows_the_published_numbers_before_any_run(runs_dir):
    at = open_page("bn_lab")
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith("bn-table-chart")).proto.spec)
    markers = [t for t in spec["data"] if t.get("mode") == "markers"]
    assert len(markers) == 2 and markers[0]["x"][0] == 0.9748 and len(markers[0]["y"]) == 15


def test_the_dcgan_pair_is_remembered_with_its_frechet_distances_side_by_side(runs_dir, data_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import create_run

    on, off = (create_run(tiny_config(name)) for name in ("bn-on-x", "bn-off-x"))
    for run in (on, off):
        run.write_status(state="finished", step=8, epoch=1.0)
    on.append_quality(
        {"epoch": 1.0, "step": 8, "frechet": 12.5, "confidence": 0.9, "feature_space": "x", "histogram": [0.1] * 10}
    )
    store.save_dcgan_pair([on.name, off.name])
    at = reload_page()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Fréchet distance, bn-on-x"] == "12.50" and metrics["Fréchet distance, bn-off-x"] == "—"
    assert any("no score yet" in c.value for c in at.caption)
    assert any("at epoch 1 (step 8)" in c.value for c in at.caption)
