"""ARG and ENV scoping: which value each `$name` has at each instruction.

Pure functions over plain data, following BuildKit's dockerfile2llb:

- ARGs before the first FROM are *global*: only FROM lines (image and `--platform`) see
  them, together with the automatic platform ARGs (TARGETPLATFORM, BUILDARCH, ...).
  FROM lines see a global ARG without any value as set to "".
- Inside a stage nothing global is visible until `ARG name` re-declares it; the
  declaration without a default takes the global value (none if the global has none).
- `--build-arg name=value` overrides the default of a declared ARG (global or stage)
  and the automatic platform ARGs; a build-arg nobody declares is reported as unused
  and changes nothing.
- The predefined proxy ARGs (HTTP_PROXY, no_proxy, ...) reach RUN without a
  declaration but stay out of expansion, history and the cache key unless declared.
- ENV and ARG values share one namespace for expansion; the later assignment wins,
  so an ENV after an ARG of the same name overrides it ("ENV over ARG"). Only ENV
  values go into the image config.
- Within one ENV or LABEL instruction every variable keeps the value it had before the
  instruction (`ENV a=1 b=$a` gives b the *old* a), while each pair of one ARG
  instruction sees the pairs before it (`ARG a=1 b=$a` gives b=1).
- A stage built FROM another stage starts with that stage's variables and ARGs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from builder import ast
from builder.ast import ArgDecl, KeyValue
from builder.shell_lex import ExpandResult, ExpansionError, expand

__all__ = [
    "EXPANSION_RULES",
    "ExpansionRule",
    "GlobalArgs",
    "NON_ENV_ARGS",
    "PROXY_ARGS",
    "Platform",
    "ResolvedArg",
    "StageScope",
    "Expanded",
    "expand_from",
    "expand_instruction",
    "host_platform",
    "platform_args",
    "resolve_global_args",
    "unused_build_args",
]

PROXY_ARGS = frozenset(
    {
        "HTTP_PROXY", "http_proxy",
        "HTTPS_PROXY", "https_proxy",
        "FTP_PROXY", "ftp_proxy",
        "NO_PROXY", "no_proxy",
        "ALL_PROXY", "all_proxy",
    }
)

# ARGs that configure BuildKit itself: declaring them never puts them into RUN's env,
# and referring to them undeclared is not an undefined variable.
NON_ENV_ARGS = frozenset({"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"})

_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    """An OCI platform as BuildKit names it: `os/arch[/variant]`."""

    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) < 2 or len(parts) > 3 or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host_platform() -> Platform:
    """The platform of this machine (what BUILDPLATFORM and a default build target)."""
    machine = os.uname().machine
    if machine.startswith("armv7"):
        return Platform("linux", "arm", "v7")
    if machine.startswith("armv6"):
        return Platform("linux", "arm", "v6")
    return Platform("linux", _GO_ARCH.get(machine, machine))


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    """The automatic platform ARGs of the global scope."""
    return {
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.arch,
        "TARGETVARIANT": target.variant,
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.arch,
        "BUILDVARIANT": build.variant,
    }


@dataclass(frozen=True)
class ResolvedArg:
    """A declared ARG with its value for this build (None: declared, no value)."""

    name: str
    value: str | None


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class GlobalArgs:
    """The scope of FROM lines: platform ARGs plus the ARGs declared before any FROM.

    values: what FROM lines see; a global ARG without any value is there as "".
    declared: platform ARGs, then the global ARGs in order, each with its value or None:
    what a stage's `ARG name` without default inherits (None stays unset there).
    """

    values: Mapping[str, str]
    declared: tuple[ResolvedArg, ...] = ()
    escape: str = "\\"

    def expand(self, word: str) -> ExpandResult:
        """Expand a FROM image or `--platform` value."""
        return expand(word, self.values, self.escape)

    def inherited(self, name: str) -> str | None:
        """The value a stage's `ARG name` (no default, no build-arg) takes."""
        value = None
        for arg in self.declared:
            if arg.name == name:
                value = arg.value
        return value


def resolve_global_args(
    instructions: Sequence[ast.Arg],
    build_args: Mapping[str, str],
    *,
    target: Platform | None = None,
    build: Platform | None = None,
    escape: str = "\\",
    file: str = "Dockerfile",
) -> GlobalArgs:
    """Resolve the ARG instructions before the first FROM, in order. A build-arg
    overrides a platform ARG as well as a declared default."""
    build = build or host_platform()
    target = target or build
    values = {name: build_args.get(name, value) for name, value in platform_args(target, build).items()}
    declared = [ResolvedArg(name, value) for name, value in values.items()]
    for instruction in instructions:
        for decl in instruction.args:
            if decl.key in build_args:
                value: str | None = build_args[decl.key]
            elif decl.value is not None:
                with _at(instruction, file):
                    value = expand(decl.value, values, escape).value
            else:
                value = None
            values[decl.key] = value or ""
            declared.append(ResolvedArg(decl.key, value))
    return GlobalArgs(_frozen(values), tuple(declared), escape)


def _set_ordered(pairs: tuple[tuple[str, str], ...], key: str, value: str) -> tuple[tuple[str, str], ...]:
    # Docker keeps a replaced variable at its old position in the config's Env list.
    for index, (existing, _) in enumerate(pairs):
        if existing == key:
            return pairs[:index] + ((key, value),) + pairs[index + 1:]
    return pairs + ((key, value),)


def _parse_env_list(env: Iterable[str] | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    pairs: tuple[tuple[str, str], ...] = ()
    items = env.items() if isinstance(env, Mapping) else (e.partition("=")[::2] for e in env)
    for key, value in items:
        pairs = _set_ordered(pairs, key, value)
    return pairs


@dataclass(frozen=True)
class StageScope:
    """The variables of one stage at one point; every change returns a new scope."""

    global_args: GlobalArgs
    build_args: Mapping[str, str]
    variables: Mapping[str, str]
    image_env: tuple[tuple[str, str], ...]
    args: tuple[ResolvedArg, ...] = field(default=())

    @classmethod
    def start(
        cls,
        global_args: GlobalArgs,
        build_args: Mapping[str, str],
        base_env: Iterable[str] | Mapping[str, str] = (),
        parent: StageScope | None = None,
    ) -> StageScope:
        """The scope right after FROM.

        base_env: the base image's config Env (`K=V` strings) for an image base.
        parent: the scope at the end of the stage named in FROM, for a stage base.
        """
        if parent is not None:
            return replace(parent, global_args=global_args, build_args=_frozen(build_args))
        image_env = _parse_env_list(base_env)
        return cls(global_args, _frozen(build_args), _frozen(dict(image_env)), image_env)

    @property
    def escape(self) -> str:
        return self.global_args.escape

    def expand(self, word: str, *, heredoc: bool = False) -> ExpandResult:
        """Expand one word with the current variables.

        heredoc: a COPY/ADD heredoc body with an unquoted delimiter: quotes stay as
        they are and the escape character is always `\\`, as BuildKit does.
        """
        if heredoc:
            return expand(word, self.variables, "\\", skip_process_quotes=True)
        return expand(word, self.variables, self.escape)

    def expand_words(self, word: str) -> list[str]:
        return expand(word, self.variables, self.escape).words

    def declare(self, decls: Sequence[ArgDecl]) -> StageScope:
        """Apply one ARG instruction (its pairs in order, each seeing the ones before)."""
        scope = self
        for decl in decls:
            scope = scope._declare_one(decl)
        return scope

    def _declare_one(self, decl: ArgDecl) -> StageScope:
        name = decl.key
        value: str | None
        if name in self.build_args:
            value = self.build_args[name]
        elif decl.value is not None:
            value = expand(decl.value, self.variables, self.escape).value
        else:
            value = self.global_args.inherited(name)
        variables = self.variables
        if value is not None and name not in NON_ENV_ARGS:
            variables = _frozen({**variables, name: value})
        return replace(self, variables=variables, args=self.args + (ResolvedArg(name, value),))

    def set_env(self, pairs: Sequence[KeyValue]) -> tuple[StageScope, list[tuple[str, str]]]:
        """Apply one ENV instruction: keys and values are expanded with the variables as
        they were before it, then all assigned. Returns the new scope and the pairs."""
        expanded = self.expand_pairs(pairs)
        variables = dict(self.variables)
        image_env = self.image_env
        for key, value in expanded:
            variables[key] = value
            image_env = _set_ordered(image_env, key, value)
        return replace(self, variables=_frozen(variables), image_env=image_env), expanded

    def expand_pairs(self, pairs: Sequence[KeyValue]) -> list[tuple[str, str]]:
        """Expand the keys and values of an ENV or LABEL instruction, all with the
        variables as they are now."""
        return [(self.expand(pair.key).value, self.expand(pair.value).value) for pair in pairs]

    def declared_names(self) -> frozenset[str]:
        return frozenset(arg.name for arg in self.args)

    def undefined(self, result: ExpandResult) -> list[str]:
        """Names an expansion used that are neither set nor declared (lint UndefinedVar)."""
        declared = self.declared_names()
        return sorted(name for name in result.unset if name not in declared and name not in NON_ENV_ARGS)

    def run_args(self) -> list[tuple[str, str]]:
        """Declared ARGs with a value, in declaration order, the last declaration of a
        name winning: what a RUN's history entry and cache key record (`|N k=v ...`)."""
        latest: dict[str, str] = {}
        for arg in self.args:
            if arg.value is not None and arg.name not in NON_ENV_ARGS:
                latest.pop(arg.name, None)
                latest[arg.name] = arg.value
        return list(latest.items())

    def proxy_env(self) -> list[tuple[str, str]]:
        """Proxy build-args nobody declared: given to RUN, kept out of history and cache."""
        declared = self.declared_names()
        return sorted((k, v) for k, v in self.build_args.items() if k in PROXY_ARGS and k not in declared)

    def run_env(self) -> list[str]:
        """The environment of a RUN step as `K=V` strings: every variable (ENV and ARG)
        plus undeclared proxy build-args."""
        env = dict(self.variables)
        for key, value in self.proxy_env():
            env.setdefault(key, value)
        return [f"{k}={v}" for k, v in env.items()]


def unused_build_args(build_args: Mapping[str, str], declared: Iterable[str]) -> list[str]:
    """Build-args that no ARG of the built stages (nor the global scope) declares.
    Proxy ARGs are predefined, so they are never unused."""
    names = set(declared)
    return sorted(k for k in build_args if k not in names and k not in PROXY_ARGS)


@dataclass(frozen=True)
class ExpansionRule:
    """Which parts of an instruction are expanded, and how.

    parts: names of the expanded parts (`sources`, `dest`, `--chown`, ...).
    scope: "stage" (the stage's variables) or "global" (FROM: global ARGs only).
    split: each expanded part is split into words (EXPOSE: `$PORTS` may hold several).
    sequential: each pair sees the pairs before it in the same instruction (ARG).
    """

    parts: tuple[str, ...]
    scope: str = "stage"
    split: bool = False
    sequential: bool = False


# Instructions absent from this table are never expanded by the builder: RUN, CMD,
# ENTRYPOINT, SHELL, HEALTHCHECK and MAINTAINER keep `$` for the shell or for run time,
# and ONBUILD stores its trigger unexpanded (it is expanded when a child build runs it).
# A COPY/ADD heredoc body with an unquoted delimiter is expanded with
# `StageScope.expand(body, heredoc=True)`.
EXPANSION_RULES: Mapping[str, ExpansionRule] = MappingProxyType(
    {
        "FROM": ExpansionRule(("image", "--platform"), scope="global"),
        "ARG": ExpansionRule(("default",), sequential=True),
        "ENV": ExpansionRule(("key", "value")),
        "LABEL": ExpansionRule(("key", "value")),
        "ADD": ExpansionRule(("sources", "dest", "--chown", "--checksum", "heredoc")),
        "COPY": ExpansionRule(("sources", "dest", "--chown", "--from", "heredoc")),
        "EXPOSE": ExpansionRule(("ports",), split=True),
        "STOPSIGNAL": ExpansionRule(("signal",)),
        "USER": ExpansionRule(("user",)),
        "VOLUME": ExpansionRule(("paths",)),
        "WORKDIR": ExpansionRule(("path",)),
        "RUN": ExpansionRule(("--mount", "--network")),
    }
)


@dataclass(frozen=True)
class Expanded:
    """An instruction with the parts EXPANSION_RULES names expanded, the scope that
    follows it, and every variable name its expansion looked up."""

    instruction: ast.Instruction
    scope: StageScope
    used: frozenset[str]
    unset: frozenset[str]

    def undefined(self, before: StageScope) -> list[str]:
        """The names lint's UndefinedVar reports for this instruction."""
        return before.undefined(ExpandResult("", [], self.used, self.unset))


class _Collector:
    """Expands words against one scope and remembers what they looked up."""

    def __init__(self, scope: StageScope) -> None:
        self.scope = scope
        self.used: set[str] = set()
        self.unset: set[str] = set()

    def note(self, result: ExpandResult) -> ExpandResult:
        self.used |= result.used
        self.unset |= result.unset
        return result

    def word(self, text: str) -> str:
        return self.note(self.scope.expand(text)).value

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.word(text)

    def words(self, text: str) -> list[str]:
        return self.note(self.scope.expand(text)).words

    def heredocs(self, docs: tuple[ast.Heredoc, ...]) -> tuple[ast.Heredoc, ...]:
        return tuple(
            replace(doc, body=self.note(self.scope.expand(doc.body, heredoc=True)).value) if doc.expand else doc
            for doc in docs
        )


@contextmanager
def _at(instruction: ast.Instruction, file: str) -> Iterator[None]:
    """Give an expansion error the file and line of the instruction it came from."""
    try:
        yield
    except ExpansionError as err:
        raise ExpansionError(err.message, file=file, line=instruction.start_line,
                             source_line=instruction.original or None) from None


def expand_from(instruction: ast.From, global_args: GlobalArgs,
                file: str = "Dockerfile") -> tuple[ast.From, frozenset[str]]:
    """FROM with its image and `--platform` expanded by the global scope, and the names
    it used that no global ARG declares (lint UndefinedArgInFrom)."""
    with _at(instruction, file):
        image = global_args.expand(instruction.image)
        unset = set(image.unset)
        platform = None
        if instruction.platform is not None:
            expanded = global_args.expand(instruction.platform)
            unset |= expanded.unset
            platform = expanded.value
    return replace(instruction, image=image.value, platform=platform), frozenset(unset)


def expand_instruction(instruction: ast.Instruction, scope: StageScope, file: str = "Dockerfile") -> Expanded:
    """Apply EXPANSION_RULES to one instruction of a stage (not FROM: see expand_from).

    The returned instruction is a copy with expanded words (EXPOSE ports split into
    words); an ARG's pairs carry the value the build uses (build-arg, expanded default
    or inherited global). Raw `flags` are left as written. Raises ExpansionError naming
    `file:line` for a bad substitution or a failing `${v:?msg}`."""
    with _at(instruction, file):
        return _expand_instruction(instruction, scope)


def _expand_instruction(instruction: ast.Instruction, scope: StageScope) -> Expanded:
    c = _Collector(scope)
    new: ast.Instruction = instruction
    after = scope
    if isinstance(instruction, ast.Arg):
        decls = []
        for decl in instruction.args:
            # Each pair sees the ones before it; a default a build-arg overrides is
            # never expanded (so it can neither fail nor count as a use).
            if decl.value is not None and decl.key not in scope.build_args:
                c.note(after.expand(decl.value))
            after = after.declare([decl])
            decls.append(ArgDecl(decl.key, after.args[-1].value))
        new = replace(instruction, args=tuple(decls))
    elif isinstance(instruction, ast.Env | ast.Label):
        pairs = tuple(KeyValue(c.word(p.key), c.word(p.value), p.legacy) for p in instruction.pairs)
        new = replace(instruction, pairs=pairs)
        if isinstance(instruction, ast.Env):
            after, _ = scope.set_env(instruction.pairs)
    elif isinstance(instruction, ast.Copy | ast.Add):
        fields = dict(
            sources=tuple(c.word(src) for src in instruction.sources),
            dest=c.word(instruction.dest),
            chown=c.optional(instruction.chown),
            heredocs=c.heredocs(instruction.heredocs),
        )
        if isinstance(instruction, ast.Copy):
            fields["from_"] = c.optional(instruction.from_)
        else:
            fields["checksum"] = c.optional(instruction.checksum)
        new = replace(instruction, **fields)
    elif isinstance(instruction, ast.Expose):
        new = replace(instruction, ports=tuple(w for port in instruction.ports for w in c.words(port)))
    elif isinstance(instruction, ast.Workdir):
        new = replace(instruction, path=c.word(instruction.path))
    elif isinstance(instruction, ast.User):
        new = replace(instruction, user=c.word(instruction.user))
    elif isinstance(instruction, ast.StopSignal):
        new = replace(instruction, signal=c.word(instruction.signal))
    elif isinstance(instruction, ast.Volume):
        new = replace(instruction, paths=tuple(c.word(path) for path in instruction.paths))
    elif isinstance(instruction, ast.Run):
        mounts = tuple(
            replace(m, options=tuple((k, c.word(v) if isinstance(v, str) else v) for k, v in m.options))
            for m in instruction.mounts
        )
        new = replace(instruction, mounts=mounts, network=c.optional(instruction.network))
    return Expanded(new, after, frozenset(c.used), frozenset(c.unset))
