import os
import stat
from pathlib import Path

import pytest

from oci.atomicfile import atomic_write, atomic_writer


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_written_bytes_replace_the_old_content(tmp_path):
    target = tmp_path / "index.json"
    target.write_bytes(b"old content that is longer than the new one\n")
    with atomic_writer(target) as f:
        f.write(b"new\n")
        f.write(b"more\n")
    assert target.read_bytes() == b"new\nmore\n"
    assert os.listdir(tmp_path) == ["index.json"]


def test_default_mode_is_0644_whatever_the_umask(tmp_path, umask_077):
    target = tmp_path / "iid"
    atomic_write(target, b"sha256:abc")
    assert mode_of(target) == 0o644


def test_secret_file_gets_0600(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("{}")
    target.chmod(0o644)
    atomic_write(target, b'{"auths": {}}', mode=0o600)
    assert mode_of(target) == 0o600
    assert target.read_bytes() == b'{"auths": {}}'


def test_text_is_written_as_utf8(tmp_path):
    target = tmp_path / "note"
    atomic_write(target, "café")
    assert target.read_bytes() == "café".encode()


def test_relative_path_lands_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atomic_write("out.tar", b"tar")
    assert (tmp_path / "out.tar").read_bytes() == b"tar"
    assert os.listdir(tmp_path) == ["out.tar"]


def test_failure_mid_write_leaves_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "image.tar"
    target.write_bytes(b"the old archive")
    target.chmod(0o640)
    with pytest.raises(RuntimeError, match="export failed"):
        with atomic_writer(target) as f:
            f.write(b"x" * 100_000)
            raise RuntimeError("export failed")
    assert target.read_bytes() == b"the old archive"
    assert mode_of(target) == 0o640
    assert os.listdir(tmp_path) == ["image.tar"]


def test_failure_before_any_file_existed_creates_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(tmp_path / "new.json") as f:
            f.write(b"{")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_failed_rename_leaves_no_temp_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_bytes(b"")
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert os.listdir(target) == ["inside"]


def test_missing_directory_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "absent" / "file", b"data")
    assert os.listdir(tmp_path) == []


def test_symlink_at_the_path_is_replaced_by_the_file(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "real").write_bytes(b"untouched")
    link = tmp_path / "iidfile"
    link.symlink_to(elsewhere / "real")
    atomic_write(link, b"sha256:abc")
    assert not link.is_symlink()
    assert link.read_bytes() == b"sha256:abc"
    assert (elsewhere / "real").read_bytes() == b"untouched"
    assert os.listdir(elsewhere) == ["real"]
