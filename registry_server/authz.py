"""Who may do what, as pure functions: scopes as the distribution token spec writes them
(`repository:alice/app:pull,push`), the access a request under `/v2/` needs, and the
policy that grants it.

The policy: an admin may do everything. A user owns the namespace of their name (alice
pulls, pushes and deletes `alice` and `alice/...`) and pulls the public repositories.
Anonymous clients pull the public repositories only when `anonymous_pull` is on.
Public repositories are those matching one of the `public` glob patterns (`*` by
default: every repository)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from registry_server.accounts import User

PULL, PUSH, DELETE = "pull", "push", "delete"
REPOSITORY, REGISTRY = "repository", "registry"
CATALOG = "catalog"
ALL_ACTIONS = frozenset({PULL, PUSH, DELETE, "*"})

# The resource is found from the end of the path, as the router does: repository names
# contain slashes. Upload routes come first, as there.
_RESOURCE = [
    re.compile(r"(?P<name>.+)/blobs/uploads/?"),
    re.compile(r"(?P<name>.+)/blobs/uploads/[^/]+"),
    re.compile(r"(?P<name>.+)/blobs/[^/]+"),
    re.compile(r"(?P<name>.+)/manifests/[^/]+"),
    re.compile(r"(?P<name>.+)/tags/list"),
    re.compile(r"(?P<name>.+)/referrers/[^/]+"),
]


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """`type[(class)]:name:action,action`; None for anything else (ignored, as
    distribution's token servers do). The name is what lies between the first and the last
    colon, so a name with a port (`host:5000/x`) survives."""
    type_, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name or not type_:
        return None
    type_ = type_.split("(", 1)[0]
    return Scope(type_, name, tuple(a for a in actions.split(",") if a))


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every `scope` parameter; one may hold several scopes separated by spaces."""
    scopes = [parse_scope(part) for value in values for part in value.split()]
    return [scope for scope in scopes if scope is not None]


def required_access(method: str, path: str) -> list[Scope]:
    """The scopes a request to `path` (decoded, starting with /v2) needs; empty for the
    version check, which only needs a known client."""
    tail = path[len("/v2/"):] if path.startswith("/v2/") else ""
    if tail == "":
        return []
    if tail == "_catalog":
        return [Scope(REGISTRY, CATALOG, ("*",))]
    for pattern in _RESOURCE:
        match = pattern.fullmatch(tail)
        if match:
            name = match["name"]
            if method in ("GET", "HEAD"):
                return [Scope(REPOSITORY, name, (PULL,))]
            if method == "DELETE":
                return [Scope(REPOSITORY, name, (DELETE,))]
            return [Scope(REPOSITORY, name, (PULL, PUSH))]
    return []


def owns(user: User, name: str) -> bool:
    return name == user.name or name.startswith(user.name + "/")


@dataclass(frozen=True)
class Policy:
    anonymous_pull: bool = False
    public: tuple[str, ...] = ("*",)

    @property
    def everything_public(self) -> bool:
        return "*" in self.public

    def is_public(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.public)

    def repository_actions(self, user: User | None, name: str) -> frozenset[str]:
        if user is not None and user.is_admin:
            return ALL_ACTIONS
        if user is not None and owns(user, name):
            return frozenset({PULL, PUSH, DELETE})
        if (user is not None or self.anonymous_pull) and self.is_public(name):
            return frozenset({PULL})
        return frozenset()

    def can_list_catalog(self, user: User | None) -> bool:
        """The catalog names every repository, so only those who may pull them all see it."""
        if user is not None and user.is_admin:
            return True
        return self.everything_public and (user is not None or self.anonymous_pull)

    def granted(self, user: User | None, scope: Scope) -> tuple[str, ...]:
        """The actions of `scope` that `user` (None: anonymous) may take."""
        if scope.type == REPOSITORY:
            allowed = self.repository_actions(user, scope.name)
            if "*" in allowed:
                return scope.actions
            return tuple(a for a in scope.actions if a in allowed)
        if scope.type == REGISTRY and scope.name == CATALOG and self.can_list_catalog(user):
            return scope.actions
        return ()

    def visible_repositories_sql(self, user: User | None, column: str = "name") -> tuple[str, list[str]]:
        """An SQL condition (and its arguments) true for the repositories `user` may pull:
        `GLOB` reads the same `*`/`?`/`[...]` patterns as fnmatch."""
        if user is not None and user.is_admin:
            return "1", []
        clauses: list[str] = []
        args: list[str] = []
        if user is not None:
            clauses.append(f"({column} = ? OR {column} GLOB ?)")
            args += [user.name, _glob_escape(user.name) + "/*"]
        if user is not None or self.anonymous_pull:
            clauses += [f"{column} GLOB ?" for _ in self.public]
            args += list(self.public)
        return ("(" + " OR ".join(clauses) + ")" if clauses else "0"), args


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
