"""The image commands as a user runs them: output columns, exit codes, error lines."""

import gzip
import hashlib
import io
import json
import re
import tarfile

import pytest

from oci.compression import open_decompressed
from oci.store import Store


def layer_members(store_root, image_name) -> dict[str, bytes]:
    with Store.open(store_root) as store:
        image = store.resolve(image_name)
        layer = store.manifest(image).layers[0]
        with store.open_blob(layer.digest) as blob:
            data = open_decompressed(blob).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


# ---- import -------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["", "gzip", "zstd", "xz"])
def test_import_takes_plain_and_compressed_tars_and_prints_the_image_id(cli, rootfs_tar, store_root,
                                                                        compression):
    tar = rootfs_tar({"etc/os-release": "ID=test\n"}, compression=compression)
    result = cli("import", tar, "imported:v1")
    assert result.code == 0, result.err
    image_id = result.out.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert layer_members(store_root, "imported:v1") == {"etc/os-release": b"ID=test\n"}


def test_import_diff_id_is_the_sha256_of_the_uncompressed_tar(cli, rootfs_tar):
    plain = rootfs_tar()
    compressed = rootfs_tar(compression="gzip")
    cli("import", compressed, "x")
    inspected = json.loads(cli("inspect", "x").out)[0]
    assert inspected["RootFS"] == {"Type": "layers",
                                   "Layers": ["sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest()]}


def test_import_applies_changes_and_message_like_docker(cli, rootfs_tar):
    result = cli("import", rootfs_tar(), "app", "--change", 'CMD ["/bin/sh", "-c", "echo hi"]',
                     "-c", "ENV GREETING=hello", "-c", "WORKDIR /srv", "-m", "my rootfs")
    assert result.code == 0, result.err
    image = json.loads(cli("inspect", "app").out)[0]
    assert image["Config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert "GREETING=hello" in image["Config"]["Env"]
    assert image["Config"]["WorkingDir"] == "/srv"
    assert image["Comment"] == "my rootfs"
    assert (image["Os"], image["Architecture"]) == ("linux", "amd64")
    history = cli("history", "app").out.splitlines()
    assert history[1].endswith("my rootfs")


def test_import_from_stdin_names_the_source_as_docker_does(pybuild_process, rootfs_tar):
    done = pybuild_process("import", "-", "fromstdin", input=rootfs_tar().read_bytes())
    assert done.returncode == 0, done.stderr
    history = pybuild_process("history", "fromstdin").stdout.decode().splitlines()
    assert history[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert history[1].endswith("Imported from -")


def test_import_of_a_missing_file_is_one_line_naming_it(cli, tmp_path):
    result = cli("import", tmp_path / "nope.tar", "x")
    assert result.code != 0
    assert result.err == f"Error: {tmp_path / 'nope.tar'}: No such file or directory\n"


def test_import_with_a_bad_change_fails_before_storing_anything(cli, rootfs_tar, store_root):
    result = cli("import", rootfs_tar(), "x", "--change", "RUN echo no")
    assert result.code != 0
    assert result.err.startswith("Error: ") and len(result.err.splitlines()) == 1
    assert list((store_root / "blobs" / "sha256").iterdir()) == []


def test_import_refuses_a_file_that_is_not_a_tar(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("just some text, not a root filesystem\n" * 100)
    result = cli("import", notes, "x")
    assert result.code != 0
    assert result.err == f"Error: {notes}: not a tar archive (plain or gzip, zstd, xz, bzip2)\n"
    assert cli("images", "-q").out == ""


def test_import_with_an_invalid_name_fails_before_storing_anything(cli, rootfs_tar, store_root):
    result = cli("import", rootfs_tar(), "Bad:Name")
    assert result.code != 0
    assert result.err.startswith("Error: invalid reference format") and "Bad:Name" in result.err
    assert cli("images", "-q").out == ""


# ---- images -------------------------------------------------------------------------

def test_images_lists_one_row_per_tag_with_docker_columns(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "busybox").out.strip()
    cli("tag", "busybox", "registry.local:5000/tools/busybox:1.36")
    lines = cli("images").out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    rows = sorted(re.split(r"\s{2,}", line) for line in lines[1:])
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("busybox", "latest", image_id[7:19]),
        ("registry.local:5000/tools/busybox", "1.36", image_id[7:19]),
    ]
    assert all(r[3].endswith("ago") and re.fullmatch(r"[\d.]+[kMG]?B", r[4]) for r in rows)


def test_images_json_format_is_one_object_per_line(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "busybox:1").out.strip()
    lines = cli("images", "--format", "json").out.splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert (row["Repository"], row["Tag"], row["ID"]) == ("busybox", "1", image_id[7:19])
    assert {"CreatedAt", "CreatedSince", "Size", "Digest"} <= row.keys()


def test_images_quiet_no_trunc_and_repository_filter(cli, rootfs_tar):
    first = cli("import", rootfs_tar({"a": "1"}), "one").out.strip()
    second = cli("import", rootfs_tar({"a": "2"}), "two").out.strip()
    assert sorted(cli("images", "-q").out.split()) == sorted([first[7:19], second[7:19]])
    assert sorted(cli("images", "-q", "--no-trunc").out.split()) == sorted([first, second])
    assert cli("images", "-q", "two").out.split() == [second[7:19]]


def test_a_retagged_name_leaves_the_old_image_dangling(cli, rootfs_tar):
    old = cli("import", rootfs_tar({"a": "1"}), "app").out.strip()
    cli("import", rootfs_tar({"a": "2"}), "app")
    dangling = cli("images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}} {{.ID}}").out
    assert dangling == f"<none> <none> {old[7:19]}\n"


# ---- tag, rmi -----------------------------------------------------------------------

def test_tag_by_short_id_and_rmi_untags_before_deleting(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "web").out.strip()
    assert cli("tag", image_id[7:15], "web:stable").code == 0
    result = cli("rmi", "web:stable")
    assert (result.code, result.out) == (0, "Untagged: web:stable\n")
    result = cli("rmi", "web")
    assert (result.code, result.out) == (0, f"Untagged: web:latest\nDeleted: {image_id}\n")
    assert cli("images", "-q").out == ""


def test_rmi_by_id_of_an_image_in_two_repositories_needs_force(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "one").out.strip()
    cli("tag", "one", "two")
    result = cli("rmi", image_id[7:19])
    assert result.code == 1
    assert result.err == (f"Error: conflict: unable to delete {image_id[7:19]} (must be forced)"
                          " - image is referenced in multiple repositories\n")
    result = cli("rmi", "-f", image_id[7:19])
    assert result.code == 0
    assert result.out == f"Untagged: one:latest\nUntagged: two:latest\nDeleted: {image_id}\n"


def test_rmi_frees_the_blobs_of_the_removed_image_only(cli, rootfs_tar, store_root):
    cli("import", rootfs_tar({"a": "kept"}), "kept")
    cli("import", rootfs_tar({"a": "gone"}), "gone")
    blobs = store_root / "blobs" / "sha256"
    assert len(list(blobs.iterdir())) == 6
    cli("rmi", "gone")
    assert len(list(blobs.iterdir())) == 3
    assert layer_members(store_root, "kept") == {"a": b"kept"}


@pytest.mark.parametrize("command", [["rmi"], ["inspect"], ["history"], ["tag"], ["save", "-o", "x.tar"]])
def test_an_unknown_image_is_one_error_line_and_a_nonzero_exit(cli, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*command, "nosuch"] + (["other"] if command == ["tag"] else [])
    result = cli(*args)
    assert result.code != 0
    assert result.err == "Error: No such image: nosuch:latest\n"
    assert not (tmp_path / "x.tar").exists()


# ---- inspect, history ---------------------------------------------------------------

def test_inspect_has_docker_image_inspect_shape(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "shape:1", "-c", "USER 1000").out.strip()
    documents = json.loads(cli("inspect", "shape:1").out)
    assert len(documents) == 1
    doc = documents[0]
    assert {"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Author", "Config",
            "Architecture", "Os", "Size", "RootFS", "Metadata"} <= doc.keys()
    assert doc["Id"] == image_id
    assert doc["RepoTags"] == ["shape:1"]
    assert doc["Config"]["User"] == "1000"
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 1
    assert doc["Size"] > 0


def test_inspect_format_renders_go_template_fields_and_json(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "fmt", "-c", 'ENTRYPOINT ["/bin/sh"]').out.strip()
    assert cli("inspect", "--format", "{{.Id}}", "fmt").out == image_id + "\n"
    assert json.loads(cli("inspect", "-f", "{{json .Config}}", "fmt").out)["Entrypoint"] == ["/bin/sh"]
    assert cli("inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Config.Entrypoint}}", "fmt").out == \
        "linux/amd64 [/bin/sh]\n"


def test_history_lists_entries_newest_first_with_sizes(cli, rootfs_tar):
    image_id = cli("import", rootfs_tar(), "hist").out.strip()
    lines = cli("history", "--no-trunc", "hist").out.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(image_id)
    assert cli("history", "-q", "hist").out == image_id[7:19] + "\n"


# ---- save, load ---------------------------------------------------------------------

def test_save_writes_docker_and_oci_views_of_the_same_blobs(cli, rootfs_tar, tmp_path):
    image_id = cli("import", rootfs_tar(), "saved:1").out.strip()
    out = tmp_path / "saved.tar"
    assert cli("save", "-o", out, "saved:1").code == 0
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
        repositories = json.load(tar.extractfile("repositories"))
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    assert manifest[0]["Config"] == f"blobs/sha256/{image_id[7:]}"
    assert manifest[0]["RepoTags"] == ["saved:1"]
    assert all(layer in names for layer in manifest[0]["Layers"])
    assert index["manifests"][0]["annotations"] == {"io.containerd.image.name": "docker.io/library/saved:1",
                                                    "org.opencontainers.image.ref.name": "1"}
    assert "saved" in repositories


def test_save_then_load_into_an_empty_store_keeps_the_image_id(cli, rootfs_tar, tmp_path, monkeypatch):
    image_id = cli("import", rootfs_tar(), "roundtrip:1").out.strip()
    cli("tag", "roundtrip:1", "roundtrip:2")
    out = tmp_path / "rt.tar"
    cli("save", "-o", out, "roundtrip")
    monkeypatch.setenv("PYBUILD_ROOT", str(tmp_path / "other"))
    result = cli("load", "-i", out)
    assert result.code == 0, result.err
    assert sorted(result.out.splitlines()) == ["Loaded image: roundtrip:1", "Loaded image: roundtrip:2"]
    assert cli("inspect", "-f", "{{.Id}}", "roundtrip:2").out.strip() == image_id


def test_load_reads_skopeo_docker_archive_in_docker_legacy_layout(cli, rootfs_tar, store_root, tmp_path,
                                                                  monkeypatch):
    import subprocess

    image_id = cli("import", rootfs_tar({"etc/motd": "legacy\n"}), "src").out.strip()
    legacy = tmp_path / "legacy.tar"
    done = subprocess.run(["skopeo", "copy", f"oci:{store_root}:src", f"docker-archive:{legacy}:legacy/app:v1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with tarfile.open(legacy) as tar:
        assert any(name.endswith("/layer.tar") or name.endswith(".tar") for name in tar.getnames())
    monkeypatch.setenv("PYBUILD_ROOT", str(tmp_path / "other"))
    assert cli("load", "-i", legacy).out == "Loaded image: legacy/app:v1\n"
    assert cli("inspect", "-f", "{{.Id}}", "legacy/app:v1").out.strip() == image_id
    assert layer_members(tmp_path / "other", "legacy/app:v1") == {"etc/motd": b"legacy\n"}


def test_load_reads_an_oci_archive_and_names_it_from_its_ref_name(cli, rootfs_tar, store_root, tmp_path,
                                                                  monkeypatch):
    import subprocess

    image_id = cli("import", rootfs_tar(), "src").out.strip()
    archive = tmp_path / "oci.tar"
    done = subprocess.run(["skopeo", "copy", f"oci:{store_root}:src", f"oci-archive:{archive}:team/app:v3"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("PYBUILD_ROOT", str(tmp_path / "other"))
    assert cli("load", "-i", archive).out == "Loaded image: team/app:v3\n"
    assert cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out == f"team/app:v3 {image_id[7:19]}\n"


def test_load_reads_a_compressed_archive_as_docker_load_does(cli, rootfs_tar, tmp_path, monkeypatch):
    image_id = cli("import", rootfs_tar(), "zipped:1").out.strip()
    out = tmp_path / "zipped.tar"
    cli("save", "-o", out, "zipped:1")
    compressed = tmp_path / "zipped.tar.gz"
    compressed.write_bytes(gzip.compress(out.read_bytes()))
    monkeypatch.setenv("PYBUILD_ROOT", str(tmp_path / "other"))
    assert cli("load", "-i", compressed).out == "Loaded image: zipped:1\n"
    assert cli("inspect", "-f", "{{.Id}}", "zipped:1").out.strip() == image_id


def test_load_refuses_a_layer_that_does_not_match_the_config(cli, rootfs_tar, tmp_path):
    cli("import", rootfs_tar(), "victim")
    good = tmp_path / "good.tar"
    cli("save", "-o", good, "victim")
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        layer_name = manifest[0]["Layers"][0]
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == layer_name:
                data = gzip.compress(rootfs_tar({"evil": "swapped"}).read_bytes())
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    cli("rmi", "victim")
    result = cli("load", "-i", bad)
    assert result.code != 0
    assert result.err.startswith(f"Error: layer {layer_name}: ")
    assert "does not match diff ID" in result.err
    assert cli("images", "-q").out == ""


def test_load_refuses_a_layer_writing_through_a_symlink_a_lower_layer_planted(cli, tmp_path, store_root):
    def layer_bytes(*infos):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for info in infos:
                tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
        return raw.getvalue()

    link = tarfile.TarInfo("var/spool")
    link.type, link.linkname = tarfile.SYMTYPE, "../" * 30 + str(tmp_path)
    pwned = tarfile.TarInfo("var/spool/pwned")
    pwned.size = 1
    layers = [layer_bytes(link), layer_bytes(pwned)]
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    archive = tmp_path / "two-layers.tar"
    with tarfile.open(archive, "w") as tar:
        files = {"config.json": config, "l0/layer.tar": layers[0], "l1/layer.tar": layers[1],
                 "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["evil:2"],
                                               "Layers": ["l0/layer.tar", "l1/layer.tar"]}]).encode()}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = cli("load", "-i", archive)
    assert result.code != 0
    assert result.err == ("Error: layer entry 'var/spool/pwned': a symlink in its path points outside"
                          " the target\n")
    assert not (tmp_path / "pwned").exists()
    assert cli("images", "-q").out == ""


def test_load_of_something_that_is_not_an_archive_is_one_clear_line(cli, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar file at all" * 100)
    result = cli("load", "-i", junk)
    assert result.code != 0
    assert result.err.startswith("Error: ") and len(result.err.splitlines()) == 1


def test_save_to_stdout_and_load_from_stdin(pybuild_process, rootfs_tar, tmp_path):
    import os

    assert pybuild_process("import", rootfs_tar(), "piped").returncode == 0
    saved = pybuild_process("save", "piped")
    assert saved.returncode == 0 and saved.stdout[:512].rstrip(b"\0")
    env = {**os.environ, "PYBUILD_ROOT": str(tmp_path / "other")}
    loaded = pybuild_process("load", env=env, input=saved.stdout)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == b"Loaded image: piped:latest\n"


# ---- prune --------------------------------------------------------------------------

def test_image_prune_removes_dangling_images_and_their_blobs(cli, rootfs_tar, store_root):
    old = cli("import", rootfs_tar({"v": "1"}), "app").out.strip()
    cli("import", rootfs_tar({"v": "2"}), "app")
    blobs = store_root / "blobs" / "sha256"
    assert len(list(blobs.iterdir())) == 6
    result = cli("image", "prune", "-f")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[:2] == ["Deleted Images:", f"deleted: {old}"]
    assert re.fullmatch(r"Total reclaimed space: [\d.]+k?B", lines[-1])
    assert len(list(blobs.iterdir())) == 3
    assert cli("images", "-q").out.count("\n") == 1
    again = cli("image", "prune", "-f")
    assert again.out == "Total reclaimed space: 0B\n"


def test_image_prune_without_force_asks_and_does_nothing_on_no(pybuild_process, rootfs_tar):
    pybuild_process("import", rootfs_tar({"v": "1"}), "app")
    pybuild_process("import", rootfs_tar({"v": "2"}), "app")
    done = pybuild_process("image", "prune", input=b"n\n")
    assert done.returncode == 0
    assert b"Are you sure you want to continue? [y/N]" in done.stdout
    assert len(pybuild_process("images", "-q").stdout.split()) == 2
