"""login/logout and the credentials they keep, against the CNCF registry with htpasswd,
and docker's credential-helper protocol."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from registry_client.credentials import Credentials, DockerConfig


def test_wrong_password_is_one_unauthorized_line_and_exit_1(pybuild, docker_registry_htpasswd, docker_config):
    result = pybuild("login", "-u", docker_registry_htpasswd.user, "--password-stdin",
                     docker_registry_htpasswd.address, input="not-the-password\n", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: unauthorized: authentication required"
    assert not (docker_config / "config.json").exists()


def test_login_keeps_credentials_in_dockers_format_and_pull_uses_them(
        pybuild, busybox_image, docker_registry_htpasswd, docker_config):
    registry = docker_registry_htpasswd
    out = pybuild("login", "-u", registry.user, "--password-stdin", registry.address,
                  input=registry.password + "\n").stdout
    assert out.strip() == "Login Succeeded"
    config = json.loads((docker_config / "config.json").read_text())
    auth = base64.b64decode(config["auths"][registry.address]["auth"]).decode()
    assert auth == f"{registry.user}:{registry.password}"
    assert stat.S_IMODE((docker_config / "config.json").stat().st_mode) == 0o600
    target = f"{registry.address}/login/busybox:v1"
    pybuild("tag", busybox_image, target)
    pybuild("push", target)
    assert pybuild("logout", registry.address).stdout.strip() == f"Removing login credentials for {registry.address}"
    denied = pybuild("pull", target, check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip().splitlines() == ["Error: unauthorized: authentication required"]


def test_registry_that_is_down_is_one_line_and_exit_1(pybuild, docker_config):
    from peers import free_port

    address = f"127.0.0.1:{free_port()}"
    for args in (["pull", f"{address}/a:b"], ["login", "-u", "u", "--password-stdin", address]):
        result = pybuild(*args, input="p\n", check=False)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == f"Error: cannot reach registry {address}: connection refused"
        assert "Traceback" not in result.stderr


def test_unknown_keys_of_config_json_survive_a_login(docker_config, docker_registry_htpasswd):
    from registry_client.login import login

    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {"other:1": {"auth": "eDp5"}}, "psFormat": "table {{.ID}}"}))
    registry = docker_registry_htpasswd
    login(registry.address, registry.user, registry.password)
    config = json.loads((docker_config / "config.json").read_text())
    assert config["psFormat"] == "table {{.ID}}"
    assert set(config["auths"]) == {"other:1", registry.address}
    assert DockerConfig().get("other:1") == Credentials("x", "y")


HELPER = """#!{python}
import json, os, sys
db = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper-db.json")
data = json.load(open(db)) if os.path.exists(db) else {{}}
action = sys.argv[1]
text = sys.stdin.read()
if action == "store":
    item = json.loads(text)
    data[item["ServerURL"]] = item
elif action == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(data[text.strip()]))
elif action == "erase":
    if data.pop(text.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
json.dump(data, open(db, "w"))
"""


@pytest.fixture
def credential_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`docker-credential-testhelper` on PATH, speaking docker's helper protocol and
    keeping what it is given in a JSON file beside itself."""
    bin_dir = tmp_path / "helper-bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text(HELPER.format(python=sys.executable))
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "helper-db.json"


def test_creds_store_keeps_the_secret_in_the_helper_not_in_config_json(
        docker_config, credential_helper, docker_registry_htpasswd):
    from registry_client.login import login, logout

    (docker_config / "config.json").write_text(json.dumps({"credsStore": "testhelper"}))
    registry = docker_registry_htpasswd
    login(registry.address, registry.user, registry.password)
    config = json.loads((docker_config / "config.json").read_text())
    assert config["auths"] == {registry.address: {}}
    assert json.loads(credential_helper.read_text())[registry.address]["Secret"] == registry.password
    assert DockerConfig().get(registry.address) == Credentials(registry.user, registry.password)
    assert logout(registry.address)
    assert json.loads(credential_helper.read_text()) == {}
    assert DockerConfig().get(registry.address).empty


def test_cred_helpers_pick_a_helper_per_registry(docker_config, credential_helper):
    (docker_config / "config.json").write_text(json.dumps(
        {"credHelpers": {"reg.example:5000": "testhelper"}, "auths": {"plain.example": {"auth": "YTpi"}}}))
    config = DockerConfig()
    config.store("reg.example:5000", Credentials(identity_token="refresh-me"))
    stored = json.loads(credential_helper.read_text())["reg.example:5000"]
    assert (stored["Username"], stored["Secret"]) == ("<token>", "refresh-me")
    assert DockerConfig().get("reg.example:5000") == Credentials(identity_token="refresh-me")
    assert DockerConfig().get("plain.example") == Credentials("a", "b")


def test_docker_hub_logins_live_under_the_legacy_index_url(docker_config):
    DockerConfig().store("docker.io", Credentials("me", "pw"))
    config = json.loads((docker_config / "config.json").read_text())
    assert list(config["auths"]) == ["https://index.docker.io/v1/"]
    assert DockerConfig().get("docker.io") == Credentials("me", "pw")
