"""Plan a build: a parsed Dockerfile, build args and a target become a graph of stages and
steps, with nothing executed (BuildKit's dockerfile2llb; the solver runs the plan).

- Stages: every FROM starts one (`Stage.index` = its position, 0-based). A stage's base
  is `scratch`, an earlier stage named in FROM, or an image. Stages the target does not
  need (through FROM, `COPY --from`, `RUN --mount from=`, or ONBUILD triggers of its base)
  are left out; `BuildPlan.stages` lists the needed ones in Dockerfile order, which is a
  valid execution order (a stage only depends on earlier ones); `Stage.deps` lets
  independent stages run in parallel.
- Steps: every instruction of a needed stage, its words expanded (builder/buildargs.py),
  with what executing it needs (working directory, user, shell, environment, the
  resolved `--from`) and its cache-key inputs (`Step.inputs`, builder/cachekey.py).
  RUN, COPY, ADD and a WORKDIR other than `/` make a layer; the others only change the
  image config.
- Config: the planner applies every instruction to the stage's image config as BuildKit
  does (Env, Cmd with ArgsEscaped, Entrypoint clearing an inherited Cmd, Healthcheck,
  ExposedPorts, Volumes, Labels, OnBuild, Shell, User, WorkingDir, StopSignal, Author)
  and records BuildKit's history entries (`RUN |1 V=2 /bin/sh -c make # buildkit`). The
  solver only appends the diff IDs of the layers it makes and sets `created`.
- ONBUILD: the triggers in the base image's config (or the ONBUILD instructions of a
  base stage, as BuildKit ≥ 0.13 does) run first, as steps with `onbuild=True`; they are
  not inherited by the new image.

The only outside knowledge is the config of base images, asked from `resolve_image`
(the solver answers from the store), so the planner is a pure function of its inputs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from builder import ast
from builder.buildargs import (
    GlobalArgs,
    Platform,
    StageScope,
    expand_from,
    expand_instruction,
    host_platform,
    resolve_global_args,
    unused_build_args,
)
from builder.copy import destination_path
from builder.errors import DockerfileError
from builder.parser import parse
from builder.shell_lex import ExpansionError, expand
from oci.config import ContainerConfig, HealthConfig, HistoryEntry, ImageConfig
from oci.errors import UserError

__all__ = [
    "BuildPlan",
    "DEFAULT_PATH",
    "HISTORY_COMMENT",
    "ImageResolver",
    "Stage",
    "Step",
    "plan_build",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HISTORY_COMMENT = "buildkit.dockerfile.v0"
DEFAULT_SHELL = ("/bin/sh", "-c")
LAYER_KINDS = frozenset({"RUN", "COPY", "ADD", "WORKDIR"})

# (reference as written after expansion, platform or None) -> the image's config, or
# None when there is no such image (the planner then fails naming the FROM line).
ImageResolver = Callable[[str, str | None], ImageConfig | None]


class BaseImageUnavailable(UserError):
    """What an ImageResolver raises when it knows why an image is missing (not in the
    store, and its registry has none or cannot be reached); shown on the FROM line."""


@dataclass(frozen=True)
class Step:
    """One instruction of a stage, ready to execute.

    instruction: the instruction with its words expanded (an ONBUILD trigger: the
      trigger itself).
    kind: "RUN", "COPY", "ADD", "WORKDIR" (these make a layer when `creates_layer`) or the
      name of a config-only instruction.
    title: the progress line BuildKit shows ("RUN make", variables expanded).
    workdir, user, shell: in effect when the step runs.
    env: the environment of a RUN (`K=V`, undeclared proxy build-args included).
    args: the declared ARGs with their values (`|N K=V` of history; part of the key).
    run_args: RUN's argv (shell form wrapped in the shell); `script` is (name, content)
      of a heredoc starting with `#!` that BuildKit runs as /dev/pipes/NAME.
    copy_from: COPY --from: a stage index (int) or an image reference (str); None for the
      build context.
    mount_from: RUN --mount from=: option value -> stage index or image reference.
    dest: COPY/ADD destination, absolute, trailing slash kept; WORKDIR: the directory.
    history: the history entry BuildKit records (None for ONBUILD, which records none).
    inputs: the cache-key inputs known without reading files.
    """

    instruction: ast.Instruction
    kind: str
    line: int
    title: str
    creates_layer: bool
    workdir: str
    user: str
    shell: tuple[str, ...]
    env: tuple[str, ...] = ()
    args: tuple[tuple[str, str], ...] = ()
    run_args: tuple[str, ...] = ()
    script: tuple[str, str] | None = None
    copy_from: int | str | None = None
    mount_from: tuple[tuple[str, int | str], ...] = ()
    dest: str = ""
    history: HistoryEntry | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    onbuild: bool = False


@dataclass(frozen=True)
class ScratchBase:
    pass


@dataclass(frozen=True)
class StageBase:
    index: int


@dataclass(frozen=True)
class ImageBase:
    reference: str


@dataclass(frozen=True)
class Stage:
    """One stage: its base, its steps, the stages and images it needs, and the image
    config once every step ran (diff IDs of its own layers still to be appended)."""

    index: int
    name: str | None
    base: ScratchBase | StageBase | ImageBase
    platform: str | None
    line: int
    steps: tuple[Step, ...]
    deps: tuple[int, ...]
    images: tuple[str, ...]
    config: ImageConfig

    @property
    def display_name(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class BuildPlan:
    stages: tuple[Stage, ...]
    target: int
    global_args: GlobalArgs
    unused_build_args: tuple[str, ...]
    epoch: int | None = None

    def stage(self, index: int) -> Stage:
        for stage in self.stages:
            if stage.index == index:
                return stage
        raise KeyError(index)

    @property
    def target_stage(self) -> Stage:
        return self.stage(self.target)


# ---------------------------------------------------------------------------- formatting

def _go_quote(text: str) -> str:
    """Go's strconv.Quote for the strings BuildKit prints with %q."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_quoted_list(items: Sequence[str]) -> str:
    return "[" + " ".join(_go_quote(i) for i in items) + "]"


def _go_list(items: Sequence[str]) -> str:
    return "[" + " ".join(items) + "]"


def _go_duration(ns: int | None) -> str:
    """Go's time.Duration.String for the whole-unit values a Dockerfile can give."""
    if not ns:
        return "0s"
    out = []
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns % size == 0:
                return f"{ns // size}{unit}"
    seconds, rest = divmod(ns, 1_000_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if hours:
        out.append(f"{hours}h")
    if hours or minutes:
        out.append(f"{minutes}m")
    frac = f".{rest:09d}".rstrip("0") if rest else ""
    out.append(f"{seconds}{frac}s")
    return "".join(out)


# ---------------------------------------------------------------------------- planning

@dataclass
class _StageState:
    """A stage while it is being planned."""

    index: int
    instruction: ast.From
    name: str | None
    image: str
    platform: str | None
    base: ScratchBase | StageBase | ImageBase
    commands: list[ast.Instruction]
    triggers: list[ast.Instruction] = field(default_factory=list)
    deps: set[int] = field(default_factory=set)
    images: list[str] = field(default_factory=list)
    base_config: ImageConfig | None = None


def _fail(file: str, instruction: ast.Instruction, message: str) -> DockerfileError:
    return DockerfileError(message, file=file, line=instruction.start_line,
                           source_line=instruction.original or None)


def _split_stages(dockerfile: ast.Dockerfile) -> tuple[list[ast.Arg], list[tuple[ast.From, list[ast.Instruction]]]]:
    global_args: list[ast.Arg] = []
    stages: list[tuple[ast.From, list[ast.Instruction]]] = []
    for instruction in dockerfile.instructions:
        if isinstance(instruction, ast.From):
            stages.append((instruction, []))
        elif stages:
            stages[-1][1].append(instruction)
        elif isinstance(instruction, ast.Arg):
            global_args.append(instruction)
    return global_args, stages


def _parse_trigger(expression: str, escape: str, file: str, line: int) -> ast.Instruction:
    """An ONBUILD trigger from an image config, parsed as BuildKit does (one
    instruction; its line is the FROM line of the stage it runs in)."""
    try:
        parsed = parse(f"# escape={escape}\nFROM scratch\n{expression}\n", file=file)
    except DockerfileError as err:
        raise DockerfileError(f"ONBUILD trigger {expression!r}: {err.message}", file=file, line=line) from None
    instructions = parsed.instructions[1:]
    if len(instructions) != 1:
        raise DockerfileError("onbuild trigger should be a single expression", file=file, line=line)
    trigger = instructions[0]
    if isinstance(trigger, (ast.From, ast.Onbuild)) or trigger.name == "MAINTAINER":
        raise DockerfileError(f"{trigger.name} isn't allowed as an ONBUILD trigger", file=file, line=line)
    return replace(trigger, start_line=line, end_line=line)


def _reference_sources(instruction: ast.Instruction) -> list[tuple[str, str]]:
    """(kind, value) of the stages/images an instruction reads: ("copy", from) and
    ("mount", from)."""
    out = []
    if isinstance(instruction, ast.Copy) and instruction.from_:
        out.append(("copy", instruction.from_))
    if isinstance(instruction, ast.Run):
        for mount in instruction.mounts:
            value = dict(mount.options).get("from")
            if isinstance(value, str) and value:
                out.append(("mount", value))
    return out


def plan_build(
    dockerfile: ast.Dockerfile,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    resolve_image: ImageResolver,
    platform: Platform | None = None,
    labels: Mapping[str, str] | None = None,
) -> BuildPlan:
    """Plan the build of `target` (a stage name; default: the last stage).

    Raises DockerfileError naming `file:line` for what BuildKit refuses while planning:
    an unknown target, a FROM that expands to nothing, a missing base image, `--from`
    with a variable, a stage copied from before it is defined, a dependency cycle."""
    build_args = dict(build_args or {})
    file = dockerfile.file
    host = host_platform()
    target_platform = platform or host
    global_arg_instructions, raw_stages = _split_stages(dockerfile)
    if not raw_stages:
        raise DockerfileError("dockerfile contains no stages to build", file=file)
    global_args = resolve_global_args(global_arg_instructions, build_args, target=target_platform,
                                      build=host, escape=dockerfile.escape, file=file)

    states: list[_StageState] = []
    by_name: dict[str, int] = {}
    for index, (from_instruction, commands) in enumerate(raw_stages):
        expanded, _ = expand_from(from_instruction, global_args, file)
        if not expanded.image:
            raise _fail(file, from_instruction, f"base name ({from_instruction.image}) should not be blank")
        base: ScratchBase | StageBase | ImageBase
        if expanded.image.lower() in by_name:
            base = StageBase(by_name[expanded.image.lower()])
        elif expanded.image == "scratch":
            base = ScratchBase()
        else:
            base = ImageBase(expanded.image)
        state = _StageState(index, from_instruction, from_instruction.stage, expanded.image,
                            expanded.platform, base, list(commands))
        if isinstance(base, StageBase):
            state.deps.add(base.index)
        states.append(state)
        if from_instruction.stage:
            by_name[from_instruction.stage] = index

    if target:
        if target.lower() not in by_name:
            names = ", ".join(sorted(by_name)) or "none"
            raise DockerfileError(f'target stage "{target}" could not be found (stages: {names})', file=file)
        target_index = by_name[target.lower()]
    else:
        target_index = len(states) - 1

    def resolve_reference(state: _StageState, instruction: ast.Instruction, kind: str, value: str) -> int | str:
        if kind == "copy" and "$" in value:
            raise _fail(file, instruction, "variable expansion is not supported for --from, define a new stage "
                                           "with FROM using ARG from global scope as a workaround")
        if value.isdigit():
            index = int(value)
            if index >= len(states):
                raise _fail(file, instruction, f"invalid stage index {index}")
            source: int | str = index
        elif value.lower() in by_name:
            source = by_name[value.lower()]
        else:
            return value
        assert isinstance(source, int)
        if source >= state.index:
            raise _fail(file, instruction, f'cannot copy from stage "{value}", it needs to be defined before '
                                           f'current stage "{state.name or f"stage-{state.index}"}"')
        return source

    # Which stages the target needs; ONBUILD triggers of a base image may add some.
    needed: set[int] = set()
    pending = [target_index]
    while pending:
        index = pending.pop()
        if index in needed:
            continue
        needed.add(index)
        state = states[index]
        if isinstance(state.base, ImageBase) and state.base_config is None:
            try:
                config = resolve_image(state.base.reference, state.platform)
            except BaseImageUnavailable as exc:
                raise _fail(file, state.instruction, f"{state.base.reference}: {exc}") from None
            if config is None:
                raise _fail(file, state.instruction, f"{state.base.reference}: image not found locally")
            state.base_config = config
            state.images.append(state.base.reference)
            state.triggers = [_parse_trigger(t, dockerfile.escape, file, state.instruction.start_line)
                              for t in (config.config.on_build or [])]
        elif isinstance(state.base, StageBase):
            parent = states[state.base.index]
            state.triggers = [replace(c.trigger, start_line=state.instruction.start_line,
                                      end_line=state.instruction.start_line)
                              for c in parent.commands if isinstance(c, ast.Onbuild)]
        for instruction in state.triggers + state.commands:
            for kind, value in _reference_sources(instruction):
                source = resolve_reference(state, instruction, kind, value)
                if isinstance(source, int):
                    state.deps.add(source)
                elif source not in state.images:
                    state.images.append(source)
        pending.extend(state.deps)

    planned: dict[int, tuple[Stage, StageScope]] = {}
    declared_everywhere: set[str] = {a.key for g in global_arg_instructions for a in g.args}
    for state in states:
        if state.index not in needed:
            continue
        stage, scope = _plan_stage(state, states, planned, global_args, build_args, dockerfile,
                                   target_platform, resolve_reference)
        planned[state.index] = (stage, scope)
        declared_everywhere |= scope.declared_names()

    epoch_text = build_args.get("SOURCE_DATE_EPOCH") or global_args.values.get("SOURCE_DATE_EPOCH") or ""
    if epoch_text and not epoch_text.isdigit():
        raise DockerfileError(f"invalid SOURCE_DATE_EPOCH: {epoch_text}", file=file)

    target_stage = planned[target_index][0]
    if labels:
        config = copy.deepcopy(target_stage.config)
        config.config.labels = {**(config.config.labels or {}), **labels}
        planned[target_index] = (replace(target_stage, config=config), planned[target_index][1])
    return BuildPlan(
        stages=tuple(planned[i][0] for i in sorted(planned)),
        target=target_index,
        global_args=global_args,
        unused_build_args=tuple(unused_build_args(build_args, declared_everywhere | {"SOURCE_DATE_EPOCH"})),
        epoch=int(epoch_text) if epoch_text else None,
    )


def _empty_config(platform: Platform) -> ImageConfig:
    config = ImageConfig(architecture=platform.arch, os=platform.os, variant=platform.variant or None)
    config.config = ContainerConfig(env=[f"PATH={DEFAULT_PATH}"], working_dir="/")
    return config


class _Dispatcher:
    """Applies a stage's instructions one by one: scope, config, steps."""

    def __init__(self, state: _StageState, scope: StageScope, config: ImageConfig, file: str,
                 resolve_reference: Callable[[_StageState, ast.Instruction, str, str], int | str]) -> None:
        self.state = state
        self.scope = scope
        self.config = config
        self.file = file
        self.resolve_reference = resolve_reference
        self.steps: list[Step] = []
        self.cmd_set = False

    @property
    def container(self) -> ContainerConfig:
        return self.config.config

    @property
    def workdir(self) -> str:
        return self.container.working_dir or "/"

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.container.shell or DEFAULT_SHELL)

    def history(self, created_by: str, layer: bool) -> HistoryEntry:
        entry = HistoryEntry(created_by=created_by, comment=HISTORY_COMMENT, empty_layer=not layer)
        self.config.history.append(entry)
        return entry

    def title(self, instruction: ast.Instruction, before: StageScope, raw: bool) -> str:
        """The progress name BuildKit gives a step: its line with the variables set
        before it expanded (RUN keeps its quotes and unset `$names`)."""
        text = instruction.original or instruction.name
        try:
            text = expand(text, before.variables, before.escape, skip_unset=True, raw_quotes=raw).value
        except ExpansionError:
            pass
        keyword, _, rest = text.partition(" ")
        return f"{keyword.upper()} {rest}".rstrip()

    def build_args_text(self) -> list[tuple[str, str]]:
        """BuildKit's runCommandString pairs: every declared ARG (first position, last
        value), its value read from the variables (so an ENV of the same name wins)."""
        order: dict[str, str] = {}
        for arg in self.scope.args:
            order[arg.name] = self.scope.variables.get(arg.name, arg.value or "")
        return list(order.items())

    def add(self, instruction: ast.Instruction, raw: ast.Instruction, onbuild: bool) -> None:
        before = self.scope
        expanded = expand_instruction(instruction, before, file=self.file)
        self.scope = expanded.scope
        handler = getattr(self, "do_" + instruction.name.lower())
        step = handler(expanded.instruction, raw, before)
        if step is not None:
            self.steps.append(replace(step, onbuild=onbuild))

    def step(self, instruction: ast.Instruction, before: StageScope, *, kind: str | None = None,
             layer: bool = False, history: HistoryEntry | None = None, raw: bool = False, **fields: Any) -> Step:
        return Step(instruction=instruction, kind=kind or instruction.name, line=instruction.start_line,
                    title=self.title(instruction, before, raw), creates_layer=layer, workdir=self.workdir,
                    user=self.container.user or "", shell=self.shell, history=history, **fields)

    # -- config-only instructions

    def do_arg(self, instruction: ast.Arg, raw: ast.Instruction, before: StageScope) -> Step:
        text = " ".join(a.key if a.value is None else f"{a.key}={a.value}" for a in instruction.args)
        return self.step(instruction, before, history=self.history(f"ARG {text}", False))

    def do_env(self, instruction: ast.Env, raw: ast.Instruction, before: StageScope) -> Step:
        for pair in instruction.pairs:
            self.container.set_env(pair.key, pair.value)
        text = " ".join(f"{p.key}={p.value}" for p in instruction.pairs)
        return self.step(instruction, before, history=self.history(f"ENV {text}", False))

    def do_label(self, instruction: ast.Label, raw: ast.Instruction, before: StageScope) -> Step:
        labels = dict(self.container.labels or {})
        for pair in instruction.pairs:
            labels[pair.key] = pair.value
        self.container.labels = labels
        text = " ".join(f"{p.key}={p.value}" for p in instruction.pairs)
        return self.step(instruction, before, history=self.history(f"LABEL {text}", False))

    def _command(self, instruction: ast.Cmd | ast.Entrypoint) -> list[str]:
        if instruction.form == "shell":
            return [*self.shell, " ".join(instruction.command)]
        return list(instruction.command)

    def do_cmd(self, instruction: ast.Cmd, raw: ast.Instruction, before: StageScope) -> Step:
        args = self._command(instruction)
        self.container.cmd = args
        self.container.args_escaped = True
        self.cmd_set = True
        return self.step(instruction, before, history=self.history(f"CMD {_go_quoted_list(args)}", False))

    def do_entrypoint(self, instruction: ast.Entrypoint, raw: ast.Instruction, before: StageScope) -> Step:
        args = self._command(instruction)
        self.container.entrypoint = args
        if not self.cmd_set:
            self.container.cmd = None
        return self.step(instruction, before, history=self.history(f"ENTRYPOINT {_go_quoted_list(args)}", False))

    def do_healthcheck(self, instruction: ast.Healthcheck, raw: ast.Instruction, before: StageScope) -> Step:
        health = HealthConfig(test=list(instruction.test), interval=instruction.interval_ns or 0,
                              timeout=instruction.timeout_ns or 0, start_period=instruction.start_period_ns or 0,
                              start_interval=instruction.start_interval_ns or 0, retries=instruction.retries or 0)
        self.container.healthcheck = health
        text = (f"HEALTHCHECK {{Test:{_go_list(instruction.test)} Interval:{_go_duration(instruction.interval_ns)} "
                f"Timeout:{_go_duration(instruction.timeout_ns)} StartPeriod:{_go_duration(instruction.start_period_ns)} "
                f"StartInterval:{_go_duration(instruction.start_interval_ns)} Retries:{instruction.retries or 0}}}")
        return self.step(instruction, before, history=self.history(text, False))

    def do_expose(self, instruction: ast.Expose, raw: ast.Instruction, before: StageScope) -> Step:
        ports = [p for spec in instruction.ports for p in _port_specs(spec, self.file, instruction)]
        exposed = dict(self.container.exposed_ports or {})
        for port in ports:
            exposed[port] = {}
        self.container.exposed_ports = exposed
        return self.step(instruction, before, history=self.history(f"EXPOSE {_go_list(ports)}", False))

    def do_user(self, instruction: ast.User, raw: ast.Instruction, before: StageScope) -> Step:
        self.container.user = instruction.user
        return self.step(instruction, before, history=self.history(f"USER {instruction.user}", False))

    def do_volume(self, instruction: ast.Volume, raw: ast.Instruction, before: StageScope) -> Step:
        volumes = dict(self.container.volumes or {})
        for path in instruction.paths:
            if not path:
                raise _fail(self.file, instruction, "VOLUME specified can not be an empty string")
            volumes[path] = {}
        self.container.volumes = volumes
        return self.step(instruction, before, history=self.history(f"VOLUME {_go_list(instruction.paths)}", False))

    def do_stopsignal(self, instruction: ast.StopSignal, raw: ast.Instruction, before: StageScope) -> Step:
        self.container.stop_signal = instruction.signal
        return self.step(instruction, before, history=self.history(f"STOPSIGNAL {instruction.signal}", False))

    def do_shell(self, instruction: ast.Shell, raw: ast.Instruction, before: StageScope) -> Step:
        self.container.shell = list(instruction.command)
        return self.step(instruction, before, history=self.history(f"SHELL {_go_list(instruction.command)}", False))

    def do_maintainer(self, instruction: ast.Maintainer, raw: ast.Instruction, before: StageScope) -> Step:
        self.config.author = instruction.maintainer
        return self.step(instruction, before, history=self.history(f"MAINTAINER {instruction.maintainer}", False))

    def do_onbuild(self, instruction: ast.Onbuild, raw: ast.Instruction, before: StageScope) -> Step:
        self.container.on_build = [*(self.container.on_build or []), instruction.expression]
        return self.step(instruction, before)

    # -- instructions that make a layer

    def do_workdir(self, instruction: ast.Workdir, raw: ast.Instruction, before: StageScope) -> Step:
        path = destination_path(instruction.path, self.workdir).rstrip("/") or "/"
        self.container.working_dir = path
        layer = path != "/"
        user = self.container.user or ""
        return self.step(instruction, before, layer=layer, dest=path,
                         history=self.history(f"WORKDIR {path}", layer),
                         inputs={"op": "WORKDIR", "path": path, "user": user})

    def do_run(self, instruction: ast.Run, raw: ast.Instruction, before: StageScope) -> Step:
        args, script = _run_args(instruction, self.shell)
        pairs = self.build_args_text()
        prefix = [f"|{len(pairs)}", *(f"{k}={v}" for k, v in pairs)] if pairs else []
        history = self.history("RUN " + " ".join([*prefix, *args]) + " # buildkit", True)
        mount_from = []
        mounts = []
        for mount in instruction.mounts:
            options = dict(mount.options)
            value = options.get("from")
            if isinstance(value, str) and value:
                mount_from.append((value, self.resolve_reference(self.state, raw, "mount", value)))
            mounts.append({"type": mount.type, **{k: v for k, v in mount.options}})
        proxy = {k for k, _ in before.proxy_env()}
        env = tuple(before.run_env())
        inputs = {
            "op": "RUN",
            "command": args,
            "script": list(script) if script else None,
            "env": [e for e in env if e.partition("=")[0] not in proxy],
            "args": [list(p) for p in pairs],
            "user": self.container.user or "",
            "workdir": self.workdir,
            "network": instruction.network,
            "security": instruction.security,
            "mounts": mounts,
        }
        return self.step(instruction, before, layer=True, raw=True, history=history, env=env,
                         args=tuple(pairs), run_args=tuple(args), script=script,
                         mount_from=tuple(mount_from), inputs=inputs)

    def _transfer(self, instruction: ast.Copy | ast.Add, raw: ast.Instruction, before: StageScope) -> Step:
        is_add = isinstance(instruction, ast.Add)
        name = "ADD" if is_add else "COPY"
        sources = [s for s in instruction.sources if not _is_heredoc_source(s, instruction)]
        checksum = instruction.checksum if isinstance(instruction, ast.Add) else None
        if checksum:
            if len(instruction.sources) != 1:
                raise _fail(self.file, instruction, "checksum can't be specified for multiple sources")
            if not _is_url(instruction.sources[0]):
                raise _fail(self.file, instruction, "checksum requires HTTP(S) or Git sources")
        for source in sources:
            if _is_git(source):
                raise _fail(self.file, instruction, f"{name} of a git repository is not supported: {source}")
            if _is_url(source) and not is_add:
                raise _fail(self.file, instruction, "source can't be a URL for COPY")
        copy_from: int | str | None = None
        if isinstance(instruction, ast.Copy) and isinstance(raw, ast.Copy) and raw.from_:
            copy_from = self.resolve_reference(self.state, raw, "copy", raw.from_)
        text = [name]
        if isinstance(instruction, ast.Copy) and instruction.parents:
            text.append("--parents")
        if instruction.chown:
            text.append(f"--chown={instruction.chown}")
        if instruction.chmod:
            text.append(f"--chmod={instruction.chmod}")
        text += sources
        text += [f"<<{d.name}" for d in instruction.heredocs]
        text.append(instruction.dest)
        dest = destination_path(instruction.dest, self.workdir)
        inputs = {
            "op": name,
            "sources": sources,
            "heredocs": [[d.name, d.body] for d in instruction.heredocs],
            "dest": dest,
            "chown": instruction.chown,
            "chmod": instruction.chmod,
            "link": instruction.link,
            "exclude": list(instruction.exclude),
            "from": copy_from if isinstance(copy_from, int) else None,
            "parents": isinstance(instruction, ast.Copy) and instruction.parents,
            "checksum": checksum,
            "unpack": instruction.unpack if isinstance(instruction, ast.Add) else None,
        }
        return self.step(instruction, before, layer=True, history=self.history(" ".join(text) + " # buildkit", True),
                         copy_from=copy_from, dest=dest, inputs=inputs)

    do_copy = _transfer
    do_add = _transfer


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _is_git(source: str) -> bool:
    """Sources BuildKit would fetch with git (dfgitutil.ParseGitRef's forms)."""
    if source.startswith(("git://", "git@", "ssh://")):
        return True
    return _is_url(source) and bool(re.search(r"\.git(#|$)", source))


def _is_heredoc_source(source: str, instruction: ast.Copy | ast.Add) -> bool:
    return source.startswith("<<") and any(source.lstrip("<-").strip("'\"") == d.name for d in instruction.heredocs)


_HEREDOC_ONLY = re.compile(r"\s*\d*<<-?(['\"]?)([^'\"\s]+)\1\s*\Z")


def _run_args(instruction: ast.Run, shell: tuple[str, ...]) -> tuple[list[str], tuple[str, str] | None]:
    """RUN's argv as BuildKit builds it, and the script of a `#!` heredoc."""
    if instruction.form == "exec":
        return list(instruction.command), None
    command = instruction.command[0] if instruction.command else ""
    script = None
    if instruction.heredocs:
        only = _HEREDOC_ONLY.match(command)
        if only and len(instruction.heredocs) == 1:
            doc = instruction.heredocs[0]
            if doc.body.startswith("#!"):
                return [f"/dev/pipes/{doc.name}"], (doc.name, doc.body)
            command = doc.body
        else:
            command = command + "".join(f"\n{d.body}{d.name}" for d in instruction.heredocs)
    return [*shell, command], script


def _port_specs(spec: str, file: str, instruction: ast.Instruction) -> list[str]:
    """EXPOSE's `[ip:][host:]port[-end][/proto]` as BuildKit's parsePortSpec lists it."""
    container = spec.rsplit(":", 1)[-1]
    port, _, proto = container.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise _fail(file, instruction, f"invalid proto: {proto}")
    if not port:
        raise _fail(file, instruction, f"no port specified: {container}<empty>")
    start, sep, end = port.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
        if not (0 <= first <= 65535 and 0 <= last <= 65535) or last < first:
            raise ValueError
    except ValueError:
        raise _fail(file, instruction, f"invalid containerPort: {port}") from None
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def _plan_stage(state: _StageState, states: list[_StageState],
                planned: Mapping[int, tuple[Stage, StageScope]],
                global_args: GlobalArgs, build_args: Mapping[str, str], dockerfile: ast.Dockerfile,
                target_platform: Platform,
                resolve_reference: Callable[[_StageState, ast.Instruction, str, str], int | str]) -> tuple[Stage, StageScope]:
    file = dockerfile.file
    if isinstance(state.base, StageBase):
        parent_stage, parent_scope = planned[state.base.index]
        config = copy.deepcopy(parent_stage.config)
        config.config.on_build = None
        scope = StageScope.start(global_args, build_args, parent=parent_scope)
    else:
        if isinstance(state.base, ImageBase):
            assert state.base_config is not None
            config = copy.deepcopy(state.base_config)
            config.created = None
            config.config.on_build = None
        else:
            config = _empty_config(target_platform)
        if config.config.get_env("PATH") is None:
            config.config.env = [*(config.config.env or []), f"PATH={DEFAULT_PATH}"]
        scope = StageScope.start(global_args, build_args, base_env=config.config.env or [])
    dispatcher = _Dispatcher(state, scope, config, file, resolve_reference)
    for trigger in state.triggers:
        dispatcher.add(trigger, trigger, onbuild=True)
    for instruction in state.commands:
        dispatcher.add(instruction, instruction, onbuild=False)
    stage = Stage(
        index=state.index,
        name=state.name,
        base=state.base,
        platform=state.platform,
        line=state.instruction.start_line,
        steps=tuple(dispatcher.steps),
        deps=tuple(sorted(state.deps)),
        images=tuple(state.images),
        config=dispatcher.config,
    )
    return stage, dispatcher.scope
