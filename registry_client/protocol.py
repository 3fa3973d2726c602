"""The distribution protocol's header and body rules as pure functions (sans-IO): no
sockets here, so each rule is tested by feeding it strings.

Covers `WWW-Authenticate` challenges (RFC 7235 auth-params, as registries send them),
token scopes, `Range` / `Content-Range` / upload `Range` headers, `Link` pagination,
`Retry-After`, and the spec's error bodies turned into one line for a user."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin


@dataclass(frozen=True)
class Challenge:
    """One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…"`."""

    scheme: str  # lowercase: "basic", "bearer"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
# Values are quoted-strings or tokens by RFC 7235; some servers send a realm URL
# unquoted, so an unquoted value runs to the next comma or space.
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*({_QUOTED}|[^,\s\"]+)\s*(?:,|$)")
_SCHEME = re.compile(rf"\s*,*\s*({_TOKEN})(?:\s+|$)")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """All challenges in a `WWW-Authenticate` value, in order. Parameter names are
    lowercased, quoted values unescaped; a malformed tail is ignored rather than fatal,
    as docker does, since a partial challenge still names the scheme."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME.match(header, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        while (param := _PARAM.match(header, pos)) is not None:
            name, value = param.group(1).lower(), param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[name] = value
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
    return challenges


def repository_scope(repository: str, *actions: str) -> str:
    """`repository:library/busybox:pull,push` (actions deduplicated, in the order given)."""
    return f"repository:{repository}:{','.join(dict.fromkeys(actions))}"


def merge_scopes(scopes: list[str]) -> list[str]:
    """One scope per resource with the union of actions, sorted, so equal needs give
    equal token-cache keys: [`repository:a:pull`, `repository:a:push`] →
    [`repository:a:pull,push`]."""
    merged: dict[str, list[str]] = {}
    for scope in scopes:
        resource, _, actions = scope.rpartition(":")
        if not resource:
            resource, actions = scope, ""
        bucket = merged.setdefault(resource, [])
        bucket += [a for a in actions.split(",") if a and a not in bucket]
    return sorted(f"{r}:{','.join(sorted(a))}" if a else r for r, a in merged.items())


def _actions_by_resource(scopes: list[str] | tuple[str, ...]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for scope in scopes:
        resource, _, actions = scope.rpartition(":")
        out.setdefault(resource or scope, set()).update(a for a in actions.split(",") if a)
    return out


def scopes_cover(granted: list[str] | tuple[str, ...], wanted: list[str] | tuple[str, ...]) -> bool:
    """True when a token for `granted` also serves `wanted` (`…:pull,push` serves `…:pull`)."""
    have = _actions_by_resource(granted)
    return all(resource in have and actions <= have[resource]
               for resource, actions in _actions_by_resource(wanted).items())


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive
    total: int | None  # None for `*`


_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*")


def parse_content_range(header: str) -> ContentRange:
    """`bytes 100-199/1000` → ContentRange(100, 199, 1000); ValueError otherwise."""
    match = _CONTENT_RANGE.fullmatch(header)
    if match is None:
        raise ValueError(f"malformed Content-Range {header!r}")
    start, end = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if end < start or (total is not None and end >= total):
        raise ValueError(f"inconsistent Content-Range {header!r}")
    return ContentRange(start, end, total)


def range_header(offset: int) -> str:
    """The `Range` of a GET that resumes a download after `offset` bytes."""
    return f"bytes={offset}-"


def upload_content_range(start: int, length: int) -> str:
    """The `Content-Range` of an upload PATCH: the distribution spec's form has no
    `bytes ` unit: `0-1023`."""
    return f"{start}-{start + length - 1}"


def upload_offset(range_value: str | None) -> int:
    """How many bytes a registry holds of an upload, from the `Range: 0-N` header of a
    PATCH or GET-status response (N inclusive; absent or `0-0` with no data → 0)."""
    if not range_value:
        return 0
    match = re.fullmatch(r"\s*(?:bytes=)?(\d+)-(\d+)\s*", range_value)
    if match is None:
        raise ValueError(f"malformed upload Range {range_value!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if start != 0:
        raise ValueError(f"upload Range {range_value!r} does not start at 0")
    # "0-0" is ambiguous in the spec (one byte, or none); registries send it for an
    # empty upload, so it counts as none and at worst one byte is sent again.
    return 0 if end == 0 else end + 1


_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def next_link(link_header: str | None, base_url: str) -> str | None:
    """The absolute URL of the `rel="next"` page in a `Link` header, or None."""
    if not link_header:
        return None
    for match in _LINK.finditer(link_header):
        params = match.group(2)
        if re.search(r';\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?', params):
            return urljoin(base_url, match.group(1))
    return None


def retry_after(value: str | None, now: float, default: float) -> float:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return default
    return max(0.0, when - now)


_STATUS_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND",
    405: "UNSUPPORTED", 409: "CONFLICT", 413: "TOO_LARGE", 416: "RANGE_INVALID",
    429: "TOOMANYREQUESTS",
}


def error_message(status: int, body: bytes, reason: str = "") -> str:
    """One line for a failed response, docker style: `unauthorized: authentication
    required`; the spec's `{"errors":[{"code","message","detail"}]}` when the body has
    it (several errors joined by `; `), else the status."""
    errors = _spec_errors(body)
    if errors:
        return "; ".join(errors)
    code = _STATUS_CODES.get(status)
    text = " ".join(body.decode("utf-8", "replace").split())[:200] if body else ""
    if text.startswith("<"):  # an HTML error page says nothing a user can act on
        text = ""
    head = code.lower().replace("_", " ") if code else f"HTTP {status}"
    detail = text or reason
    return f"{head}: {detail}" if detail and detail.lower() != head else head


def _spec_errors(body: bytes) -> list[str]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        return []
    lines = []
    for error in doc["errors"]:
        if not isinstance(error, dict):
            continue
        code = str(error.get("code") or "UNKNOWN").lower().replace("_", " ")
        message = " ".join(str(error.get("message") or "").split())
        lines.append(f"{code}: {message}" if message else code)
    return lines


def error_codes(body: bytes) -> set[str]:
    """The spec error codes (`BLOB_UNKNOWN`, …) a response body carries."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return set()
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        return set()
    return {str(e.get("code")) for e in doc["errors"] if isinstance(e, dict) and e.get("code")}


def referrers_tag(digest: str) -> str:
    """The tag a registry without the referrers API keeps `digest`'s referrers index
    under (distribution spec: `<alg>-<hex>`, truncated to 32 and 64 characters)."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm[:32]}-{encoded[:64]}"


def referrer_entry(data: bytes, media_type: str, digest: str) -> tuple[str, dict] | None:
    """(subject digest, the descriptor a referrers index lists) of a manifest with a
    `subject`; None for one without. The artifact type is the manifest's
    `artifactType`, else its config's media type, as the spec says."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    subject = doc.get("subject") if isinstance(doc, dict) else None
    if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
        return None
    entry: dict = {"mediaType": media_type, "digest": digest, "size": len(data)}
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    if artifact_type := doc.get("artifactType") or config.get("mediaType"):
        entry["artifactType"] = artifact_type
    if isinstance(doc.get("annotations"), dict) and doc["annotations"]:
        entry["annotations"] = doc["annotations"]
    return subject["digest"], entry
