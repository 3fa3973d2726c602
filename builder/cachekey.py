"""Cache keys of build steps, and why a step missed the cache.

A step's key is the sha256 of its parent's key and its inputs (canonical JSON): the
planner gives every step the inputs it knows without touching a file (`Step.inputs`:
the command, the variables it sees, the user, workdir, flags...); the solver adds what
only the files tell (`content`: the digest of a COPY/ADD selection from
builder/context.py; `base`: the manifest digest of a FROM image). Nothing in a key is
a time, so equal inputs give equal keys on any machine.

When a step misses, `explain_miss` compares its inputs with those of the same step in
the previous build (the solver keeps one `CacheRecord` per step slot) and names the
first difference a user would care about:

    COPY . /app: src/main.py changed
    RUN make: ARG VERSION changed
    RUN make: previous step changed
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oci.manifest import canonical_json

__all__ = ["CacheRecord", "explain_miss", "step_key", "step_slot", "describe_content_change"]

# Inputs only kept to explain a miss: they are summarised by another input.
EXPLAIN_ONLY = frozenset({"entries"})
_SHOWN_PATHS = 1


def step_key(parent: str | None, inputs: Mapping[str, Any]) -> str:
    """The cache key of a step: its parent's key (None for a stage's first step on
    scratch) and its inputs, `entries` left out (`content` covers them)."""
    keyed = {k: v for k, v in inputs.items() if k not in EXPLAIN_ONLY}
    return "sha256:" + hashlib.sha256(canonical_json({"parent": parent, "inputs": keyed})).hexdigest()


def step_slot(dockerfile: str, stage: str, index: int) -> str:
    """Where a step's record lives between builds: the Dockerfile (absolute path), the
    stage (name or index) and the step's position in it."""
    return f"{dockerfile}#{stage}#{index}"


@dataclass(frozen=True)
class CacheRecord:
    """What the solver stores for a step slot after a build: its key, its parent's key
    and its inputs (entries included), enough to explain the next miss."""

    key: str
    parent: str | None
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return canonical_json({"key": self.key, "parent": self.parent, "inputs": self.inputs})

    @classmethod
    def from_json(cls, data: bytes) -> CacheRecord:
        d = json.loads(data)
        return cls(d["key"], d.get("parent"), d.get("inputs") or {})


def _names(changed: list[str], noun: str) -> str:
    if len(changed) == 1:
        return f"{noun} {changed[0]} changed"
    return f"{noun}s {', '.join(changed)} changed"


def _pairs(items: Any) -> dict[str, str]:
    if isinstance(items, Mapping):
        return dict(items)
    out = {}
    for item in items or ():
        if isinstance(item, str):
            key, _, value = item.partition("=")
        else:
            key, value = item
        out[key] = value
    return out


def _changed_keys(old: Any, new: Any) -> list[str]:
    a, b = _pairs(old), _pairs(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def describe_content_change(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """`src/main.py changed`, `src/new.py added`, `old.txt removed`, or with many paths
    `src/a.py and 4 more files changed` (the first path in walk order)."""
    changed = [p for p in new if p in old and old[p] != new[p]]
    added = [p for p in new if p not in old]
    removed = [p for p in old if p not in new]
    parts = []
    for paths, verb in ((changed, "changed"), (added, "added"), (removed, "removed")):
        if not paths:
            continue
        shown = ", ".join(p or "." for p in paths[:_SHOWN_PATHS])
        more = len(paths) - _SHOWN_PATHS
        parts.append(f"{shown} and {more} more {verb}" if more > 0 else f"{shown} {verb}")
    return "; ".join(parts) or "file metadata changed"


# The order in which differences are reported: what the user most likely changed first.
_FIELD_WORDS = {
    "base": "base image changed",
    "command": "command changed",
    "shell": "SHELL changed",
    "user": "USER changed",
    "workdir": "WORKDIR changed",
    "network": "--network changed",
    "security": "--security changed",
    "mounts": "--mount changed",
    "heredocs": "heredoc changed",
    "sources": "sources changed",
    "dest": "destination changed",
    "chown": "--chown changed",
    "chmod": "--chmod changed",
    "link": "--link changed",
    "parents": "--parents changed",
    "exclude": "--exclude changed",
    "from": "--from source changed",
    "checksum": "--checksum changed",
    "unpack": "--unpack changed",
    "path": "path changed",
    "platform": "platform changed",
}


def explain_miss(title: str, previous: CacheRecord | None, inputs: Mapping[str, Any],
                 parent: str | None) -> str:
    """One line saying why the step titled `title` (e.g. "COPY . /app") missed."""
    if previous is None:
        return f"{title}: not built before"
    old = previous.inputs
    args = _changed_keys(old.get("args"), inputs.get("args"))
    if args:
        return f"{title}: {_names(args, 'ARG')}"
    arg_names = set(_pairs(inputs.get("args"))) | set(_pairs(old.get("args")))
    env = [k for k in _changed_keys(old.get("env"), inputs.get("env")) if k not in arg_names]
    if env:
        return f"{title}: {_names(env, 'ENV')}"
    for name, words in _FIELD_WORDS.items():
        if old.get(name) != inputs.get(name):
            return f"{title}: {words}"
    if old.get("content") != inputs.get("content"):
        old_entries, new_entries = old.get("entries"), inputs.get("entries")
        if old_entries is None or new_entries is None:
            # A stage or an image is identified by its key or digest, not file by file.
            return f"{title}: source changed"
        return f"{title}: {describe_content_change(old_entries, new_entries)}"
    if previous.parent != parent:
        return f"{title}: previous step changed"
    other = sorted(k for k in old.keys() | inputs.keys() if old.get(k) != inputs.get(k) and k not in EXPLAIN_ONLY)
    if other:
        return f"{title}: {other[0]} changed"
    return f"{title}: cache record missing"
