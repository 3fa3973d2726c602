"""The Bearer token flow against the CNCF registry in token mode: scopes, anonymous pull
tokens, identity (refresh) tokens from login, tokens reused until they expire."""

from __future__ import annotations

import base64
import json


def test_login_stores_the_identity_token_and_push_uses_it(pybuild, busybox_image, token_registry, docker_config,
                                                          repo):
    tokens = token_registry.tokens
    out = pybuild("login", "-u", tokens.user, "--password-stdin", token_registry.address, input=tokens.password)
    assert out.stdout.strip() == "Login Succeeded"
    entry = json.loads((docker_config / "config.json").read_text())["auths"][token_registry.address]
    assert entry["identitytoken"] in tokens.refresh_tokens
    assert base64.b64decode(entry["auth"]).decode() == f"{tokens.user}:"  # no password kept
    target = f"{token_registry.address}/{repo}:v1"
    pybuild("tag", busybox_image, target)
    tokens.requests.clear()
    pybuild("push", target)
    # One token for the whole push (HEADs, uploads, manifest), fetched with the refresh token.
    assert tokens.requests == [f"POST scope=repository:{repo}:pull,push account="]


def test_anonymous_pull_works_and_anonymous_push_is_refused(pybuild, busybox_image, token_registry, docker_config,
                                                            repo, tmp_path):
    tokens = token_registry.tokens
    pybuild("login", "-u", tokens.user, "--password-stdin", token_registry.address, input=tokens.password)
    target = f"{token_registry.address}/{repo}:v1"
    pybuild("tag", busybox_image, target)
    pybuild("push", target)
    pybuild("logout", token_registry.address)
    other = type(pybuild)(tmp_path / "other-store")
    tokens.requests.clear()
    assert "Downloaded newer image" in other("pull", target).stdout
    assert tokens.requests == [f"GET scope=repository:{repo}:pull account="]
    refused = other("push", target, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == ["Error: unauthorized: authentication required"]


def test_wrong_password_at_the_token_server_is_one_line(pybuild, token_registry, docker_config):
    result = pybuild("login", "-u", token_registry.tokens.user, "--password-stdin", token_registry.address,
                     input="wrong", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: unauthorized: incorrect username or password"


def test_catalog_asks_for_the_catalog_scope(pybuild, token_registry, docker_config):
    from registry_client.client import RegistryClient
    from registry_client.credentials import Credentials

    tokens = token_registry.tokens
    tokens.requests.clear()
    with RegistryClient(token_registry.address, credentials=Credentials(tokens.user, tokens.password)) as client:
        assert isinstance(client.catalog(), list)
    assert tokens.requests == [f"GET scope=registry:catalog:* account={tokens.user}"]
