"""Docker's `--user` forms (`name`, `uid`, `uid:gid`, `name:group`, `uid:group`) resolved
against the container's own /etc/passwd and /etc/group, with the same rules as runc's
libcontainer/user.GetExecUser: supplementary groups come from /etc/group only when no
group is given and the user has a passwd entry; an unknown numeric uid runs with gid 0."""

import os


class UnknownUser(Exception):
    """A user or group name absent from the container's passwd/group files."""


class ExecUser:
    # a plain class: the container init must not pay for importing dataclasses
    __slots__ = ("uid", "gid", "groups", "home")

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...], home: str) -> None:
        self.uid, self.gid, self.groups, self.home = uid, gid, groups, home

    def __repr__(self) -> str:
        return f"ExecUser(uid={self.uid}, gid={self.gid}, groups={self.groups}, home={self.home!r})"


def _entries(path: str, width: int) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    rows = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        rows.append(fields + [""] * (width - len(fields)))
    return rows


def resolve_user(spec: str, root: str = "/") -> ExecUser:
    user_arg, _, group_arg = spec.partition(":")
    user_arg = user_arg or "0"
    passwd = _entries(os.path.join(root, "etc/passwd"), 7)
    entry = next((p for p in passwd if p[0] == user_arg), None)
    if entry is None and user_arg.isdigit():
        entry = next((p for p in passwd if p[2] == user_arg), None)
    if entry is None:
        if not user_arg.isdigit():
            raise UnknownUser(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid, gid, name, home = int(user_arg), 0, None, "/"
    else:
        uid, gid, name, home = int(entry[2]), int(entry[3] or 0), entry[0], entry[5] or "/"

    groups: tuple[int, ...] = ()
    group_rows = _entries(os.path.join(root, "etc/group"), 4) if group_arg or name else []
    if group_arg:
        match = next((g for g in group_rows if g[0] == group_arg), None)
        if match is None and group_arg.isdigit():
            match = next((g for g in group_rows if g[2] == group_arg), None)
        if match is None:
            if not group_arg.isdigit():
                raise UnknownUser(f"unable to find group {group_arg}: no matching entries in group file")
            gid = int(group_arg)
        else:
            gid = int(match[2])
    elif name:
        groups = tuple(int(g[2]) for g in group_rows if name in g[3].split(","))
    return ExecUser(uid, gid, groups, home)
