"""Docker's rules for what a container of an image runs: ENTRYPOINT, CMD, Env, WorkingDir
and User from the image config, overridden by `run` flags."""

import os

from runner.spec import InvalidRunSpec


def process_from_image(config: dict, *, command: list[str], entrypoint: str | None = None,
                       env: list[str] = (), workdir: str | None = None,
                       user: str | None = None) -> tuple[list[str], dict[str, str], str, str]:
    """argv, env, cwd and user for `docker run [flags] IMAGE [COMMAND...]`.

    `config` is the image config's "config" object. `--entrypoint X` replaces the image's
    ENTRYPOINT and drops its CMD (`--entrypoint ""` clears it); arguments after the image
    replace CMD. `-e K=V` overrides the image's Env; `-e K` takes K from the caller's
    environment, and is dropped when the caller has none."""
    if entrypoint is None:
        argv = list(config.get("Entrypoint") or [])
        argv += command or list(config.get("Cmd") or [])
    else:
        argv = ([entrypoint] if entrypoint else []) + list(command)
    if not argv:
        raise InvalidRunSpec("no command specified")
    environment: dict[str, str] = {}
    for entry in config.get("Env") or []:
        key, _, value = entry.partition("=")
        environment[key] = value
    for entry in env:
        key, sep, value = entry.partition("=")
        if not key:
            raise InvalidRunSpec(f"invalid environment variable: {entry}")
        if sep:
            environment[key] = value
        elif key in os.environ:
            environment[key] = os.environ[key]
        else:
            environment.pop(key, None)
    cwd = workdir or config.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidRunSpec(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    return argv, environment, cwd, user if user is not None else config.get("User") or ""
