"""Every fixture of fixtures/builds/ built by pybuild and by dockerd's BuildKit (0.8, the
daemon of docker.io 20.10), side by side: the filesystems a container sees (paths, types,
modes, owners, contents, link targets, device numbers, hardlinks, file capabilities) and
the config fields Dockerfile instructions set and the history (created_by, empty_layer)
must be the same, except where a fixture's
build.json documents a difference (explained in docs/build-differences.md). A documented
difference that no longer occurs fails too, so the notes cannot go stale.

Then what users do with a built image elsewhere: docker runs it, skopeo and umoci read it
straight from pybuild's store."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

import compare
import corpus
from oci.compression import open_decompressed

FIXTURES = corpus.all_fixtures()
NAMES = [f.name for f in FIXTURES]
DIFFERENCES_DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "build-differences.md"


def _built(fixture_builds, name: str):
    build = fixture_builds.builds[name]
    assert build.docker.error is None, f"BuildKit could not build fixture {name}:\n{build.docker.error}"
    assert build.pybuild.error is None, f"pybuild could not build fixture {name}:\n{build.pybuild.error}"
    return build


def _report(kind: str, unexpected: dict[str, str], stale: set[str]) -> str:
    lines = [f"{kind} differing from BuildKit without a note in build.json:"]
    lines += [f"  {k}: {v}" for k, v in unexpected.items()]
    if stale:
        lines.append(f"documented {kind} differences that no longer occur: {sorted(stale)}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", NAMES)
def test_filesystem_matches_buildkit(fixture_builds, name):
    build = _built(fixture_builds, name)

    found = compare.filesystem_differences(build.pybuild.filesystem, build.docker.filesystem)

    documented = build.fixture.path_differences
    unexpected = {p: d for p, d in found.items() if p not in documented}
    stale = documented.keys() - found.keys()
    assert not unexpected and not stale, _report("paths", unexpected, stale)


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_buildkit(fixture_builds, name):
    build = _built(fixture_builds, name)

    found = compare.config_differences(build.pybuild.config, build.docker.config)

    documented = build.fixture.config_differences
    unexpected = {f: d for f, d in found.items() if f not in documented}
    stale = documented.keys() - found.keys()
    assert not unexpected and not stale, _report("config fields", unexpected, stale)


SAME_DOCKERFILE = [f.name for f in FIXTURES if f.docker_dockerfile == "Dockerfile"]


@pytest.mark.parametrize("name", SAME_DOCKERFILE)
def test_history_matches_buildkit(fixture_builds, name):
    """created_by and empty_layer of every history entry; a documented difference names
    the start of pybuild's created_by (`EXPOSE`, `COPY --`)."""
    build = _built(fixture_builds, name)

    found = compare.history_differences(build.pybuild.history, build.docker.history)

    documented = build.fixture.history_differences

    def note_for(step):
        return next((p for p in documented if step is not None and step.created_by.startswith(p)), None)

    unexpected = {f"#{i}": f"pybuild: {mine}; BuildKit: {theirs}" for i, (mine, theirs) in found.items()
                  if note_for(mine) is None}
    stale = documented.keys() - {note_for(mine) for mine, _ in found.values()}
    assert not unexpected and not stale, _report("history entries", unexpected, stale)


def test_corpus_covers_what_the_build_engine_promises():
    text = "\n".join(f.dockerfile for f in FIXTURES)
    features = {
        "multi-stage": r"COPY --from=", "target": r"^FROM .* AS ", "heredoc": r"<<",
        "cache mount": r"type=cache", "secret mount": r"type=secret", "bind mount": r"type=bind",
        "tmpfs mount": r"type=tmpfs", "chown": r"--chown=", "chmod": r"--chmod=", "ONBUILD": r"^ONBUILD ",
        "deleted lower file": r"RUN rm /", "deleted lower directory": r"RUN rm -rf /",
        "hardlink": r"\bln /", "symlink": r"\bln -s ", "setuid": r"chmod (4|u\+s)", "mknod": r"mknod ",
        "ADD of a tar": r"^ADD \S+\.tar", "HEALTHCHECK": r"^HEALTHCHECK ", "SHELL": r"^SHELL ",
        "STOPSIGNAL": r"^STOPSIGNAL ", "VOLUME": r"^VOLUME ", "EXPOSE": r"^EXPOSE ",
    }
    missing = [k for k, pattern in features.items() if not re.search(pattern, text, re.M)]
    assert len(FIXTURES) >= 30 and not missing, (len(FIXTURES), missing)
    assert any(f.secrets for f in FIXTURES) and any(f.build_args for f in FIXTURES)
    assert any(f.base_fixtures for f in FIXTURES) and any(f.target for f in FIXTURES)


def test_every_documented_difference_is_explained_in_the_docs():
    doc = DIFFERENCES_DOC.read_text()
    unexplained = [f.name for f in FIXTURES
                   if (f.path_differences or f.config_differences or f.history_differences
                       or f.docker_dockerfile != "Dockerfile")
                   and f"`{f.name}`" not in doc]
    assert not unexplained, f"fixtures with differences that {DIFFERENCES_DOC.name} does not name: {unexplained}"
    without_reason = [f.name for f in FIXTURES if f.docker_dockerfile != "Dockerfile" and not f.why]
    assert not without_reason


def _saved_layers(saved: list[Path]):
    """(repo tags, layer tar) for every layer of pybuild's saved images."""
    assert saved, "pybuild saved no image"
    for path in saved:
        with tarfile.open(path) as archive:
            for image in json.load(archive.extractfile("manifest.json")):
                for layer in image["Layers"]:
                    data = archive.extractfile(layer).read()
                    with open_decompressed(io.BytesIO(data)) as raw, tarfile.open(fileobj=raw, mode="r|") as tf:
                        yield image["RepoTags"], tf


# Mounted into every RUN by both builders; no fixture writes them, so no layer may hold
# them (the export comparison cannot tell: docker adds them to every container).
RUN_MOUNT_POINTS = {"etc/hosts", "etc/resolv.conf", "etc/hostname", ".dockerenv"}


def test_pybuild_layers_carry_no_overlay_internals_or_run_mount_points(fixture_builds):
    leaked = []
    for tags, layer in _saved_layers(fixture_builds.saved):
        for m in layer:
            overlay_xattrs = [k for k in m.pax_headers if re.match(r"SCHILY\.xattr\.(trusted|user)\.overlay\.", k)]
            raw_whiteout = m.ischr() and m.devmajor == 0 and m.devminor == 0
            mount_point = m.name.removeprefix("./") in RUN_MOUNT_POINTS
            if overlay_xattrs or raw_whiteout or mount_point:
                leaked.append((tags, m.name, overlay_xattrs or ("0/0 char device" if raw_whiteout else "mount point")))
    assert not leaked


def test_secrets_never_reach_the_image(fixture_builds):
    secret = (corpus.BUILDS / "secret-mount" / "token.secret").read_bytes()
    _built(fixture_builds, "secret-mount")
    found = []
    for tags, layer in _saved_layers(fixture_builds.saved):
        for m in layer:
            if m.isreg() and secret in layer.extractfile(m).read():
                found.append((tags, m.name))
    config = fixture_builds.pybuild("inspect", "pbfx/secret-mount").stdout
    history = fixture_builds.pybuild("history", "--no-trunc", "pbfx/secret-mount").stdout
    assert not found and secret.decode() not in config + history


def test_pybuild_image_runs_in_docker(fixture_builds):
    _built(fixture_builds, "run-copy-basic")
    _built(fixture_builds, "scratch-image")
    docker = fixture_builds.dockerd.docker

    assert docker("run", "--rm", "--network", "none", "pbfx/run-copy-basic").stdout == "Hello from the context\n"
    assert docker("run", "--rm", "--network", "none", "pbfx/run-copy-basic",
                  "cat", "/app/data/out").stdout == "script ran in /\n"
    assert docker("run", "--rm", "--network", "none", "pbfx/scratch-image").stdout == "hello from scratch\n"
    assert (docker("image", "inspect", "-f", "{{.Id}}", "pbfx/run-copy-basic").stdout.strip()
            == fixture_builds.pybuild.inspect("pbfx/run-copy-basic")["Id"])


def test_skopeo_and_umoci_read_a_built_image_from_the_store(fixture_builds, skopeo, umoci, tmp_path):
    _built(fixture_builds, "config-fields")
    store = fixture_builds.store
    image = fixture_builds.pybuild.inspect("pbfx/config-fields")

    reference = f"oci:{store}:pbfx/config-fields:latest"
    manifest = json.loads(skopeo("inspect", "--raw", reference).stdout)
    config = json.loads(skopeo("inspect", "--config", reference).stdout)
    assert manifest["config"]["digest"] == image["Id"]
    assert config["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["rootfs"]["diff_ids"] == image["RootFS"]["Layers"]

    bundle = tmp_path / "bundle"
    umoci("unpack", "--image", f"{store}:pbfx/config-fields:latest", bundle)
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/sh", "-c", "echo configured"]
    assert spec["process"]["cwd"] == "/srv" and spec["process"]["user"]["uid"] == 33
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()
