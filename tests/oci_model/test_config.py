import json
import subprocess

import pytest

from oci.config import ContainerConfig, HealthConfig, HistoryEntry, ImageConfig, chain_ids
from oci.errors import InvalidImageConfig, UserError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64

# The shape of a config docker 20.10's legacy builder writes, with Docker's extensions.
DOCKER_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-05-01T10:00:00.123456789Z",
    "docker_version": "20.10.24+dfsg1",
    "author": "someone",
    "container": "3f0c8e1d",
    "container_config": {"Hostname": "3f0c8e1d", "Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"sh\"]"]},
    "config": {
        "Hostname": "",
        "Domainname": "",
        "User": "nobody",
        "AttachStdin": False,
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Tty": False,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"],
        "Cmd": ["sh"],
        "Healthcheck": {
            "Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
            "Interval": 30000000000,
            "Timeout": 5000000000,
            "StartPeriod": 1000000000,
            "StartInterval": 2000000000,
            "Retries": 3,
        },
        "ArgsEscaped": True,
        "Image": "sha256:" + "9" * 64,
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Entrypoint": None,
        "OnBuild": ["RUN echo built"],
        "Labels": {"maintainer": "me"},
        "StopSignal": "SIGQUIT",
        "Shell": ["/bin/ash", "-eo", "pipefail", "-c"],
    },
    "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
    "history": [
        {"created": "2024-05-01T09:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created": "2024-05-01T10:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
         "empty_layer": True},
        {"created": "2024-05-01T10:00:00Z", "created_by": "COPY a /a # buildkit", "comment": "buildkit.dockerfile.v0"},
    ],
    "moby.buildkit.buildinfo.v1": "e30=",
}


def test_docker_config_reads_every_extension():
    config = ImageConfig.from_json(json.dumps(DOCKER_CONFIG).encode())
    c = config.config
    assert c.healthcheck == HealthConfig(
        test=["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
        interval=30_000_000_000, timeout=5_000_000_000, start_period=1_000_000_000,
        start_interval=2_000_000_000, retries=3,
    )
    assert c.on_build == ["RUN echo built"]
    assert c.shell == ["/bin/ash", "-eo", "pipefail", "-c"]
    assert c.args_escaped is True
    assert c.stop_signal == "SIGQUIT"
    assert c.exposed_ports == {"80/tcp": {}, "53/udp": {}}
    assert c.entrypoint is None and c.cmd == ["sh"]
    assert config.diff_ids == [D1, D2]
    assert config.history[1] == HistoryEntry(
        created="2024-05-01T10:00:00Z", created_by='/bin/sh -c #(nop)  CMD ["sh"]', empty_layer=True
    )
    assert config.history[2].comment == "buildkit.dockerfile.v0"


def test_unknown_keys_survive_a_round_trip():
    config = ImageConfig.from_json(json.dumps(DOCKER_CONFIG).encode())
    again = json.loads(config.to_json())
    expected = json.loads(json.dumps(DOCKER_CONFIG))
    del expected["config"]["Entrypoint"]  # null and absent mean the same to docker
    assert again == expected
    assert again["container_config"]["Hostname"] == "3f0c8e1d"
    assert again["config"]["Image"] == "sha256:" + "9" * 64
    assert again["moby.buildkit.buildinfo.v1"] == "e30="


def test_to_json_is_canonical_and_stable():
    config = ImageConfig.from_json(json.dumps(DOCKER_CONFIG).encode())
    data = config.to_json()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
    assert ImageConfig.from_json(data).to_json() == data


def test_minimal_config_writes_the_required_fields():
    config = ImageConfig(architecture="arm64", os="linux", variant="v8", diff_ids=[D1])
    assert json.loads(config.to_json()) == {
        "architecture": "arm64", "os": "linux", "variant": "v8",
        "rootfs": {"type": "layers", "diff_ids": [D1]},
    }


def test_healthcheck_leaves_out_zero_durations_like_docker():
    assert HealthConfig(test=["NONE"]).to_dict() == {"Test": ["NONE"]}
    assert HealthConfig(test=["CMD", "true"], retries=2).to_dict() == {"Test": ["CMD", "true"], "Retries": 2}


def test_args_escaped_false_is_omitted():
    assert ContainerConfig(args_escaped=False, cmd=["x"]).to_dict() == {"Cmd": ["x"]}


def test_set_env_replaces_in_place_and_appends_new_names():
    c = ContainerConfig(env=["A=1", "B=2"])
    c.set_env("A", "x=y")
    c.set_env("C", "3")
    assert c.env == ["A=x=y", "B=2", "C=3"]
    assert c.get_env("A") == "x=y" and c.get_env("Z") is None
    empty = ContainerConfig()
    empty.set_env("PATH", "/bin")
    assert empty.env == ["PATH=/bin"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rootfs": None}, "no rootfs"),
        ({"rootfs": {"type": "squashfs", "diff_ids": []}}, "rootfs.type"),
        ({"rootfs": {"type": "layers", "diff_ids": ["sha256:abc"]}}, "rootfs.diff_ids[0]"),
        ({"architecture": 5}, "image config architecture: unexpected value 5"),
        ({"config": {"Env": "A=1"}}, "config.Env"),
        ({"config": {"Env": ["A=1", 2]}}, "config.Env[1]"),
        ({"config": {"Healthcheck": {"Interval": "30s"}}}, "config.Healthcheck.Interval"),
        ({"config": {"Labels": {"a": 1}}}, "config.Labels['a']"),
        ({"history": [{"empty_layer": "yes"}]}, "history[0].empty_layer"),
    ],
)
def test_malformed_configs_are_refused_naming_the_field(change, message):
    doc = dict(DOCKER_CONFIG, **change)
    if doc["rootfs"] is None:
        del doc["rootfs"]
    with pytest.raises(InvalidImageConfig) as info:
        ImageConfig.from_json(json.dumps(doc).encode())
    assert message in str(info.value)
    assert isinstance(info.value, UserError)


def test_not_json_is_refused():
    with pytest.raises(InvalidImageConfig, match="not valid JSON"):
        ImageConfig.from_json(b"{")


def sha256sum(text: str) -> str:
    out = subprocess.run(["sha256sum"], input=text.encode(), capture_output=True, check=True).stdout
    return "sha256:" + out.split()[0].decode()


def test_chain_ids_follow_the_oci_formula():
    first = D1
    second = sha256sum(f"{first} {D2}")
    third = sha256sum(f"{second} {D3}")
    assert chain_ids([D1, D2, D3]) == [first, second, third]
    assert chain_ids([]) == []
    assert ImageConfig(diff_ids=[D1, D2]).chain_ids() == [first, second]
