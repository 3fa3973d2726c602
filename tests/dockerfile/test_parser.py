"""Behaviour of the parser that the fixtures do not show: error excerpts, what lint and
the planner read from the AST, the Go duration syntax, and the fast paths."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder import ast
from builder.errors import DockerfileError
from builder.flags import FlagError, parse_duration, parse_mount
from builder.parser import _words, _words_slowly, parse


def error_of(text: str) -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    return info.value


def test_unknown_instruction_is_one_line_with_suggestion_and_caret():
    exc = error_of("FROM alpine\n\nFORM x\n")
    assert str(exc) == "Dockerfile:3: unknown instruction: FORM (did you mean FROM?)"
    assert exc.render() == ("Dockerfile:3: unknown instruction: FORM (did you mean FROM?)\n"
                            "    3 | FORM x\n"
                            "        ^")


def test_json_error_caret_points_at_the_arguments():
    exc = error_of("FROM alpine\nCMD  [\"a\", 1]\n")
    assert exc.line == 2 and exc.column == 6
    assert exc.render().splitlines()[-1] == " " * 13 + "^"


def test_error_on_a_continued_line_names_its_first_line():
    exc = error_of("FROM alpine\nENV A=1 \\\n    B\n")
    assert exc.line == 2
    assert exc.message == "Syntax error - can't find = in \"B\". Must be of the form: name=value"


def test_error_before_an_unterminated_heredoc_is_reported_first():
    assert error_of("FROM a\nRUN <<EOF\nnever closed\n").message == "unterminated heredoc"
    assert error_of("FROM a\nCMD [1]\nRUN <<EOF\n").line == 2


def test_from_keeps_what_lint_needs():
    stage = parse("FROM alpine as Builder\n").instructions[0]
    assert isinstance(stage, ast.From)
    assert (stage.stage, stage.stage_as_written, stage.as_keyword) == ("builder", "Builder", "as")
    assert stage.keyword == "FROM"


def test_instructions_keep_keyword_spelling_original_line_and_comments():
    df = parse("# check=skip=all\n# base image\nfrom alpine\n# the env\nENV  A=1 \\\n  B=2\n")
    first, env = df.instructions
    assert df.directive("check") == "skip=all"
    assert first.keyword == "from" and first.comments == ("base image",)
    assert env.original == "ENV  A=1   B=2" and env.comments == ("the env",)
    assert (env.start_line, env.end_line) == (5, 6)


def test_onbuild_expression_carries_heredoc_bodies():
    onbuild = parse("FROM a\nONBUILD RUN <<-EOF\n\techo hi\n\tEOF\n").instructions[1]
    assert isinstance(onbuild, ast.Onbuild) and isinstance(onbuild.trigger, ast.Run)
    assert onbuild.expression == "RUN <<-EOF\n\techo hi\nEOF"
    assert onbuild.trigger.heredocs[0].body == "echo hi\n"


def test_heredoc_body_keeps_crlf_and_missing_final_newline():
    run = parse("FROM a\r\nRUN <<EOF\r\nx\r\ny\nEOF").instructions[1]
    assert run.heredocs[0].body == "x\r\ny\n"
    assert run.end_line == 5


def test_backtick_escape_applies_to_flags_and_continuations():
    copy = parse("# escape=`\nFROM a\nCOPY --chown=a` b `\n  src dst\n").instructions[1]
    assert copy.chown == "a b"
    assert (copy.sources, copy.dest) == (("src",), "dst")


def test_go_durations():
    assert parse_duration("1m30s") == 90_000_000_000
    assert parse_duration("1.5h") == 5_400_000_000_000
    assert parse_duration("300ms") == 300_000_000
    assert parse_duration("0") == 0
    for bad, message in (("5", "missing unit"), ("5x", 'unknown unit "x"'), ("", "invalid"),
                         ("s", "invalid")):
        with pytest.raises(FlagError, match=message):
            parse_duration(bad)


def test_mount_fields_are_normalised():
    mount = parse_mount("type=secret,id=token,env=TOKEN,required=true")
    assert mount.to_json() == {"type": "secret", "id": "token", "env": "TOKEN", "required": True}
    assert parse_mount('"target=/a,b",ro').to_json() == {"type": "bind", "target": "/a,b",
                                                         "readonly": True}


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab =\"'\\`$ \t\u00a0")), max_size=30),
       st.sampled_from(["\\", "`"]))
def test_word_splitting_fast_path_agrees_with_the_character_walk(text: str, escape: str):
    assert _words(text, escape) == _words_slowly(text, escape)


def test_flags_split_at_blanks_outside_quotes_and_a_quoted_dashdash_ends_them():
    copy = parse('FROM a\nCOPY --exclude="*.md --x" --from="b\\" c" src dst\n').instructions[1]
    assert [(f.name, f.value) for f in copy.flags] == [("exclude", "*.md --x"), ("from", 'b" c')]
    copy = parse('FROM a\nCOPY --chown="a b" --"" --from=x src dst\n').instructions[1]
    assert copy.chown == "a b" and copy.from_ is None
    assert (copy.sources, copy.dest) == (("--from=x", "src"), "dst")


@pytest.mark.timeout(60)
def test_an_open_quote_after_a_long_env_value_does_not_hang_the_parser():
    # The check of the whole value used to backtrack over every way to cut the run of
    # characters into words: exponential in its length.
    env = parse("FROM a\nENV a=" + "b" * 40 + "'\n").instructions[1]
    assert isinstance(env, ast.Env)
    assert env.pairs == (ast.KeyValue("a", "b" * 40 + "'"),)
