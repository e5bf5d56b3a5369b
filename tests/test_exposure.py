"""A server reachable from other machines reads image folders only under the roots its operator allowed."""

import os
from pathlib import Path

import pytest
from apptest_helpers import open_page, press_start, widget
from PIL import Image
from streamlit import config

from dcgan.data.folder_access import FOLDER_ROOTS_ENV, allowed_folder, folder_roots
from dcgan.errors import FolderNotAllowed
from ui.folder_field import is_loopback

SERVER_ADDRESS = "server.address"


@pytest.fixture()
def disk(tmp_path):
    """allowed/faces (an image), secret/ (an image), and allowed/escape, a symlink from the root to secret/."""
    for folder in ("allowed/faces", "secret"):
        (tmp_path / folder).mkdir(parents=True)
        Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / folder / "image.png")
    (tmp_path / "allowed" / "escape").symlink_to(tmp_path / "secret")
    return tmp_path


def test_a_folder_inside_a_root_is_allowed_as_its_resolved_path(disk):
    roots = [disk / "allowed"]
    assert allowed_folder(disk / "allowed" / "faces", roots) == disk / "allowed" / "faces"
    assert allowed_folder(disk / "allowed", roots) == disk / "allowed"
    assert allowed_folder(f"{disk}/secret/../allowed/./faces", roots) == disk / "allowed" / "faces"


@pytest.mark.parametrize(
    "folder", ["secret", "allowed/../secret", "allowed/faces/../../secret", "allowed/escape", "/", "allowed-not"]
)
def test_a_folder_leading_out_of_the_roots_is_refused(disk, folder):
    (disk / "allowed-not").mkdir()  # shares the root's name as a prefix, not as a parent
    with pytest.raises(FolderNotAllowed) as err:
        allowed_folder(disk / folder, [disk / "allowed"])
    message = str(err.value)
    assert "is not inside the allowed folders" in message and str(disk / "allowed") in message
    assert f"{FOLDER_ROOTS_ENV}={disk / 'allowed'}{os.pathsep}" in message  # how to add a root


def test_a_symlinked_path_says_where_it_leads(disk):
    with pytest.raises(FolderNotAllowed, match=f"which leads to {disk / 'secret'}"):
        allowed_folder(disk / "allowed" / "escape", [disk / "allowed"])


def test_no_roots_refuses_every_folder_and_says_how_to_allow_one(disk):
    with pytest.raises(
        FolderNotAllowed,
        match=f"{FOLDER_ROOTS_ENV} names no folders.*restart the server with {FOLDER_ROOTS_ENV}=/path/to/images",
    ):
        allowed_folder(disk / "allowed" / "faces", [])


def test_roots_are_read_from_the_environment_resolved(disk, monkeypatch):
    (disk / "link-to-allowed").symlink_to(disk / "allowed")
    monkeypatch.setenv("HOME", str(disk))
    monkeypatch.setenv(FOLDER_ROOTS_ENV, os.pathsep.join(["~/link-to-allowed", "", f" {disk}/secret/.. "]))
    assert folder_roots() == [disk / "allowed", disk]
    assert folder_roots("") == []
    monkeypatch.delenv(FOLDER_ROOTS_ENV)
    assert folder_roots() == []


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        (None, False),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("fd00::2", False),
        ("studio.lan", False),
        ("unix:///run/studio.sock", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine_only(address, loopback):
    assert is_loopback(address) is loopback


# The page, driven by AppTest, with the server's address set as `--server.address` would set it.


@pytest.fixture()
def server_address():
    """Sets server.address for the test (AppTest runs the page in this process, so the page reads it)."""
    option = config.get_config_options()[SERVER_ADDRESS]
    before, where = option.value, option.where_defined

    def set_address(address):
        config.set_option(SERVER_ADDRESS, address)

    yield set_address
    config.set_option(SERVER_ADDRESS, before, where)


def folder_page(folder):
    at = open_page("train")
    widget(at, "dataset").set_value("folder").run()
    widget(at, "folder").set_value(str(folder)).run()
    assert not at.exception, at.exception
    return at


def previews(at):
    return [
        img.proto.imgs[0].caption
        for img in at.get("image")
        if img.proto.imgs and "training image" in img.proto.imgs[0].caption
    ]


@pytest.mark.parametrize("address", ["0.0.0.0", ""])
def test_network_exposed_page_reads_folders_only_under_the_roots(runs_dir, disk, monkeypatch, server_address, address):
    server_address(address)
    monkeypatch.setenv(FOLDER_ROOTS_ENV, str(disk / "allowed"))
    at = folder_page(disk / "allowed" / "faces")
    assert previews(at) == ["1 training image at 64 px — a few of them"] and not at.error
    assert any("reachable from other machines" in c.value and str(disk / "allowed") in c.value for c in at.caption)
    for outside in (disk / "secret", disk / "allowed" / ".." / "secret", disk / "allowed" / "escape"):
        widget(at, "folder").set_value(str(outside)).run()
        assert not previews(at), outside
        assert any("is not inside the allowed folders" in e.value for e in at.error), outside
    press_start(at)
    assert not (runs_dir.exists() and any(runs_dir.iterdir()))  # no run reads the refused folder


def test_network_exposed_page_without_roots_refuses_every_folder(runs_dir, disk, monkeypatch, server_address):
    server_address("0.0.0.0")
    monkeypatch.delenv(FOLDER_ROOTS_ENV, raising=False)
    at = folder_page(disk / "allowed" / "faces")
    assert not previews(at)
    assert any(
        "every folder is refused" in c.value and f"{FOLDER_ROOTS_ENV}=/path/to/images" in c.value for c in at.caption
    )
    assert any(f"{FOLDER_ROOTS_ENV} names no folders" in e.value for e in at.error)


def test_localhost_page_reads_any_folder_as_before(runs_dir, disk, monkeypatch, server_address):
    server_address("localhost")
    monkeypatch.delenv(FOLDER_ROOTS_ENV, raising=False)
    at = folder_page(disk / "secret")
    assert previews(at) == ["1 training image at 64 px — a few of them"]
    assert not at.error and not any(FOLDER_ROOTS_ENV in c.value for c in at.caption)


def test_roots_set_on_a_localhost_server_apply_too(runs_dir, disk, monkeypatch, server_address):
    """A localhost server behind a reverse proxy is reachable, and the page cannot tell: the roots still hold."""
    server_address("127.0.0.1")
    monkeypatch.setenv(FOLDER_ROOTS_ENV, str(disk / "allowed"))
    at = folder_page(disk / "secret")
    assert not previews(at) and any("is not inside the allowed folders" in e.value for e in at.error)
    assert any(f"{FOLDER_ROOTS_ENV} is set" in c.value for c in at.caption)


def test_the_project_config_serves_on_localhost_only():
    import tomllib
    from conftest import ROOT

    settings = tomllib.loads((Path(ROOT) / ".streamlit" / "config.toml").read_text())
    assert is_loopback(settings["server"]["address"])
