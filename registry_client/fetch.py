"""One file over HTTP(S), for `ADD https://…`: streamed into a caller's file while it is
hashed, with the `Last-Modified` time BuildKit's http source gives the file (its name
comes from the URL, which the builder knows). The builder does not speak HTTP; `pybuild build` hands it this.

TLS is verified against the system's roots, or the bundle `REQUESTS_CA_BUNDLE` or
`SSL_CERT_FILE` names (people behind an intercepting proxy set one of them); redirects
and `*_PROXY` variables are followed by the registry client's connections."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from oci.errors import UserError
from registry_client.connections import ConnectionFailed, Session
from registry_client.transport import USER_AGENT

CHUNK = 1 << 20


class FetchFailed(UserError):
    """A URL that could not be downloaded: unreachable, or an HTTP error status."""


@dataclass(frozen=True)
class Fetched:
    digest: str  # sha256 of the content as received
    size: int
    last_modified: float | None  # seconds, from the Last-Modified header


def _verify() -> bool | str:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(name)
        if path and os.path.isfile(path):
            return path
    return True


def fetch_url(url: str, sink: BinaryIO, *, timeout: float = 60.0) -> Fetched:
    """Download `url` into `sink`; raises FetchFailed naming the URL."""
    session = Session({"User-Agent": USER_AGENT})
    try:
        try:
            response = session.request("GET", url, stream=True, timeout=timeout, verify=_verify())
        except ConnectionFailed as e:
            raise FetchFailed(f"failed to fetch {url}: {e}") from None
        with response:
            if response.status_code != 200:
                raise FetchFailed(f"failed to fetch {url}: {response.status_code} {response.reason}")
            hasher = hashlib.sha256()
            size = 0
            try:
                for chunk in response.iter_content(CHUNK):
                    hasher.update(chunk)
                    sink.write(chunk)
                    size += len(chunk)
            except ConnectionFailed as e:
                raise FetchFailed(f"failed to fetch {url}: {e}") from None
            return Fetched("sha256:" + hasher.hexdigest(), size, _last_modified(response.headers.get("Last-Modified")))
    finally:
        session.close()


def _last_modified(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
