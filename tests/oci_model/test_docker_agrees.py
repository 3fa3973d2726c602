"""The model against dockerd itself: `docker import --change`, image IDs, chain IDs and
the names `docker images` prints. (IPv6 registry names are left to the distribution
tables in test_reference.py, and STOPSIGNAL to test_changes.py: the daemon here, 20.10,
predates both; current moby accepts STOPSIGNAL as a change.)"""

import json
import tarfile

import pytest

from oci.config import ImageConfig, apply_changes, chain_ids
from oci.digest import digest_bytes
from oci.errors import InvalidChange
from oci.reference import parse_reference

CHANGE_SETS = [
    ['CMD ["/bin/sh", "-c", "echo hi"]'],
    ["CMD echo  hi   there"],
    ['CMD ["--help"]', 'ENTRYPOINT ["/app"]'],
    ['ENTRYPOINT ["/app"]', "CMD []"],
    ["ENTRYPOINT exec app"],
    ['ENV A=1 B="two words" C=\\$HOME', "ENV D the rest   of line", "ENV E=${A}-${U:-dflt} F=$B"],
    ["ENV PATH=/bin", "ENV PATH=/opt:$PATH X=$PATH"],
    ["EXPOSE 80 53/UDP 8000-8002/tcp 127.0.0.1:8080:81"],
    ['LABEL "com.example.a"="1" b=2', "LABEL legacy value with spaces", "LABEL q='$A' r=\"x\\\"y\""],
    ["ONBUILD RUN echo $HOME", "onbuild  COPY . /src"],
    ["USER nobody:nogroup", "WORKDIR /srv", "WORKDIR app/../web/./x"],
    ['VOLUME ["/a b", "/c"]', "VOLUME /d /e"],
    ["HEALTHCHECK --interval=1m30s --timeout=500ms --retries=4 CMD curl -f http://l/ || exit 1"],
    ['HEALTHCHECK CMD ["/check", "-v"]'],
    ["HEALTHCHECK NONE"],
    ["cmd echo \\", "  continued", "Env A=1"],
    ["ENV P=9000 V=/v", "EXPOSE $P 9001/sctp", "VOLUME $V ${V}2", "USER ${P}:x", "WORKDIR rel/$V"],
    ["# escape=`", "ENV A=a`$b C=\\x", "CMD echo `", " next"],
    ["LABEL empty= e2=\"\" 'sq k'=v", 'ENV X="a\\b" Y=a\\\\b Z="$$" W="${X:+set}${U:-none}"'],
    ["ENV A=1 B=$A", "ENV A=2 C=$A"],
    ['ENTRYPOINT ["/e"]', "CMD x", "ENTRYPOINT y"],
    ["ENV A=1", "ONBUILD  ENV   B=2  "],
    ["CMD"],
    ["ENTRYPOINT", "ENV\tT=tab"],
    ["ENV K=k", 'LABEL "$K"=v ${K}2=\'$K\' "a b"="c d"'],
    ["EXPOSE 7000-7002/udp 7001/udp"],
]

INVALID = ["RUN echo", "FROM scratch", "CMD [1, 2]", "ENV ONLYKEY", "EXPOSE http", "ONBUILD FROM x",
           "HEALTHCHECK --interval=1us CMD x", "HEALTHCHECK PING x", "ENV T=\ttab", "CMD --x y",
           "VOLUME [\"\"]", "USER", "LABEL a='open"]


def meaningful(config: dict) -> dict:
    """What docker prints for an empty field ("", null, false) means "absent"."""
    keys = ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "ExposedPorts", "Volumes",
            "Labels", "OnBuild", "StopSignal", "Healthcheck", "ArgsEscaped", "Shell")
    return {k: config[k] for k in keys if config.get(k) not in (None, "", False)}


@pytest.fixture(scope="module")
def empty_tar(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "rootfs.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    return path


@pytest.fixture(scope="module")
def imported(dockerd, empty_tar):
    """Each change set imported by dockerd; its image config as the daemon stored it.
    The images are removed afterwards: the daemon is shared by the whole session."""
    configs = []
    names = [f"pybuild-test/oci-model-changes:{i}" for i in range(len(CHANGE_SETS))]
    for name, changes in zip(names, CHANGE_SETS):
        args = [a for change in changes for a in ("--change", change)]
        image_id = dockerd.docker("import", *args, empty_tar, name).stdout.strip()
        raw = (dockerd.data_root / "image" / "overlay2" / "imagedb" / "content" / "sha256"
               / image_id.split(":")[1]).read_bytes()
        configs.append((image_id, raw))
    yield configs
    dockerd.docker("rmi", "--force", *names)


@pytest.mark.parametrize("index", range(len(CHANGE_SETS)))
def test_changes_apply_as_docker_import_applies_them(imported, index):
    _, raw = imported[index]
    docker_config = json.loads(raw)["config"]
    ours = apply_changes(ImageConfig(), CHANGE_SETS[index]).config.to_dict()
    assert meaningful(ours) == meaningful(docker_config)


def test_image_id_is_the_digest_of_the_stored_config_and_it_reads_losslessly(imported):
    for image_id, raw in imported:
        assert digest_bytes(raw) == image_id
        config = ImageConfig.from_json(raw)
        assert len(config.diff_ids) == 1
        expected = json.loads(raw)
        for container_key, value in list(expected["config"].items()):
            if value is None:
                del expected["config"][container_key]
        assert config.to_dict() == expected


@pytest.mark.parametrize("line", INVALID)
def test_docker_refuses_what_we_refuse(dockerd, empty_tar, line):
    result = dockerd.docker("import", "--change", line, empty_tar, check=False)
    assert result.returncode != 0
    with pytest.raises(InvalidChange):
        apply_changes(ImageConfig(), [line])


def test_chain_ids_name_dockers_layer_directories(dockerd, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    for file in ("a", "b", "c"):
        (context / file).write_text(file)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n")
    name = "pybuild-test/oci-model-chain:1"
    dockerd.docker("build", "-q", "-t", name, context)
    inspect = json.loads(dockerd.docker("image", "inspect", name).stdout)[0]
    layerdb = dockerd.data_root / "image" / "overlay2" / "layerdb" / "sha256"
    diff_ids = inspect["RootFS"]["Layers"]
    try:
        stored = [(layerdb / c.split(":")[1] / "diff").read_text() for c in chain_ids(diff_ids)]
    finally:
        dockerd.docker("rmi", name)
    assert len(diff_ids) == 3
    assert stored == diff_ids


@pytest.mark.parametrize(
    "name",
    [
        "pybuild-oci-model:latest",
        "docker.io/library/pybuild-oci-model-plain:1",
        "index.docker.io/pybuild-oci-model/app:2",
        "docker.io/library/pybuild-oci-model/deeper:3",
        "localhost:5000/pybuild-oci-model/b:t",
        "127.0.0.1:5000/pybuild_oci-model/z-w:v1.0",
        "registry.example.com:443/pybuild-oci-model/app:rc_1",
    ],
)
def test_familiar_names_match_docker_images(dockerd, imported, name):
    image_id, _ = imported[0]
    dockerd.docker("tag", image_id, name)
    shown = dockerd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
                           f"reference={parse_reference(name).familiar()}").stdout.split()
    dockerd.docker("rmi", name)  # only untags: the image stays for the other tests
    assert shown == [parse_reference(name).familiar()]
