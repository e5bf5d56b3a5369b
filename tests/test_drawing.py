"""street-digits drawn in the background while a run trains on its first blocks: same images, same order."""

import numpy as np
import pytest
import torch

from dcgan.data import street_digits
from dcgan.data.batches import DeviceBatches, blocked_order, epoch_order
from dcgan.data.loading import ImageSet
from dcgan.data.street_digits import BackgroundDrawing, draw_in_background, load_street_digits, render_street_digits

COUNT, SIZE = 4500, 8  # blocks of CHUNK: full ones and a partial last one


def test_blocked_order_is_a_permutation_that_keeps_each_block_together():
    order = blocked_order(10_000, seed=3, epoch=0, block=4096)
    assert sorted(order.tolist()) == list(range(10_000))
    for start in (0, 4096, 8192):
        block = order[start : start + 4096]
        assert block.min() >= start and block.max() < start + 4096
    assert not torch.equal(order[:4096], torch.arange(4096))  # shuffled within its block
    assert torch.equal(blocked_order(300, 3, 0, 4096), epoch_order(300, 3, 0))  # one block: the plain order


def test_the_background_drawing_draws_the_same_images_and_caches_them(tmp_path):
    drawing = BackgroundDrawing("train", tmp_path, SIZE, 3, count=COUNT)
    drawing.wait_for(COUNT)
    images, labels = render_street_digits(COUNT, street_digits.TRAIN_SEED, SIZE, 3)
    assert torch.equal(drawing.images, images) and torch.equal(drawing.labels, labels)
    drawing._thread.join(timeout=60)  # the cache is written after the last block
    cached = draw_in_background("train", tmp_path, SIZE, 3, count=COUNT)
    assert isinstance(cached, tuple) and torch.equal(cached[0], images)
    assert torch.equal(load_street_digits("train", tmp_path, SIZE, 3, count=COUNT)[0], images)


def _batches(source, images, labels) -> DeviceBatches:
    drawing = source if isinstance(source, BackgroundDrawing) else None
    data = ImageSet(images, labels, "street-digits (train)")
    return DeviceBatches(data, 64, torch.device("cpu"), seed=5, first_epoch_block=street_digits.CHUNK, drawing=drawing)


def test_batches_while_drawing_equal_the_batches_of_the_drawn_set_from_any_step(tmp_path):
    images, labels = render_street_digits(COUNT, street_digits.TRAIN_SEED, SIZE, 3)
    drawn = _batches((images, labels), images, labels)
    drawing = BackgroundDrawing("train", tmp_path, SIZE, 3, count=COUNT)
    while_drawing = _batches(drawing, drawing.images, drawing.labels)
    for start in (0, 40):  # 40: a resume past the first blocks
        expected = list(drawn.epoch(0, start))
        got = list(while_drawing.epoch(0, start))
        assert len(got) == len(expected) == drawn.steps_per_epoch - start
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert torch.equal(while_drawing.first(16), images[:16])
    assert torch.equal(next(while_drawing.epoch(1)), next(drawn.epoch(1)))  # later epochs: the whole set shuffled


def test_a_failed_drawing_stops_training_with_its_error(tmp_path, monkeypatch):
    calls = []

    def failing(gen, masks, widths, n, size, channels):
        calls.append(n)
        if len(calls) > 1:
            raise MemoryError("cannot allocate the second block")
        return torch.zeros(n, channels, size, size, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64)

    monkeypatch.setattr(street_digits, "_render_chunk", failing)
    drawing = BackgroundDrawing("train", tmp_path, SIZE, 3, count=COUNT)
    batches = _batches(drawing, drawing.images, drawing.labels)
    with pytest.raises(MemoryError, match="second block"):
        list(batches.epoch(0))
    assert not list(tmp_path.glob("*.npz"))  # nothing half-drawn is cached


def test_a_damaged_cache_is_drawn_again(tmp_path):
    path = tmp_path / f"street-digits-v{street_digits.RENDER_VERSION}-train-{COUNT}-{SIZE}px-3ch.npz"
    path.write_bytes(b"not a zip")
    found = draw_in_background("train", tmp_path, SIZE, 3, count=COUNT)
    assert isinstance(found, BackgroundDrawing)
    found.wait_for(COUNT)
    assert np.array_equal(found.images.numpy(), render_street_digits(COUNT, 0, SIZE, 3)[0].numpy())
