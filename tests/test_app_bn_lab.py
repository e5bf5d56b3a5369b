"""The batch-norm lab page through AppTest: a pair, the table, the inference demo, the DCGAN pair."""

import time

import pytest
from apptest_helpers import open_page, wait_for_state, widget
from streamlit.testing.v1 import AppTest


@pytest.fixture()
def small_lab_data(monkeypatch, data_dir):
    """The lab's pages on 3,000 street-digits instead of the full 60,000 (drawn in seconds, not 20 s)."""
    import ui.lab_views
    from dcgan.bnlab.experiment import load_lab_data

    data = load_lab_data(limit=3000)
    monkeypatch.setattr(ui.lab_views, "lab_data", lambda: data)
    return data


def wait_for_job(at: AppTest, key: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while at.session_state[key].running and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception


def stop_job(at: AppTest, key: str) -> None:
    """Stop a job a test left running, and wait for it: a thread still training when pytest exits aborts it."""
    at.session_state[key].stop()
    wait_for_job(at, key)


@pytest.mark.slow  # trains the pair 300 iterations in a background job
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


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("bn-lr", 0.0, "learning rate must be positive"),
        ("bn-iterations", 0, "iterations must be at least 1"),
        ("bn-iterations", 10**9, "iterations must be at most 100,000, not 1,000,000,000: twice the lesson's longest"),
        ("bn-seed", -1, "seed must be a whole number from 0"),
    ],
)
def test_bn_lab_bad_settings_are_errors(runs_dir, key, value, message):
    at = open_page("bn_lab")
    widget(at, key).set_value(value)
    next(b for b in at.button if "Train the pair" in str(b.label)).click().run()
    assert any(message in e.value for e in at.error) and "bn-pair-job" not in at.session_state


@pytest.mark.parametrize("iterations, message", [(10**9, "iterations must be at most 100,000"), (0, "iterations")])
def test_bn_lab_tables_iteration_count_out_of_range_is_an_error_not_the_old_value(runs_dir, iterations, message):
    """A widget min/max would keep the last valid count and train with it, its reason only in a tooltip."""
    at = open_page("bn_lab")
    assert "at most 100,000" in widget(at, "bn-table-n").help
    widget(at, "bn-table-n").set_value(iterations).run()
    widget(at, "bn-table-run").click().run()
    assert not at.exception and any(message in e.value for e in at.error)
    assert "bn-table-job" not in at.session_state


@pytest.mark.slow  # trains the pair in a background job (test_lab_jobs checks the bookkeeping quickly)
def test_bn_lab_marks_a_job_seen_each_time_the_page_shows_it(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    widget(at, "bn-iterations").set_value(100_000)
    next(b for b in at.button if "Train the pair" in str(b.label)).click().run()
    job = at.session_state["bn-pair-job"]
    try:
        before = job.last_seen
        time.sleep(0.05)
        at.run()
        assert job.last_seen > before and job.running
    finally:
        stop_job(at, "bn-pair-job")


@pytest.mark.slow  # trains the pair in a background job (test_lab_jobs checks the bookkeeping quickly)
def test_bn_lab_ends_a_job_no_page_has_shown_and_says_so(runs_dir, small_lab_data, monkeypatch):
    """A closed tab stops polling; its job ends itself after UNSEEN_LIMIT_S (here a fraction of a second)."""
    import ui.jobs

    monkeypatch.setattr(ui.jobs, "UNSEEN_LIMIT_S", 0.3)
    at = open_page("bn_lab")
    widget(at, "bn-iterations").set_value(100_000)
    next(b for b in at.button if "Train the pair" in str(b.label)).click().run()
    wait_for_job(at, "bn-pair-job")  # no at.run() while it waits: nothing shows the job
    job = at.session_state["bn-pair-job"]
    assert job.abandoned and job.progress[0] < 100_000
    assert "no page has shown it for 0.3 s (was its tab closed?)" in at.get("progress")[0].proto.text


@pytest.mark.slow  # trains all 15 rows in a background job
def test_bn_lab_table_runs_every_row_beside_the_published_numbers(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    widget(at, "bn-table-n").set_value(20)
    widget(at, "bn-table-run").click().run()
    wait_for_job(at, "bn-table-job")
    # the lesson's table (the kept results' table lists this one beside it)
    table = next(df.value for df in at.dataframe if "published without BN" in df.value.columns)
    assert len(table) == 15 and {"published without BN", "ours without BN", "ours with BN"} <= set(table.columns)
    assert (table["our iterations"] == 20).all()
    assert any("Batch norm ahead in" in c.value for c in at.caption)


@pytest.mark.slow  # trains a pair 300 iterations (test_bnlab checks the demo's numbers)
def test_bn_lab_inference_demo_shows_the_collapse(runs_dir, small_lab_data):
    at = open_page("bn_lab")
    widget(at, "bn-inference-quick").click().run()
    assert not at.exception
    scores = {m.label: float(m.value) for m in at.metric}
    assert scores["one at a time, batch statistics (training mode)"] < 0.25
    assert scores["one at a time, population statistics (eval mode)"] > 0.5
    assert any(
        "eval mode (running statistics)" in (i.proto.imgs[0].caption if i.proto.imgs else "") for i in at.get("image")
    )


@pytest.mark.slow  # trains two real DCGAN runs in background processes
def test_bn_lab_starts_two_dcgan_runs_differing_only_in_batch_norm(runs_dir):
    from dcgan.runs.directory import RunDirectory

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
    assert {k: v for k, v in a.items() if k not in ("name", "created")} == {
        k: v for k, v in b.items() if k not in ("name", "created")
    }  # nothing else differs
    for run in (on, off):
        wait_for_state(run.path)
    at.run()
    assert not at.exception
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("bn-dcgan-chart"))
    assert on.name in chart.proto.spec and off.name in chart.proto.spec


@pytest.mark.slow  # trains two real DCGAN runs in background processes
def test_bn_lab_starts_no_second_dcgan_pair_while_the_first_trains(runs_dir):
    """The DCGAN pair is two processes that outlive the tab (runs, with their own Stop); a second click
    while they train would pile two more onto the same cores."""
    from dcgan.runs.directory import RunDirectory
    from dcgan.runs.manage import request_stop

    at = open_page("bn_lab")
    widget(at, "bn-dcgan-limit").set_value(12_800)  # minutes of training: still running at the second click
    widget(at, "bn-dcgan-start").click().run()
    first = at.session_state["bn-dcgan-runs"]
    try:
        widget(at, "bn-dcgan-start").click().run()
        assert any("are still training: stop them" in e.value for e in at.error)
        run_folders = [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")]  # not the lab's .bn-lab
        assert at.session_state["bn-dcgan-runs"] == first and sorted(run_folders) == sorted(first)
    finally:
        for name in first:
            request_stop(RunDirectory(runs_dir / name))
        for name in first:
            wait_for_state(runs_dir / name)
