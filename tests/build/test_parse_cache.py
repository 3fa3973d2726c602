"""The on-disk cache of parsed Dockerfiles (builder/parse_cache.py): an unchanged
Dockerfile is read back without lark, an edited one or an edited parser parses again,
and nothing is read from a place someone else can write."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder import parse_cache
from builder.errors import DockerfileError
from builder.parse_cache import cached_parse
from builder.parser import parse

TEXT = "FROM busybox AS base\nARG V=1\nRUN --mount=type=cache,target=/c echo $V\nCOPY --chmod=600 a b /dst/\n"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "pybuild"


def parsed(home: Path) -> list[Path]:
    return sorted(p for p in home.iterdir() if p.name.startswith("parsed-")) if home.exists() else []


def test_a_second_parse_of_the_same_text_is_read_back_without_lark(cache_home: Path):
    first = cached_parse(TEXT)
    assert len(parsed(cache_home)) == 1
    probe = ("import sys; from builder.parse_cache import cached_parse; d = cached_parse(%r);"
             "print(repr(d.instructions), sorted(m for m in sys.modules if m.startswith('lark')))" % TEXT)
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "XDG_CACHE_HOME": str(cache_home.parent)},
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == f"{first.instructions!r} []"
    assert repr(cached_parse(TEXT).instructions) == repr(parse(TEXT).instructions)


def test_another_text_or_file_name_parses_again(cache_home: Path):
    cached_parse(TEXT)
    assert cached_parse(TEXT.replace("V=1", "V=2")).instructions[1].args[0].value == "2"
    cached_parse(TEXT, file="other.Dockerfile")
    assert len(parsed(cache_home)) == 3


def test_an_edited_parser_never_reads_an_old_result(cache_home: Path, monkeypatch: pytest.MonkeyPatch):
    cached_parse(TEXT)
    stamp = parse_cache._code_stamp()
    monkeypatch.setattr(parse_cache, "_code_stamp", lambda: [*stamp[:-1], (stamp[-1][0], stamp[-1][1] + 1, 0)])
    cached_parse(TEXT)
    assert len(parsed(cache_home)) == 2


def test_errors_are_raised_every_time_and_never_kept(cache_home: Path):
    for _ in range(2):
        with pytest.raises(DockerfileError):
            cached_parse("RUN true\n")
    assert parsed(cache_home) == []


def test_a_file_others_can_write_is_not_loaded(cache_home: Path):
    cached_parse(TEXT)
    (planted,) = parsed(cache_home)
    planted.write_bytes(b"not a pickle the cache wrote")
    os.chmod(planted, 0o666)
    assert repr(cached_parse(TEXT).instructions) == repr(parse(TEXT).instructions)
    assert planted.read_bytes() == b"not a pickle the cache wrote"


def test_a_file_that_does_not_load_is_replaced(cache_home: Path):
    cached_parse(TEXT)
    (damaged,) = parsed(cache_home)
    damaged.write_bytes(b"\x80\x05truncated")
    assert repr(cached_parse(TEXT).instructions) == repr(parse(TEXT).instructions)
    assert repr(cached_parse(TEXT).instructions) == repr(parse(TEXT).instructions)
    assert len(damaged.read_bytes()) > 100


def test_only_the_most_recently_used_results_are_kept(cache_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(parse_cache, "KEEP", 3)
    for n in range(5):
        cached_parse(f"FROM busybox\nRUN echo {n}\n")
    kept = parsed(cache_home)
    assert len(kept) == 3
    cached_parse("FROM busybox\nRUN echo 4\n")  # the newest is among them: read, not written
    assert parsed(cache_home) == kept
