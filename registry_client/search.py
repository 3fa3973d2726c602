"""`search`: docker's `/v1/search` API, and where a registry has none (the CNCF
registry answers 404) its catalog filtered by name, as podman does.

The stored login (docker's config.json, as for `pull`) goes with the search as dockerd
sends it: a registry answers an anonymous search with its public repositories only."""

from __future__ import annotations

from dataclasses import dataclass

from oci.errors import UserError
from oci.reference import DEFAULT_DOMAIN
from registry_client.client import RegistryClient
from registry_client.transport import Options


# The scope dockerd asks a token server for when it searches with an identity token.


@dataclass(frozen=True)
class SearchResult:
    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False


@dataclass(frozen=True)
class SearchFilters:
    stars: int = 0
    is_official: bool | None = None


def split_term(term: str) -> tuple[str, str]:
    """`127.0.0.1:5000/busy` → (`127.0.0.1:5000`, `busy`); `busy` → (`docker.io`, `busy`).
    The first part names a registry as in an image reference: with `.` or `:`, or `localhost`."""
    first, slash, rest = term.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DEFAULT_DOMAIN, term


def parse_filters(filters: list[str]) -> SearchFilters:
    stars, official = 0, None
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"bad format of filter (expected name=value): {item}")
        if key == "stars":
            try:
                stars = int(value)
            except ValueError:
                raise UserError(f"invalid filter 'stars={value}'") from None
        elif key == "is-official":
            if value.lower() not in ("true", "false", "1", "0"):
                raise UserError(f"invalid filter 'is-official={value}'")
            official = value.lower() in ("true", "1")
        elif key == "is-automated":
            continue  # docker accepts and ignores it since Hub dropped automated builds
        else:
            raise UserError(f"invalid filter '{key}'")
    return SearchFilters(stars, official)


def apply_filters(results: list[SearchResult], filters: SearchFilters) -> list[SearchResult]:
    return [r for r in results if r.star_count >= filters.stars
            and (filters.is_official is None or r.is_official == filters.is_official)]


def results_from_v1(doc: dict) -> list[SearchResult]:
    out = []
    for item in doc.get("results") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        stars = item.get("star_count")
        out.append(SearchResult(item["name"], str(item.get("description") or ""),
                                stars if isinstance(stars, int) else 0, bool(item.get("is_official"))))
    return out


def catalog_matches(registry: str, repositories: list[str], term: str, limit: int) -> list[SearchResult]:
    """Repositories whose name contains `term` (case-insensitive), as `host/name`."""
    needle = term.lower()
    return [SearchResult(f"{registry}/{name}") for name in repositories if needle in name.lower()][:limit]


def search(registry: str, term: str, limit: int = 25, options: Options | None = None) -> list[SearchResult]:
    if not 1 <= limit <= 100:
        raise UserError(f"limit {limit} is outside the range of [1, 100]")
    with RegistryClient(registry, options) as client:
        doc = client.search_v1(term, limit)
        if doc is not None:
            return results_from_v1(doc)[:limit]
        return catalog_matches(registry, client.catalog(), term, limit)
