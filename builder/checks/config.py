"""Which checks run and whether a warning fails the build: BuildKit's check options,
from the `# check=skip=A,B;error=true` parser directive or, replacing it entirely, the
`BUILDKIT_DOCKERFILE_CHECK` build-arg (linter.ParseLintOptions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builder.ast import Dockerfile
from builder.errors import DockerfileError
from builder.checks.rules import go_quote

__all__ = ["CheckConfig", "CHECK_BUILD_ARG", "parse_check_options", "check_config"]

CHECK_BUILD_ARG = "BUILDKIT_DOCKERFILE_CHECK"

_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True)
class CheckConfig:
    """skip: rule names not to run; skip_all: run none; error: a warning fails the build.
    experimental: rules to opt into (BuildKit's experimental rules are not implemented,
    so the option is accepted and has no effect)."""

    skip: frozenset[str] = frozenset()
    skip_all: bool = False
    error: bool = False
    experimental: frozenset[str] = frozenset()

    def enabled(self, rule: str) -> bool:
        return not self.skip_all and rule not in self.skip


class _BadOption(Exception):
    pass


def parse_check_options(text: str) -> CheckConfig:
    """Parse `skip=A,B;error=true;experimental=C` the way BuildKit does (at most three
    `;`-separated parts). Raises ValueError with BuildKit's message."""
    text = text.strip()
    if not text:
        return CheckConfig()
    skip: list[str] = []
    experimental: list[str] = []
    skip_all = error = False
    for part in text.split(";", 2):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"invalid check option {go_quote(part)}")
        key = key.strip()
        if key == "skip":
            value = value.strip()
            if value == "all":
                skip_all = True
            else:
                skip = [name.strip() for name in value.split(",")]
        elif key == "experimental":
            value = value.strip()
            experimental = ["all"] if value == "all" else [n.strip() for n in value.split(",")]
        elif key == "error":
            flag = _GO_BOOLS.get(value.strip())
            if flag is None:
                raise ValueError(f"failed to parse check option {go_quote(part)}: "
                                 f"strconv.ParseBool: parsing {go_quote(value.strip())}: invalid syntax")
            error = flag
        else:
            raise ValueError(f"invalid check option {go_quote(key)}")
    return CheckConfig(frozenset(skip), skip_all, error, frozenset(experimental))


def check_config(dockerfile: Dockerfile, build_args: Mapping[str, str] | None = None) -> CheckConfig:
    """The options in force for a build: the build-arg if given, else the directive.
    A malformed value raises DockerfileError naming where it came from."""
    if build_args and CHECK_BUILD_ARG in build_args:
        try:
            return parse_check_options(build_args[CHECK_BUILD_ARG])
        except ValueError as exc:
            raise DockerfileError(f"failed to parse {CHECK_BUILD_ARG} build-arg: {exc}",
                                  file=dockerfile.file) from None
    for directive in dockerfile.directives:
        if directive.name == "check":
            try:
                return parse_check_options(directive.value)
            except ValueError as exc:
                raise DockerfileError(f"failed to parse check options: {exc}",
                                      file=dockerfile.file, line=directive.line) from None
    return CheckConfig()
