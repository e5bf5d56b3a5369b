"""Truncation judged as it usually is: cleaner by precision, less varied by recall (both against real held-out
images), with the classifier's confidence shown beside them even when it falls; without real images the page
says what it cannot measure."""

import pytest
import torch
from apptest_helpers import open_page, widget

from dcgan.config import ModelConfig
from dcgan.latent.truncation import TruncationReport, describe_change, measure_truncation, real_reference
from dcgan.models import build_models


def report(psi, precision, recall, confidence=0.9, diversity=50.0):
    return TruncationReport(psi, confidence, diversity, 8.0, 10, precision, recall, 1000, reals=2000)


def test_cleaner_and_less_varied_only_beyond_two_standard_errors():
    plain = report(1.0, 0.52, 0.97, confidence=0.93)
    sentence = describe_change(plain, report(0.5, 0.72, 0.78, confidence=0.86, diversity=38.0))
    assert sentence.startswith("At ψ = 0.50: cleaner (precision 0.52 → 0.72")
    assert "less varied (recall 0.97 → 0.78" in sentence and "93.0% → 86.0%" in sentence
    assert "blander digits" in sentence  # confidence fell while precision rose: said, not hidden
    noise = describe_change(plain, report(0.95, 0.53, 0.965))
    assert "no cleaner" in noise and "no less varied" in noise
    assert "less clean (" in describe_change(plain, report(0.5, 0.30, 0.97))


def test_without_real_images_the_sentence_says_cleanliness_is_not_measured():
    sentence = describe_change(report(1.0, None, None), report(0.5, None, None, diversity=30.0))
    assert "less varied" in sentence and "needs real images" in sentence and "cleaner (" not in sentence


class FirstPixelsModel(torch.nn.Module):
    """A stand-in classifier: its features are the first 8 pixel values, its 10 class scores their sums."""

    def forward(self, x):
        features = x.flatten(1)[:, :8]
        return features.sum(1, keepdim=True).repeat(1, 10) * torch.arange(10.0), features


def test_measured_with_real_images_gives_precision_and_recall(monkeypatch):
    import dcgan.latent.truncation as truncation

    monkeypatch.setattr(truncation, "classify", lambda model, images, batch=500: _classify(model, images))
    G, _ = build_models(ModelConfig(image_size=16, z_dim=12, g_width=8, d_width=8))
    reals = torch.rand(300, 3, 16, 16) * 2 - 1
    reference = real_reference(FirstPixelsModel(), reals)
    cfg = truncation.TruncationConfig(samples=200, batch=100)
    measured = measure_truncation(G.eval(), FirstPixelsModel(), 0.5, reference, cfg)
    assert 0 <= measured.precision <= 1 and 0 <= measured.recall <= 1 and measured.reals == len(reference.points)
    assert measure_truncation(G, FirstPixelsModel(), 0.5, None, cfg).precision is None


def _classify(model, images):
    scores, features = model(images)
    return features, scores.softmax(1)


@pytest.mark.slow
def test_the_tab_says_cleaner_by_precision_at_half_on_the_shipped_generator(runs_dir):
    at = open_page("latent")
    widget(at, "lat-psi").set_value(0.5).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "At ψ = 0.50: cleaner (precision" in text and "less varied (recall" in text
    assert any(m.label == "Precision (cleaner)" for m in at.metric)
