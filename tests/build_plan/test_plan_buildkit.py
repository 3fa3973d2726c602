"""builder.plan against the real thing: the image config and history dockerd's BuildKit
writes for a Dockerfile full of config instructions, and the config the planner gives."""

import json
import tarfile
from pathlib import Path

import pytest

import peers
from builder.parser import parse
from builder.plan import plan_build
from oci.config import ImageConfig

DOCKERFILE = """\
FROM {base}
ARG VERSION=1.0
ARG UNSET
ENV APP=/app PATH=/opt/bin:$PATH
ENV LEGACY value with  spaces
LABEL version=$VERSION "quoted key"="a b"
WORKDIR $APP
WORKDIR sub
RUN echo $VERSION > v
USER daemon
EXPOSE 80 443/udp 8000-8001
VOLUME /data
VOLUME ["/logs", "/cache"]
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-ec"]
RUN echo shell
CMD echo hello
ENTRYPOINT ["/bin/sh", "-c"]
HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost
ONBUILD RUN echo child
ONBUILD COPY . /src
MAINTAINER someone
ENV VERSION=env-wins
RUN true
"""

# dockerd 20.10 embeds BuildKit 0.8, whose history texts differ from today's BuildKit in
# three places; pybuild writes today's (docs/build-engine.md, "Differences").
OLD_BUILDKIT = {
    ("ARG VERSION=2.0", True): ("ARG VERSION=1.0", True),
    ("EXPOSE [80/tcp 443/udp 8000/tcp 8001/tcp]", True):
        ("EXPOSE map[443/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{}]", True),
    ("HEALTHCHECK {Test:[CMD-SHELL wget -q localhost] Interval:30s Timeout:0s StartPeriod:0s "
     "StartInterval:0s Retries:3}", True):
        ("HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost\"] \"30s\" \"0s\" \"0s\" '\\x03'}", True),
}

CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
               "StopSignal", "Healthcheck", "Shell", "OnBuild")


def history(config: dict) -> list[tuple[str | None, bool]]:
    return [(h.get("created_by"), h.get("empty_layer", False)) for h in config.get("history", [])]


def saved_config(dockerd: peers.Dockerd, image: str, tmp_path: Path) -> dict:
    archive = tmp_path / "saved.tar"
    dockerd.docker("save", "-o", archive, image)
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        return json.load(tf.extractfile(manifest[0]["Config"]))


@pytest.fixture(scope="module")
def buildkit_config(dockerd: peers.Dockerd, docker_busybox: str,
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """(base image config, built image config) as docker saves them."""
    tmp = tmp_path_factory.mktemp("plan-buildkit")
    (tmp / "Dockerfile").write_text(DOCKERFILE.format(base=docker_busybox))
    name = "pybuild-test/plan-config:1"
    dockerd.docker("build", "--network", "none", "--build-arg", "VERSION=2.0", "-t", name, tmp, buildkit=True)
    return saved_config(dockerd, docker_busybox, tmp), saved_config(dockerd, name, tmp)


def test_planned_config_and_history_are_buildkits(buildkit_config, docker_busybox: str):
    base, built = buildkit_config
    base_config = ImageConfig.from_dict(base)

    plan = plan_build(parse(DOCKERFILE.format(base=docker_busybox)), build_args={"VERSION": "2.0"},
                      resolve_image=lambda ref, platform: base_config if ref == docker_busybox else None)
    ours = plan.target_stage.config.to_dict()

    for key in CONFIG_KEYS:
        assert ours["config"].get(key) == built["config"].get(key), key
    assert ours.get("author") == built.get("author") == "someone"
    assert [OLD_BUILDKIT.get(h, h) for h in history(ours)] == history(built)
    assert len([s for s in plan.target_stage.steps if s.creates_layer]) == len(built["rootfs"]["diff_ids"]) - len(base["rootfs"]["diff_ids"])


PARENT = """\
FROM {base}
ENV FROM_PARENT=1
ONBUILD ARG CHILD_ARG=default
ONBUILD ENV TRIGGERED=$CHILD_ARG
ONBUILD RUN echo triggered > /triggered
CMD ["sh"]
"""

CHILD = """\
FROM {parent} AS child
RUN cat /triggered
FROM child
LABEL final=yes
"""


def test_onbuild_triggers_of_a_base_image_plan_as_buildkit_runs_them(
        dockerd: peers.Dockerd, docker_busybox: str, tmp_path: Path):
    parent, child = "pybuild-test/plan-onbuild-parent:1", "pybuild-test/plan-onbuild-child:1"
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "Dockerfile").write_text(PARENT.format(base=docker_busybox))
    dockerd.docker("build", "--network", "none", "-t", parent, tmp_path / "parent", buildkit=True)
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "Dockerfile").write_text(CHILD.format(parent=parent))
    dockerd.docker("build", "--network", "none", "--build-arg", "CHILD_ARG=given", "-t", child,
                   tmp_path / "child", buildkit=True)
    parent_config = ImageConfig.from_dict(saved_config(dockerd, parent, tmp_path))
    built = saved_config(dockerd, child, tmp_path)

    plan = plan_build(parse(CHILD.format(parent=parent)), build_args={"CHILD_ARG": "given"},
                      resolve_image=lambda ref, platform: parent_config if ref == parent else None)
    ours = plan.target_stage.config.to_dict()

    assert [s.onbuild for s in plan.stage(0).steps] == [True, True, True, False]
    for key in CONFIG_KEYS:
        assert ours["config"].get(key) == built["config"].get(key), key
    old = {**OLD_BUILDKIT, ("ARG CHILD_ARG=given", True): ("ARG CHILD_ARG=default", True)}
    assert [old.get(h, h) for h in history(ours)] == history(built)
    assert ours["config"]["Env"][-1] == "TRIGGERED=given"
