"""The lab page's issue-18 controls through AppTest: the inside view, seeds, the sweep, kept results, and settings
that survive a reload."""

from dataclasses import asdict

import pytest
from apptest_helpers import open_page, widget
from test_app_bn_lab import small_lab_data, stop_job, wait_for_job  # noqa: F401 - fixtures and helpers

from dcgan.bnlab import store
from dcgan.bnlab.experiment import LabConfig, NetworkResult
from dcgan.bnlab.inside import InsideTrace


def has_chart(at, key: str) -> bool:
    return any(c.proto.id.endswith(key) for c in at.get("plotly_chart"))


def chart(at, key: str):
    return next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key))


def saved_pair(config: LabConfig, seeds: int = 1, state: str = "finished", started: float = 1.7e9) -> store.Saved:
    inside = lambda: InsideTrace(  # two records of a 3-hidden-layer network
        iterations=[1, 25],
        loss=[2.3, 2.0],
        pre_quantiles=[[[-1, -0.5, 0, 0.5, 1]] * 3] * 2,
        act_quantiles=[[[0.1, 0.3, 0.5, 0.7, 0.9]] * 3] * 2,
        pre_histograms=[[(-1.0, 1.0, [1, 2, 3])] * 3] * 2,
        act_histograms=[[(0.0, 1.0, [3, 2, 1])] * 3] * 2,
        saturated=[[0.9, 0.8, 0.95]] * 2,
        grad_norm=[[0.1, 0.2, 0.3, 1.0]] * 2,
        grad_passed=[[0.02, 0.03, 0.01]] * 2,
        update_ratio=[[1e-4, 2e-4, 3e-4, 1e-2]] * 2,
    )
    result = lambda bn, acc: NetworkResult(
        bn, validation=[(25, acc)], loss=[(25, 2.0)], test_accuracy=acc, trained=25, inside=inside()
    )
    config.seeds = seeds
    return store.Saved(
        store.PAIR,
        asdict(config),
        state=state,
        iteration=25,
        total=config.iterations,
        results=[(result(False, 0.1 + 0.01 * j), result(True, 0.5 + 0.01 * j)) for j in range(seeds)],
        data="street-digits",
        started=started,
    )


def test_a_reload_keeps_the_pairs_settings_and_shows_its_inside_view(runs_dir):
    config = LabConfig("sigmoid", 1.0, "bad", iterations=25, eval_every=25, inside_every=25)
    store.save(saved_pair(config, seeds=2))
    at = open_page("bn_lab")
    assert not at.exception
    assert widget(at, "bn-act").value == "sigmoid" and widget(at, "bn-lr").value == 1.0
    assert widget(at, "bn-weights").value == "bad" and widget(at, "bn-seeds").value == 2
    assert at.checkbox(key="bn-inside").value is True and widget(at, "bn-inside-every").value == 25
    for key in ("bn-pair-chart", "bn-pair-loss", "-saturated", "-passed", "-ratio", "-grad", "-pre", "-act", "-hist"):
        assert has_chart(at, key), key
    assert "1e-3" in chart(at, "-ratio").proto.spec  # the reference line
    assert [m.label for m in at.metric][:2] == ["Test accuracy without batch norm", "Test accuracy with batch norm"]
    assert any("2 seeds: lowest 0.5000, highest 0.5100" in c.value for c in at.caption)
    at.select_slider(key="bn-inside-view-it").set_value(1).run()  # the histogram slider picks a recorded iteration
    assert not at.exception and at.select_slider(key="bn-inside-view-it").value == 1
    widget(at, "bn-inside-view-seed").set_value(1).run()
    assert not at.exception


def test_a_kept_pair_can_be_reopened_in_place_of_the_last(runs_dir):
    store.save(saved_pair(LabConfig(iterations=25, eval_every=25)))
    store.keep(saved_pair(LabConfig(iterations=25, eval_every=25)))
    store.keep(saved_pair(LabConfig("tanh", 0.1, iterations=25, eval_every=25), started=1.8e9))
    at = open_page("bn_lab")
    picker = widget(at, "bn-pair-kept")
    assert len(picker.options) == 3 and "tanh, lr 0.1" in picker.options[1]
    picker.set_value(picker.options[1]).run()
    assert not at.exception
    assert any("tanh, lr 0.1" in p.proto.text for p in at.get("progress"))
    compared = next(d.value for d in at.dataframe if "settings" in d.value.columns)  # the pair tab's comes first
    assert len(compared) == 2 and compared["with BN"].tolist() == pytest.approx([0.5, 0.5])


def test_a_reload_keeps_the_tables_settings(runs_dir):
    store.save(store.Saved(store.TABLE, {"iterations": 300, "networks": 72, "seeds": 3}, state="finished"))
    at = open_page("bn_lab")
    assert widget(at, "bn-table-n").value == 300 and widget(at, "bn-table-seeds").value == 3


def test_the_sweep_refuses_a_grid_too_large_and_words_that_are_not_numbers(runs_dir):
    at = open_page("bn_lab")
    widget(at, "bn-sweep-lrs").set_value("0.01, fast").run()
    widget(at, "bn-sweep-run").click().run()
    assert any("numbers separated by commas" in e.value for e in at.error)
    widget(at, "bn-sweep-lrs").set_value("0.01, 0.1, 1, 2").run()
    widget(at, "bn-sweep-seeds").set_value(3).run()
    widget(at, "bn-sweep-run").click().run()
    assert any("at most 64 train at once" in e.value for e in at.error) and "bn-sweep-job" not in at.session_state


@pytest.mark.slow  # trains a pair with 2 seeds and its inside view in a background job
def test_a_pair_with_seeds_and_the_inside_view_trains_live_and_a_reload_keeps_it(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    widget(at, "bn-act").set_value("sigmoid")
    widget(at, "bn-lr").set_value(1.0)
    widget(at, "bn-weights").set_value("bad")
    widget(at, "bn-iterations").set_value(100)
    widget(at, "bn-seeds").set_value(2)
    widget(at, "bn-inside-every").set_value(20)
    widget(at, "bn-pair-train").click().run()
    wait_for_job(at, "bn-pair-job")
    assert has_chart(at, "-saturated") and "min-max of 2 seeds" in chart(at, "bn-pair-chart").proto.spec
    again = open_page("bn_lab")
    assert widget(again, "bn-seeds").value == 2 and has_chart(again, "-saturated")


@pytest.mark.slow  # trains the table with 2 seeds per row in a background job
def test_a_table_with_seeds_shows_bars_and_a_reload_keeps_it(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    widget(at, "bn-table-n").set_value(20)
    widget(at, "bn-table-seeds").set_value(2)
    widget(at, "bn-table-run").click().run()
    wait_for_job(at, "bn-table-job")
    assert "mean and min-max of 2 seeds" in chart(at, "bn-table-chart").proto.spec
    assert any("seeds' range" in d.value.columns for d in at.dataframe)
    again = open_page("bn_lab")
    assert "mean and min-max of 2 seeds" in chart(again, "bn-table-chart").proto.spec


@pytest.mark.slow  # trains a small sweep in a background job
def test_a_sweep_shows_its_gain_heatmap(runs_dir, small_lab_data):  # noqa: F811
    at = open_page("bn_lab")
    widget(at, "bn-sweep-lrs").set_value("1").run()
    widget(at, "bn-sweep-its").set_value(20).run()
    widget(at, "bn-sweep-run").click().run()
    wait_for_job(at, "bn-sweep-job")
    assert "heatmap" in chart(at, "bn-sweep-chart").proto.spec
    again = open_page("bn_lab")
    assert has_chart(again, "bn-sweep-chart")
