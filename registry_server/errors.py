"""Every error the registry can answer, declared once: the spec's code, the HTTP status and
the message. Handlers raise `RegistryError(Err.X, detail)`; the app's middleware turns it
into the spec's JSON body, so no handler formats an error body by hand.

Several rows may share a spec code when the status differs by situation (a chunk out of
order is `BLOB_UPLOAD_INVALID` with 416, a bad upload is the same code with 400)."""

from __future__ import annotations

import enum
import json
from typing import Any


class Err(enum.Enum):
    BLOB_UNKNOWN = ("BLOB_UNKNOWN", 404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
    RANGE_INVALID = ("BLOB_UPLOAD_INVALID", 416, "requested range not satisfiable")
    BLOB_UPLOAD_UNKNOWN = ("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
    DIGEST_INVALID = ("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = (
        "MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry")
    MANIFEST_INVALID = ("MANIFEST_INVALID", 400, "manifest invalid")
    MANIFEST_UNKNOWN = ("MANIFEST_UNKNOWN", 404, "manifest unknown to registry")
    MANIFEST_TOO_LARGE = ("SIZE_INVALID", 413, "manifest exceeds the size limit")
    NAME_INVALID = ("NAME_INVALID", 400, "invalid repository name")
    NAME_UNKNOWN = ("NAME_UNKNOWN", 404, "repository name not known to registry")
    SIZE_INVALID = ("SIZE_INVALID", 400, "provided length did not match content length")
    # Not in the OCI list but in distribution's (errcode), which docker clients know.
    TAG_INVALID = ("TAG_INVALID", 400, "invalid tag")
    PAGINATION_INVALID = ("UNSUPPORTED", 400, "invalid pagination parameter")
    UNAUTHORIZED = ("UNAUTHORIZED", 401, "authentication required")
    DENIED = ("DENIED", 403, "requested access to the resource is denied")
    UNSUPPORTED = ("UNSUPPORTED", 400, "the operation is unsupported")
    NOT_FOUND = ("UNSUPPORTED", 404, "no such endpoint")
    METHOD_NOT_ALLOWED = ("UNSUPPORTED", 405, "method not allowed on this endpoint")
    TOOMANYREQUESTS = ("TOOMANYREQUESTS", 429, "too many requests")
    # distribution's catch-all code; the spec has none for a server out of space.
    STORAGE_FULL = ("UNKNOWN", 507, "registry storage is full")

    def __init__(self, code: str, status: int, message: str) -> None:
        self.code = code
        self.status = status
        self.message = message


class RegistryError(Exception):
    """An error response: one row of `Err`, optional JSON-able detail, optional headers
    (the 416 of a chunk out of order carries the upload's `Range` and `Location`)."""

    def __init__(self, err: Err, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(f"{err.code}: {err.message}" + (f" ({detail})" if detail else ""))
        self.err = err
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> bytes:
        entry: dict[str, Any] = {"code": self.err.code, "message": self.err.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()
