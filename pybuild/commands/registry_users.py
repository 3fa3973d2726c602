"""`pybuild registry user add|del|passwd|list|import`: the bundled registry's accounts
(registry_server/accounts.py), mounted under `pybuild registry` by
pybuild/commands/registry.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

user_app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
                       help="Manage the registry's user accounts")

ROOT_HELP = "The registry's store"


def _accounts(root: Optional[Path]):
    from pybuild.commands.registry import default_root
    from registry_server.accounts import Accounts

    return Accounts.in_root(root or default_root())


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="User name, also the namespace the user owns"),
    admin: bool = typer.Option(False, "--admin", help="May push, pull and delete everything"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Add a user (asks for the password unless --password-stdin)."""
    from registry_server.accounts import Role

    accounts = _accounts(root)
    try:
        user = accounts.add(name, _read_password(password_stdin), Role.ADMIN if admin else Role.USER)
    finally:
        accounts.close()
    print(f"added {user.role.value} {user.name}")


@user_app.command("del")
def delete(
    name: str = typer.Argument(...),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Delete a user; their tokens stop working at once."""
    accounts = _accounts(root)
    try:
        accounts.delete(name)
    finally:
        accounts.close()
    print(f"deleted {name}")


@user_app.command("passwd")
def passwd(
    name: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
    role: Optional[str] = typer.Option(None, "--role", help="Also change the role: admin or user"),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Change a user's password (which revokes their refresh tokens), and optionally role."""
    from registry_server.accounts import AccountError, Role

    accounts = _accounts(root)
    try:
        if role is not None:
            if role not in ("admin", "user"):
                raise AccountError(f"--role {role!r}: expected admin or user")
            accounts.set_role(name, Role(role))
        accounts.set_password(name, _read_password(password_stdin))
    finally:
        accounts.close()
    print(f"changed the password of {name}")


@user_app.command("list")
def list_users(
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """List the users and their roles."""
    accounts = _accounts(root)
    try:
        users = accounts.list()
    finally:
        accounts.close()
    print(f"{'NAME':<32} ROLE")
    for user in users:
        print(f"{user.name:<32} {user.role.value}")


@user_app.command("import")
def import_htpasswd(
    htpasswd: Path = typer.Argument(..., help="An htpasswd file with bcrypt hashes (htpasswd -B)"),
    admin: bool = typer.Option(False, "--admin", help="New users become admins"),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
) -> None:
    """Import the users of an htpasswd file; existing users get the file's password."""
    from registry_server.accounts import Role

    accounts = _accounts(root)
    try:
        added, updated = accounts.import_htpasswd(htpasswd, Role.ADMIN if admin else Role.USER)
    finally:
        accounts.close()
    print(f"imported {len(added)} new and {len(updated)} existing users from {htpasswd}")
