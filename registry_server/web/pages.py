"""The web page's handlers: server-rendered HTML, escaped at every interpolation.

    GET  /                      search box and repository list (`?q=` searches, `&page=`)
    GET  /r/<name>[?tag=T]      a repository: description, tags (digest, size, platform,
                                pushed, pull command), the layers and history of one tag
    GET  /login, POST /login    a form that starts a session (cookie)
    POST /logout
    POST /-/delete-tag          untag (form: repository, tag, csrf) for who may delete

Who the visitor is: the session cookie, else an `Authorization` header (Basic or Bearer)
as on the API. What they see and may do is the registry's access policy: the same
repositories as `/v1/search`, delete where `DELETE /v2/<name>/manifests/<tag>` would be
allowed. A registry without accounts lets everyone do everything, as its API does."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from aiohttp import web

from registry_server.accounts import User
from registry_server.auth import AUTH, check_login, request_user
from registry_server.authz import DELETE, PULL
from registry_server.context import STORAGE
from registry_server.errors import Err, RegistryError
from registry_server.names import validate_name, validate_tag
from registry_server.search import SEARCH, description_label
from registry_server.web.images import Image, ImageReader, RepositoryQueries, TagRow
from registry_server.web.session import COOKIE, SESSION_TTL, Sessions, fingerprint

SESSIONS = web.AppKey("web_sessions", Sessions)
READER = web.AppKey("web_reader", ImageReader)
QUERIES = web.AppKey("web_queries", RepositoryQueries)
PAGE_SIZE = 50


def h(value: object) -> str:
    return html.escape(str(value), quote=True)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    exponent = min(int(math.log(size, 1024)), 4)
    return f"{size / 1024 ** exponent:.1f} {'BKMGT'[exponent]}iB"


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def short(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}"


# who is asking

async def visitor(request: web.Request) -> User | None:
    state = request.app.get(AUTH)
    if state is None:
        return None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session = request.app[SESSIONS].read(cookie)
        if session is not None:
            stored = state.accounts.stored_hash(session.user)
            if stored is not None and fingerprint(stored) == session.password:
                return state.accounts.get(session.user)
    return await request_user(request)


def can_view(request: web.Request, user: User | None, name: str) -> bool:
    state = request.app.get(AUTH)
    return state is None or PULL in state.policy.repository_actions(user, name)


def can_delete(request: web.Request, user: User | None, name: str) -> bool:
    state = request.app.get(AUTH)
    return state is None or DELETE in state.policy.repository_actions(user, name)


def csrf_token(request: web.Request) -> str:
    return request.app[SESSIONS].csrf_token(request.cookies.get(COOKIE))


# layout

def page(request: web.Request, title: str, body: str, user: User | None, query: str = "",
         status: int = 200) -> web.Response:
    accounts = request.app.get(AUTH) is not None
    if user is not None:
        who = (f'<form method="post" action="/logout" class="inline"><span id="user">{h(user.name)}</span> '
               f'<input type="hidden" name="csrf" value="{h(csrf_token(request))}">'
               f'<button type="submit" id="logout">Log out</button></form>')
    elif accounts:
        who = f'<a id="login" href="/login?{urlencode({"next": request.path_qs})}">Log in</a>'
    else:
        who = ""
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)} · pybuild registry</title>
<link rel="stylesheet" href="/-/static/app.css"></head>
<body><header><a class="brand" href="/">pybuild registry</a>
<form id="search" method="get" action="/" role="search">
<input type="search" name="q" id="q" value="{h(query)}" placeholder="Search repositories" autocomplete="off">
<button type="submit">Search</button></form>
<nav>{who}</nav></header>
<main>{body}</main>
<script src="/-/static/app.js"></script></body></html>"""
    return web.Response(text=document, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                                 "X-Content-Type-Options": "nosniff"})


def _index(request: web.Request):
    index = request.app[SEARCH]
    blobs = request.app[STORAGE].blobs
    index.refresh(lambda digest: description_label(blobs, digest))
    return index


# pages

def repository_list(request: web.Request, user: User | None, query: str, page_number: int) -> str:
    state = request.app.get(AUTH)
    visible = state.policy.visible_repositories_sql(user, "r.name") if state else ("1", [])
    result = _index(request).search(query, page_number, PAGE_SIZE, visible)
    summaries = request.app[QUERIES].summaries([hit.name for hit in result.hits])
    if not result.hits:
        message = f"No repository matches “{h(query)}”." if query else "No repositories to show."
        if user is None and state is not None:
            message += f' <a href="/login?{urlencode({"next": request.path_qs})}">Log in</a> to see more.'
        return f'<p id="results" class="empty">{message}</p>'
    rows = []
    for hit in result.hits:
        tags, pushed = summaries.get(hit.name, (0, 0.0))
        rows.append(
            f'<li class="repo"><a href="/r/{quote(hit.name)}">{h(hit.name)}</a>'
            f'<span class="meta">{tags} tag{"s" if tags != 1 else ""}'
            f'{" · pushed " + when(pushed) if pushed else ""}'
            f'{f" · ★ {hit.stars}" if hit.stars else ""}</span>'
            f'<p class="description">{h(hit.description)}</p></li>')
    pager = ""
    if result.num_pages > 1:
        links = []
        if result.page > 1:
            links.append(f'<a href="/?{urlencode({"q": query, "page": result.page - 1})}">← previous</a>')
        links.append(f"page {result.page} of {result.num_pages}")
        if result.page < result.num_pages:
            links.append(f'<a href="/?{urlencode({"q": query, "page": result.page + 1})}">next →</a>')
        pager = f'<p class="pager">{" · ".join(links)}</p>'
    heading = f"{result.total} result{'s' if result.total != 1 else ''}" if query else \
        f"{result.total} repositor{'ies' if result.total != 1 else 'y'}"
    return (f'<section id="results"><h2>{heading}</h2><ul class="repos">{"".join(rows)}</ul>'
            f'{pager}</section>')


async def index_page(request: web.Request) -> web.Response:
    user = await visitor(request)
    query = request.query.get("q", "")[:200]
    try:
        page_number = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page_number = 1
    body = repository_list(request, user, query, page_number)
    if request.headers.get("X-Fragment") == "results":  # the search box, as you type
        return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})
    return page(request, f"Search: {query}" if query else "Repositories", body, user, query)


def _tag_rows(request: web.Request, name: str) -> list[TagRow]:
    reader = request.app[READER]
    return [TagRow(tag, digest, media_type, pushed, reader.images(digest, media_type))
            for tag, digest, media_type, pushed in request.app[QUERIES].tags(name)]


def _tags_table(request: web.Request, name: str, rows: list[TagRow], selected: str,
                deletable: bool) -> str:
    host = request.host
    lines = []
    for row in rows:
        pull = f"docker pull {host}/{name}:{row.tag}"
        delete = ""
        if deletable:
            delete = (f'<form method="post" action="/-/delete-tag" class="delete-tag">'
                      f'<input type="hidden" name="repository" value="{h(name)}">'
                      f'<input type="hidden" name="tag" value="{h(row.tag)}">'
                      f'<input type="hidden" name="csrf" value="{h(csrf_token(request))}">'
                      f'<button type="submit" class="danger">Delete</button></form>')
        current = ' class="selected"' if row.tag == selected else ""
        lines.append(
            f'<tr data-tag="{h(row.tag)}"{current}>'
            f'<td class="tag"><a href="/r/{quote(name)}?{urlencode({"tag": row.tag})}">{h(row.tag)}</a></td>'
            f'<td class="digest"><code title="{h(row.digest)}">{h(short(row.digest))}</code></td>'
            f'<td class="size">{human_size(row.size)}</td>'
            f'<td class="platform">{h(", ".join(row.platforms) or "—")}</td>'
            f'<td class="pushed">{when(row.pushed)}</td>'
            f'<td class="pull"><code class="pull-command">{h(pull)}</code>'
            f'<button type="button" class="copy" data-copy="{h(pull)}">Copy</button></td>'
            f'<td>{delete}</td></tr>')
    return ('<table id="tags"><thead><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Platform</th>'
            '<th>Pushed</th><th>Pull</th><th></th></tr></thead><tbody>'
            + "".join(lines) + "</tbody></table>")


def _image_details(image: Image) -> str:
    layers = "".join(
        f'<tr><td><code title="{h(layer.digest)}">{h(short(layer.digest))}</code></td>'
        f'<td>{human_size(layer.size)}</td><td>{h(layer.media_type)}</td></tr>'
        for layer in image.layers)
    history = "".join(
        f'<tr{" class=empty-layer" if step.empty_layer else ""}><td>{h(step.created[:19].replace("T", " "))}</td>'
        f'<td><code>{h(step.created_by)}</code></td><td>{"" if step.empty_layer else "layer"}</td></tr>'
        for step in image.history)
    return (f'<section class="image" data-digest="{h(image.digest)}">'
            f'<h3>{h(image.platform or "image")} <code>{h(image.digest)}</code></h3>'
            f'<h4>Layers</h4><table class="layers"><thead><tr><th>Digest</th><th>Size</th>'
            f'<th>Media type</th></tr></thead><tbody>{layers}</tbody></table>'
            + (f'<h4>History</h4><table class="history"><thead><tr><th>Created</th><th>Command</th>'
               f'<th></th></tr></thead><tbody>{history}</tbody></table>' if history else "")
            + "</section>")


async def repository_page(request: web.Request) -> web.Response:
    user = await visitor(request)
    name = request.match_info["name"]
    try:
        validate_name(name)
    except RegistryError:
        return page(request, "Not found", "<p>No such repository.</p>", user, status=404)
    if not can_view(request, user, name) or not request.app[QUERIES].exists(name):
        hint = "" if user is not None or request.app.get(AUTH) is None else \
            f' <a href="/login?{urlencode({"next": request.path_qs})}">Log in</a> to see private repositories.'
        return page(request, "Not found", f"<p>No such repository.{hint}</p>", user, status=404)
    rows = _tag_rows(request, name)
    selected = request.query.get("tag") or ("latest" if any(r.tag == "latest" for r in rows)
                                             else (rows[0].tag if rows else ""))
    info = _index(request).info(name)
    description = info.description if info else ""
    deletable = can_delete(request, user, name)
    parts = [f'<h1 id="repository">{h(name)}</h1>',
             f'<p class="description" id="description">{h(description) or "<em>No description.</em>"}</p>']
    if rows:
        parts.append(_tags_table(request, name, rows, selected, deletable))
        chosen = next((r for r in rows if r.tag == selected), None)
        if chosen is not None:
            parts.append(f'<h2 id="details">{h(name)}:{h(chosen.tag)}</h2>')
            parts += [_image_details(image) for image in chosen.images]
    else:
        parts.append('<p class="empty">No tags.</p>')
    return page(request, name, "".join(parts), user)


# login and changes

def _safe_next(value: str | None) -> str:
    """Only a path on this site: never `//host` or a full URL (an open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _login_form(next_url: str, error: str = "") -> str:
    message = f'<p class="error" id="login-error">{h(error)}</p>' if error else ""
    return (f'<h1>Log in</h1>{message}<form method="post" action="/login" id="login-form">'
            f'<input type="hidden" name="next" value="{h(next_url)}">'
            f'<label>User <input name="username" id="username" autocomplete="username" required></label>'
            f'<label>Password <input name="password" id="password" type="password" '
            f'autocomplete="current-password" required></label>'
            f'<button type="submit" id="login-submit">Log in</button></form>')


async def login_page(request: web.Request) -> web.Response:
    next_url = _safe_next(request.query.get("next"))
    if request.app.get(AUTH) is None:
        return page(request, "Log in", "<p>This registry has no user accounts: everyone may "
                    "browse, push and delete.</p>", None)
    return page(request, "Log in", _login_form(next_url), await visitor(request))


async def login(request: web.Request) -> web.Response:
    state = request.app.get(AUTH)
    if state is None:
        raise web.HTTPSeeOther("/")
    form = await request.post()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "")))
    user = await check_login(request, state, name, password)
    if user is None:
        return page(request, "Log in", _login_form(next_url, "Incorrect user name or password."),
                    None, status=401)
    stored = state.accounts.stored_hash(user.name) or ""
    response = web.HTTPSeeOther(next_url)
    response.set_cookie(COOKIE, request.app[SESSIONS].issue(user.name, stored), max_age=SESSION_TTL,
                        httponly=True, samesite="Strict", secure=request.secure, path="/")
    raise response


def _check_csrf(request: web.Request, form) -> None:
    if form.get("csrf") != csrf_token(request):
        raise web.HTTPForbidden(text="This form has expired; reload the page and try again.")


async def logout(request: web.Request) -> web.Response:
    form = await request.post()
    _check_csrf(request, form)
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    raise response


async def delete_tag(request: web.Request) -> web.Response:
    form = await request.post()
    _check_csrf(request, form)
    user = await visitor(request)
    name, tag = str(form.get("repository", "")), str(form.get("tag", ""))
    validate_name(name)
    validate_tag(tag)
    if not can_delete(request, user, name):
        if user is None:
            body = f'<p id="refused">Log in to delete tags of {h(name)}.</p>'
            return page(request, "Not allowed", body, None, status=401)
        return page(request, "Not allowed",
                    f'<p id="refused">{h(user.name)} may not delete tags of {h(name)}.</p>', user, status=403)
    if not request.app[STORAGE].meta.delete_tag(name, tag):
        raise RegistryError(Err.MANIFEST_UNKNOWN, f"{name}:{tag}")
    raise web.HTTPSeeOther(f"/r/{quote(name)}")


def routes() -> Iterable[tuple[str, str, object]]:
    return [
        ("GET", "/", index_page),
        ("GET", "/login", login_page),
        ("POST", "/login", login),
        ("POST", "/logout", logout),
        ("POST", "/-/delete-tag", delete_tag),
        ("GET", "/r/{name:.+}", repository_page),
    ]
