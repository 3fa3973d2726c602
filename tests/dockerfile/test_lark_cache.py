"""The on-disk cache of built lark parsers (builder/lark_cache.py): written once per
grammar, read back, and never read from a place someone else can write."""

import os
from pathlib import Path

import pytest

from builder.lark_cache import cached_lark

GRAMMAR = 'start: WORD+\nWORD: /[a-z]+/\n%ignore " "\n'


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "pybuild"


def test_a_built_parser_is_saved_once_and_loaded_from_the_file(cache_home: Path):
    first = cached_lark(GRAMMAR, parser="lalr")
    files = list(cache_home.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pickle"
    stamp = files[0].stat().st_mtime_ns
    second = cached_lark(GRAMMAR, parser="lalr")
    assert list(cache_home.iterdir()) == files and files[0].stat().st_mtime_ns == stamp
    assert second.parse("a b") == first.parse("a b")
    assert oct(cache_home.stat().st_mode & 0o777) == oct(0o700)


def test_another_grammar_gets_its_own_file(cache_home: Path):
    cached_lark(GRAMMAR, parser="lalr")
    cached_lark(GRAMMAR.replace("a-z", "a-y"), parser="lalr")
    assert len(list(cache_home.iterdir())) == 2


def test_a_directory_others_can_write_is_not_used(cache_home: Path):
    cache_home.mkdir(mode=0o777)
    os.chmod(cache_home, 0o777)
    parser = cached_lark(GRAMMAR, parser="lalr")
    assert parser.parse("a b").children == ["a", "b"]
    assert list(cache_home.iterdir()) == []


def test_a_cache_file_others_can_write_is_not_loaded(cache_home: Path):
    cached_lark(GRAMMAR, parser="lalr")
    (planted,) = cache_home.iterdir()
    planted.write_bytes(b"not a pickle lark wrote")
    os.chmod(planted, 0o666)
    assert cached_lark(GRAMMAR, parser="lalr").parse("a b").children == ["a", "b"]
    assert planted.read_bytes() == b"not a pickle lark wrote"


def test_a_cache_file_that_does_not_load_is_replaced_by_a_good_one(cache_home: Path):
    cached_lark(GRAMMAR, parser="lalr")
    (damaged,) = cache_home.iterdir()
    damaged.write_bytes(b"6f1c\nnot what lark.save writes")
    os.chmod(damaged, 0o600)
    assert cached_lark(GRAMMAR, parser="lalr").parse("a b").children == ["a", "b"]
    stamp = damaged.stat().st_mtime_ns
    assert damaged.read_bytes().startswith(b"\x80")  # a pickle again
    cached_lark(GRAMMAR, parser="lalr")
    assert damaged.stat().st_mtime_ns == stamp
