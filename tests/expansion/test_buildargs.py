"""ARG/ENV scoping rules as BuildKit applies them."""

import pytest

from oci.errors import UserError

from builder.ast import Arg, ArgDecl, KeyValue
from builder.buildargs import (
    EXPANSION_RULES,
    Platform,
    StageScope,
    host_platform,
    platform_args,
    resolve_global_args,
    unused_build_args,
)

AMD64 = Platform("linux", "amd64")


def _args(*decls: ArgDecl) -> list[Arg]:
    """The ARG instructions before the first FROM, one pair each."""
    return [Arg(keyword="ARG", args=(decl,), start_line=n) for n, decl in enumerate(decls, 1)]


def _stage(global_decls=(), build_args=None, base_env=("PATH=/usr/bin",), target=AMD64):
    build_args = build_args or {}
    global_args = resolve_global_args(_args(*global_decls), build_args, target=target, build=AMD64)
    return StageScope.start(global_args, build_args, base_env)


def test_global_args_expand_in_from_lines():
    global_args = resolve_global_args(_args(ArgDecl("VERSION", "3.19")), {}, build=AMD64)
    assert global_args.expand("alpine:${VERSION}").value == "alpine:3.19"


def test_build_arg_overrides_global_default():
    global_args = resolve_global_args(_args(ArgDecl("VERSION", "3.19")), {"VERSION": "3.20"}, build=AMD64)
    assert global_args.expand("alpine:$VERSION").value == "alpine:3.20"


def test_global_default_sees_earlier_global_args_and_platform_args():
    global_args = resolve_global_args(
        _args(ArgDecl("A", "1"), ArgDecl("B", "${A}-$TARGETARCH")), {}, target=Platform("linux", "arm64"), build=AMD64
    )
    assert global_args.values["B"] == "1-arm64"


def test_global_arg_without_default_is_set_but_empty():
    global_args = resolve_global_args(_args(ArgDecl("TAG", None)), {}, build=AMD64)
    assert global_args.expand("img:${TAG:-latest}").value == "img:latest"
    assert global_args.expand("img${TAG-x}").value == "img"
    assert global_args.expand("img:$TAG").unset == frozenset()


def test_platform_args_describe_target_and_build_platforms():
    args = platform_args(Platform("linux", "arm", "v7"), AMD64)
    assert args == {
        "TARGETPLATFORM": "linux/arm/v7",
        "TARGETOS": "linux",
        "TARGETARCH": "arm",
        "TARGETVARIANT": "v7",
        "BUILDPLATFORM": "linux/amd64",
        "BUILDOS": "linux",
        "BUILDARCH": "amd64",
        "BUILDVARIANT": "",
    }


def test_host_platform_of_this_machine_is_linux_amd64():
    assert str(host_platform()) == "linux/amd64"


def test_global_args_are_invisible_in_a_stage_until_redeclared():
    stage = _stage([ArgDecl("VERSION", "1.0")])
    assert stage.expand("v=$VERSION").value == "v="
    stage = stage.declare([ArgDecl("VERSION", None)])
    assert stage.expand("v=$VERSION").value == "v=1.0"


def test_platform_args_need_a_declaration_inside_a_stage():
    stage = _stage()
    assert stage.expand("$TARGETARCH").value == ""
    assert stage.declare([ArgDecl("TARGETARCH", None)]).expand("$TARGETARCH").value == "amd64"


def test_stage_default_overrides_the_global_value_and_build_arg_overrides_both():
    stage = _stage([ArgDecl("V", "global")])
    assert stage.declare([ArgDecl("V", "stage")]).expand("$V").value == "stage"
    stage = _stage([ArgDecl("V", "global")], build_args={"V": "cli"})
    assert stage.declare([ArgDecl("V", "stage")]).expand("$V").value == "cli"


def test_build_arg_gives_a_value_to_a_stage_arg_without_default():
    stage = _stage(build_args={"TOKEN": "abc"}).declare([ArgDecl("TOKEN", None)])
    assert stage.expand("$TOKEN").value == "abc"


def test_declared_arg_without_value_is_unset_but_not_undefined():
    stage = _stage().declare([ArgDecl("OPT", None)])
    result = stage.expand("${OPT-none}")
    assert result.value == "none"
    assert stage.undefined(result) == []
    assert stage.undefined(stage.expand("$TYPO")) == ["TYPO"]


def test_pairs_of_one_arg_instruction_see_each_other():
    stage = _stage().declare([ArgDecl("A", "1"), ArgDecl("B", "$A-2")])
    assert stage.expand("$B").value == "1-2"


def test_env_pairs_keep_old_values_within_one_instruction():
    stage, _ = _stage().set_env([KeyValue("a", "old")])
    stage, pairs = stage.set_env([KeyValue("a", "new"), KeyValue("b", "$a")])
    assert pairs == [("a", "new"), ("b", "old")]
    assert stage.expand("$a $b").value == "new old"


def test_env_over_arg_of_the_same_name():
    stage = _stage(build_args={"VER": "cli"}).declare([ArgDecl("VER", None)])
    stage, _ = stage.set_env([KeyValue("VER", "v1.0.0")])
    assert stage.expand("$VER").value == "v1.0.0"


def test_only_env_reaches_the_image_config():
    stage = _stage().declare([ArgDecl("SECRET", "s")])
    stage, _ = stage.set_env([KeyValue("HOME", "/root"), KeyValue("PATH", "/bin:$PATH")])
    assert stage.image_env == (("PATH", "/bin:/usr/bin"), ("HOME", "/root"))
    assert "SECRET=s" in stage.run_env()


def test_base_image_env_is_visible_to_expansion():
    stage = _stage(base_env=["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"])
    assert stage.expand("$LANG").value == "C.UTF-8"


def test_env_keys_are_expanded_too():
    stage, pairs = _stage().declare([ArgDecl("K", "name")]).set_env([KeyValue("$K", "v")])
    assert pairs == [("name", "v")]


def test_stage_from_stage_inherits_variables_and_args():
    parent = _stage().declare([ArgDecl("A", "1")])
    parent, _ = parent.set_env([KeyValue("E", "2")])
    child = StageScope.start(parent.global_args, {}, parent=parent)
    assert child.expand("$A$E").value == "12"
    assert child.run_args() == [("A", "1")]


def test_proxy_build_args_reach_run_without_declaration_but_not_history():
    stage = _stage(build_args={"HTTP_PROXY": "http://proxy:3128", "no_proxy": "localhost"})
    assert stage.expand("$HTTP_PROXY").value == ""
    assert "HTTP_PROXY=http://proxy:3128" in stage.run_env()
    assert stage.run_args() == []
    declared = stage.declare([ArgDecl("HTTP_PROXY", None)])
    assert declared.expand("$HTTP_PROXY").value == "http://proxy:3128"
    assert declared.run_args() == [("HTTP_PROXY", "http://proxy:3128")]
    assert declared.proxy_env() == [("no_proxy", "localhost")]


def test_run_args_record_declared_args_with_values_in_order():
    stage = _stage().declare([ArgDecl("B", "2"), ArgDecl("NOVALUE", None), ArgDecl("A", "1")])
    assert stage.run_args() == [("B", "2"), ("A", "1")]


def test_unused_build_args_are_those_nobody_declares():
    assert unused_build_args({"A": "1", "B": "2", "HTTP_PROXY": "x"}, ["A"]) == ["B"]


def test_arg_default_with_bad_substitution_is_a_user_error():
    with pytest.raises(UserError, match="bad substitution"):
        _stage().declare([ArgDecl("A", "${}")])


def test_bad_global_default_names_file_and_line():
    with pytest.raises(UserError, match=r"^df:2: failed to process \"\$\{\}\": syntax error: bad substitution$"):
        resolve_global_args(_args(ArgDecl("A", "1"), ArgDecl("B", "${}")), {}, build=AMD64, file="df")


def test_heredoc_expansion_keeps_quotes_and_uses_backslash():
    stage = _stage([], build_args={}).declare([ArgDecl("N", "x")])
    assert stage.expand("echo '$N'\n", heredoc=True).value == "echo 'x'\n"


def test_commands_run_later_are_not_expanded_by_the_builder():
    later = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "ONBUILD", "HEALTHCHECK", "MAINTAINER"}
    assert later & set(EXPANSION_RULES) == {"RUN"}
    assert EXPANSION_RULES["RUN"].parts == ("--mount", "--network")


def test_from_expands_with_global_scope_and_expose_splits_words():
    assert EXPANSION_RULES["FROM"].scope == "global"
    assert EXPANSION_RULES["EXPOSE"].split
    assert EXPANSION_RULES["ARG"].sequential
    assert "--from" in EXPANSION_RULES["COPY"].parts


def test_platform_parse_round_trips():
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    with pytest.raises(ValueError):
        Platform.parse("linux")


def test_stage_redeclaring_a_global_without_value_gets_no_value():
    stage = _stage([ArgDecl("TAG", None)]).declare([ArgDecl("TAG", None)])
    assert stage.expand("${TAG-unset}").value == "unset"


def test_build_arg_overrides_an_automatic_platform_arg():
    global_args = resolve_global_args(_args(), {"TARGETARCH": "riscv64"}, build=AMD64)
    assert global_args.expand("$TARGETARCH/$TARGETOS").value == "riscv64/linux"
