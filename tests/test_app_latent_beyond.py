"""The latent explorer's issue-17 controls through AppTest: the direction families, truncation, the batch-norm
switch, saving a direction, class directions, the map and the memorisation check."""

import pytest
from apptest_helpers import open_page, widget
from test_app_latent import image_urls

CAPTION = "seed 0, moved by the sliders"


def test_sefa_family_has_eigenvalue_sliders_that_move_the_image(runs_dir):
    at = open_page("latent")
    before = image_urls(at)[CAPTION]
    widget(at, "lat-family").set_value("SeFa").run()
    assert not at.exception
    first = widget(at, "lat-sefa-1-0")
    assert "eigenvalue" in first.label
    first.set_value(2.0).run()
    assert image_urls(at)[CAPTION] != before


def test_truncation_psi_and_batchnorm_mode_change_the_sample(runs_dir):
    at = open_page("latent")
    before = image_urls(at)[CAPTION]
    widget(at, "lat-psi").set_value(0.0).run()
    assert not at.exception
    at_zero = image_urls(at)[CAPTION]
    assert at_zero != before
    widget(at, "lat-seed").set_value(7).run()
    assert image_urls(at)["seed 7, moved by the sliders"] == at_zero  # ψ = 0: every z gives the mean's image
    widget(at, "lat-psi").set_value(1.0).run()
    widget(at, "lat-bn-mode").set_value("batch").run()
    in_batch = image_urls(at)["seed 7, moved by the sliders"]
    widget(at, "lat-bn-mates").set_value(5).run()
    assert not at.exception
    assert image_urls(at)["seed 7, moved by the sliders"] != in_batch  # other batch-mates, another image


def test_a_direction_is_saved_reloaded_and_deleted(runs_dir):
    at = open_page("latent")
    widget(at, "lat-family").set_value("SeFa").run()
    widget(at, "lat-save-name").set_value("stroke width").run()
    widget(at, "lat-save").click().run()
    assert not at.exception and not at.error
    saved = list((runs_dir / ".latent-directions").glob("street-digits-32px-*.json"))
    assert len(saved) == 1 and "stroke width" in saved[0].read_text()
    widget(at, "lat-save").click().run()  # the same name again: refused, in words
    assert any("already saved" in e.value for e in at.error)
    widget(at, "lat-family").set_value("Saved").run()
    assert widget(at, "lat-saved-1-0").label == "stroke width"
    widget(at, "lat-delete").click().run()
    assert not at.exception and "stroke width" not in saved[0].read_text()


def test_a_damaged_directions_file_is_named_not_a_traceback(runs_dir):
    at = open_page("latent")
    widget(at, "lat-family").set_value("SeFa").run()
    widget(at, "lat-save-name").set_value("first").run()
    widget(at, "lat-save").click().run()
    (saved,) = (runs_dir / ".latent-directions").glob("*.json")
    saved.write_text("{not json")
    widget(at, "lat-family").set_value("PCA").run()
    assert not at.exception
    assert any(str(saved) in e.value and "cannot be read" in e.value for e in at.error)


@pytest.mark.slow
def test_class_directions_fit_and_the_histogram_moves_toward_the_class(runs_dir):
    at = open_page("latent")
    widget(at, "cls-fit").click().run()
    assert not at.exception
    widget(at, "cls-amount-7").set_value(8.0).run()
    assert not at.exception
    chart = at.get("plotly_chart")
    assert chart and '"after the move"' in chart[0].proto.spec
    widget(at, "lat-family").set_value("Classes").run()  # the Sliders tab now offers the fitted family
    assert widget(at, "lat-cls-1-7").label.startswith("toward class 7")


@pytest.mark.slow
def test_map_runs_and_the_shipped_generator_cannot_be_checked_for_copying(runs_dir):
    at = open_page("latent")
    widget(at, "map-run").click().run()
    assert not at.exception and any(c.key == "map-chart-tsne-0" for c in at.get("plotly_chart"))
    # The shipped files were trained on an older street-digits drawing: their training images are not here.
    assert any("cannot be checked here" in i.value and "older drawing" in i.value for i in at.info)
    assert not [b for b in at.button if b.key in ("mem-projection-run", "mem-pools-run")]


def test_memorisation_checks_run_on_a_runs_generator(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    assert train_run(create_run(tiny_config("seen")))["state"] == "finished"
    at = open_page("latent")
    widget(at, "latent-source").set_value("From a run").run()
    widget(at, "latent-From a run").set_value("seen").run()
    widget(at, "mem-pools-run").click().run()
    assert not at.exception
    assert any("of 2,000 samples lie nearer a training image" in i.value for i in [*at.info, *at.warning])
    widget(at, "mem-images").set_value(16).run()
    widget(at, "mem-steps").set_value(50).run()
    widget(at, "mem-projection-run").click().run()
    assert not at.exception
    assert any("Cannot tell from so few images" in i.value for i in at.info)  # 16 images: no verdict


def test_without_a_classifier_of_its_own_dataset_the_page_says_why(runs_dir):
    from dcgan.latent.real_images import classifier_of_generator

    assert "has no labels" in classifier_of_generator({"dataset": "folder"})
    assert "No mnist classifier has been trained" in classifier_of_generator({"dataset": "mnist"})  # empty data folder
    assert not isinstance(classifier_of_generator({"dataset": "street-digits"}), str)  # the shipped one
