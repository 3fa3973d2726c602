"""The scoping model against the real thing: the same Dockerfile built by dockerd's
BuildKit, its image config and RUN output compared with what StageScope predicts."""

import json
from pathlib import Path

import peers
from builder.ast import Arg, ArgDecl, KeyValue
from builder.buildargs import StageScope, resolve_global_args, unused_build_args
from builder.shell_lex import expand

DOCKERFILE = """\
ARG BASE
ARG GLOBAL_ONLY=g-$TARGETARCH
ARG UNVALUED
FROM ${BASE} AS first
ARG GLOBAL_ONLY
ARG UNVALUED
ARG OVERRIDDEN=default
ARG FROM_CLI
ENV A=old
ENV A=new B=$A C="$GLOBAL_ONLY|${UNVALUED:-unset}|$OVERRIDDEN|$FROM_CLI|${NOPE:-fallback}|${A:+set}"
ARG FROM_ENV=$B
ENV FROM_CLI=env-wins PORTS="80 443/udp" SIG=SIGKILL UID=1234 DIR=/srv
LABEL "label.$A"='$A' quoted="a b" expanded=${DIR}/x
WORKDIR ${DIR}/${A}
EXPOSE ${PORTS} 8080
VOLUME ${DIR}/data
STOPSIGNAL ${SIG}
RUN echo "$FROM_CLI|$FROM_ENV|$HTTP_PROXY" > /result && mkdir -m 777 /shared
USER ${UID}:${UID}

FROM first AS second
RUN echo "$GLOBAL_ONLY|$OVERRIDDEN" > /shared/inherited
"""


def _model(base: str, base_env: list[str], build_args: dict[str, str]) -> dict:
    """Walk the Dockerfile above through the scoping model, instruction by instruction."""
    decls = (ArgDecl("BASE", None), ArgDecl("GLOBAL_ONLY", "g-$TARGETARCH"), ArgDecl("UNVALUED", None))
    global_args = resolve_global_args([Arg(keyword="ARG", args=(d,)) for d in decls], build_args)
    assert global_args.expand("${BASE}").value == base
    s = StageScope.start(global_args, build_args, base_env)
    s = s.declare([ArgDecl("GLOBAL_ONLY", None)])
    s = s.declare([ArgDecl("UNVALUED", None)])
    s = s.declare([ArgDecl("OVERRIDDEN", "default")])
    s = s.declare([ArgDecl("FROM_CLI", None)])
    s, _ = s.set_env([KeyValue("A", "old")])
    c = '"$GLOBAL_ONLY|${UNVALUED:-unset}|$OVERRIDDEN|$FROM_CLI|${NOPE:-fallback}|${A:+set}"'
    s, _ = s.set_env([KeyValue("A", "new"), KeyValue("B", "$A"), KeyValue("C", c)])
    s = s.declare([ArgDecl("FROM_ENV", "$B")])
    s, _ = s.set_env([KeyValue("FROM_CLI", "env-wins"), KeyValue("PORTS", '"80 443/udp"'), KeyValue("SIG", "SIGKILL"),
                      KeyValue("UID", "1234"), KeyValue("DIR", "/srv")])
    labels = dict(s.expand_pairs([KeyValue('"label.$A"', "'$A'"), KeyValue("quoted", '"a b"'),
                                  KeyValue("expanded", "${DIR}/x")]))
    workdir = s.expand("${DIR}/${A}").value
    ports = [w for word in ("${PORTS}", "8080") for w in s.expand_words(word)]
    volume = s.expand("${DIR}/data").value
    stopsignal = s.expand("${SIG}").value
    # RUN is not expanded by the builder: its shell sees the step's environment.
    run_env = dict(e.split("=", 1) for e in s.run_env())
    result = expand('"$FROM_CLI|$FROM_ENV|$HTTP_PROXY"', run_env).value
    user = s.expand("${UID}:${UID}").value
    child = StageScope.start(global_args, build_args, parent=s)
    inherited = expand('"$GLOBAL_ONLY|$OVERRIDDEN"', dict(e.split("=", 1) for e in child.run_env())).value
    declared = {a.name for a in child.args} | {a.name for a in global_args.declared}
    return {
        "env": s.image_env,
        "labels": labels,
        "workdir": workdir,
        "ports": {p if "/" in p else p + "/tcp" for p in ports},
        "volumes": {volume},
        "stopsignal": stopsignal,
        "user": user,
        "result": result,
        "inherited": inherited,
        "unused": unused_build_args(build_args, declared),
    }


def test_buildkit_agrees_with_the_scoping_model(dockerd: peers.Dockerd, docker_busybox: str, tmp_path: Path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    build_args = {"BASE": docker_busybox, "FROM_CLI": "cli", "HTTP_PROXY": "http://proxy.invalid:3128",
                  "UNUSED": "x"}
    name = "pybuild-test/expansion:1"
    flags = [f for k, v in build_args.items() for f in ("--build-arg", f"{k}={v}")]
    dockerd.docker("build", "--network", "none", "-t", name, *flags, context, buildkit=True)
    base_env = json.loads(dockerd.docker("image", "inspect", docker_busybox).stdout)[0]["Config"]["Env"] or []
    config = json.loads(dockerd.docker("image", "inspect", name).stdout)[0]["Config"]
    ran = dockerd.docker("run", "--rm", "--network", "none", name, "cat", "/result", "/shared/inherited").stdout

    model = _model(docker_busybox, base_env, build_args)

    docker_env = [tuple(e.split("=", 1)) for e in config["Env"]]
    ours = list(model["env"])
    assert [p for p in docker_env if p[0] in dict(ours)] == ours
    assert config["Labels"] == model["labels"]
    assert config["WorkingDir"] == model["workdir"]
    assert set(config["ExposedPorts"]) == model["ports"]
    assert set(config["Volumes"]) == model["volumes"]
    assert config["StopSignal"] == model["stopsignal"]
    assert config["User"] == model["user"]
    assert ran.splitlines() == [model["result"], model["inherited"]]
    assert model["unused"] == ["UNUSED"]
