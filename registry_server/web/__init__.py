"""The registry's web page at `/`: browse and search repositories, see a repository's
tags and images, log in, delete tags. Server-rendered HTML (pages.py) with a little
vanilla JavaScript and CSS under static/; nothing is fetched from another site."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from registry_server.search import setup_search
from registry_server.web import pages
from registry_server.web.images import ImageReader, RepositoryQueries
from registry_server.web.session import Sessions, load_or_create_key

STATIC = Path(__file__).parent / "static"


def setup_web(app: web.Application, root: Path) -> None:
    """Add the web page to a registry app over the store at `root` (after its storage is
    open). The page searches with the registry's search index, so that is set up too."""
    from registry_server.context import STORAGE

    setup_search(app, root)
    app[pages.SESSIONS] = Sessions(load_or_create_key(root))
    app[pages.READER] = ImageReader(app[STORAGE].blobs)
    app[pages.QUERIES] = RepositoryQueries(root)
    for method, path, handler in pages.routes():
        app.router.add_route(method, path, handler)
    app.router.add_static("/-/static", STATIC)

    async def close(app: web.Application) -> None:
        app[pages.QUERIES].close()

    app.on_cleanup.append(close)
