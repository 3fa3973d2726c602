"""Paths inside a container root, resolved as if the root were `/`.

A symlink in an image (`/data -> /etc` or `-> ../../../../host`) must never send a mount
or a created directory outside the root, so every component is looked at with lstat and
symlink targets are interpreted against the root, like filepath-securejoin does for runc.
Nothing inside the container runs while these are used, so the answer cannot change
between resolving and mounting.
"""

import os
import stat

_MAX_LINKS = 255


def resolve_in_root(root: str, path: str) -> str:
    """The host path of container path `path`; missing tail components are kept as given."""
    pending = [p for p in reversed(path.split("/"))]
    parts: list[str] = []
    links = 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if parts:
                parts.pop()
            continue
        host = os.path.join(root, *parts, name)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            parts.append(name)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(40, f"too many levels of symbolic links resolving {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                parts.clear()
            pending.extend(reversed(target.split("/")))
            continue
        parts.append(name)
    return os.path.join(root, *parts)


def ensure_in_root(root: str, path: str, directory: bool, created: list[str]) -> str:
    """Resolve `path` inside `root` and create what is missing (directories, and a file
    or directory at the end); new paths are appended to `created` relative to the root,
    parents first, so the caller can remove mount stubs it made."""
    resolved = resolve_in_root(root, path)
    relative = os.path.relpath(resolved, root)
    if relative == ".":
        return resolved
    current = root
    components = relative.split("/")
    for i, name in enumerate(components):
        current = os.path.join(current, name)
        last = i == len(components) - 1
        if os.path.lexists(current):
            if os.path.islink(current):
                raise OSError(40, f"{path} changed while being resolved")
            continue
        if last and not directory:
            os.close(os.open(current, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o755))
        else:
            os.mkdir(current, 0o755)
        created.append("/" + "/".join(components[: i + 1]))
    return resolved
