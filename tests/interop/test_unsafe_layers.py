"""Crafted layer tars that would write outside the target are refused by `pybuild import`
and `pybuild load`: one line naming the entry, nothing outside changed, no image added."""

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import peers

# Enough `..` to climb from any target directory to `/`, then down to the victim.
UP = "../" * 40


@dataclass(frozen=True)
class Crafted:
    entries: list[tarfile.TarInfo]
    bad_entry: str  # the entry the error must name


def crafted(kind: str, victim: Path) -> Crafted:
    victim_rel = str(victim).lstrip("/")

    def directory(name):
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        return info

    def regular(name):
        info = tarfile.TarInfo(name)
        info.mode, info.size = 0o644, len(b"pwned\n")
        return info

    def link(name, target, type_):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = type_, target, 0o777
        return info

    if kind == "traversal":
        return Crafted([directory("etc/"), regular(f"etc/{UP}{victim_rel}/pwned")],
                       f"etc/{UP}{victim_rel}/pwned")
    if kind == "symlink-escape":
        return Crafted([link("escape", f"{UP}{victim_rel}", tarfile.SYMTYPE), regular("escape/pwned")],
                       "escape/pwned")
    if kind == "hardlink-escape":
        return Crafted([directory("etc/"), link("etc/stolen", f"{UP}{victim_rel}/secret", tarfile.LNKTYPE)],
                       "etc/stolen")
    raise ValueError(kind)


def tar_bytes(layer: Crafted) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in layer.entries:
            tar.addfile(info, io.BytesIO(b"pwned\n") if info.isreg() else None)
    return buffer.getvalue()


def docker_archive(layer: bytes, name: str) -> bytes:
    """A `docker save`-shaped archive around one layer."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "history": [{"created_by": "crafted"}]}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in [(config_name, config), (layer_name, layer), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tree_state(path: Path) -> dict[str, tuple]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = full.lstat()
            content = full.read_bytes() if full.is_file() and not full.is_symlink() else None
            state[str(full.relative_to(path))] = (st.st_mode, st.st_nlink, content)
    return state


@pytest.mark.parametrize("command", ["import", "load"])
@pytest.mark.parametrize("kind", ["traversal", "symlink-escape", "hardlink-escape"])
def test_layer_writing_outside_the_target_is_refused_naming_the_entry(
        pybuild: peers.Pybuild, tmp_path: Path, kind: str, command: str):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("keep me\n")
    before = tree_state(victim)
    layer = crafted(kind, victim)
    crafted_file = tmp_path / "crafted.tar"
    if command == "import":
        crafted_file.write_bytes(tar_bytes(layer))
        result = pybuild("import", crafted_file, "evil:latest", check=False)
    else:
        crafted_file.write_bytes(docker_archive(tar_bytes(layer), "evil:latest"))
        result = pybuild("load", "-i", crafted_file, check=False)

    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert layer.bad_entry in message
    assert "Traceback" not in result.stderr
    assert tree_state(victim) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.tar", "store", "victim"]
    assert "evil" not in pybuild("images").stdout
