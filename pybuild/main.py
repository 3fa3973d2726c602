"""The `pybuild` entry point.

It looks at argv before importing anything heavy: typer, rich and lark each cost tens of
milliseconds to import, and the hot paths (`run`, a no-op rebuild) must not pay for the
commands they do not use. Each command module holds a typer app whose commands carry the
top-level names listed here.
"""

import importlib
import sys

# top-level command -> (module, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "import": ("pybuild.commands.images", "Import a root filesystem tarball as an image"),
    "images": ("pybuild.commands.images", "List images"),
    "tag": ("pybuild.commands.images", "Create a tag that refers to an image"),
    "rmi": ("pybuild.commands.images", "Remove one or more images"),
    "inspect": ("pybuild.commands.images", "Show low-level information on images"),
    "history": ("pybuild.commands.images", "Show the history of an image"),
    "save": ("pybuild.commands.images", "Save images to a tar archive"),
    "load": ("pybuild.commands.images", "Load images from a tar archive"),
    "image": ("pybuild.commands.images", "Manage images (prune)"),
    "parse": ("pybuild.commands.dockerfile", "Print a Dockerfile's syntax tree"),
    "lint": ("pybuild.commands.dockerfile", "Check a Dockerfile against the build checks"),
}

HELP_FLAGS = {"-h", "--help"}


def usage() -> str:
    lines = ["Usage: pybuild COMMAND [OPTIONS] [ARGS]...", "",
             "A daemonless Dockerfile build toolchain and OCI image/registry manager.", "",
             "Commands:"]
    width = max(map(len, COMMANDS))
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run 'pybuild COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in HELP_FLAGS:
        print(usage())
        return 0 if args else 2
    if args[0].startswith("-") and "build" in COMMANDS:
        args.insert(0, "build")  # `pybuild -t x .` means `pybuild build -t x .`
    name = args[0]
    if name not in COMMANDS:
        print(f"pybuild: '{name}' is not a pybuild command.\nSee 'pybuild --help'.", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    from oci.errors import UserError

    try:
        code = module.app(args=args, prog_name="pybuild", standalone_mode=False)
    except UserError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # click's usage errors arrive here with standalone_mode off
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
