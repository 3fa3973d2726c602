"""What an operator watches: `/healthz`, Prometheus `/metrics` and the access log.

Two hooks see every request. The `observe` middleware, outermost, counts the requests
being handled (graceful shutdown in shutdown.py waits for them). `RequestRecorder`, an
aiohttp access logger that the worker's runner installs, is called after each response
has been sent, when its status and size are final (errors, 401s and requests the HTTP
parser refused included): it counts the request and writes the access log line.

Each worker process counts its own requests. A scrape lands in one worker, so each worker
also writes its counters to `run/metrics/<pid>.json` under the root every two seconds
and `/metrics` adds up those files (its own live counters instead of its file). Files of
workers that exited stay until the server restarts, so counters never go backwards while
it runs.

The access log costs a formatted line per request; lines are gathered in memory and
written with one `write` per second on an `O_APPEND` descriptor, so workers sharing a
file never interleave within a line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from registry_server.context import STORAGE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FLUSH_INTERVAL = 1.0
SNAPSHOT_INTERVAL = 2.0
METRICS_DIR = Path("run") / "metrics"

UPLOADS = "/v2/{name}/blobs/uploads/"
UPLOAD = "/v2/{name}/blobs/uploads/{uuid}"
# The last two path segments name a /v2/ resource (found from the end, as the router does:
# repository names contain slashes). String tests, not regular expressions: this runs for
# every request.
_V2_BY_SEGMENT = {
    "blobs": "/v2/{name}/blobs/{digest}",
    "manifests": "/v2/{name}/manifests/{reference}",
    "referrers": "/v2/{name}/referrers/{digest}",
}
_LABEL_CACHE_SIZE = 4096
_labels: dict[str, str] = {}


def route_label(request: web.Request) -> str:
    """The endpoint's template, so the label set stays small: /v2/ resources by their
    place in the path, other routes by their aiohttp resource, else "other". The hot
    paths (a tag pulled again and again) are remembered."""
    path = request.path
    label = _labels.get(path)
    if label is None:
        label = _route_label(request, path)
        if len(_labels) >= _LABEL_CACHE_SIZE:
            _labels.clear()
        _labels[path] = label
    return label


def _route_label(request: web.Request, path: str) -> str:
    if not path.startswith("/v2/"):
        if path == "/v2":
            return "/v2/"
        try:
            resource = request.match_info.route.resource
        except AssertionError:  # the HTTP parser refused it: it never reached the router
            return "other"
        return resource.canonical if resource is not None else "other"
    segments = path.rsplit("/", 3)
    if len(segments) < 4:  # /v2/ itself, /v2/_catalog, /v2/x
        return {"": "/v2/", "_catalog": "/v2/_catalog"}.get(path[4:], "other")
    _, third, second, last = segments
    if second == "uploads" and third == "blobs":
        return UPLOAD if last else UPLOADS
    if last == "uploads" and second == "blobs":
        return UPLOADS
    if second == "tags" and last == "list":
        return "/v2/{name}/tags/list"
    return _V2_BY_SEGMENT.get(second, "other") if last else "other"


@dataclass
class Counters:
    requests: Counter = field(default_factory=Counter)  # (method, route, status) -> n
    bytes_in: int = 0
    bytes_out: int = 0
    in_flight: int = 0
    uploads_in_flight: int = 0

    def to_json(self) -> dict:
        return {"requests": [[*key, n] for key, n in self.requests.items()],
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "in_flight": self.in_flight, "uploads_in_flight": self.uploads_in_flight}

    def add(self, data: dict) -> None:
        for method, route, status, n in data.get("requests", []):
            self.requests[(method, route, int(status))] += n
        self.bytes_in += data.get("bytes_in", 0)
        self.bytes_out += data.get("bytes_out", 0)
        self.in_flight += data.get("in_flight", 0)
        self.uploads_in_flight += data.get("uploads_in_flight", 0)


class AccessLog:
    """Common Log Format plus the duration in seconds, to a file or stderr ("-")."""

    def __init__(self, target: str) -> None:
        if target == "-":
            self._fd, self._owned = 2, False
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._owned = True
        self._lines: list[str] = []
        self._second, self._when = 0, ""

    def record(self, request: web.Request, status: int, size: int, seconds: float) -> None:
        now = int(time.time())
        if now != self._second:  # formatting the time costs more than the rest of the line
            self._second, self._when = now, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        when = self._when
        version = request.version
        self._lines.append(
            f'{request.remote or "-"} - - [{when}] "{request.method} {request.raw_path} '
            f'HTTP/{version.major}.{version.minor}" {status} {size} {seconds:.4f}\n')

    def flush(self) -> None:
        if self._lines:
            data = "".join(self._lines).encode()
            self._lines.clear()
            try:
                while data:
                    data = data[os.write(self._fd, data):]
            except OSError:
                pass  # a full disk loses log lines, never requests

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)


@dataclass
class OpsState:
    root: Path
    counters: Counters = field(default_factory=Counters)
    access_log: AccessLog | None = None
    snapshot_written: dict | None = None
    db: sqlite3.Connection | None = None

    def store_counts(self) -> tuple[int, int, int]:
        """Repositories, linked blobs and open upload sessions, from the registry's
        database (read-only: this module never writes it)."""
        if self.db is None:
            self.db = sqlite3.connect(f"file:{self.root / 'registry.db'}?mode=ro", uri=True,
                                       timeout=30)
        return self.db.execute(
            "SELECT (SELECT COUNT(*) FROM repositories),"
            " (SELECT COUNT(DISTINCT digest) FROM blob_links),"
            " (SELECT COUNT(*) FROM uploads)").fetchone()

    @property
    def snapshot_path(self) -> Path:
        return self.root / METRICS_DIR / f"{os.getpid()}.json"

    def write_snapshot(self) -> None:
        data = self.counters.to_json()
        if data == self.snapshot_written:
            return
        path = self.snapshot_path
        temp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(data))
            os.rename(temp, path)  # a reader sees the old or the new file, never half of one
        except OSError:
            temp.unlink(missing_ok=True)  # a full disk: the next snapshot tries again
            return
        self.snapshot_written = data

    def totals(self) -> Counters:
        """Every worker's counters: the files of the others, this one's live."""
        total = Counters()
        mine = self.snapshot_path.name
        directory = self.root / METRICS_DIR
        for path in directory.glob("*.json") if directory.is_dir() else ():
            if path.name == mine:
                continue
            try:
                total.add(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a file being replaced or removed at this instant
        total.add(self.counters.to_json())
        return total


OPS = web.AppKey("ops", OpsState)
_UPLOAD_METHODS = frozenset({"PATCH", "PUT", "POST"})


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts the requests being handled (graceful shutdown waits for them)."""
    counters = request.app[OPS].counters
    upload = request.method in _UPLOAD_METHODS and "/blobs/uploads" in request.path
    counters.in_flight += 1
    counters.uploads_in_flight += upload
    try:
        return await handler(request)
    finally:
        counters.in_flight -= 1
        counters.uploads_in_flight -= upload


class RequestRecorder(AbstractAccessLogger):
    """Called by aiohttp once a response has been sent (or the client went away), when
    its status and size are final: counts it and writes the access log line.
    Use `recorder_for(state)`: aiohttp makes the instances and passes them no app."""

    state: OpsState

    @property
    def enabled(self) -> bool:
        return True

    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        state = self.state
        size = response.body_length
        if type(response) is web.FileResponse and request.method != "HEAD":
            # sendfile(2) bypasses aiohttp's writer, which then counts only the headers.
            size += response.content_length or 0
        counters = state.counters
        counters.requests[(request.method, route_label(request), response.status)] += 1
        counters.bytes_in += request.content.total_bytes
        counters.bytes_out += size
        if state.access_log is not None:
            state.access_log.record(request, response.status, size, seconds)


def recorder_for(state: OpsState) -> type[RequestRecorder]:
    return type("BoundRequestRecorder", (RequestRecorder,), {"state": state})


async def healthz(request: web.Request) -> web.Response:
    """200 when this worker can read its database and reach the blob directory."""
    storage = request.app[STORAGE]
    try:
        storage.meta.repository_exists("")
        if not storage.blobs.blobs.is_dir():
            raise OSError("blobs directory missing")
    except Exception as exc:  # any failure means unhealthy, and says why
        return web.json_response({"status": "unhealthy", "error": str(exc)}, status=503)
    return web.json_response({"status": "ok"})


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(counters: Counters, repositories: int, blobs: int, upload_sessions: int) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines = [
        "# HELP pybuild_registry_requests_total HTTP requests served.",
        "# TYPE pybuild_registry_requests_total counter",
    ]
    for (method, route, status), n in sorted(counters.requests.items()):
        lines.append(f'pybuild_registry_requests_total{{method="{_escape(method)}",'
                     f'route="{_escape(route)}",status="{status}"}} {n}')
    for name, kind, help_text, value in [
        ("received_bytes_total", "counter", "Request body bytes received.", counters.bytes_in),
        ("sent_bytes_total", "counter", "Response bytes sent (headers and bodies).", counters.bytes_out),
        ("requests_in_flight", "gauge", "Requests being handled.", counters.in_flight),
        ("uploads_in_progress", "gauge", "Blob upload requests (POST, PATCH, PUT) being handled.",
         counters.uploads_in_flight),
        ("upload_sessions", "gauge", "Upload sessions open (started, not finished or cancelled).",
         upload_sessions),
        ("repositories", "gauge", "Repositories in the store.", repositories),
        ("blobs", "gauge", "Distinct blobs linked to repositories (manifests included).", blobs),
    ]:
        lines += [f"# HELP pybuild_registry_{name} {help_text}",
                  f"# TYPE pybuild_registry_{name} {kind}",
                  f"pybuild_registry_{name} {value}"]
    return "\n".join(lines) + "\n"


async def metrics(request: web.Request) -> web.Response:
    state = request.app[OPS]
    text = render_metrics(state.totals(), *state.store_counts())
    return web.Response(body=text.encode(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def setup_ops(app: web.Application, root: Path, access_log: str = "") -> None:
    """Install `/healthz`, `/metrics` and (when `access_log` names a file or "-") the
    access log on a registry app. Call before the other setup_* functions so that its
    middleware is the outermost."""
    state = OpsState(root, access_log=AccessLog(access_log) if access_log else None)
    app[OPS] = state
    app.middlewares.insert(0, observe)
    app.router.add_route("GET", "/healthz", healthz)
    app.router.add_route("GET", "/metrics", metrics)

    async def background(app: web.Application):
        async def loop() -> None:
            ticks = 0
            while True:
                await asyncio.sleep(FLUSH_INTERVAL)
                ticks += 1
                if state.access_log is not None:
                    state.access_log.flush()
                if ticks * FLUSH_INTERVAL >= SNAPSHOT_INTERVAL:
                    ticks = 0
                    state.write_snapshot()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        state.write_snapshot()
        if state.access_log is not None:
            state.access_log.close()
        if state.db is not None:
            state.db.close()

    app.cleanup_ctx.append(background)


def clear_snapshots(root: Path) -> None:
    """Forget the counters of a previous run (called once by the server at start)."""
    directory = root / METRICS_DIR
    if directory.is_dir():
        for path in directory.iterdir():
            path.unlink(missing_ok=True)
