"""EXPANSION_RULES applied to parsed Dockerfiles, stage by stage."""

import pytest

from builder import ast
from builder.buildargs import Platform, StageScope, expand_from, expand_instruction, resolve_global_args
from builder.parser import parse
from builder.shell_lex import ExpansionError

AMD64 = Platform("linux", "amd64")


def plan(text: str, build_args: dict[str, str] | None = None, base_env=("PATH=/usr/bin",)):
    """(instruction, expanded instruction, undefined names) for every instruction."""
    build_args = build_args or {}
    dockerfile = parse(text)
    instructions = dockerfile.instructions
    first_from = next(i for i, ins in enumerate(instructions) if isinstance(ins, ast.From))
    global_args = resolve_global_args(instructions[:first_from], build_args, build=AMD64, escape=dockerfile.escape)
    stages: dict[str, StageScope] = {}
    scope = None
    name = None
    out = []
    for ins in instructions[first_from:]:
        if isinstance(ins, ast.From):
            if name is not None:
                stages[name] = scope
            expanded, unset = expand_from(ins, global_args)
            parent = stages.get(expanded.image)
            scope = StageScope.start(global_args, build_args, base_env, parent=parent)
            name = ins.stage
            out.append((ins, expanded, sorted(unset)))
            continue
        result = expand_instruction(ins, scope)
        out.append((ins, result.instruction, result.undefined(scope)))
        scope = result.scope
    return out


def test_copy_expands_paths_owner_and_source_stage_but_not_chmod():
    [_, (_, copy, undefined)] = plan(
        "FROM scratch\nCOPY --from=$STAGE --chown=${USER:-app} --chmod=$MODE src/$F /dst/\n"
    )
    assert (copy.from_, copy.chown, copy.chmod, copy.sources, copy.dest) == ("", "app", "$MODE", ("src/",), "/dst/")
    assert undefined == ["F", "STAGE", "USER"]


def test_env_and_label_use_values_from_before_the_instruction():
    rows = plan('FROM scratch\nENV a=old\nENV a=new b=$a\nLABEL "k.$a"="$b $a"\n')
    assert rows[2][1].pairs == (ast.KeyValue("a", "new"), ast.KeyValue("b", "old"))
    assert rows[3][1].pairs == (ast.KeyValue("k.new", "old new"),)


def test_arg_pairs_show_the_values_the_build_uses():
    rows = plan("ARG G=g\nFROM scratch\nARG G\nARG A=1 B=$A-$G C\n", build_args={"C": "cli"})
    assert rows[1][1].args == (ast.ArgDecl("G", "g"),)
    assert rows[2][1].args == (ast.ArgDecl("A", "1"), ast.ArgDecl("B", "1-g"), ast.ArgDecl("C", "cli"))


def test_arg_default_overridden_by_build_arg_is_not_evaluated():
    rows = plan("FROM scratch\nARG V=${MISSING:?never}\nRUN true\n", build_args={"V": "x"})
    assert rows[1][1].args == (ast.ArgDecl("V", "x"),)
    with pytest.raises(ExpansionError, match="MISSING: never"):
        plan("FROM scratch\nARG V=${MISSING:?never}\n")


def test_from_uses_global_args_and_reports_undeclared_ones():
    rows = plan("ARG TAG=3\nFROM alpine:$TAG AS base\nFROM base-$MISSING\n")
    assert rows[0][1].image == "alpine:3"
    assert rows[1][2] == ["MISSING"]


def test_expose_splits_a_variable_holding_several_ports():
    rows = plan('FROM scratch\nENV PORTS="80 443/udp"\nEXPOSE $PORTS 8080\n')
    assert rows[2][1].ports == ("80", "443/udp", "8080")


def test_workdir_user_volume_stopsignal_expand():
    rows = plan("FROM scratch\nENV D=/srv U=app S=SIGTERM\nWORKDIR $D/x\nUSER $U:$U\nVOLUME $D/v /w\nSTOPSIGNAL $S\n")
    workdir, user, volume, stopsignal = (r[1] for r in rows[2:])
    assert (workdir.path, user.user, volume.paths, stopsignal.signal) == ("/srv/x", "app:app", ("/srv/v", "/w"), "SIGTERM")


def test_run_command_cmd_and_entrypoint_keep_their_dollars():
    rows = plan("FROM scratch\nENV A=1\nRUN echo $A\nCMD echo $A\nENTRYPOINT [\"sh\", \"-c\", \"$A\"]\n")
    assert rows[2][1].command == ("echo $A",)
    assert rows[3][1].command == ("echo $A",)
    assert rows[4][1].command == ("sh", "-c", "$A")
    assert [r[2] for r in rows[2:]] == [[], [], []]


def test_run_mount_options_expand():
    rows = plan("FROM scratch\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE,id=c-$CACHE make\n")
    [mount] = rows[2][1].mounts
    assert dict(mount.options)["target"] == "/root/.cache"


def test_copy_heredoc_with_unquoted_delimiter_expands_keeping_quotes():
    rows = plan("FROM scratch\nARG N=x\nCOPY <<EOF /a\necho '$N' \"$N\"\nEOF\nCOPY <<'EOF' /b\n$N\nEOF\n")
    assert rows[2][1].heredocs[0].body == "echo 'x' \"x\"\n"
    assert rows[3][1].heredocs[0].body == "$N\n"


def test_child_stage_sees_parent_variables():
    rows = plan("FROM scratch AS base\nARG V=1\nENV E=2\nFROM base\nWORKDIR /$V/$E\n")
    assert rows[4][1].path == "/1/2"


def test_backtick_escape_directive_applies_to_expansion():
    rows = plan("# escape=`\nFROM scratch\nENV A=1\nWORKDIR C:\\`$A\\$A\n")
    assert rows[2][1].path == "C:\\$A\\1"


def test_expansion_error_names_file_and_line_of_the_instruction():
    with pytest.raises(ExpansionError) as info:
        plan("FROM scratch\nENV A=1\nWORKDIR /${A:?}/${B:?B must be set}\n")
    assert str(info.value) == 'Dockerfile:3: failed to process "/${A:?}/${B:?B must be set}": B: B must be set'
    assert info.value.render().splitlines()[1].endswith("WORKDIR /${A:?}/${B:?B must be set}")
