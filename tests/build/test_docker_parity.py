"""The same Dockerfiles built by pybuild and by dockerd's BuildKit (DOCKER_BUILDKIT=1,
docker.io 20.10), side by side: the root filesystems (paths, types, modes, owners,
contents, link targets, hardlink groups) and the image configs must match.

Known differences from that BuildKit (v0.8), documented in docs/build-solver.md: its
history text leaves out COPY's --chown/--chmod and prints EXPOSE and HEALTHCHECK as Go
values (newer BuildKit writes what pybuild writes), and its `created` times follow other
rules.
"""

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from build_helpers import dir_listing, tar_listing

CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
               "StopSignal", "Healthcheck", "Shell", "OnBuild")


def _targz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o640, 7, 8, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), mtime=0)


FIXTURES = {
    "copy-rules": ("""\
FROM {base}
COPY a.txt /one/
COPY a.txt /two
COPY dir/ /contents/
COPY dir /named/
COPY *.txt /globbed/
COPY --chown=www-data:nogroup --chmod=0750 a.txt dir /owned/
WORKDIR /srv
COPY a.txt relative.txt
COPY --chown=nobody dir/sub ./sub-owned/
""", {"a.txt": "a\n", "b.txt": "b\n", "dir/c.txt": "c\n", "dir/sub/d.txt": "d\n", "ignored.log": "x\n",
      ".dockerignore": "*.log\n"}),
    "deletions-and-opaque-dirs": ("""\
FROM {base}
RUN rm -rf /tmp /etc/group && rm /bin/ls
RUN rm -rf /root && mkdir /root && echo new > /root/new
RUN mkdir -p /data/keep && echo 1 > /data/keep/f && echo 2 > /data/gone
RUN rm /data/gone && echo 3 > /data/keep/g
""", {}),
    "links-modes-specials": ("""\
FROM {base}
RUN echo x > /h1 && ln /h1 /h2 && ln -s /h1 /s1 && ln -s ../dangling /s2 && chmod 4755 /h1 \\
 && mkfifo /fifo && mkdir -m 1777 /sticky && touch /ro && chmod 0400 /ro && chown 33:65534 /ro \\
 && mknod /null2 c 1 3
""", {}),
    "multi-stage": ("""\
FROM {base} AS build
RUN mkdir -p /out/bin && echo tool > /out/bin/tool && chmod 755 /out/bin/tool && chown -R 1:1 /out
FROM {base}
COPY --from=build /out /usr/local/
COPY --from=build --chown=33:33 /out/bin/tool /opt/tool
""", {}),
    "add-local-archive": ("""\
FROM {base}
ADD archive.tar.gz /opt/
ADD plain.txt /opt/plain.txt
""", {"archive.tar.gz": _targz({"pkg/bin/run": b"#!/bin/sh\n", "pkg/README": b"read me\n"}),
      "plain.txt": "plain\n"}),
    "metadata": ("""\
FROM {base}
ENV A=1 B="two words"
ENV C=${{A}}-x
LABEL maintainer.team=build "quoted label"="yes"
EXPOSE 80 443/tcp 53/udp
VOLUME /data ["/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
USER www-data
WORKDIR /srv/app
ENTRYPOINT echo entry
CMD ["ignored"]
""", {}),
}


_SPECIAL_KINDS = {"1": "fifo", "2": "char", "6": "block", "b'6'": "fifo", "b'3'": "char", "b'4'": "block"}


def _comparable(listing: dict) -> dict:
    """The listings of a directory and of a tar name special files differently (mode and
    rdev / tar type): both become the kind of file."""
    out = {}
    for path, (kind, perm, uid, gid, content) in listing.items():
        if kind == "special":
            content = _SPECIAL_KINDS.get(content) or _SPECIAL_KINDS.get(content.split(":")[0][:-4], content)
        out[path] = (kind, perm, uid, gid, content)
    return out


def _config(config: dict) -> dict:
    """docker inspect writes absent fields as "" / null / []: absent, like pybuild."""
    return {key: config.get(key) or None for key in CONFIG_KEYS}


def _history(lines: list[str]) -> list[str]:
    """created_by lines, minus what BuildKit v0.8 wrote differently: it left COPY's
    --chown/--chmod out and printed EXPOSE and HEALTHCHECK as Go values."""
    out = []
    for line in lines:
        keyword = line.split(" ", 1)[0]
        if keyword in ("EXPOSE", "HEALTHCHECK"):
            line = keyword
        elif keyword in ("COPY", "ADD"):
            line = " ".join(word for word in line.split(" ") if not word.startswith(("--chown=", "--chmod=")))
        out.append(line)
    return out


def _write_context(root: Path, dockerfile: str, files: dict) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_filesystem_and_config_match_docker_buildkit(name, pybuild, busybox_image, dockerd, docker_busybox,
                                                     tmp_path):
    template, files = FIXTURES[name]
    ours_ctx = _write_context(tmp_path / "ours", template.format(base=busybox_image), files)
    theirs_ctx = _write_context(tmp_path / "theirs", template.format(base=docker_busybox), files)
    tag = f"pybuild-test/parity-{name}"

    pybuild("build", "-q", "-t", tag, "--output", f"type=local,dest={tmp_path / 'rootfs'}", str(ours_ctx))
    dockerd.docker("build", "--network", "none", "-q", "-t", tag, str(theirs_ctx), buildkit=True)
    container = dockerd.docker("create", tag, "true").stdout.strip()
    try:
        dockerd.docker("export", "-o", str(tmp_path / "theirs.tar"), container)
    finally:
        dockerd.docker("rm", container)

    ours, our_links = dir_listing(tmp_path / "rootfs")
    theirs, their_links = tar_listing(tmp_path / "theirs.tar")
    ours, theirs = _comparable(ours), _comparable(theirs)
    assert {k: v for k, v in ours.items() if v != theirs.get(k)} == \
        {k: v for k, v in theirs.items() if v != ours.get(k)} == {}
    assert our_links == their_links
    our_config = pybuild.inspect(tag)["Config"]
    their_config = json.loads(dockerd.docker("image", "inspect", tag).stdout)[0]["Config"]
    assert _config(our_config) == _config(their_config)
    our_history = json.loads(pybuild.root.joinpath(
        "blobs", "sha256", pybuild.inspect(tag)["Id"].split(":")[1]).read_text())["history"]
    their_layers = json.loads(dockerd.docker("image", "inspect", tag).stdout)[0]["RootFS"]["Layers"]
    assert len(pybuild.inspect(tag)["RootFS"]["Layers"]) == len(their_layers)
    assert _history([h.get("created_by") for h in our_history[1:]]) == _history(
        dockerd.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout.splitlines()[::-1][1:])
