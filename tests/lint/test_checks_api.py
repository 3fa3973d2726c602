"""The library side of the checks: `lint()` as the build engine calls it, the check
options, and what BuildKit's rules are called."""

import re

import pytest

from builder.checks import (RULES, BaseImage, CheckConfig, LintError, LintWarning, check_config,
                            lint, parse_check_options, violation_message)
from builder.errors import DockerfileError
from builder.parser import parse


def rules_fired(text: str, **kwargs) -> list[str]:
    return [w.rule for w in lint(parse(text), **kwargs)]


def test_the_rules_have_buildkits_names_and_doc_urls():
    # BuildKit's non-experimental rules, less InvalidBaseImagePlatform (it needs the
    # pulled image's platform).
    assert sorted(RULES) == sorted([
        "StageNameCasing", "FromAsCasing", "JSONArgsRecommended", "MaintainerDeprecated",
        "UndefinedVar", "UndefinedArgInFrom", "DuplicateStageName", "ConsistentInstructionCasing",
        "NoEmptyContinuation", "WorkdirRelativePath", "MultipleInstructionsDisallowed",
        "LegacyKeyValueFormat", "SecretsUsedInArgOrEnv", "ReservedStageName",
        "InvalidDefaultArgInFrom", "RedundantTargetPlatform", "FromPlatformFlagConstDisallowed"])
    assert RULES["JSONArgsRecommended"].url == \
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"
    for rule in RULES.values():
        assert re.fullmatch(r"https://docs\.docker\.com/go/dockerfile/rule/[a-z]+(-[a-z]+)*/", rule.url)
        assert rule.description


def test_warning_spans_the_whole_instruction_and_has_buildkits_short_form():
    warning, = lint(parse("FROM alpine\nCMD run \\\n  --fast\n"))
    assert warning == LintWarning("JSONArgsRecommended", "JSON arguments recommended for CMD to "
                                  "prevent unintended behavior related to OS signals", 2, 3)
    assert warning.short() == ("JSONArgsRecommended: JSON arguments recommended for CMD to prevent "
                               "unintended behavior related to OS signals (line 2)")


def test_lint_leaves_the_syntax_tree_as_it_was():
    dockerfile = parse("FROM alpine AS base\nONBUILD COPY $X /\nFROM base\nENV A=$B\n")
    before = dockerfile.to_json()
    assert lint(dockerfile) == lint(dockerfile)
    assert dockerfile.to_json() == before


def test_base_image_shell_counts_like_a_shell_instruction():
    text = "FROM windows-like\nCMD run\n"
    assert rules_fired(text) == ["JSONArgsRecommended"]
    lookup = {"windows-like": BaseImage(shell=("cmd", "/S", "/C"))}.get
    assert rules_fired(text, base_image=lookup) == []


def test_base_image_env_defines_variables_and_feeds_suggestions():
    text = "FROM golang\nENV PATH=$GOPAHT/bin:$PATH\n"
    lookup = {"golang": BaseImage(env=("PATH=/usr/bin", "GOPATH=/go"))}.get
    warning, = lint(parse(text), base_image=lookup)
    assert warning.message == "Usage of undefined variable '$GOPAHT' (did you mean $GOPATH?)"


def test_copy_heredoc_body_is_checked_unless_its_delimiter_is_quoted():
    text = "FROM alpine\nCOPY <<EOF /a\n$ONE\nEOF\nCOPY <<'EOF' /b\n$TWO\nEOF\n"
    assert [w.message for w in lint(parse(text))] == ["Usage of undefined variable '$ONE'"]


def test_run_mount_values_are_checked_but_the_command_is_not():
    text = "FROM alpine\nRUN --mount=type=cache,target=$CACHE_DIR echo $ANYTHING\n"
    assert [w.message for w in lint(parse(text))] == ["Usage of undefined variable '$CACHE_DIR'"]


def test_onbuild_triggers_run_only_in_stages_the_target_needs():
    text = ("FROM alpine AS base\nONBUILD CMD serve\nFROM base AS unused\n"
            "FROM alpine AS final\nCMD [\"x\"]\n")
    assert rules_fired(text) == []
    assert rules_fired(text, target="unused") == ["JSONArgsRecommended"]


def test_unknown_target_is_an_error():
    with pytest.raises(LintError, match='target stage "nope" could not be found'):
        lint(parse("FROM alpine\n"), target="nope")


def test_failing_expansion_raises_with_the_warnings_so_far():
    with pytest.raises(LintError) as caught:
        lint(parse("FROM alpine\nMAINTAINER me\nWORKDIR ${DIR:?set DIR}\n"))
    assert str(caught.value) == 'Dockerfile:3: failed to process "${DIR:?set DIR}": DIR: set DIR'
    assert [w.rule for w in caught.value.warnings] == ["MaintainerDeprecated"]


@pytest.mark.parametrize("text, expected", [
    ("", CheckConfig()),
    ("skip=A, B ,C", CheckConfig(skip=frozenset({"A", "B", "C"}))),
    ("skip=all", CheckConfig(skip_all=True)),
    (" error = true ", CheckConfig(error=True)),
    ("error=1;skip=X", CheckConfig(skip=frozenset({"X"}), error=True)),
    ("skip=X;error=False", CheckConfig(skip=frozenset({"X"}))),
    ("experimental=all", CheckConfig(experimental=frozenset({"all"}))),
])
def test_check_options_parse_like_buildkit(text, expected):
    assert parse_check_options(text) == expected


@pytest.mark.parametrize("text, message", [
    ("skip", 'invalid check option "skip"'),
    ("fail=true", 'invalid check option "fail"'),
    ("error=yes", 'failed to parse check option "error=yes": strconv.ParseBool: parsing "yes": '
                  'invalid syntax'),
])
def test_bad_check_options_give_buildkits_errors(text, message):
    with pytest.raises(ValueError) as caught:
        parse_check_options(text)
    assert str(caught.value) == message


def test_check_build_arg_replaces_the_directive_entirely():
    dockerfile = parse("# check=skip=all;error=true\nFROM alpine as base\n")
    assert check_config(dockerfile) == CheckConfig(skip_all=True, error=True)
    assert check_config(dockerfile, {"BUILDKIT_DOCKERFILE_CHECK": "skip=MaintainerDeprecated"}) == \
        CheckConfig(skip=frozenset({"MaintainerDeprecated"}))
    assert rules_fired("# check=skip=all\nFROM alpine as base\n",
                       build_args={"BUILDKIT_DOCKERFILE_CHECK": ""}) == ["FromAsCasing"]
    with pytest.raises(DockerfileError, match="BUILDKIT_DOCKERFILE_CHECK"):
        check_config(dockerfile, {"BUILDKIT_DOCKERFILE_CHECK": "error=maybe"})


def test_violation_message_names_each_rule_once_sorted():
    warnings = lint(parse("FROM alpine\nCMD a\nCMD b\nMAINTAINER x\n"))
    assert violation_message(warnings) == ("lint violation found for rules: JSONArgsRecommended, "
                                           "MaintainerDeprecated, MultipleInstructionsDisallowed")


def test_build_summary_lists_each_warning_in_buildkits_short_form():
    from builder.checks.report import build_summary

    warnings = lint(parse("FROM alpine as base\nCMD run\n"))
    assert build_summary(warnings) == (
        "\n 2 warnings found:\n"
        " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n"
        " - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended "
        "behavior related to OS signals (line 2)\n")
    assert build_summary([]) == ""
