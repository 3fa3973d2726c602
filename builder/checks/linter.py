"""`lint()`: BuildKit's build checks over a parsed Dockerfile, a pure function.

BuildKit runs its checks in three places, and so does this module, in the same order
(which is the order of the warnings it returns):

1. while reading the file: empty continuation lines; MAINTAINER; the casing of a
   FROM line's stage name and of its `AS`;
2. over the list of stages: reserved and duplicate stage names, instruction casing,
   FROM lines whose global ARG defaults give no valid image name, FROM lines that use
   undeclared ARGs, a redundant or constant `--platform`;
3. while "dispatching" each stage as a build would (dockerfile2llb's dispatch): the
   variables every expanded word uses, relative WORKDIRs, shell-form CMD/ENTRYPOINT,
   repeated CMD/ENTRYPOINT/HEALTHCHECK, legacy `ENV k v` and secret-looking ARG/ENV
   names. Variables follow builder/buildargs.py's scoping; a stage built FROM an
   earlier stage continues that stage's state and runs its ONBUILD triggers first.

What BuildKit learns from a base image (its Env, Shell) comes from `base_image`, a
lookup the caller passes in; without one a base image is taken to set only PATH (the
variable BuildKit always sets).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from builder import ast
from builder.buildargs import GlobalArgs, StageScope, host_platform, resolve_global_args
from builder.checks import rules
from builder.checks.config import CheckConfig, check_config
from builder.errors import DockerfileError
from builder.suggest import levenshtein
from builder.shell_lex import ExpandResult, ExpansionError
from oci.errors import InvalidReference
from oci.reference import parse_reference

__all__ = ["BaseImage", "LintWarning", "LintError", "lint", "violation_message"]

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RESERVED_STAGE_NAMES = frozenset({"context", "scratch"})

_SECRET = re.compile(r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword"
                     r"|passwd|secret|token)(?:_|$)")
_NOT_SECRET = re.compile(r"(?i)(?:_|^)(?:public)(?:_|$)")
_HEREDOC_SOURCE = re.compile(r"\d*<<")
_T = TypeVar("_T")


@dataclass(frozen=True)
class LintWarning:
    """One check that fired, at lines start_line..end_line of the Dockerfile."""

    rule: str
    message: str
    start_line: int
    end_line: int

    @property
    def description(self) -> str:
        return rules.RULES[self.rule].description

    @property
    def url(self) -> str:
        return rules.RULES[self.rule].url

    def short(self) -> str:
        """`Rule: message (line N)`, as BuildKit shows a warning in build progress."""
        return f"{self.rule}: {self.message} (line {self.start_line})"


@dataclass(frozen=True)
class BaseImage:
    """What the checks need from a base image's config: Env (`K=V`) and Shell."""

    env: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()


class LintError(DockerfileError):
    """A Dockerfile the checks could not walk to the end (a `$` expression the build
    would also fail on); `warnings` holds what fired before it."""

    def __init__(self, error: DockerfileError, warnings: list[LintWarning]) -> None:
        super().__init__(error.message, file=error.file, line=error.line,
                         column=error.column, source_line=error.source_line)
        self.warnings = warnings


BaseImageLookup = Callable[[str], BaseImage | None]


@dataclass
class _Stage:
    from_: ast.From
    commands: list[ast.Instruction]
    base_name: str = ""
    parent: int | None = None


@dataclass
class _State:
    """A stage as dispatch leaves it: what a stage built FROM it starts with."""

    scope: StageScope
    shell: tuple[str, ...] = ()
    workdir_set: bool = False
    used_once: dict[str, ast.Instruction] = field(default_factory=dict)


class _Warnings:
    def __init__(self, config: CheckConfig) -> None:
        self.config = config
        self.items: list[LintWarning] = []

    def add(self, rule: str, message: str, where: ast.Instruction) -> None:
        self.add_at(rule, message, where.start_line, where.end_line)

    def add_at(self, rule: str, message: str, start: int, end: int) -> None:
        if self.config.enabled(rule):
            self.items.append(LintWarning(rule, message, start, end))


def lint(dockerfile: ast.Dockerfile, build_args: Mapping[str, str] | None = None, *,
         target: str | None = None, base_image: BaseImageLookup | None = None,
         config: CheckConfig | None = None) -> list[LintWarning]:
    """The warnings BuildKit's checks give for `dockerfile`, skipped rules left out.

    build_args: `--build-arg` values (also where BUILDKIT_DOCKERFILE_CHECK comes from).
    target: the stage being built; the per-stage checks then cover only the stages it
    needs (`pybuild lint`, like `docker build --check`, leaves it None: every stage).
    config: the check options; by default those of the build-arg or `# check=`.
    Raises LintError when a `$` expression cannot be expanded.
    """
    build_args = dict(build_args or {})
    config = config if config is not None else check_config(dockerfile, build_args)
    out = _Warnings(config)
    for warning in dockerfile.warnings:
        if warning.rule == "NoEmptyContinuation":
            out.add_at(warning.rule, rules.no_empty_continuation(), warning.line, warning.line)
    for instruction in dockerfile.instructions:
        _check_maintainer(instruction, out)
        _check_from_casing(instruction, out)
    global_args, stages = _stages(dockerfile.instructions)
    if not stages:
        return out.items
    _check_stage_names(stages, out)
    _check_instruction_casing(stages, out)
    decls = [decl for arg in global_args for decl in arg.args]
    _check_default_args_in_from(stages, global_args, dockerfile.escape, out)
    try:
        globals_ = resolve_global_args(global_args, build_args, escape=dockerfile.escape,
                                       file=dockerfile.file)
        _resolve_bases(stages, globals_, decls, out)
        _dispatch(stages, globals_, build_args, target, base_image, out)
    except ExpansionError as exc:
        raise LintError(exc, out.items) from None
    except _Failed as exc:
        where = exc.where
        error = DockerfileError(exc.message, file=dockerfile.file,
                                line=where.start_line if where else 0,
                                source_line=where.original if where else None)
        raise LintError(error, out.items) from None
    return out.items


def violation_message(warnings: Sequence[LintWarning]) -> str:
    """BuildKit's error for `# check=error=true` when checks fired."""
    return "lint violation found for rules: " + ", ".join(sorted({w.rule for w in warnings}))


# --- 1. while reading --------------------------------------------------------------------

def _check_maintainer(instruction: ast.Instruction, out: _Warnings) -> None:
    if isinstance(instruction, ast.Maintainer):
        out.add("MaintainerDeprecated", rules.maintainer_deprecated(), instruction)


def _check_from_casing(instruction: ast.Instruction, out: _Warnings) -> None:
    if not isinstance(instruction, ast.From) or instruction.as_keyword is None:
        return
    name = instruction.stage_as_written or ""
    if name != name.lower():
        out.add("StageNameCasing", rules.stage_name_casing(name), instruction)
    keyword, as_keyword = instruction.keyword, instruction.as_keyword
    # A FROM keyword in mixed case is ConsistentInstructionCasing's to report.
    if keyword == keyword.lower():
        matches = as_keyword == as_keyword.lower()
    elif keyword == keyword.upper():
        matches = as_keyword == as_keyword.upper()
    else:
        matches = True
    if not matches:
        out.add("FromAsCasing", rules.from_as_casing(keyword, as_keyword), instruction)


# --- 2. over the stages ------------------------------------------------------------------

def _stages(instructions: Sequence[ast.Instruction]) -> tuple[list[ast.Arg], list[_Stage]]:
    global_args: list[ast.Arg] = []
    stages: list[_Stage] = []
    for instruction in instructions:
        if isinstance(instruction, ast.From):
            stages.append(_Stage(instruction, []))
        elif stages:
            stages[-1].commands.append(instruction)
        elif isinstance(instruction, ast.Arg):
            global_args.append(instruction)
    return global_args, stages


def _check_stage_names(stages: Sequence[_Stage], out: _Warnings) -> None:
    seen: set[str] = set()
    for stage in stages:
        name = stage.from_.stage
        if not name:
            continue
        if name in RESERVED_STAGE_NAMES:
            out.add("ReservedStageName", rules.reserved_stage_name(name), stage.from_)
        if name in seen:
            out.add("DuplicateStageName", rules.duplicate_stage_name(name), stage.from_)
        seen.add(name)


def _check_instruction_casing(stages: Sequence[_Stage], out: _Warnings) -> None:
    # Global ARGs are not part of any stage, so BuildKit neither counts nor checks them.
    keywords = [i for stage in stages for i in (stage.from_, *stage.commands)]
    lower = upper = 0
    for instruction in keywords:
        word = instruction.keyword
        if word == word.lower():
            lower += 1
        elif word == word.upper():
            upper += 1
    majority_lower = lower > upper
    for instruction in keywords:
        word = instruction.keyword
        if majority_lower and word != word.lower():
            casing = "lowercase"
        elif not majority_lower and word != word.upper():
            casing = "uppercase"
        else:
            continue
        out.add("ConsistentInstructionCasing",
                rules.consistent_instruction_casing(word, casing), instruction)


def _check_default_args_in_from(stages: Sequence[_Stage], global_args: Sequence[ast.Arg],
                                escape: str, out: _Warnings) -> None:
    """The image names the FROM lines give when no build-arg is passed must parse."""
    try:
        defaults = resolve_global_args(global_args, {}, escape=escape)
        for stage in stages:
            name = defaults.expand(stage.from_.image).value
            try:
                parse_reference(name)
            except InvalidReference:
                out.add("InvalidDefaultArgInFrom",
                        rules.invalid_default_arg_in_from(stage.from_.image), stage.from_)
    except ExpansionError:
        # The build fails on the same expression and says why; this check stays quiet.
        return


def _resolve_bases(stages: list[_Stage], globals_: GlobalArgs, decls: Sequence[ast.ArgDecl],
                   out: _Warnings) -> None:
    """Expand every FROM (reporting undeclared ARGs) and find the stages built on an
    earlier stage of this file."""
    keys = list(dict.fromkeys([*globals_.values, *(d.key for d in decls)]))
    by_name: dict[str, int] = {}
    for index, stage in enumerate(stages):
        image = _at(stage.from_, globals_.expand, stage.from_.image)
        _report_undeclared(image, keys, stage.from_, out)
        if stage.from_.platform:
            platform = _at(stage.from_, globals_.expand, stage.from_.platform)
            _report_undeclared(platform, keys, stage.from_, out)
            _check_platform_flag(stage.from_, platform, globals_, out)
        stage.base_name = image.value
        stage.parent = by_name.get(stage.base_name)
        if stage.from_.stage:
            by_name[stage.from_.stage] = index


def _report_undeclared(result: ExpandResult, keys: Sequence[str], where: ast.From,
                       out: _Warnings) -> None:
    for name in sorted(result.unset - set(keys)):
        out.add("UndefinedArgInFrom", rules.undefined_arg_in_from(name, _closest(name, keys)), where)


def _check_platform_flag(from_: ast.From, platform: ExpandResult, globals_: GlobalArgs,
                         out: _Warnings) -> None:
    """`--platform=$TARGETPLATFORM` says what the build does anyway; a constant platform
    makes a multi-platform build produce one platform, unless the stage's name says
    that it is meant (`AS build-arm64`)."""
    written = from_.platform or ""
    if platform.used == {"TARGETPLATFORM"} and not platform.unset:
        if platform.value == globals_.values.get("TARGETPLATFORM"):
            out.add("RedundantTargetPlatform", rules.redundant_target_platform(written), from_)
    if platform.used or platform.unset:
        return
    parsed = _parse_platform(platform.value)
    if parsed is None:
        return
    os_name, arch = parsed
    stage = from_.stage or ""
    if os_name not in stage and arch not in stage:
        out.add("FromPlatformFlagConstDisallowed",
                rules.from_platform_flag_const_disallowed(platform.value), from_)


_PLATFORM_PART = re.compile(r"[A-Za-z0-9_-]+")
_KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios",
                       "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1",
                       "windows"})
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386",
                 "armhf": "arm", "armel": "arm"}


def _parse_platform(text: str) -> tuple[str, str] | None:
    """OS and normalised architecture as containerd's platforms.Parse gives them (a
    lone OS or architecture is completed with Linux on this machine's architecture)."""
    parts = text.split("/")
    if not 1 <= len(parts) <= 3 or not all(_PLATFORM_PART.fullmatch(p) for p in parts):
        return None
    parts = [p.lower() for p in parts]
    if len(parts) == 1:
        if parts[0] in _KNOWN_OS:
            return parts[0], host_platform().arch
        return "linux", _ARCH_ALIASES.get(parts[0], parts[0])
    return parts[0], _ARCH_ALIASES.get(parts[1], parts[1])


# --- 3. dispatching each stage -----------------------------------------------------------

def _dispatch(stages: list[_Stage], globals_: GlobalArgs, build_args: dict[str, str],
              target: str | None, base_image: BaseImageLookup | None, out: _Warnings) -> None:
    target_index = _target_index(stages, target)
    needed = _needed(stages, target_index)
    dispatched = set(needed) if target is not None else set(range(len(stages)))
    states: dict[int, _State] = {}
    for index, stage in enumerate(stages):
        if index not in dispatched:
            continue
        parent = states.get(stage.parent) if stage.parent is not None else None
        if parent is not None:
            state = _State(StageScope.start(globals_, build_args, parent=parent.scope),
                           parent.shell, parent.workdir_set)
        else:
            image = base_image(stage.base_name) if base_image and stage.base_name != "scratch" else None
            env = list(image.env if image else ())
            if not any(e.partition("=")[0] == "PATH" for e in env):
                env.append(DEFAULT_PATH)
            state = _State(StageScope.start(globals_, build_args, base_env=env),
                           tuple(image.shell) if image else ())
        commands = stage.commands
        if parent is not None and index in needed:
            commands = _onbuild_triggers(stages[stage.parent], stage.from_) + commands
        for command in commands:
            _at(command, _dispatch_one, command, state, build_args, out)
        states[index] = state


def _target_index(stages: Sequence[_Stage], target: str | None) -> int:
    if target is None:
        return len(stages) - 1
    for index in range(len(stages) - 1, -1, -1):
        if stages[index].from_.stage == target.lower():
            return index
    raise _Failed(f"target stage {rules.go_quote(target)} could not be found", None)


def _needed(stages: Sequence[_Stage], target: int) -> set[int]:
    """The target and every stage it builds on, copies from or mounts."""
    by_name = {stage.from_.stage: i for i, stage in enumerate(stages) if stage.from_.stage}
    needed: set[int] = set()
    todo = [target]
    while todo:
        index = todo.pop()
        if index in needed:
            continue
        needed.add(index)
        stage = stages[index]
        refs = [c.from_ for c in stage.commands if isinstance(c, ast.Copy) and c.from_]
        refs += [str(value) for c in stage.commands if isinstance(c, ast.Run)
                 for m in c.mounts for key, value in m.options if key == "from"]
        deps = [by_name.get(ref.lower(), int(ref) if ref.isdigit() else None) for ref in refs]
        if stage.parent is not None:
            deps.append(stage.parent)
        todo += [d for d in deps if d is not None and 0 <= d < len(stages)]
    return needed


def _onbuild_triggers(parent: _Stage, from_: ast.From) -> list[ast.Instruction]:
    # BuildKit runs them before the child's own instructions, located at its FROM line.
    return [replace(c.trigger, start_line=from_.start_line, end_line=from_.end_line)
            for c in parent.commands if isinstance(c, ast.Onbuild)]


def _dispatch_one(command: ast.Instruction, state: _State, build_args: Mapping[str, str],
                  out: _Warnings) -> None:
    if isinstance(command, ast.Arg):
        _dispatch_arg(command, state, build_args, out)
        return
    for word, raw in _expanded_words(command):
        _report_undefined(state.scope.expand(word, heredoc=raw), command, state.scope, out)
    if isinstance(command, ast.Label):
        for pair in command.pairs:
            if pair.legacy:
                out.add("LegacyKeyValueFormat", rules.legacy_key_value_format(command.keyword), command)
    elif isinstance(command, ast.Env):
        for pair in command.pairs:
            if pair.legacy:
                out.add("LegacyKeyValueFormat", rules.legacy_key_value_format(command.keyword), command)
            _check_secret("ENV", state.scope.expand(pair.key).value, command, out)
        state.scope = state.scope.set_env(command.pairs)[0]
    elif isinstance(command, ast.Workdir):
        path = state.scope.expand(command.path).value
        if not state.workdir_set and not path.startswith("/"):
            out.add("WorkdirRelativePath", rules.workdir_relative_path(path), command)
        state.workdir_set = True
    elif isinstance(command, ast.Shell):
        state.shell = command.command
    elif isinstance(command, (ast.Cmd, ast.Entrypoint, ast.Healthcheck)):
        _check_used_once(command, state, out)
        if isinstance(command, (ast.Cmd, ast.Entrypoint)) and command.form == "shell" \
                and not state.shell:
            out.add("JSONArgsRecommended", rules.json_args_recommended(command.keyword), command)


def _dispatch_arg(command: ast.Arg, state: _State, build_args: Mapping[str, str],
                  out: _Warnings) -> None:
    """Each name of one ARG sees the ones before it; a default is expanded (and its
    variables checked) only when no build-arg overrides it."""
    for decl in command.args:
        _check_secret("ARG", decl.key, command, out)
        if decl.key not in build_args and decl.value is not None:
            _report_undefined(state.scope.expand(decl.value), command, state.scope, out)
        state.scope = state.scope.declare([decl])


def _expanded_words(command: ast.Instruction) -> list[tuple[str, bool]]:
    """The words BuildKit expands for this instruction (its commands' Expand methods),
    each with whether it is a heredoc body (expanded without quote processing).
    EXPOSE is expanded at dispatch without reporting variables, RUN/CMD/ENTRYPOINT
    bodies are left to the shell."""
    words: list[str] = []
    bodies: list[str] = []
    if isinstance(command, ast.Env):  # LABEL too
        words = [w for pair in command.pairs for w in (pair.key, pair.value)]
    elif isinstance(command, (ast.Copy, ast.Add)):
        words = [command.chown or ""]
        if isinstance(command, ast.Add):
            words.append(command.checksum or "")
        sources = command.sources
        if command.heredocs:
            sources = tuple(s for s in sources if not _HEREDOC_SOURCE.match(s))
        words += [*sources, command.dest]
        bodies = [doc.body for doc in command.heredocs if doc.expand]
    elif isinstance(command, ast.Workdir):
        words = [command.path]
    elif isinstance(command, ast.User):
        words = [command.user]
    elif isinstance(command, ast.Volume):
        words = list(command.paths)
    elif isinstance(command, ast.StopSignal):
        words = [command.signal]
    elif isinstance(command, ast.Run):
        words = _mount_values(command)
    return [(w, False) for w in words if w] + [(b, True) for b in bodies]


def _mount_values(command: ast.Run) -> list[str]:
    values = []
    for flag in command.flags:
        if flag.name != "mount" or not flag.value:
            continue
        for item in flag.value.split(","):
            key, eq, value = item.partition("=")
            # `from=` may not hold variables (a build error), so it is never expanded.
            if eq and key.strip().lower() != "from":
                values.append(value)
    return values


def _report_undefined(result: ExpandResult, command: ast.Instruction, scope: StageScope,
                      out: _Warnings) -> None:
    names = scope.undefined(result)
    if not names:
        return
    options = list(scope.variables)
    for name in names:
        out.add("UndefinedVar", rules.undefined_var(name, _closest(name, options)), command)


def _check_used_once(command: ast.Instruction, state: _State, out: _Warnings) -> None:
    # The warning points at the earlier instruction: that is the one without effect.
    previous = state.used_once.get(command.name)
    if previous is not None:
        out.add("MultipleInstructionsDisallowed",
                rules.multiple_instructions_disallowed(command.keyword), previous)
    state.used_once[command.name] = command


def _check_secret(instruction: str, key: str, where: ast.Instruction, out: _Warnings) -> None:
    if _SECRET.search(key) and not _NOT_SECRET.search(key):
        out.add("SecretsUsedInArgOrEnv", rules.secrets_used_in_arg_or_env(instruction, key), where)


# --- helpers ------------------------------------------------------------------------------

def _closest(name: str, options: Sequence[str]) -> str:
    """BuildKit's suggest.Search (case-sensitive): the first option fewer than 3 edits
    away, the nearest winning; nothing when an option is the name itself."""
    best, best_distance = "", 3
    for option in options:
        if option == name:
            return ""
        distance = levenshtein(name, option)
        if distance < best_distance:
            best, best_distance = option, distance
    return best


class _Failed(Exception):
    """An expansion error, with the instruction it happened in."""

    def __init__(self, message: str, where: ast.Instruction | None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def _at(where: ast.Instruction | None, run: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    try:
        return run(*args, **kwargs)
    except ExpansionError as exc:
        raise _Failed(exc.message, where) from None
