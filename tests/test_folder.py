"""Folder datasets: every mode Pillow reads scaled right, every skipped file counted and named, the same
in the preview, the run's status, the command line and the streamed path."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.config import DataConfig
from dcgan.data.folder import (
    PREVIEW_CHECKS_ALL_UP_TO,
    FolderImages,
    SkippedFile,
    describe_skipped_report,
    preview_folder,
    skipped_report,
)
from dcgan.data.image_file import ALPHA_BACKGROUND, MIN_IMAGE_SIDE, read_image
from dcgan.data.loading import load_images, preview
from dcgan.errors import DatasetUnavailable

SIZE = 16
EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE_TO_DISPLAY = 6  # EXIF's value for a phone held upright: the sensor's rows run down the picture
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), ALPHA_BACKGROUND


def saved(img: Image.Image, path, **options):
    img.save(path, **options)
    return path


def decoded(path, channels=3, size=SIZE) -> np.ndarray:
    """(size, size, channels) int: easier to index by pixel than read_image's (channels, size, size)."""
    return read_image(path, size, channels).transpose(1, 2, 0).astype(int)


def jpeg_cut_mid_scan(path):
    """A real JPEG whose header is whole but whose compressed data stops half way, as a broken download does."""
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


def sixteen_bit_gradient() -> Image.Image:
    """A 16-bit greyscale PNG's pixels: 0 on the left to 65535 on the right."""
    return Image.fromarray(np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1)))


def cmyk_quadrants() -> Image.Image:
    """Cyan, magenta, yellow and black quadrants, in the ink values a CMYK JPEG stores."""
    img = Image.new("CMYK", (64, 64))
    for (x, y), ink in zip(
        [(0, 0), (32, 0), (0, 32), (32, 32)], [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]
    ):
        img.paste(ink, (x, y, x + 32, y + 32))
    return img


def red_disc_on_transparency() -> Image.Image:
    """A red disc; outside it the pixels are fully transparent and hold black, as many editors leave them."""
    yy, xx = np.mgrid[:64, :64]
    inside = (yy - 32) ** 2 + (xx - 32) ** 2 < 20**2
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[inside] = (255, 0, 0, 255)
    return Image.fromarray(rgba, "RGBA")


def palette_with_transparent_entry() -> Image.Image:
    """A palette picture: left half entry 1 (blue), right half entry 0, which the file marks transparent."""
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 32, 64))
    return img


def upright_red_over_blue_stored_on_its_side(path):
    """A phone photo: stored with red on top and blue below, tagged to be turned 90° clockwise for display,
    so it shows blue on the left and red on the right."""
    img = Image.new("RGB", (64, 48), RED)
    img.paste(BLUE, (0, 24, 64, 48))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CLOCKWISE_TO_DISPLAY
    return saved(img, path, format="JPEG", quality=95, exif=exif.tobytes())


KEPT = ["cmyk.jpg", "float.tif", "gradient16.png", "palette.png", "rgba.png", "rotated.jpg"]
SKIPPED = {"corrupt.jpg": "damaged or cut short", "dot.png": "too small: 1x1", "notes.jpg": "not an image"}


@pytest.fixture
def mixed_folder(tmp_path):
    """The issue's folder: every awkward kind of file a real folder holds, plus a text file not named as an image."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    saved(sixteen_bit_gradient(), folder / "gradient16.png")
    saved(cmyk_quadrants(), folder / "cmyk.jpg", quality=95)
    saved(red_disc_on_transparency(), folder / "rgba.png")
    saved(Image.fromarray(np.full((48, 64), 0.5, np.float32)), folder / "float.tif")
    saved(palette_with_transparent_entry(), folder / "palette.png", transparency=0)
    upright_red_over_blue_stored_on_its_side(folder / "rotated.jpg")
    jpeg_cut_mid_scan(folder / "corrupt.jpg")
    (folder / "notes.jpg").write_text("a text file named like a picture")
    (folder / "readme.txt").write_text("not named as a picture: not an image file at all")
    saved(Image.new("RGB", (1, 1), RED), folder / "dot.png")
    return folder


def folder_config(folder, tmp_path, **fields) -> DataConfig:
    return DataConfig(dataset="folder", folder=str(folder), data_dir=str(tmp_path / "data"), **fields)


def test_folder_nested_centre_cropped_and_cached(tmp_path):
    folder = tmp_path / "faces"
    (folder / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (80, 40), (255, 0, 0)).save(folder / "wide.png")
    Image.new("RGB", (50, 50), (0, 0, 255)).save(folder / "a" / "b" / "deep.jpg")
    (folder / "a" / "b" / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not named as an image: not looked at")
    cfg = folder_config(folder, tmp_path)
    data = load_images(cfg, SIZE, 3)
    assert data.images.shape == (2, 3, SIZE, SIZE) and data.skipped == [SkippedFile("a/b/broken.png", "not an image")]
    assert (data.images[0, :, 8, 8].int() - torch.tensor([0, 0, 255])).abs().max() <= 2  # deep.jpg: JPEG's blue
    assert tuple(data.images[1, :, 8, 8]) == (255, 0, 0)  # wide.png
    assert list((tmp_path / "data" / "cache").glob("folder-*.npz"))
    count, grid = preview(cfg, SIZE, 3)
    assert count == 2 and grid.size[0] > SIZE  # the images the run uses, not the 3 image files


@pytest.mark.parametrize("folder, message", [("missing", "does not exist"), ("empty", "holds no images")])
def test_folder_errors_say_what_to_do(tmp_path, folder, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailable, match=message):
        load_images(DataConfig(dataset="folder", folder=str(tmp_path / folder), data_dir=str(tmp_path)), 32, 3)


# -- every mode, scaled right ------------------------------------------------------------------------------------
def test_16_bit_png_is_scaled_not_clipped_to_white(tmp_path):
    mid_grey = saved(Image.fromarray(np.full((32, 32), 32768, np.uint16)), tmp_path / "mid.png")
    assert Image.open(mid_grey).mode == "I;16"
    assert np.all(np.abs(decoded(mid_grey, channels=1) - 128) <= 1)  # Pillow's own convert gave 255
    gradient = decoded(saved(sixteen_bit_gradient(), tmp_path / "gradient.png"), channels=1)[0, :, 0]
    assert gradient[0] < 16 and gradient[-1] > 239 and np.all(np.diff(gradient) > 0)


@pytest.mark.parametrize("value, expected", [(0.5, 128), (1.0, 255), (0.0, 0), (200.0, 200)])
def test_float_tiff_of_0_to_1_or_whole_8_bit_values_keeps_its_brightness(tmp_path, value, expected):
    path = saved(Image.fromarray(np.full((32, 32), value, np.float32)), tmp_path / "f.tif")
    assert Image.open(path).mode == "F"
    assert np.all(np.abs(decoded(path, channels=1) - expected) <= 1)  # Pillow's own convert gave 0 for 0.5


def test_float_tiff_of_physical_values_is_stretched_over_its_range(tmp_path):
    depth = np.tile(np.linspace(-3.0, 5.5, 32, dtype=np.float32), (32, 1))
    depth[0, 0] = np.nan  # a missing measurement: shown as the lowest value, not as an error
    grey = decoded(saved(Image.fromarray(depth), tmp_path / "depth.tif"), channels=1, size=32)[..., 0]
    assert grey[5, 0] == 0 and grey[5, -1] == 255 and abs(int(grey[5, 16]) - round(16 / 31 * 255)) <= 1
    assert grey[0, 0] <= 8


@pytest.mark.parametrize("value, expected", [(200, 200), (40000, round(40000 / 257)), (10**7, 255)])
def test_32_bit_integer_tiff_is_read_as_8_bit_16_bit_or_stretched(tmp_path, value, expected):
    pixels = np.full((32, 32), value, np.int32)
    pixels[0] = 0  # a dark row, so the stretched case has a range
    path = saved(Image.fromarray(pixels), tmp_path / "i.tif")
    assert Image.open(path).mode == "I"
    assert abs(decoded(path, channels=1, size=32)[16, 16, 0] - expected) <= 1


def test_transparent_pixels_become_the_background_colour_not_their_hidden_black(tmp_path):
    disc = decoded(saved(red_disc_on_transparency(), tmp_path / "disc.png"), size=32)
    assert tuple(disc[0, 0]) == WHITE and tuple(disc[16, 16]) == RED
    half = Image.new("RGBA", (16, 16), (255, 0, 0, 128))
    assert np.all(np.abs(decoded(saved(half, tmp_path / "half.png"))[8, 8] - (255, 127, 127)) <= 1)
    grey_alpha = Image.new("LA", (16, 16), (0, 0))
    assert decoded(saved(grey_alpha, tmp_path / "la.png"), channels=1)[8, 8, 0] == 255


def test_palette_transparency_becomes_the_background(tmp_path):
    path = saved(palette_with_transparent_entry(), tmp_path / "p.png", transparency=0)
    pixels = decoded(path, size=32)
    assert tuple(pixels[16, 4]) == BLUE and tuple(pixels[16, 28]) == WHITE


def test_cmyk_jpeg_inks_become_their_rgb_colours(tmp_path):
    pixels = decoded(saved(cmyk_quadrants(), tmp_path / "c.jpg", quality=95), size=32)
    inks = {(8, 8): (0, 255, 255), (8, 24): (255, 0, 255), (24, 8): (255, 255, 0), (24, 24): (0, 0, 0)}
    for (y, x), rgb in inks.items():
        assert np.all(np.abs(pixels[y, x] - rgb) <= 12), (y, x, pixels[y, x])


def test_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    pixels = decoded(upright_red_over_blue_stored_on_its_side(tmp_path / "phone.jpg"), size=32)
    assert np.all(np.abs(pixels[16, 2] - BLUE) <= 12) and np.all(np.abs(pixels[16, 29] - RED) <= 12)


def test_bilevel_and_animated_pictures(tmp_path):
    bilevel = Image.new("1", (16, 16), 0)
    bilevel.paste(1, (8, 0, 16, 16))
    pixels = decoded(saved(bilevel, tmp_path / "b.png"), channels=1)[..., 0]
    assert pixels[8, 1] == 0 and pixels[8, 14] == 255
    frames = [Image.new("L", (16, 16), 200), Image.new("L", (16, 16), 10)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert abs(decoded(tmp_path / "a.gif", channels=1)[8, 8, 0] - 200) <= 2  # the first frame


def test_pictures_below_the_minimum_side_are_refused_with_their_size(tmp_path):
    from dcgan.errors import UnreadableImage

    with pytest.raises(UnreadableImage, match=r"dot\.png is too small: 1×1 pixels") as refused:
        read_image(saved(Image.new("RGB", (1, 1)), tmp_path / "dot.png"), SIZE, 3)
    assert refused.value.reason == "too small: 1x1"
    thin = saved(Image.new("RGB", (MIN_IMAGE_SIDE, 40)), tmp_path / "thin.png")
    assert read_image(thin, SIZE, 3).shape == (3, SIZE, SIZE)


# -- skipped files: counted, named, and the same everywhere ------------------------------------------------------
def test_run_loads_the_usable_files_and_names_every_skip_with_why(mixed_folder, tmp_path):
    data = load_images(folder_config(mixed_folder, tmp_path), SIZE, 3)
    assert len(data) == len(KEPT) and data.skipped == [SkippedFile(f, r) for f, r in sorted(SKIPPED.items())]
    again = load_images(folder_config(mixed_folder, tmp_path), SIZE, 3)  # from the cache: the skips are kept too
    assert torch.equal(again.images, data.images) and again.skipped == data.skipped
    assert len(list((tmp_path / "data" / "cache").glob("folder-*.npz"))) == 1


def test_preview_and_run_agree_on_the_count_and_name_the_skips(mixed_folder, tmp_path):
    cfg = folder_config(mixed_folder, tmp_path)
    shown = preview(cfg, SIZE, 3)
    count, grid = shown
    assert count == len(load_images(cfg, SIZE, 3)) == len(KEPT) and grid.size[0] > SIZE
    caption = shown.caption(SIZE)
    assert caption.startswith(f"{len(KEPT)} training images at {SIZE} px")
    assert f"Of {len(KEPT) + len(SKIPPED)} image files, {len(SKIPPED)} files skipped" in caption
    for name, reason in SKIPPED.items():
        assert f"{name} ({reason})" in caption


def test_preview_of_a_large_folder_decodes_a_sample_and_says_the_run_counts_the_rest(tmp_path, monkeypatch):
    import dcgan.data.folder as folder_module

    folder = tmp_path / "large"
    folder.mkdir()
    for i in range(12):
        saved(Image.new("RGB", (20, 20), (i * 20, 0, 0)), folder / f"{i:02d}.png")
    (folder / "05.png").write_bytes(b"not a png")
    monkeypatch.setattr(folder_module, "PREVIEW_CHECKS_ALL_UP_TO", 10)  # pretend 12 files is CelebA-sized
    shown = preview_folder(folder, SIZE, 3, tmp_path / "cache", count=4)
    assert (shown.count, shown.checked) == (12, 4) and not (tmp_path / "cache").exists()  # nothing loaded whole
    every = preview_folder(folder, SIZE, 3, tmp_path / "cache", count=12)
    assert every.skipped == [SkippedFile("05.png", "not an image")]
    assert "1 of the 12 files sampled for this preview are skipped: 05.png (not an image)" in every.caption(SIZE)
    assert every.caption(SIZE).endswith(
        "The run checks every file as it loads the folder, and says how many it skipped"
    )
    assert PREVIEW_CHECKS_ALL_UP_TO >= 1_000  # a few hundred pictures of one's own are checked whole


def test_a_folder_of_nothing_usable_says_what_each_file_is(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_text("text")
    saved(Image.new("RGB", (2, 3)), folder / "b.png")
    with pytest.raises(
        DatasetUnavailable,
        match=r"none of the 2 image files .* can be used \(2 files skipped: "
        r"a\.png \(not an image\), b\.png \(too small: 2x3\)\)",
    ):
        load_images(folder_config(folder, tmp_path), SIZE, 3)


def test_skipped_report_stays_small_and_survives_a_damaged_status():
    many = [SkippedFile(f"{i}.jpg", "not an image") for i in range(1000)]
    report = skipped_report(many)
    assert report["count"] == 1000 and len(report["first"]) == 5 and len(json.dumps(report)) < 400
    assert describe_skipped_report(report).endswith("4.jpg (not an image) and 995 more")
    assert describe_skipped_report(json.loads(json.dumps(report))) == describe_skipped_report(report)
    damaged = (None, "3 files", {"count": "3"}, {"count": 0, "first": []}, {"count": 2, "first": "x"})
    said = [describe_skipped_report(report) for report in damaged]
    assert said == [None, None, None, None, "2 files skipped"]  # a count without names is still said


def tile(grid: Image.Image, index: int, columns: int, side: int, padding: int = 2) -> np.ndarray:
    """Image `index` of an image_grid, as (side, side, 3) int."""
    top, left = padding + (index // columns) * (side + padding), padding + (index % columns) * (side + padding)
    return np.asarray(grid.convert("RGB"))[top : top + side, left : left + side].astype(int)


def test_training_run_reports_the_skips_in_status_and_terminal_and_shows_the_kept_images(
    mixed_folder, tmp_path, runs_dir, capsys
):
    from dcgan.cli import main

    code = main(
        [
            "train",
            "--dataset",
            "folder",
            "--folder",
            str(mixed_folder),
            "--data-dir",
            str(tmp_path / "data"),
            "--name",
            "mixed",
            "--batch-size",
            "2",
            "--image-size",
            str(SIZE),
            "--g-width",
            "8",
            "--d-width",
            "8",
            "--epochs",
            "1",
            "--log-every",
            "1",
            "--sample-count",
            "16",
            "--score-every",
            "0",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    status = json.loads((runs_dir / "mixed" / "status.json").read_text())
    assert status["images"] == len(KEPT) and status["skipped_files"] == {
        "count": len(SKIPPED),
        "first": [{"file": f, "reason": r} for f, r in sorted(SKIPPED.items())],
    }
    named = ", ".join(f"{f} ({r})" for f, r in sorted(SKIPPED.items()))
    assert f"{len(SKIPPED)} files skipped: {named}; training on the other {len(KEPT)} images" in err
    reals = Image.open(runs_dir / "mixed" / "reals.png")  # the kept images in file order, 3 a row
    cmyk, float_grey, gradient, palette, disc, rotated = (tile(reals, i, 3, SIZE) for i in range(len(KEPT)))
    assert np.all(np.abs(cmyk[3, 3] - (0, 255, 255)) <= 12) and np.all(np.abs(float_grey - 128) <= 1)
    assert gradient[8, 0, 0] < 16 and gradient[8, -1, 0] > 239
    assert tuple(palette[8, 2]) == BLUE and tuple(palette[8, 13]) == WHITE
    assert tuple(disc[0, 0]) == WHITE and tuple(disc[8, 8]) == RED
    assert np.all(np.abs(rotated[8, 1] - BLUE) <= 12) and np.all(np.abs(rotated[8, 14] - RED) <= 12)


def test_streamed_folder_skips_bad_headers_and_never_trains_on_a_made_up_black_image(mixed_folder, capfd):
    streamed = FolderImages(mixed_folder, SIZE, 3)
    assert streamed.skipped == [SkippedFile("dot.png", "too small: 1x1"), SkippedFile("notes.jpg", "not an image")]
    names = [f.name for f in streamed.files]
    assert len(streamed) == len(KEPT) + 1 and "corrupt.jpg" in names  # damaged past its header: found on decoding
    corrupt = names.index("corrupt.jpg")
    stand_in = streamed[corrupt]
    assert torch.equal(stand_in, streamed[corrupt + 1]) and stand_in.max() > 0  # the next usable image, not black
    assert "skipping corrupt.jpg (damaged or cut short): the next usable image" in capfd.readouterr().err
    streamed[corrupt]
    assert "skipping corrupt.jpg" not in capfd.readouterr().err  # said once, not every epoch


def test_streamed_run_batches_hold_only_real_images_and_report_the_skips(mixed_folder, tmp_path, monkeypatch):
    from conftest import tiny_config

    import dcgan.data.batches as batches

    monkeypatch.setattr(batches, "MEMORY_BUDGET_BYTES", 0)  # pretend the folder does not fit
    cfg = tiny_config("streamed", dataset="folder", folder=str(mixed_folder), limit=0, batch_size=7)
    source = batches.make_batches(cfg.data, cfg.model.resolved(), 7, torch.device("cpu"), seed=0)
    assert isinstance(source, batches.StreamingBatches)
    for batch in source.epoch(0):
        assert (batch.flatten(1) > -1).any(1).all()  # no image in the batch is all black (-1 after to_float)
    assert batches.skipped_files(source.skipped)["count"] == 2


def test_train_page_names_the_skips_in_the_preview_and_in_the_runs_view(mixed_folder, tmp_path, runs_dir, monkeypatch):
    from apptest_helpers import open_page, widget
    from conftest import tiny_config

    from dcgan.runs.manage import create_run

    monkeypatch.setenv("DCGAN_DATA_DIR", str(tmp_path / "data"))
    at = open_page("train")
    widget(at, "dataset").set_value("folder").run()
    widget(at, "folder").set_value(str(mixed_folder)).run()
    captions = [img.proto.imgs[0].caption for img in at.get("image") if img.proto.imgs]
    assert any(
        c.startswith(f"{len(KEPT)} training images at ")
        and "corrupt.jpg (damaged or cut short)" in c
        and "dot.png (too small: 1x1)" in c
        and "notes.jpg (not an image)" in c
        for c in captions
    ), captions

    run = create_run(tiny_config("shown", dataset="folder", folder=str(mixed_folder), limit=0, batch_size=2))
    run.write_status(
        state="finished",
        step=3,
        total_steps=3,
        steps_per_epoch=3,
        images=len(KEPT),
        skipped_files=skipped_report([SkippedFile(f, r) for f, r in sorted(SKIPPED.items())]),
    )
    at = open_page("train", run="shown")
    said = [c.value for c in at.caption if "files skipped" in c.value]
    assert len(said) == 1 and f"trains on the other {len(KEPT)} images" in said[0]
    assert "corrupt.jpg (damaged or cut short), dot.png (too small: 1x1), notes.jpg (not an image)" in said[0]
