"""`pybuild build` end to end on the busybox base: what the built image runs, its config,
the cache, multi-stage builds and failures."""

import json

import pytest

import peers
from oci.compression import open_decompressed

APP = """\
FROM busybox
ENV GREETING=hi
WORKDIR /app
RUN echo "$GREETING from shell form" > /app/shell.txt
RUN ["sh", "-c", "echo exec form > /app/exec.txt"]
COPY hello.txt /app/
COPY conf/ /etc/app/
USER nobody
EXPOSE 8080/tcp
LABEL org.example.team=build
ENTRYPOINT ["cat"]
CMD ["/app/hello.txt"]
"""

APP_FILES = {"hello.txt": "hello from the context\n", "conf/a.conf": "a=1\n", "conf/sub/b.conf": "b=2\n"}


def build(pybuild, ctx, *args: str, check: bool = True):
    return pybuild("build", "--progress=plain", *args, str(ctx), check=check)


def test_built_image_runs_and_has_buildkits_config_and_history(pybuild, busybox_image, context):
    ctx = context(APP, APP_FILES)
    build(pybuild, ctx, "-t", "app")

    assert pybuild("run", "--rm", "app").stdout == "hello from the context\n"
    shown = pybuild("run", "--rm", "--entrypoint", "sh", "app", "-c",
                    "id -un; pwd; cat /app/shell.txt /app/exec.txt /etc/app/a.conf /etc/app/sub/b.conf").stdout
    assert shown.splitlines() == ["nobody", "/app", "hi from shell form", "exec form", "a=1", "b=2"]
    image = pybuild.inspect("app")
    config = image["Config"]
    assert config["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"]
    assert config["Entrypoint"] == ["cat"] and config["Cmd"] == ["/app/hello.txt"]
    assert config["User"] == "nobody" and config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"8080/tcp": {}} and config["Labels"] == {"org.example.team": "build"}
    assert len(image["RootFS"]["Layers"]) == 1 + 5  # busybox + WORKDIR, two RUNs, two COPYs
    history = pybuild("history", "--no-trunc", "app").stdout
    assert 'RUN /bin/sh -c echo "$GREETING from shell form" > /app/shell.txt # buildkit' in history
    assert "COPY hello.txt /app/ # buildkit" in history and "WORKDIR /app" in history
    config_blob = json.loads((pybuild.root / "blobs" / "sha256" / image["Id"].split(":")[1]).read_text())
    empty = [h["created_by"] for h in config_blob["history"] if h.get("empty_layer")]
    assert empty == ["ENV GREETING=hi", "USER nobody", "EXPOSE [8080/tcp]", "LABEL org.example.team=build",
                     'ENTRYPOINT ["cat"]', 'CMD ["/app/hello.txt"]']
    assert {h["comment"] for h in config_blob["history"][1:]} == {"buildkit.dockerfile.v0"}
    manifest = json.loads((pybuild.root / "blobs" / "sha256" / _manifest_digest(pybuild.root, "app:latest")
                           .split(":")[1]).read_text())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}


def test_heredocs_onbuild_triggers_and_run_network_none(pybuild, busybox_image, context):
    ctx = context("""\
FROM busybox AS parent
ONBUILD RUN echo triggered > /onbuild
FROM parent
RUN <<EOF
echo one > /one
echo two >> /one
EOF
RUN <<EOT
#!/bin/sh
echo "script $0" > /script
EOT
COPY <<EOF /etc/motd
hello heredoc
EOF
RUN --network=none ip -o link | cut -d: -f2 > /links
""")
    build(pybuild, ctx, "-t", "docs")

    out = pybuild("run", "--rm", "docs", "cat", "/etc/motd", "/one", "/script", "/onbuild", "/links").stdout
    assert out.splitlines() == ["hello heredoc", "one", "two", "script /dev/pipes/EOT", "triggered", " lo"]
    assert pybuild.inspect("docs")["Config"].get("OnBuild") is None


def test_cached_rebuild_shows_cached_for_every_step_and_gives_the_same_image(pybuild, busybox_image, context):
    ctx = context(APP, APP_FILES)
    first = build(pybuild, ctx, "-t", "app", "--iidfile", str(ctx.parent / "iid1"))

    second = build(pybuild, ctx, "-t", "app", "--iidfile", str(ctx.parent / "iid2"))

    assert "CACHED" not in first.stderr
    steps = [line for line in second.stderr.splitlines() if "] " in line and "FROM" not in line
             and "[internal]" not in line]
    assert len(steps) == 5
    assert second.stderr.count("CACHED") == 5
    assert (ctx.parent / "iid1").read_text() == (ctx.parent / "iid2").read_text()
    live = pybuild("build", "--progress=tty", "-t", "app", str(ctx)).stderr
    assert " => CACHED [5/6] COPY hello.txt /app/" in live and live.count(" => CACHED [") == 5


def test_cache_miss_names_the_changed_file_and_later_steps_rerun(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nCOPY . /src\nRUN cat /src/main.txt\n", {"main.txt": "v1\n", "other.txt": "x\n"})
    build(pybuild, ctx, "-t", "app")
    (ctx / "main.txt").write_text("v2\n")

    again = build(pybuild, ctx, "-t", "app")

    assert "COPY . /src: main.txt changed" in again.stderr
    assert "CACHED" not in again.stderr
    assert pybuild("run", "--rm", "app", "cat", "/src/main.txt").stdout == "v2\n"


def test_touching_a_file_without_changing_it_keeps_the_cache(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nCOPY main.txt /\n", {"main.txt": "same\n"})
    build(pybuild, ctx, "-t", "app")
    import os
    os.utime(ctx / "main.txt", (1, 1))

    assert "CACHED" in build(pybuild, ctx, "-t", "app").stderr


def test_no_cache_reruns_every_step(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN echo ran\n")
    build(pybuild, ctx, "-t", "app")

    again = build(pybuild, ctx, "-t", "app", "--no-cache")

    assert "CACHED" not in again.stderr and "ran" in again.stderr


def test_deleting_lower_files_and_directories_hides_them(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN rm -rf /tmp /etc/group && mkdir -p /root/new\n")
    build(pybuild, ctx, "-t", "app")

    out = pybuild("run", "--rm", "app", "sh", "-c", "ls -d /tmp /etc/group 2>&1; ls -d /root/new").stdout
    assert "/tmp: No such file or directory" in out and "/etc/group: No such file or directory" in out
    assert out.strip().endswith("/root/new")


def test_multi_stage_copies_from_stages_and_skips_unneeded_ones(pybuild, busybox_image, context):
    dockerfile = """\
FROM busybox AS build
RUN mkdir /out && echo built > /out/artifact
FROM busybox AS unused
RUN echo unused-stage-ran
FROM busybox AS other
RUN echo other > /other
FROM busybox
COPY --from=build /out/artifact /artifact
COPY --from=other /other /other
"""
    ctx = context(dockerfile)
    result = build(pybuild, ctx, "-t", "app")

    assert "unused-stage-ran" not in result.stderr
    assert pybuild("run", "--rm", "app", "cat", "/artifact", "/other").stdout == "built\nother\n"
    build(pybuild, ctx, "-t", "only-other", "--target", "other")
    assert pybuild("run", "--rm", "only-other", "sh", "-c", "cat /other; ls /artifact 2>&1", check=False).stdout == \
        "other\nls: /artifact: No such file or directory\n"


def test_stage_built_on_a_stage_keeps_its_layers_and_history(pybuild, busybox_image, context):
    ctx = context("FROM busybox AS base\nRUN echo base > /base\nENV A=1\nFROM base\nRUN echo top > /top\n")
    build(pybuild, ctx, "-t", "app")

    image = pybuild.inspect("app")
    assert len(image["RootFS"]["Layers"]) == 3
    assert pybuild("run", "--rm", "app", "cat", "/base", "/top").stdout == "base\ntop\n"
    assert "A=1" in image["Config"]["Env"]


def test_failing_step_shows_line_exit_code_and_output_and_commits_nothing(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN echo before\nRUN echo to-stdout && echo to-stderr >&2 && exit 3\n")
    build(pybuild, context("FROM busybox\nRUN echo ok\n", name="good"), "-t", "app")
    good = pybuild.inspect("app")["Id"]

    failed = build(pybuild, ctx, "-t", "app", check=False)

    assert failed.returncode == 1
    assert "Dockerfile:3" in failed.stderr
    assert "did not complete successfully: exit code: 3" in failed.stderr
    assert "to-stdout" in failed.stderr and "to-stderr" in failed.stderr
    assert ">>> RUN echo to-stdout" in failed.stderr
    assert pybuild.inspect("app")["Id"] == good
    assert list((pybuild.root / "tmp").iterdir()) == []


def test_missing_base_image_and_missing_source_are_one_line_errors(pybuild, busybox_image, context):
    missing_base = build(pybuild, context("FROM nosuch\n", name="a"), check=False)
    missing_file = build(pybuild, context("FROM busybox\nCOPY nothere /\n", name="b"), check=False)

    assert missing_base.returncode == 1 and "Dockerfile:1: nosuch: image not found locally" in missing_base.stderr
    assert missing_file.returncode == 1 and 'Dockerfile:2: COPY nothere /: "/nothere" not found' in missing_file.stderr
    assert "Traceback" not in missing_base.stderr + missing_file.stderr


def test_short_form_and_dockerfile_from_stdin(pybuild, busybox_image, context):
    ctx = context("FROM scratch\n")
    pybuild("-t", "from-stdin", "-q", "-f", "-", str(ctx), input="FROM busybox\nRUN echo x > /x\n")

    assert pybuild("run", "--rm", "from-stdin", "cat", "/x").stdout == "x\n"


def test_several_tags_build_args_and_labels(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nARG WHO=nobody\nRUN echo $WHO > /who\n")
    image_id = pybuild("build", "-q", "-t", "one", "-t", "two:v2", "--build-arg", "WHO=me",
                       "--label", "x=y", str(ctx)).stdout.strip()

    assert pybuild.inspect("one")["Id"] == pybuild.inspect("two:v2")["Id"] == image_id
    assert pybuild.inspect("one")["Config"]["Labels"] == {"x": "y"}
    assert pybuild("run", "--rm", "one", "cat", "/who").stdout == "me\n"


@pytest.mark.parametrize("compression, media_type", [
    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
    ("uncompressed", "application/vnd.oci.image.layer.v1.tar"),
])
def test_compression_sets_the_layer_format(pybuild, busybox_image, context, compression, media_type):
    ctx = context("FROM busybox\nRUN echo x > /x\n")
    image_id = pybuild("build", "-q", "--compression", compression, str(ctx)).stdout.strip()

    index = json.loads((pybuild.root / "index.json").read_text())
    manifests = [json.loads((pybuild.root / "blobs" / "sha256" / m["digest"].split(":")[1]).read_text())
                 for m in index["manifests"]]
    mine = next(m for m in manifests if m["config"]["digest"] == image_id)
    assert mine["layers"][-1]["mediaType"] == media_type
    assert pybuild("run", "--rm", image_id, "cat", "/x").stdout == "x\n"


def test_built_image_loads_and_runs_in_docker(pybuild, busybox_image, context, dockerd, tmp_path):
    ctx = context(APP, APP_FILES)
    build(pybuild, ctx, "-t", "pybuild-test/built-app:1")
    pybuild("save", "-o", str(tmp_path / "app.tar"), "pybuild-test/built-app:1")

    dockerd.docker("load", "-i", str(tmp_path / "app.tar"))

    assert dockerd.docker("run", "--rm", "--network", "none", "pybuild-test/built-app:1").stdout == \
        "hello from the context\n"
    assert dockerd.docker("run", "--rm", "--network", "none", "--entrypoint", "cat",
                          "pybuild-test/built-app:1", "/app/shell.txt").stdout == "hi from shell form\n"
    assert dockerd.image_id("pybuild-test/built-app:1") == pybuild.inspect("pybuild-test/built-app:1")["Id"]


def test_skopeo_and_umoci_read_the_built_image(pybuild, busybox_image, context, skopeo, umoci, tmp_path):
    build(pybuild, context("FROM busybox\nRUN echo x > /x\n"), "-t", "readable")

    inspected = json.loads(skopeo("inspect", f"oci:{pybuild.root}:readable").stdout)
    assert len(inspected["Layers"]) == 2
    umoci("unpack", "--image", f"{pybuild.root}:readable", tmp_path / "bundle")
    assert (tmp_path / "bundle" / "rootfs" / "x").read_text() == "x\n"


def test_output_writes_the_root_filesystem_or_an_archive(pybuild, busybox_image, context, tmp_path):
    ctx = context("FROM busybox\nRUN echo x > /x && rm /etc/group\n")
    build(pybuild, ctx, "--output", f"type=local,dest={tmp_path / 'out'}")
    image_id = pybuild("build", "-q", "-t", "exported", "--output", f"type=docker,dest={tmp_path / 'image.tar'}",
                       str(ctx)).stdout.strip()

    assert (tmp_path / "out" / "x").read_text() == "x\n"
    assert (tmp_path / "out" / "bin" / "busybox").exists()
    assert not (tmp_path / "out" / "etc" / "group").exists()
    other = peers.Pybuild(tmp_path / "other-store")
    assert other("load", "-i", str(tmp_path / "image.tar")).stdout == "Loaded image: exported:latest\n"
    assert other.inspect("exported")["Id"] == image_id


def test_run_mounts_cache_tmpfs_and_secret(pybuild, busybox_image, context, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    ctx = context("FROM busybox\n"
                  "RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /cache/log | wc -l > /count\n"
                  "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x\n"
                  "RUN --mount=type=secret,id=token test \"$(cat /run/secrets/token)\" = s3cret && echo ok > /seen\n")
    build(pybuild, ctx, "-t", "mounts", "--secret", f"id=token,src={secret}")
    build(pybuild, ctx, "-t", "mounts", "--secret", f"id=token,src={secret}", "--no-cache")

    out = pybuild("run", "--rm", "mounts", "sh", "-c", "cat /count /seen; ls /cache /scratch /run 2>&1", check=False)
    # The mount points the runner had to create are not left in the image (BuildKit ≥ 0.10).
    assert out.stdout.splitlines() == ["2", "ok", "ls: /cache: No such file or directory",
                                       "ls: /scratch: No such file or directory", "ls: /run: No such file or directory"]
    for blob in (pybuild.root / "blobs" / "sha256").iterdir():
        with open(blob, "rb") as f, open_decompressed(f) as data:
            content = data.read()
        assert b"s3cret" not in content.replace(b"= s3cret", b""), blob.name


def _manifest_digest(root, tag: str) -> str:
    index = json.loads((root / "index.json").read_text())
    return next(m["digest"] for m in index["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)


def test_source_date_epoch_gives_identical_digests_in_two_empty_stores(pybuild, busybox_image, context, tmp_path):
    other = peers.Pybuild(tmp_path / "other-store")
    pybuild("save", "-o", str(tmp_path / "base.tar"), busybox_image)
    other("load", "-i", str(tmp_path / "base.tar"))
    ctx = context(APP + "USER root\nRUN rm -rf /tmp && mkdir -p /var/log/app && ln -s /app/hello.txt /hello\n", APP_FILES)
    epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]

    first = pybuild("build", "-q", "-t", "repro", *epoch, str(ctx)).stdout.strip()
    second = other("build", "-q", "-t", "repro", *epoch, "--no-cache", str(ctx)).stdout.strip()

    assert first == second
    assert _manifest_digest(pybuild.root, "repro:latest") == _manifest_digest(other.root, "repro:latest")
    config = json.loads((pybuild.root / "blobs" / "sha256" / first.split(":")[1]).read_text())
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert {h["created"] for h in config["history"][1:]} == {"2023-11-14T22:13:20Z"}


def test_bind_mounts_read_stages_and_discard_writes(pybuild, busybox_image, context):
    ctx = context("FROM busybox AS src\nRUN mkdir /data && echo one > /data/a\nRUN echo two > /data/b\n"
                  "FROM busybox\n"
                  "RUN --mount=type=bind,from=src,source=/data,target=/mnt cat /mnt/a /mnt/b > /from-stage\n"
                  "RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/input.txt && cat /ctx/input.txt > /rw\n"
                  "RUN --mount=type=bind,target=/ctx cat /ctx/input.txt > /after\n", {"input.txt": "original\n"})
    build(pybuild, ctx, "-t", "binds")

    assert pybuild("run", "--rm", "binds", "cat", "/from-stage", "/rw", "/after").stdout == \
        "one\ntwo\nscribble\noriginal\n"
    assert (ctx / "input.txt").read_text() == "original\n"
    assert pybuild("run", "--rm", "binds", "ls", "/mnt", "/ctx", check=False).stdout == ""


def test_ctrl_c_stops_running_steps_at_once_and_commits_nothing(pybuild, busybox_image, context):
    import signal
    import subprocess
    import time

    ctx = context("FROM busybox AS a\nRUN sleep 60\nFROM busybox\nCOPY --from=a /etc/passwd /p\n")
    build_process = subprocess.Popen([*pybuild.command, "build", "-t", "interrupted", "--progress=plain", str(ctx)],
                                     env=pybuild.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not any(p.name.startswith("step-") for p in (pybuild.root / "tmp").glob("*")):
        assert time.monotonic() < deadline, "the RUN step did not start"
        time.sleep(0.1)
    time.sleep(1)
    build_process.send_signal(signal.SIGINT)

    assert build_process.wait(15) == 130
    assert pybuild("images", "-q", "interrupted").stdout == ""
    assert list((pybuild.root / "tmp").iterdir()) == []
