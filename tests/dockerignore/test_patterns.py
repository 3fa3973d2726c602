""".dockerignore pattern semantics, pinned with moby/patternmatcher's own cases."""

import json
from pathlib import Path

import pytest

from builder.dockerignore import DockerIgnore, DockerIgnoreError, clean_path, read_patterns
from oci.errors import UserError

CASES = json.loads((Path(__file__).parent / "data" / "patternmatcher_cases.json").read_text())


@pytest.mark.parametrize("pattern,path,kind", CASES["single"], ids=lambda v: str(v))
def test_single_pattern_matches_like_patternmatcher(pattern, path, kind):
    ignore = DockerIgnore.from_patterns([pattern])
    # "exact": the pattern itself matches; "inexact": only through a parent directory.
    assert ignore.patterns[0].match(path) is (kind == "exact")
    assert ignore.match_with_parent(path, ())[0] is (kind != "fail")


@pytest.mark.parametrize("patterns,path,excluded", CASES["multi"], ids=lambda v: str(v))
def test_last_matching_pattern_wins(patterns, path, excluded):
    assert DockerIgnore.from_patterns(patterns).matches(path) is excluded


@pytest.mark.parametrize("pattern,path,matched,bad", CASES["filepath_match"], ids=lambda v: str(v))
def test_go_filepath_match_syntax(pattern, path, matched, bad):
    if bad:
        with pytest.raises(DockerIgnoreError, match="syntax error in pattern"):
            DockerIgnore.from_patterns([pattern])
    else:
        assert DockerIgnore.from_patterns([pattern]).matches(path) is matched


def test_read_patterns_normalises_like_ignorefile():
    text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert [p for _, p in read_patterns(text)] == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]


def test_comment_only_in_first_column_and_bom_dropped():
    patterns = read_patterns("\ufeff# comment\n #notcomment\r\n./a/../b/\n")
    assert patterns == [(2, "#notcomment"), (3, "b")]


def test_lone_exclamation_mark_is_an_error_naming_file_and_line():
    with pytest.raises(DockerIgnoreError, match=r'^\.dockerignore:3: illegal exclusion pattern: "!"$'):
        DockerIgnore.from_text("a\nb\n!\n")


def test_unterminated_class_is_a_user_error_with_line():
    with pytest.raises(UserError, match=r"^\.dockerignore:2: syntax error in pattern 'src/\[ab'$"):
        DockerIgnore.from_text("ok\nsrc/[ab\n")


@pytest.mark.parametrize(
    "raw,cleaned",
    [("", "."), ("a//b", "a/b"), ("a/./b/", "a/b"), ("a/../..", ".."), ("/../a", "/a"), ("//a", "/a"), ("./", ".")],
)
def test_clean_path_follows_go(raw, cleaned):
    assert clean_path(raw) == cleaned


def test_directory_pattern_excludes_its_contents_unless_re_included():
    ignore = DockerIgnore.from_text("node_modules\n*.log\n!keep.log\n")
    assert ignore.matches("node_modules/pkg/index.js")
    assert ignore.matches("debug.log")
    assert not ignore.matches("keep.log")
    assert ignore.matches("sub/keep.log") is False  # *.log is one level only
    assert not ignore.matches("src/app.py")


def test_context_root_is_never_excluded():
    assert not DockerIgnore.from_text("*\n").matches(".")


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "app.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "build" / "app.Dockerfile.dockerignore").write_text("b\n")
    ignore = DockerIgnore.from_context(tmp_path, tmp_path / "build" / "app.Dockerfile")
    assert ignore.matches("b") and not ignore.matches("a")
    assert ignore.source.endswith("app.Dockerfile.dockerignore")
    assert DockerIgnore.from_context(tmp_path).matches("a")


def test_no_ignore_file_means_nothing_is_excluded(tmp_path):
    ignore = DockerIgnore.from_context(tmp_path)
    assert ignore.patterns == () and not ignore.matches("anything")
