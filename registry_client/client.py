"""The registry API calls, one method each: manifests, blobs (download with resume,
monolithic and chunked upload, cross-repository mount), tags, catalog, referrers and
`/v1/search`. Repositories are named as in the API (`library/busybox`); the registry
host is the Transport's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlencode, urljoin

from oci import mediatypes
from oci.digest import digest_bytes, hasher_digest, new_hasher, split_digest
from oci.errors import DigestMismatch
from oci.manifest import Descriptor, canonical_json
from registry_client import protocol
from registry_client.auth import basic_header
from registry_client.connections import ConnectionFailed, FileRange, Response
from registry_client.errors import NotFound, RegistryError, RegistryUnreachable
from registry_client.transport import RETRY_STATUSES, Options, Transport
from registry_client.writebehind import WriteBehind

# the scope dockerd asks for before a /v1/search
SEARCH_SCOPE = "registry:catalog:search"

MANIFEST_ACCEPT = ", ".join(mediatypes.MANIFEST_ACCEPT)
READ_CHUNK = 1 << 20
# Blobs up to this size go in one PUT; bigger ones in a PATCH that can resume.
MONOLITHIC_LIMIT = 32 << 20
MAX_MANIFEST = 4 << 20  # the limit registries and docker apply to manifests


def pull_scope(repository: str) -> str:
    return protocol.repository_scope(repository, "pull")


def push_scopes(repository: str) -> list[str]:
    return [protocol.repository_scope(repository, "pull", "push")]


@dataclass(frozen=True)
class FetchedManifest:
    data: bytes  # exactly as served
    media_type: str
    digest: str


class Progress:
    """Receives byte counts of a transfer; the CLI renders them."""

    def start(self, digest: str, total: int) -> None: ...

    def advance(self, digest: str, done: int) -> None: ...

    def finish(self, digest: str, state: str) -> None: ...


class RegistryClient:
    """The API of one registry. `RegistryClient("127.0.0.1:5000")`."""

    def __init__(self, registry: str, options: Options | None = None, transport: Transport | None = None,
                 **transport_kwargs) -> None:
        self.registry = registry
        self.transport = transport or Transport(registry, options, **transport_kwargs)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- base --------------------------------------------------------------------------

    def ping(self, *, offline_token: bool = False) -> Response:
        """GET /v2/ authorised: what `login` checks credentials with."""
        response = self.transport.request("GET", "/v2/", offline_token=offline_token)
        response.close()
        return response

    # ---- manifests ---------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str, accept: str = MANIFEST_ACCEPT) -> FetchedManifest:
        """Fetch a manifest by tag or digest, checking the bytes against the digest
        when the reference is one (a tag's bytes are checked against the registry's
        Docker-Content-Digest)."""
        response = self.transport.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scopes=[pull_scope(repository)],
            headers={"Accept": accept}, stream=True)
        with response:
            data = _read_limited(response, MAX_MANIFEST, f"{repository}:{reference}")
        media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = _body_media_type(data)
        expected = reference if ":" in reference else response.headers.get("Docker-Content-Digest")
        algorithm = split_digest(expected)[0] if expected else "sha256"
        digest = digest_bytes(data, algorithm)
        if expected and digest != expected:
            raise DigestMismatch(f"manifest {self.registry}/{repository}@{expected}: content hashes to {digest}")
        return FetchedManifest(data, media_type, digest)

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        response = self.transport.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", scopes=[pull_scope(repository)],
            headers={"Accept": MANIFEST_ACCEPT}, ok=[404])
        response.close()
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            return None
        media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        return Descriptor(media_type, digest, int(response.headers.get("Content-Length") or 0))

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """Put a manifest; one with a `subject` is also added to the subject's referrers
        index under the tag schema (`sha256-<hex>`) when the registry does not say, by
        `OCI-Subject`, that it keeps referrers itself."""
        response = self.transport.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", scopes=push_scopes(repository),
            headers={"Content-Type": media_type}, data=data)
        response.close()
        digest = response.headers.get("Docker-Content-Digest") or digest_bytes(data)
        if not response.headers.get("OCI-Subject") and (entry := protocol.referrer_entry(data, media_type, digest)):
            self._add_to_referrers_tag(repository, *entry)
        return digest

    def _add_to_referrers_tag(self, repository: str, subject: str, entry: dict) -> None:
        tag = protocol.referrers_tag(subject)
        try:
            index = json.loads(self.get_manifest(repository, tag, mediatypes.OCI_INDEX).data)
        except NotFound:
            index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
        manifests = index.get("manifests") or []
        if entry in manifests:
            return
        index["manifests"] = [m for m in manifests if m.get("digest") != entry["digest"]] + [entry]
        self.put_manifest(repository, tag, canonical_json(index), mediatypes.OCI_INDEX)

    def delete_manifest(self, repository: str, digest: str) -> None:
        response = self.transport.request(
            "DELETE", f"/v2/{repository}/manifests/{digest}",
            scopes=[protocol.repository_scope(repository, "delete")])
        response.close()

    # ---- blobs -------------------------------------------------------------------------

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob the repository has, None when it has not."""
        response = self.transport.request("HEAD", f"/v2/{repository}/blobs/{digest}",
                                          scopes=[pull_scope(repository)], ok=[404])
        response.close()
        if response.status_code == 404:
            return None
        return int(response.headers.get("Content-Length") or 0)

    def open_blob(self, repository: str, digest: str, offset: int = 0) -> Response:
        """A streaming response of the blob from `offset` (a Range request after 0)."""
        headers = {"Range": protocol.range_header(offset)} if offset else {}
        return self.transport.request("GET", f"/v2/{repository}/blobs/{digest}",
                                      scopes=[pull_scope(repository)], headers=headers, stream=True)

    def fetch_blob(self, repository: str, descriptor: Descriptor, sink: BinaryIO,
                   progress: Progress | None = None, resumes: int = 5, *, sink_verifies: bool = False) -> None:
        """Write the blob's bytes to `sink`, checking size and digest as they stream;
        a connection cut in the middle is resumed with a Range request. Raises
        DigestMismatch when the bytes are not the blob the descriptor names; the
        caller must then throw `sink`'s content away. `sink_verifies` leaves the digest
        to a sink that hashes what it is given anyway (a store blob writer): hashing
        twice would cost a tenth of a second per 100 MiB."""
        algorithm = split_digest(descriptor.digest)[0]
        hasher = None if sink_verifies else new_hasher(algorithm)
        done = 0
        if progress:
            progress.start(descriptor.digest, descriptor.size)
        attempts = 0
        with WriteBehind(sink, hasher) as out:
            while True:
                response = self.open_blob(repository, descriptor.digest, done)
                # A registry that ignores the Range sends the whole blob again: skip what we have.
                skip = done if done and response.status_code != 206 else 0
                try:
                    for chunk in response.iter_content(READ_CHUNK):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        done += len(chunk)
                        if done > descriptor.size:
                            raise DigestMismatch(f"blob {descriptor.digest}: more than the {descriptor.size} bytes"
                                                 " its descriptor says")
                        out.write(chunk)
                        if progress:
                            progress.advance(descriptor.digest, done)
                    break
                except ConnectionFailed as e:
                    attempts += 1
                    if attempts > resumes:
                        raise self.transport.unreachable(e) from None
                finally:
                    response.close()
        if done != descriptor.size:
            raise DigestMismatch(f"blob {descriptor.digest}: {done} bytes, its descriptor says {descriptor.size}")
        if hasher is not None and (actual := hasher_digest(hasher)) != descriptor.digest:
            raise DigestMismatch(f"blob {descriptor.digest}: content hashes to {actual}")

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Ask the registry to link a blob of `source` into `repository`; False when it
        would rather have an upload (it then opened one, which is cancelled)."""
        scopes = push_scopes(repository) + [pull_scope(source)]
        response = self.transport.request(
            "POST", f"/v2/{repository}/blobs/uploads/?" + urlencode({"mount": digest, "from": source}),
            scopes=scopes, ok=[202])
        response.close()
        if response.status_code == 201:
            return True
        if location := response.headers.get("Location"):
            self._cancel_upload(repository, location)
        return False

    def _cancel_upload(self, repository: str, location: str) -> None:
        try:
            self.transport.request("DELETE", self._absolute(location), scopes=push_scopes(repository),
                                   ok=[404, 405]).close()
        except RegistryError:
            pass  # a dangling upload session expires by itself on the registry

    def _absolute(self, location: str) -> str:
        return urljoin(self.transport.base_url + "/", location)

    def start_upload(self, repository: str) -> str:
        response = self.transport.request("POST", f"/v2/{repository}/blobs/uploads/",
                                          scopes=push_scopes(repository), ok=[202])
        response.close()
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.registry}: upload started without a Location")
        return self._absolute(location)

    def upload_blob(self, repository: str, digest: str, size: int, opener: Callable[[], BinaryIO],
                    progress: Progress | None = None, chunk_size: int | None = None,
                    monolithic_limit: int = MONOLITHIC_LIMIT) -> None:
        """Upload a blob from a seekable file `opener()` gives: one PUT when small;
        otherwise, as docker does, one PATCH streaming the rest of the file (or
        `chunk_size` bytes at a time, for a proxy that limits bodies), resuming from
        the offset the registry reports after a dropped connection."""
        if progress:
            progress.start(digest, size)
        scopes = push_scopes(repository)
        location = self.start_upload(repository)
        with opener() as source:
            if size <= monolithic_limit:
                # A FileRange sends from its offset each time: the PUT can be retried.
                response = self.transport.request(
                    "PUT", _with_digest(location, digest), scopes=scopes, data=FileRange(source, 0, size),
                    headers={"Content-Type": "application/octet-stream"})
                response.close()
            else:
                location = self._upload_chunks(repository, location, source, size, chunk_size, digest, progress)
                response = self.transport.request("PUT", _with_digest(location, digest), scopes=scopes,
                                                  headers={"Content-Length": "0"})
                response.close()
        if progress:
            progress.advance(digest, size)
            progress.finish(digest, "pushed")

    def upload_stream(self, repository: str, descriptor: Descriptor, chunks: Iterator[bytes]) -> None:
        """Upload a blob whose bytes arrive as `chunks` (a download from another
        registry), checking size and digest on the way: the upload is committed only
        when they match, and cancelled otherwise."""
        hasher = new_hasher(split_digest(descriptor.digest)[0])
        counted = 0

        def verified() -> Iterator[bytes]:
            nonlocal counted
            for chunk in chunks:
                counted += len(chunk)
                if counted > descriptor.size:
                    raise DigestMismatch(f"blob {descriptor.digest}: more than the {descriptor.size} bytes"
                                         " its descriptor says")
                hasher.update(chunk)
                yield chunk

        location = self.start_upload(repository)
        try:
            response = self.transport.request(
                "PATCH", location, scopes=push_scopes(repository), data=verified(), replayable=False,
                headers={"Content-Type": "application/octet-stream"})
            response.close()
            location = self._absolute(response.headers.get("Location") or location)
            actual = hasher_digest(hasher)
            if counted != descriptor.size or actual != descriptor.digest:
                raise DigestMismatch(f"blob {descriptor.digest}: source sent {counted} bytes hashing to {actual}")
        except BaseException:
            self._cancel_upload(repository, location)
            raise
        self.transport.request("PUT", _with_digest(location, descriptor.digest), scopes=push_scopes(repository),
                               headers={"Content-Length": "0"}).close()

    def _upload_chunks(self, repository: str, location: str, source: BinaryIO, size: int,
                       chunk_size: int | None, digest: str, progress: Progress | None) -> str:
        scopes = push_scopes(repository)
        offset = 0
        failures = 0
        while offset < size:
            length = min(chunk_size or size, size - offset)
            start = offset
            sent = (lambda count: progress.advance(digest, start + count)) if progress else None
            body = FileRange(source, offset, length, sent)
            try:
                response = self.transport.request(
                    "PATCH", location, scopes=scopes, data=body, replayable=False,
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": protocol.upload_content_range(offset, length),
                             "Content-Length": str(length)})
            except (RegistryError, RegistryUnreachable) as e:
                failures += 1
                status = getattr(e, "status", None)
                resumable = isinstance(e, RegistryUnreachable) or status in RETRY_STATUSES or status == 416
                if not resumable or failures > self.transport.options.retries:
                    raise
                offset = self._upload_status(repository, location)
                continue
            response.close()
            location = self._absolute(response.headers.get("Location") or location)
            offset = protocol.upload_offset(response.headers.get("Range")) or offset + length
            if progress:
                progress.advance(digest, offset)
        return location

    def _upload_status(self, repository: str, location: str) -> int:
        response = self.transport.request("GET", location, scopes=push_scopes(repository), ok=[204])
        response.close()
        return protocol.upload_offset(response.headers.get("Range"))

    # ---- listing -----------------------------------------------------------------------

    def _paginate(self, path: str, key: str, scopes: list[str], limit: int | None) -> Iterator[str]:
        url = path + (f"?{urlencode({'n': limit})}" if limit else "")
        while url:
            response = self.transport.request("GET", url, scopes=scopes)
            with response:
                try:
                    doc = response.json()
                except ValueError:
                    raise RegistryError(f"{self.registry}: {path} answered with something that is not JSON") from None
            yield from (doc.get(key) or [])
            url = protocol.next_link(response.headers.get("Link"), self.transport.base_url + path)

    def tags(self, repository: str, page_size: int | None = None) -> list[str]:
        return list(self._paginate(f"/v2/{repository}/tags/list", "tags", [pull_scope(repository)], page_size))

    def catalog(self, page_size: int | None = None) -> list[str]:
        return list(self._paginate("/v2/_catalog", "repositories", ["registry:catalog:*"], page_size))

    def referrers(self, repository: str, digest: str, artifact_type: str | None = None) -> dict:
        """The referrers index of `digest` (OCI 1.1 API; the tag schema `sha256-<hex>`
        when the registry has no referrers API)."""
        query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
        response = self.transport.request("GET", f"/v2/{repository}/referrers/{digest}{query}",
                                          scopes=[pull_scope(repository)], ok=[404],
                                          headers={"Accept": mediatypes.OCI_INDEX})
        with response:
            if response.status_code == 200:
                return response.json()
        fallback_tag = protocol.referrers_tag(digest)
        try:
            index = json.loads(self.get_manifest(repository, fallback_tag, mediatypes.OCI_INDEX).data)
        except NotFound:
            index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
        if artifact_type:
            index["manifests"] = [m for m in index.get("manifests", []) if m.get("artifactType") == artifact_type]
        return index

    def search_v1(self, term: str, limit: int = 25) -> dict | None:
        """The `/v1/search` answer, or None when the registry has no such API. A username
        and password go as Basic with the request, as dockerd sends them (a registry that
        answers searches anonymously would not challenge); a Bearer challenge is answered
        with a token for SEARCH_SCOPE; an identity token is traded for one before asking."""
        credentials = self.transport.auth.credentials
        headers = {"X-Docker-Token": "true"}
        if credentials.identity_token or credentials.registry_token:
            self.transport.authorize([SEARCH_SCOPE])
        elif credentials.username or credentials.password:
            headers["Authorization"] = basic_header(credentials.username, credentials.password)
        response = self.transport.request("GET", f"/v1/search?{urlencode({'q': term, 'n': limit})}",
                                          scopes=[SEARCH_SCOPE], headers=headers, ok=[404, 405, 401])
        with response:
            if response.status_code != 200:
                return None
            try:
                doc = response.json()
            except ValueError:
                return None
        return doc if isinstance(doc, dict) and isinstance(doc.get("results"), list) else None


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def _read_limited(response: Response, limit: int, what: str) -> bytes:
    data = bytearray()
    for chunk in response.iter_content(65536):
        data += chunk
        if len(data) > limit:
            raise RegistryError(f"manifest {what} is larger than {limit} bytes")
    return bytes(data)


def _body_media_type(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return ""
    return doc.get("mediaType", "") if isinstance(doc, dict) else ""
