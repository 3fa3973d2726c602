"""The pure parts of authentication: scopes, the access a request needs, the policy,
tokens, accounts and htpasswd files."""

from __future__ import annotations

import stat
import subprocess

import pytest

from registry_server.accounts import AccountError, Accounts, Role, User, parse_htpasswd
from registry_server.authz import Policy, Scope, parse_scope, parse_scopes, required_access
from registry_server.tokens import Access, InvalidToken, TokenSigner, key_id, load_or_create_key

ALICE = User("alice", Role.USER)
ADMIN = User("root", Role.ADMIN)


def test_scopes_parse_as_the_token_spec_writes_them():
    assert parse_scope("repository:alice/app:pull,push") == Scope("repository", "alice/app", ("pull", "push"))
    assert parse_scope("repository(plugin):x:pull") == Scope("repository", "x", ("pull",))
    assert parse_scope("repository:host:5000/x:pull").name == "host:5000/x"
    assert parse_scope("garbage") is None
    assert parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"]) == [
        Scope("repository", "a", ("pull",)), Scope("repository", "b", ("push",)),
        Scope("registry", "catalog", ("*",))]
    assert str(Scope("repository", "a/b", ("pull", "push"))) == "repository:a/b:pull,push"


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/v2/", []),
    ("GET", "/v2/_catalog", ["registry:catalog:*"]),
    ("HEAD", "/v2/a/b/manifests/latest", ["repository:a/b:pull"]),
    ("GET", "/v2/a/blobs/uploads/x/blobs/sha256:00", ["repository:a/blobs/uploads/x:pull"]),
    ("POST", "/v2/a/blobs/uploads/", ["repository:a:pull,push"]),
    ("PATCH", "/v2/a/blobs/uploads/0123", ["repository:a:pull,push"]),
    ("PUT", "/v2/a/manifests/v1", ["repository:a:pull,push"]),
    ("DELETE", "/v2/a/manifests/sha256:00", ["repository:a:delete"]),
    ("GET", "/v2/a/tags/list", ["repository:a:pull"]),
    ("GET", "/v2/a/referrers/sha256:00", ["repository:a:pull"]),
])
def test_each_endpoint_needs_the_access_distribution_asks_for(method, path, expected):
    assert [str(s) for s in required_access(method, path)] == expected


def test_users_own_their_namespace_admins_everything_anonymous_only_public_pulls():
    policy = Policy(anonymous_pull=True, public=("library/*",))
    assert policy.repository_actions(ALICE, "alice") == {"pull", "push", "delete"}
    assert policy.repository_actions(ALICE, "alice/app/sub") == {"pull", "push", "delete"}
    assert policy.repository_actions(ALICE, "alicex/app") == set()
    assert policy.repository_actions(ALICE, "library/nginx") == {"pull"}
    assert policy.repository_actions(None, "library/nginx") == {"pull"}
    assert policy.repository_actions(None, "alice/app") == set()
    assert "push" in policy.repository_actions(ADMIN, "alice/app")
    assert Policy(anonymous_pull=False).repository_actions(None, "library/nginx") == set()
    assert not policy.can_list_catalog(ALICE) and policy.can_list_catalog(ADMIN)
    assert Policy().can_list_catalog(ALICE) and not Policy().can_list_catalog(None)


def test_tokens_verify_and_carry_their_access(tmp_path):
    signer = TokenSigner(load_or_create_key(tmp_path / "key.pem"), "iss", "svc", ttl=60)
    issued = signer.issue_access("alice", [Access("repository", "alice/app", ("pull", "push"))], now=1000)
    claims = signer.verify_access(issued.token, now=1030)
    assert claims.subject == "alice"
    assert claims.allows("repository", "alice/app", "push")
    assert not claims.allows("repository", "alice/other", "pull")
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify_access(issued.token, now=1061)
    other = TokenSigner(load_or_create_key(tmp_path / "other.pem"), "iss", "svc")
    with pytest.raises(InvalidToken, match="signature"):
        other.verify_access(issued.token, now=1030)
    with pytest.raises(InvalidToken, match="another issuer or service"):
        TokenSigner(signer.key, "iss", "elsewhere").verify_access(issued.token, now=1030)
    refresh = signer.issue_refresh("alice", "$2b$hash", now=1000)
    with pytest.raises(InvalidToken):
        signer.verify_access(refresh, now=1030)  # a refresh token is no access token
    assert signer.verify_refresh(refresh, now=1030).subject == "alice"


def test_the_key_is_made_once_private_and_named_as_libtrust_does(tmp_path):
    path = tmp_path / "key.pem"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(load_or_create_key(path).public_key()) == key_id(first.public_key())
    kid = key_id(first.public_key())
    assert len(kid) == 59 and kid.count(":") == 11


def test_htpasswd_bcrypt_lines_import_and_log_in(tmp_path):
    htpasswd = tmp_path / "htpasswd"
    lines = [subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True,
                            check=True).stdout.strip() for user, password in [("carol", "c-pw"), ("dave", "d-pw")]]
    htpasswd.write_text("\n".join(lines) + "\n")
    accounts = Accounts(tmp_path / "accounts.db", rounds=4)
    accounts.add("carol", "old-pw", Role.ADMIN)
    assert accounts.import_htpasswd(htpasswd) == (["dave"], ["carol"])
    assert accounts.verify("carol", "c-pw") == User("carol", Role.ADMIN)  # role kept
    assert accounts.verify("dave", "d-pw") == User("dave", Role.USER)
    assert accounts.verify("dave", "wrong") is None
    assert accounts.verify("nobody", "d-pw") is None


def test_htpasswd_lines_that_are_not_bcrypt_are_refused_naming_the_line(tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("# users\nerin:$apr1$salt$hash\n")
    with pytest.raises(AccountError, match=r"htpasswd:2: user 'erin' has no bcrypt hash"):
        parse_htpasswd(htpasswd)


def test_account_names_are_namespaces_and_unique(tmp_path):
    accounts = Accounts(tmp_path / "accounts.db", rounds=4)
    accounts.add("alice", "pw")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("alice", "pw")
    for bad in ("Alice", "a/b", "", "a..b"):
        with pytest.raises(AccountError, match="invalid user name"):
            accounts.add(bad, "pw")
    with pytest.raises(AccountError, match="empty"):
        accounts.add("bob", "")
    with pytest.raises(AccountError, match="no user"):
        accounts.delete("carol")
