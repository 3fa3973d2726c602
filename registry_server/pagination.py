"""`n`/`last` pagination of sorted name lists (tags, catalog) and the `Link` header that
points to the next page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from registry_server.errors import Err, RegistryError

# An `n` larger than this is served as this many, with a Link to the rest.
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    limit: int | None  # None: everything after `last`
    last: str | None


def parse_page(query) -> Page:
    raw_n = query.get("n")
    last = query.get("last") or None
    if raw_n is None or raw_n == "":
        return Page(None, last)
    if not raw_n.isdigit() or len(raw_n) > 12:
        raise RegistryError(Err.PAGINATION_INVALID, f"n must be a non-negative integer, got {raw_n[:40]!r}")
    return Page(min(int(raw_n), MAX_PAGE), last)


def next_link(path: str, page: Page, items: list[str], more: bool) -> str | None:
    """The RFC 5988 `Link` to the page after `items`, or None when this page is the last
    (and always None for `n=0`, as the spec demands)."""
    if not more or not items or page.limit == 0:
        return None
    query = urlencode({"n": page.limit if page.limit is not None else len(items), "last": items[-1]})
    return f'<{path}?{query}>; rel="next"'
