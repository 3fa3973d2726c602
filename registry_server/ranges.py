"""Byte ranges of chunked uploads: the `Content-Range` a client sends with a chunk and the
`Range` the registry answers with."""

from __future__ import annotations

import re

from registry_server.errors import Err, RegistryError

# The spec's form is `^[0-9]+-[0-9]+$`; docker's and containers/image's clients have sent
# `bytes 0-9/10` and `bytes=0-9`, which say the same thing.
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]{1,19}|\*))?")


def parse_content_range(value: str) -> tuple[int, int]:
    """`"0-9"` → `(0, 9)`, inclusive on both ends as the spec says."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        raise RegistryError(Err.RANGE_INVALID, f"malformed Content-Range {value[:100]!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RegistryError(Err.RANGE_INVALID, f"Content-Range {value[:100]!r} ends before it starts")
    return start, end


def range_header(size: int) -> str:
    """The `Range` of an upload holding `size` bytes: `0-<last byte>`, and `0-0` while it is
    empty, as distribution answers (there is no way to say "nothing" in this form)."""
    return f"0-{max(size - 1, 0)}"
