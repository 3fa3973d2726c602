"""BuildKit's shell lexer behaviour, pinned with its own test cases (ported as data)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.shell_lex import ExpansionError, expand, expand_words
from oci.errors import UserError

DATA = Path(__file__).parent / "data"
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases():
    for lineno, line in enumerate((DATA / "env_var_cases.txt").read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        source, expected = line.split("|")
        yield pytest.param(source.strip(), expected.strip(), id=f"line{lineno}")


def _word_cases():
    env: dict[str, str] = {}
    for lineno, line in enumerate((DATA / "words_cases.txt").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[3:].lstrip(" ").partition("=")
            env[key] = value
            continue
        source, expected = line.split("|")
        yield pytest.param(source.strip(), dict(env), expected.lstrip(" ").split(","), id=f"line{lineno}")


@pytest.mark.parametrize("source,expected", list(_env_var_cases()))
def test_expansion_matches_buildkit_env_var_cases(source, expected):
    if expected == "error":
        with pytest.raises(ExpansionError):
            expand(source, ENV)
    else:
        assert expand(source, ENV).value == expected


@pytest.mark.parametrize("source,env,expected", list(_word_cases()))
def test_word_splitting_matches_buildkit_words_cases(source, env, expected):
    if expected == ["error"]:
        with pytest.raises(ExpansionError):
            expand_words(source, env)
    else:
        assert expand_words(source, env) == expected


@pytest.mark.parametrize(
    "case", json.loads((DATA / "process_with_matches.json").read_text()), ids=lambda c: c["input"]
)
def test_expansion_reports_used_and_unset_variables(case):
    if case["expected"] is None:
        with pytest.raises(ExpansionError):
            expand(case["input"], case["env"])
        return
    result = expand(case["input"], case["env"])
    assert result.value == case["expected"]
    assert result.used == frozenset(case["used"])
    assert result.unset == frozenset(case["unset"])


def test_required_variable_fails_with_the_authors_message():
    with pytest.raises(ExpansionError) as info:
        expand("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})
    assert str(info.value).endswith("VAR: message herex")
    assert isinstance(info.value, UserError)
    assert expand("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}).value == ""
    with pytest.raises(ExpansionError, match="VAR: message herex"):
        expand("${VAR?message here$ARG}", {"ARG": "x"})


def test_required_variable_without_message_says_unset_or_empty():
    with pytest.raises(ExpansionError, match="X: is not allowed to be unset"):
        expand("${X?}", {})
    with pytest.raises(ExpansionError, match="X: is not allowed to be empty"):
        expand("${X:?}", {"X": ""})


def test_unsupported_modifier_is_named_in_the_error():
    with pytest.raises(ExpansionError, match=r"unsupported modifier \(:=\) in substitution"):
        expand("${X:=1}", {})
    with pytest.raises(ExpansionError, match=r'failed to process "\$\{X=1\}"'):
        expand("${X=1}", {})


def test_backtick_escape_character_escapes_like_backslash():
    env = {"PWD": "/home"}
    assert expand("he`$PWD", env, "`").value == "he$PWD"
    assert expand("C:\\dir\\$PWD", env, "`").value == "C:\\dir\\/home"
    assert expand('"a`"b"', env, "`").value == 'a"b'
    assert expand_words("a` b c", env, "`") == ["a b", "c"]


def test_skip_unset_keeps_references_to_unset_variables():
    env = {"SET": "v"}
    result = expand("$SET $UNSET ${UNSET} ${UNSET:-d} ${UNSET/a/b}", env, skip_unset=True)
    assert result.value == "v $UNSET ${UNSET} ${UNSET:-d} ${UNSET/a/b}"


def test_raw_quotes_and_raw_escapes_keep_quoting_characters():
    env = {"A": "x"}
    assert expand("'a' \"$A\"", env, raw_quotes=True).value == "'a' \"x\""
    assert expand("a\\ b", env, raw_escapes=True).value == "a\\ b"


def test_heredoc_mode_leaves_quotes_alone():
    env = {"NAME": "world"}
    body = "echo 'hello $NAME' \"$NAME\"\n"
    assert expand(body, env, skip_process_quotes=True).value == "echo 'hello world' \"world\"\n"


def test_trim_patterns_reject_unknown_escapes():
    with pytest.raises(ExpansionError, match="invalid escape"):
        expand("${X#\\x}", {"X": "abc"})


def test_regex_characters_in_patterns_are_literal():
    assert expand("${V/a.c/X}", {"V": "abc a.c"}).value == "abc X"
    assert expand("${V//(/[}", {"V": "f(x)(y)"}).value == "f[x)[y)"


WORD_TEXT = st.text(alphabet=st.sampled_from(list("ab $_{}:-+?#%/*\\`'\"\t1")), max_size=24)


@settings(max_examples=400, deadline=None)
@given(WORD_TEXT, st.sampled_from(["\\", "`"]))
def test_any_text_expands_or_raises_only_expansion_error(word, escape):
    try:
        result = expand(word, {"a": "x y", "b": ""}, escape)
    except ExpansionError:
        return
    assert result.used <= {"a", "b"}
    assert not result.used & result.unset
