"""builder.copy on plain directories: the rules dockerd 20.10 cannot show (symbolic
--chmod, --parents, --exclude, heredocs, owners from stages) and the errors."""

import os
import stat
from pathlib import Path

import pytest

from builder.copy import (
    CopyError,
    CopyOptions,
    Owner,
    copy_heredoc,
    copy_sources,
    destination_path,
    parse_chmod,
    resolve_chown,
    resolve_in_root,
)
from builder.dockerignore import DockerIgnore


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "app" / "lib").mkdir(parents=True)
    (root / "app" / "main.py").write_text("main\n")
    (root / "app" / "lib" / "util.py").write_text("util\n")
    (root / "app" / "lib" / "notes.md").write_text("notes\n")
    (root / "app" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "app" / "run.sh", 0o755)
    os.chown(root / "app" / "main.py", 1000, 1001)
    return root


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_destination_is_relative_to_workdir_and_keeps_its_trailing_slash():
    assert destination_path("x", "/app") == "/app/x"
    assert destination_path("x/", "/app") == "/app/x/"
    assert destination_path(".", "/app") == "/app/"
    assert destination_path("../../etc/", "/app") == "/etc/"
    assert destination_path("/abs/./y") == "/abs/y"


def test_symlinks_resolve_inside_the_root(tmp_path: Path):
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    os.symlink("/usr/lib", root / "lib")
    os.symlink("../../../../etc", root / "usr" / "escape")
    assert resolve_in_root(str(root), "/lib/x") == str(root / "usr" / "lib" / "x")
    assert resolve_in_root(str(root), "/usr/escape/passwd") == str(root / "etc" / "passwd")
    assert resolve_in_root(str(root), "/lib", follow_final=False) == str(root / "lib")


def test_symbolic_chmod_follows_chmod1():
    assert parse_chmod("u+x,g-w,o=r")(0o664, False) == 0o744
    assert parse_chmod("a=rX")(0o644, False) == 0o444
    assert parse_chmod("a=rX")(0o644, True) == 0o555
    assert parse_chmod("go=u")(0o750, False) == 0o777
    assert parse_chmod("+x")(0o600, False) == 0o711
    assert parse_chmod("u+s")(0o755, False) == 0o4755


def test_octal_chmod_sets_permission_bits_and_keeps_setuid():
    assert parse_chmod("640")(0o4755, False) == 0o4640


@pytest.mark.parametrize("bad", ["888", "77777", "u+q", "x+r", "u+z"])
def test_bad_chmod_is_refused(bad: str):
    with pytest.raises(CopyError, match="Dockerfile:3: invalid chmod parameter"):
        parse_chmod(bad, "Dockerfile:3")


def test_chown_names_come_from_the_target_passwd_and_group(rootfs: Path):
    assert resolve_chown("www-data", str(rootfs)) == Owner(33, 33)
    assert resolve_chown("daemon:sys", str(rootfs)) == Owner(1, 3)
    assert resolve_chown("1000", str(rootfs)) == Owner(1000, 1000)
    assert resolve_chown("root:33", str(rootfs)) == Owner(0, 33)


def test_chown_to_a_missing_name_is_an_error_naming_the_line(rootfs: Path, src: Path):
    with pytest.raises(CopyError, match="^Dockerfile:4: --chown=nobody2: unable to find user nobody2"):
        copy_sources(src, ["app"], "/x/", rootfs, options=CopyOptions(chown="nobody2"), where="Dockerfile:4")
    with pytest.raises(CopyError, match="unable to find group nogroup2"):
        copy_sources(src, ["app"], "/x/", rootfs, options=CopyOptions(chown="root:nogroup2"))
    assert not (rootfs / "x").exists()


def test_missing_source_is_an_error_but_an_unmatched_wildcard_is_not(src: Path, tmp_path: Path):
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(CopyError, match='Dockerfile:2: "/nope" not found'):
        copy_sources(src, ["nope"], "/x", target, where="Dockerfile:2")
    copy_sources(src, ["*.nothing"], "/x/", target)
    assert not (target / "x").exists()


def test_dockerignored_source_is_not_found(src: Path, tmp_path: Path):
    ignore = DockerIgnore.from_text("app/lib\n")
    with pytest.raises(CopyError, match="not found"):
        copy_sources(src, ["app/lib/util.py"], "/x", tmp_path, options=CopyOptions(ignore=ignore))
    copy_sources(src, ["app"], "/y", tmp_path, options=CopyOptions(ignore=ignore))
    assert sorted(os.listdir(tmp_path / "y")) == ["main.py", "run.sh"]


def test_files_from_a_stage_keep_their_owners_unless_chowned(src: Path, rootfs: Path):
    copy_sources(src, ["app/main.py"], "/kept", rootfs)
    copy_sources(src, ["app/main.py"], "/reset", rootfs, options=CopyOptions(reset_owner=True))
    copy_sources(src, ["app/main.py"], "/chowned", rootfs, options=CopyOptions(chown="daemon"))
    assert owner(rootfs / "kept") == (1000, 1001)
    assert owner(rootfs / "reset") == (0, 0)
    assert owner(rootfs / "chowned") == (1, 1)


def test_parents_keep_the_source_path_below_the_pivot(src: Path, tmp_path: Path):
    copy_sources(src, ["app/lib/util.py", "app/./lib/notes.md"], "/out", tmp_path,
                 options=CopyOptions(parents=True))
    assert (tmp_path / "out" / "app" / "lib" / "util.py").read_text() == "util\n"
    assert (tmp_path / "out" / "lib" / "notes.md").read_text() == "notes\n"
    assert not (tmp_path / "out" / "app" / "main.py").exists()


def test_parents_with_wildcards(src: Path, tmp_path: Path):
    copy_sources(src, ["app/*/*.py"], "/out/", tmp_path, options=CopyOptions(parents=True))
    assert [p.relative_to(tmp_path / "out").as_posix() for p in sorted((tmp_path / "out").rglob("*"))] == \
        ["app", "app/lib", "app/lib/util.py"]


def test_exclude_drops_matching_paths_below_each_source(src: Path, tmp_path: Path):
    copy_sources(src, ["app"], "/out", tmp_path, options=CopyOptions(exclude=("**/*.md", "run.sh")))
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == \
        ["lib", "lib/util.py", "main.py"]


def test_heredoc_becomes_a_0644_file_then_chmod_and_chown_apply(rootfs: Path):
    copy_heredoc("EOF", b"hello\n", "/etc/motd", rootfs)
    copy_heredoc("script.sh", b"#!/bin/sh\n", "/usr/local/bin/", rootfs,
                 options=CopyOptions(chmod="755", chown="www-data"))
    assert (rootfs / "etc" / "motd").read_bytes() == b"hello\n" and mode(rootfs / "etc" / "motd") == 0o644
    script = rootfs / "usr" / "local" / "bin" / "script.sh"
    assert mode(script) == 0o755 and owner(script) == (33, 33)
    assert not [p for p in rootfs.iterdir() if p.name.startswith(".pybuild")]


def test_a_file_cannot_replace_a_directory(src: Path, tmp_path: Path):
    (tmp_path / "out" / "main.py").mkdir(parents=True)
    with pytest.raises(CopyError, match="cannot replace to directory /out/main.py with file"):
        copy_sources(src, ["app/main.py"], "/out/", tmp_path)


def test_epoch_sets_every_time(src: Path, tmp_path: Path):
    copy_sources(src, ["app"], "/deep/out/", tmp_path, options=CopyOptions(epoch=1_000_000))
    times = {os.lstat(p).st_mtime for p in [tmp_path / "deep", *(tmp_path / "deep").rglob("*")]}
    assert times == {1_000_000}


def test_a_destination_symlink_is_followed_inside_the_target(src: Path, tmp_path: Path):
    target = tmp_path / "t"
    (target / "real").mkdir(parents=True)
    os.symlink("/real", target / "link")
    copy_sources(src, ["app/main.py"], "/link/", target)
    assert (target / "real" / "main.py").exists()
    assert not (tmp_path / "real").exists()


def test_add_extracts_a_zstd_tar_and_chowns_what_it_wrote(rootfs: Path, tmp_path: Path):
    import io
    import tarfile

    import zstandard

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        info = tarfile.TarInfo("pkg/file")
        info.size, info.uid, info.mode = 3, 1000, 0o640
        tf.addfile(info, io.BytesIO(b"abc"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "pkg.tzst").write_bytes(zstandard.ZstdCompressor().compress(buffer.getvalue()))
    (ctx / "plain.txt").write_text("not a tar\n")
    stats = copy_sources(ctx, ["pkg.tzst", "plain.txt"], "/opt/", rootfs,
                         options=CopyOptions(unpack=True, chown="www-data"))
    assert stats.unpacked == ["pkg.tzst"]
    assert (rootfs / "opt" / "pkg" / "file").read_bytes() == b"abc"
    assert mode(rootfs / "opt" / "pkg" / "file") == 0o640 and owner(rootfs / "opt" / "pkg" / "file") == (33, 33)
    assert (rootfs / "opt" / "plain.txt").read_text() == "not a tar\n"
    assert owner(rootfs / "etc") == (0, 0)


def test_a_source_symlink_pointing_outside_resolves_inside_the_context(tmp_path: Path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (tmp_path / "secret").write_text("outside\n")
    (ctx / "secret").write_text("inside\n")
    os.symlink("../secret", ctx / "up")
    os.symlink("/secret", ctx / "abs")
    target = tmp_path / "t"
    target.mkdir()
    copy_sources(ctx, ["up", "abs"], "/", target)
    assert (target / "up").read_text() == "inside\n" and (target / "abs").read_text() == "inside\n"


def test_a_downloaded_file_is_named_after_the_url_and_keeps_its_mode(tmp_path: Path, rootfs: Path):
    from builder.copy import copy_file, url_filename

    assert url_filename("https://example.com/dl/tool-1.2.tar.gz?sig=x") == "tool-1.2.tar.gz"
    assert url_filename("https://example.com/dir/") == "dir"
    assert url_filename("https://example.com") == "__unnamed__"
    download = tmp_path / "download"
    download.write_bytes(b"payload")
    os.chmod(download, 0o600)
    os.utime(download, (1_500_000_000, 1_500_000_000))
    copy_file(download, url_filename("https://example.com/a/tool"), "/opt/", rootfs)
    placed = rootfs / "opt" / "tool"
    assert placed.read_bytes() == b"payload" and mode(placed) == 0o600 and owner(placed) == (0, 0)
    assert os.stat(placed).st_mtime == 1_500_000_000
