"""`pybuild registry user ...` manages the accounts a running server checks."""

from __future__ import annotations

import subprocess

import requests

import peers


def registry_cmd(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return peers.run([*peers.base_images.pybuild_command(), "registry", *args], input=input, check=check)


def test_users_added_deleted_and_changed_on_the_command_line_take_effect_at_once(registry, tmp_path):
    root = str(registry.root)
    registry_cmd("user", "add", "carol", "--password-stdin", "--root", root, input="carol-pw\n")
    assert requests.get(f"{registry.url}/v2/", auth=("carol", "carol-pw")).status_code == 200

    registry_cmd("user", "passwd", "carol", "--role", "admin", "--password-stdin", "--root", root,
                 input="carol-pw2\n")
    assert requests.get(f"{registry.url}/v2/", auth=("carol", "carol-pw")).status_code == 401
    r = requests.post(f"{registry.url}/v2/bob/carol/blobs/uploads/", auth=("carol", "carol-pw2"))
    assert r.status_code == 202  # an admin now

    listed = registry_cmd("user", "list", "--root", root).stdout.split()
    assert listed[listed.index("carol") + 1] == "admin"

    registry_cmd("user", "del", "carol", "--root", root)
    assert requests.get(f"{registry.url}/v2/", auth=("carol", "carol-pw2")).status_code == 401
    again = registry_cmd("user", "del", "carol", "--root", root, check=False)
    assert again.returncode == 1 and again.stderr.strip() == "Error: no user 'carol'"


def test_an_htpasswd_file_imports_and_its_users_log_in(registry, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(peers.run(["htpasswd", "-Bbn", "dave", "dave-pw"]).stdout)
    out = registry_cmd("user", "import", str(htpasswd), "--root", str(registry.root)).stdout
    assert "imported 1 new and 0 existing users" in out
    assert requests.get(f"{registry.url}/token", auth=("dave", "dave-pw")).status_code == 200

    htpasswd.write_text("erin:{SHA}abc=\n")
    refused = registry_cmd("user", "import", str(htpasswd), "--root", str(registry.root), check=False)
    assert refused.returncode == 1
    assert f"{htpasswd}:1: user 'erin' has no bcrypt hash" in refused.stderr
