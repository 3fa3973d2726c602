"""The typed syntax tree of a Dockerfile: one dataclass per instruction.

Arguments are kept as BuildKit's parser leaves them: split where its parser splits (JSON
arrays, ENV/LABEL key=value pairs, ARG names, whitespace for FROM/EXPOSE/COPY/ADD/VOLUME)
but not expanded: quotes, escapes and `$variables` are still in the text, for
builder/shell_lex.py to expand at plan time. `to_json()` gives the form documented in
docs/dockerfile-ast.md (what `pybuild parse --format json` prints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "Flag", "Heredoc", "KeyValue", "ArgDecl", "Mount", "Instruction",
    "From", "Run", "Cmd", "Entrypoint", "Shell", "Copy", "Add", "Env", "Label", "Arg",
    "Expose", "Workdir", "User", "Volume", "StopSignal", "Healthcheck", "Onbuild",
    "Maintainer", "Directive", "ParseWarning", "Dockerfile",
]

Form = Literal["exec", "shell"]


@dataclass(frozen=True)
class Flag:
    """`--name=value`; value is None for a flag given without `=` (a boolean)."""

    name: str
    value: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True)
class Heredoc:
    """`<<NAME` (fd 0) or `3<<NAME`; `<<-NAME` strips leading tabs (chomp) from `body`,
    a quoted NAME turns variable expansion of the body off."""

    name: str
    body: str
    expand: bool
    chomp: bool
    fd: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "body": self.body, "expand": self.expand,
                "chomp": self.chomp, "fd": self.fd}


@dataclass(frozen=True)
class KeyValue:
    """An ENV or LABEL pair; `legacy` is the `ENV key value` form (no `=`)."""

    key: str
    value: str
    legacy: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "legacy": self.legacy}


@dataclass(frozen=True)
class ArgDecl:
    """An ARG name with its default (None: no default)."""

    key: str
    value: str | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}


@dataclass(frozen=True)
class Mount:
    """One `RUN --mount=...`: `type` (bind by default) and the other fields as given,
    keys normalised (src→source, dst/destination→target, ro/rw→readonly)."""

    type: str
    options: tuple[tuple[str, str | bool], ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **dict(self.options)}


@dataclass(kw_only=True, eq=False)
class Instruction:
    """What every instruction has: `keyword` as written (case kept), its flags in order,
    the 1-based lines it spans (heredoc bodies included), the logical line as written
    after continuation joining (`original`) and the comment lines right above it."""

    name: ClassVar[str] = ""
    keyword: str
    flags: tuple[Flag, ...] = ()
    start_line: int = 0
    end_line: int = 0
    original: str = ""
    comments: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instruction": self.name, "start_line": self.start_line,
                               "end_line": self.end_line,
                               "flags": [f.to_json() for f in self.flags]}
        out.update(self._fields_json())
        return out

    def _fields_json(self) -> dict[str, Any]:
        return {}


def _heredocs_json(docs: tuple[Heredoc, ...]) -> list[dict[str, Any]]:
    return [d.to_json() for d in docs]


@dataclass(kw_only=True, eq=False)
class From(Instruction):
    name: ClassVar[str] = "FROM"
    image: str
    stage: str | None = None        # lower-cased, as BuildKit names stages
    stage_as_written: str | None = None
    as_keyword: str | None = None   # "AS"/"as" as written (FromAsCasing)
    platform: str | None = None

    def _fields_json(self) -> dict[str, Any]:
        return {"image": self.image, "stage": self.stage, "platform": self.platform}


@dataclass(kw_only=True, eq=False)
class _Command(Instruction):
    """RUN, CMD, ENTRYPOINT: exec form is the JSON array; shell form one string."""

    form: Form
    command: tuple[str, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"form": self.form, "command": list(self.command)}


@dataclass(kw_only=True, eq=False)
class Run(_Command):
    name: ClassVar[str] = "RUN"
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    security: str | None = None

    def _fields_json(self) -> dict[str, Any]:
        return {"form": self.form, "command": list(self.command),
                "heredocs": _heredocs_json(self.heredocs),
                "mounts": [m.to_json() for m in self.mounts],
                "network": self.network, "security": self.security}


@dataclass(kw_only=True, eq=False)
class Cmd(_Command):
    name: ClassVar[str] = "CMD"


@dataclass(kw_only=True, eq=False)
class Entrypoint(_Command):
    name: ClassVar[str] = "ENTRYPOINT"


@dataclass(kw_only=True, eq=False)
class Shell(Instruction):
    name: ClassVar[str] = "SHELL"
    command: tuple[str, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"command": list(self.command)}


@dataclass(kw_only=True, eq=False)
class _Transfer(Instruction):
    """COPY and ADD: sources (a heredoc source is named `<<NAME` here and its content is
    in `heredocs`) and the destination."""

    form: Form
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    exclude: tuple[str, ...] = ()

    def _common_json(self) -> dict[str, Any]:
        return {"form": self.form, "sources": list(self.sources), "dest": self.dest,
                "heredocs": _heredocs_json(self.heredocs), "chown": self.chown,
                "chmod": self.chmod, "link": self.link, "exclude": list(self.exclude)}


@dataclass(kw_only=True, eq=False)
class Copy(_Transfer):
    name: ClassVar[str] = "COPY"
    from_: str | None = None
    parents: bool = False

    def _fields_json(self) -> dict[str, Any]:
        return {**self._common_json(), "from": self.from_, "parents": self.parents}


@dataclass(kw_only=True, eq=False)
class Add(_Transfer):
    name: ClassVar[str] = "ADD"
    keep_git_dir: bool = False
    checksum: str | None = None
    unpack: bool | None = None

    def _fields_json(self) -> dict[str, Any]:
        return {**self._common_json(), "keep_git_dir": self.keep_git_dir,
                "checksum": self.checksum, "unpack": self.unpack}


@dataclass(kw_only=True, eq=False)
class Env(Instruction):
    name: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"pairs": [p.to_json() for p in self.pairs]}


@dataclass(kw_only=True, eq=False)
class Label(Env):
    name: ClassVar[str] = "LABEL"


@dataclass(kw_only=True, eq=False)
class Arg(Instruction):
    name: ClassVar[str] = "ARG"
    args: tuple[ArgDecl, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"args": [a.to_json() for a in self.args]}


@dataclass(kw_only=True, eq=False)
class Expose(Instruction):
    name: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"ports": list(self.ports)}


@dataclass(kw_only=True, eq=False)
class Workdir(Instruction):
    name: ClassVar[str] = "WORKDIR"
    path: str

    def _fields_json(self) -> dict[str, Any]:
        return {"path": self.path}


@dataclass(kw_only=True, eq=False)
class User(Instruction):
    name: ClassVar[str] = "USER"
    user: str

    def _fields_json(self) -> dict[str, Any]:
        return {"user": self.user}


@dataclass(kw_only=True, eq=False)
class Volume(Instruction):
    name: ClassVar[str] = "VOLUME"
    form: Form
    paths: tuple[str, ...]

    def _fields_json(self) -> dict[str, Any]:
        return {"form": self.form, "paths": list(self.paths)}


@dataclass(kw_only=True, eq=False)
class StopSignal(Instruction):
    name: ClassVar[str] = "STOPSIGNAL"
    signal: str

    def _fields_json(self) -> dict[str, Any]:
        return {"signal": self.signal}


@dataclass(kw_only=True, eq=False)
class Maintainer(Instruction):
    name: ClassVar[str] = "MAINTAINER"
    maintainer: str

    def _fields_json(self) -> dict[str, Any]:
        return {"maintainer": self.maintainer}


@dataclass(kw_only=True, eq=False)
class Healthcheck(Instruction):
    """`test` is Docker's Healthcheck.Test: ["NONE"], ["CMD", args...] (exec form) or
    ["CMD-SHELL", command] (shell form). Durations stay as written (Go syntax: "30s",
    "1m30s"); the *_ns fields hold their value in nanoseconds."""

    name: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    form: Form | None = None
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None
    interval_ns: int | None = None
    timeout_ns: int | None = None
    start_period_ns: int | None = None
    start_interval_ns: int | None = None

    def _fields_json(self) -> dict[str, Any]:
        return {"test": list(self.test), "form": self.form, "interval": self.interval,
                "timeout": self.timeout, "start_period": self.start_period,
                "start_interval": self.start_interval, "retries": self.retries}


@dataclass(kw_only=True, eq=False)
class Onbuild(Instruction):
    """`expression` is what goes into the image config's OnBuild list (BuildKit: the
    line without `ONBUILD`, heredoc bodies appended)."""

    name: ClassVar[str] = "ONBUILD"
    trigger: Instruction
    expression: str

    def _fields_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "trigger": self.trigger.to_json()}


@dataclass(frozen=True)
class Directive:
    name: str
    value: str
    line: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "line": self.line}


@dataclass(frozen=True)
class ParseWarning:
    """A problem BuildKit's parser warns about without failing (NoEmptyContinuation)."""

    rule: str
    message: str
    line: int

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "line": self.line}


@dataclass
class Dockerfile:
    """A parsed Dockerfile: instructions in order (global ARGs, then stages, each a FROM
    followed by its instructions)."""

    instructions: list[Instruction]
    escape: str = "\\"
    directives: list[Directive] = field(default_factory=list)
    warnings: list[ParseWarning] = field(default_factory=list)
    file: str = "Dockerfile"

    def directive(self, name: str) -> str | None:
        for d in self.directives:
            if d.name == name:
                return d.value
        return None

    def to_json(self) -> dict[str, Any]:
        return {"escape": self.escape,
                "directives": [d.to_json() for d in self.directives],
                "warnings": [w.to_json() for w in self.warnings],
                "instructions": [i.to_json() for i in self.instructions]}
