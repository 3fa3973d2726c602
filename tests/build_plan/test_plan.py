"""builder.plan: stages, dependencies, skipped stages, ONBUILD, steps and their inputs."""

import pytest

from builder.errors import DockerfileError
from builder.parser import parse
from builder.plan import ImageBase, ScratchBase, StageBase, plan_build
from oci.config import ContainerConfig, ImageConfig

IMAGES = {
    "busybox": ImageConfig(architecture="amd64", os="linux", config=ContainerConfig(cmd=["sh"])),
    "onbuild-base": ImageConfig(architecture="amd64", os="linux", config=ContainerConfig(
        env=["PATH=/bin", "LANG=C"], working_dir="/srv", on_build=["COPY --from=assets /a /a", "RUN make"])),
}


def plan(text: str, **kwargs):
    return plan_build(parse(text), resolve_image=lambda ref, platform: IMAGES.get(ref), **kwargs)


MULTI = """\
FROM busybox AS deps
RUN fetch
FROM busybox AS unused
RUN never
FROM deps AS build
RUN build
FROM scratch AS assets
COPY a /a
FROM busybox
COPY --from=build /out /out
RUN --mount=type=bind,from=assets,target=/m cp /m/a /
"""


def test_only_the_stages_the_target_needs_are_planned():
    p = plan(MULTI)
    assert [(s.index, s.name, s.deps) for s in p.stages] == [
        (0, "deps", ()), (2, "build", (0,)), (3, "assets", ()), (4, None, (2, 3))]
    assert isinstance(p.stage(2).base, StageBase) and isinstance(p.stage(3).base, ScratchBase)
    assert p.stage(4).base == ImageBase("busybox")
    assert [s.copy_from for s in p.stage(4).steps] == [2, None]
    assert p.stage(4).steps[1].mount_from == (("assets", 3),)


def test_target_selects_a_stage_and_unknown_targets_fail():
    assert [s.index for s in plan(MULTI, target="build").stages] == [0, 2]
    assert [s.index for s in plan(MULTI, target="UNUSED").stages] == [1]
    with pytest.raises(DockerfileError, match='target stage "nope" could not be found'):
        plan(MULTI, target="nope")


def test_base_images_are_asked_only_for_needed_stages():
    asked = []

    def resolve(ref, platform):
        asked.append(ref)
        return IMAGES["busybox"] if ref == "busybox" else None

    plan_build(parse("FROM missing AS x\nFROM busybox\n"), resolve_image=resolve)
    assert asked == ["busybox"]


def test_missing_base_image_names_the_from_line():
    with pytest.raises(DockerfileError, match="^Dockerfile:2: nothere:1: image not found locally"):
        plan("FROM busybox\nFROM nothere:1\n")


def test_global_args_expand_from_and_build_args_win():
    p = plan("ARG IMG=nothere\nFROM $IMG\nARG IMG\nRUN echo $IMG\n", build_args={"IMG": "busybox", "X": "1"})
    assert p.target_stage.base == ImageBase("busybox")
    run = p.target_stage.steps[-1]
    assert run.args == (("IMG", "busybox"),)
    assert run.history.created_by == "RUN |1 IMG=busybox /bin/sh -c echo $IMG # buildkit"
    assert p.unused_build_args == ("X",)


def test_copy_from_with_a_variable_or_a_later_stage_fails():
    with pytest.raises(DockerfileError, match="variable expansion is not supported for --from"):
        plan("FROM busybox AS a\nARG S=a\nCOPY --from=$S /x /x\n")
    with pytest.raises(DockerfileError, match='cannot copy from stage "later", it needs to be defined before'):
        plan("FROM busybox AS first\nCOPY --from=later /x /x\nFROM busybox AS later\nCOPY --from=first /x /x\n")


def test_copy_from_an_unknown_name_is_an_image():
    p = plan("FROM scratch\nCOPY --from=busybox /bin/sh /sh\n")
    assert p.target_stage.steps[0].copy_from == "busybox" and p.target_stage.images == ("busybox",)


def test_onbuild_triggers_of_the_base_image_run_first_and_are_not_inherited():
    p = plan("FROM scratch AS assets\nCOPY a /a\nFROM onbuild-base\nRUN after\n")
    steps = p.target_stage.steps
    assert [(s.kind, s.onbuild) for s in steps] == [("COPY", True), ("RUN", True), ("RUN", False)]
    assert steps[0].copy_from == 0 and p.target_stage.deps == (0,)
    assert steps[1].workdir == "/srv" and "LANG=C" in steps[1].env
    assert p.target_stage.config.config.on_build is None


def test_onbuild_of_a_base_stage_runs_in_the_child_stage():
    p = plan("FROM busybox AS parent\nONBUILD RUN echo child\nRUN parent\nFROM parent\nRUN own\n")
    assert [(s.title, s.onbuild) for s in p.target_stage.steps if s.kind == "RUN"] == \
        [("RUN echo child", True), ("RUN own", False)]
    assert p.stage(0).config.config.on_build == ["RUN echo child"]


def test_workdir_makes_a_layer_unless_it_is_the_root():
    steps = plan("FROM busybox\nWORKDIR /\nWORKDIR a\nWORKDIR ../b\nUSER daemon\nRUN pwd\n").target_stage.steps
    assert [(s.kind, s.creates_layer, s.dest) for s in steps[:3]] == \
        [("WORKDIR", False, "/"), ("WORKDIR", True, "/a"), ("WORKDIR", True, "/b")]
    assert steps[-1].workdir == "/b" and steps[-1].user == "daemon"


def test_run_uses_the_shell_and_heredocs_as_buildkit_does():
    steps = plan('FROM busybox\nSHELL ["/bin/bash", "-c"]\nRUN echo $HOME\nRUN <<EOF\necho a\nEOF\n'
                 'RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN cat <<A\nx\nA\n').target_stage.steps
    runs = [s for s in steps if s.kind == "RUN"]
    assert runs[0].run_args == ("/bin/bash", "-c", "echo $HOME")
    assert runs[1].run_args == ("/bin/bash", "-c", "echo a\n")
    assert runs[2].run_args == ("/dev/pipes/EOF",) and runs[2].script == ("EOF", "#!/usr/bin/env python3\nprint(1)\n")
    assert runs[3].run_args == ("/bin/bash", "-c", "cat <<A\nx\nA")


def test_cache_inputs_see_args_and_env_but_not_proxy_build_args():
    p = plan("FROM busybox\nARG V=1\nRUN make\n", build_args={"HTTP_PROXY": "http://proxy:3128"})
    run = p.target_stage.steps[-1]
    assert "HTTP_PROXY=http://proxy:3128" in run.env
    assert all("PROXY" not in e for e in run.inputs["env"]) and run.inputs["args"] == [["V", "1"]]


def test_copy_destination_and_history():
    steps = plan("FROM busybox\nWORKDIR /app\nCOPY --chown=daemon --chmod=640 a b ./\n"
                 "COPY <<EOF conf\nx=1\nEOF\n").target_stage.steps
    assert steps[1].dest == "/app/" and steps[1].history.created_by == \
        "COPY --chown=daemon --chmod=640 a b ./ # buildkit"
    assert steps[2].inputs["heredocs"] == [["EOF", "x=1\n"]] and steps[2].dest == "/app/conf"


def test_labels_option_lands_on_the_target_only():
    p = plan("FROM busybox AS a\nLABEL x=1\nFROM a\n", labels={"org.example": "y"})
    assert p.target_stage.config.config.labels == {"x": "1", "org.example": "y"}
    assert p.stage(0).config.config.labels == {"x": "1"}


def test_add_of_git_and_copy_of_urls_are_refused():
    with pytest.raises(DockerfileError, match="ADD of a git repository is not supported"):
        plan("FROM busybox\nADD https://github.com/moby/buildkit.git /src\n")
    with pytest.raises(DockerfileError, match="source can't be a URL for COPY"):
        plan("FROM busybox\nCOPY https://example.com/x /x\n")
    assert plan("FROM busybox\nADD https://example.com/x.tar.gz /x/\n").target_stage.steps[0].kind == "ADD"


def test_source_date_epoch_build_arg_is_consumed_by_the_build():
    p = plan("FROM busybox\n", build_args={"SOURCE_DATE_EPOCH": "1700000000"})
    assert p.epoch == 1700000000 and p.unused_build_args == ()
    with pytest.raises(DockerfileError, match="invalid SOURCE_DATE_EPOCH: soon"):
        plan("FROM busybox\n", build_args={"SOURCE_DATE_EPOCH": "soon"})
