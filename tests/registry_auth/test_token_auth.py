"""Docker's token flow and Basic auth against a real server: challenges, the token
endpoint (GET and OAuth2 POST), per-namespace rights, spec error bodies."""

from __future__ import annotations

import hashlib
import stat

import requests

from authtest import claims, jwt_header

SPEC_401 = {"code": "UNAUTHORIZED", "message": "authentication required"}


def error_codes(response: requests.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def test_version_check_challenges_anonymous_clients_with_the_token_realm(registry):
    r = requests.get(f"{registry.url}/v2/")
    assert r.status_code == 401
    assert r.json() == {"errors": [SPEC_401]}
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{registry.url}/token",service="pybuild-registry"')
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_a_pull_without_credentials_is_challenged_with_its_scope(registry):
    r = requests.get(f"{registry.url}/v2/alice/app/manifests/latest")
    assert r.status_code == 401
    assert 'scope="repository:alice/app:pull"' in r.headers["WWW-Authenticate"]


def test_wrong_password_gets_401_with_the_spec_body(registry):
    for r in (requests.get(f"{registry.url}/token", auth=("alice", "wrong")),
              requests.get(f"{registry.url}/v2/", auth=("alice", "wrong")),
              requests.get(f"{registry.url}/v2/", auth=("nobody", "wrong"))):
        assert r.status_code == 401
        assert error_codes(r) == ["UNAUTHORIZED"]
        assert r.json()["errors"][0]["message"] == SPEC_401["message"]


def test_basic_credentials_are_accepted_on_the_api(registry):
    assert requests.get(f"{registry.url}/v2/", auth=("alice", registry.passwords["alice"])).status_code == 200


def test_the_token_grants_only_what_the_policy_allows(registry):
    body = registry.token("alice", "repository:alice/app:pull,push",
                          "repository:bob/app:pull,push", "registry:catalog:*")
    assert body["expires_in"] == 300 and body["issued_at"].endswith("Z")
    assert body["access_token"] == body["token"]
    jwt = claims(body["token"])
    assert jwt["sub"] == "alice" and jwt["aud"] == "pybuild-registry"
    assert jwt["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "bob/app", "actions": ["pull"]},
    ]  # no catalog: it would name repositories alice may not pull
    assert jwt_header(body["token"])["alg"] == "ES256"


def test_alice_pushes_to_her_namespace_and_is_denied_elsewhere(registry):
    mine = registry.bearer("alice", "repository:alice/app:pull,push")
    assert registry.push_blob("alice/app", b"alice's layer", mine).status_code == 201
    theirs = registry.bearer("alice", "repository:bob/app:pull,push")
    r = registry.push_blob("bob/app", b"alice's layer", theirs)
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]
    basic = requests.post(f"{registry.url}/v2/bob/app/blobs/uploads/",
                          auth=("alice", registry.passwords["alice"]))
    assert basic.status_code == 403


def test_a_token_without_the_needed_action_asks_for_a_wider_one(registry):
    pull_only = registry.bearer("alice", "repository:alice/app:pull")
    r = registry.push_blob("alice/app", b"data", pull_only)
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="repository:alice/app:pull,push"' in challenge


def test_admins_push_anywhere_and_list_the_catalog(registry):
    headers = registry.bearer("root", "repository:bob/tools:pull,push", "registry:catalog:*")
    assert registry.push_blob("bob/tools", b"admin data", headers).status_code == 201
    r = requests.get(f"{registry.url}/v2/_catalog", headers=headers)
    assert r.status_code == 200 and "bob/tools" in r.json()["repositories"]


def test_users_may_delete_only_in_their_namespace(registry):
    registry.push_blob("alice/gone", b"to delete", registry.bearer("alice", "repository:alice/gone:pull,push"))
    digest = "sha256:" + hashlib.sha256(b"to delete").hexdigest()
    bob = registry.bearer("bob", "repository:alice/gone:delete")
    assert requests.delete(f"{registry.url}/v2/alice/gone/blobs/{digest}", headers=bob).status_code == 403
    alice = registry.bearer("alice", "repository:alice/gone:delete")
    assert requests.delete(f"{registry.url}/v2/alice/gone/blobs/{digest}", headers=alice).status_code == 202


def test_anonymous_clients_may_not_pull_by_default(registry):
    body = registry.token(None, "repository:alice/app:pull")
    assert claims(body["token"])["access"] == []
    r = requests.head(f"{registry.url}/v2/alice/app/blobs/sha256:{'0' * 64}",
                      headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status_code == 401


def test_forged_and_foreign_tokens_are_refused(registry):
    token = registry.token("alice", "repository:alice/app:pull")["token"]
    header, payload, signature = token.split(".")
    forged_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    for bad in (f"{header}.{forged_payload}.{signature}", "not-a-jwt", f"{header}.{payload}.{'A' * 86}"):
        r = requests.get(f"{registry.url}/v2/", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_oauth_password_grant_gives_a_refresh_token_that_works_until_the_password_changes(registry):
    r = requests.post(f"{registry.url}/token", data={
        "grant_type": "password", "username": "bob", "password": registry.passwords["bob"],
        "service": "pybuild-registry", "client_id": "test", "access_type": "offline",
        "scope": "repository:bob/app:pull,push repository:alice/app:push"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "repository:bob/app:pull,push"
    refresh = body["refresh_token"]
    r = requests.post(f"{registry.url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "service": "pybuild-registry",
        "client_id": "test", "scope": "repository:bob/app:pull"})
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["sub"] == "bob"

    from registry_server.accounts import Accounts

    accounts = Accounts(registry.root / "accounts.db", rounds=4)
    accounts.set_password("bob", "bob-new-secret")
    accounts.close()
    registry.passwords["bob"] = "bob-new-secret"
    r = requests.post(f"{registry.url}/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "service": "pybuild-registry"})
    assert r.status_code == 401 and error_codes(r) == ["UNAUTHORIZED"]
    wrong = requests.post(f"{registry.url}/token", data={
        "grant_type": "password", "username": "bob", "password": "bob-secret"})
    assert wrong.status_code == 401


def test_the_signing_key_is_made_on_first_start_and_private(registry):
    key = registry.root / "token-key.pem"
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((registry.root / "accounts.db").stat().st_mode) == 0o600


def test_a_mount_from_a_repository_the_user_cannot_read_becomes_a_plain_upload(registry):
    data = b"root's private blob"
    registry.push_blob("root/private", data, registry.bearer("root", "repository:root/private:pull,push"))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    alice = registry.bearer("alice", "repository:alice/copy:pull,push", "repository:root/private:pull")
    granted = claims(alice["Authorization"].split()[1])["access"]
    assert [a["name"] for a in granted] == ["alice/copy"]
    for source in ("root/private", None):
        params = {"mount": digest, **({"from": source} if source else {})}
        r = requests.post(f"{registry.url}/v2/alice/copy/blobs/uploads/", params=params, headers=alice)
        assert r.status_code == 202, r.text  # a new upload session, nothing mounted
    assert requests.head(f"{registry.url}/v2/alice/copy/blobs/{digest}", headers=alice).status_code == 404
