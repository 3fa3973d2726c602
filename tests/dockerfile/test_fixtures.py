"""Every case in fixtures/dockerfiles/: NAME.Dockerfile parses to NAME.json, or fails with
the one-line error in NAME.error. The expected files are what BuildKit's parser makes of
each case (see docs/dockerfile-ast.md for the JSON)."""

import json
from pathlib import Path

import pytest

from builder.errors import DockerfileError
from builder.parser import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dockerfiles"
CASES = sorted(p.name.removesuffix(".Dockerfile") for p in FIXTURES.glob("*.Dockerfile"))


def read(name: str) -> str:
    return (FIXTURES / f"{name}.Dockerfile").read_bytes().decode("utf-8")


def test_the_corpus_has_at_least_80_cases_each_with_an_expectation():
    assert len(CASES) >= 80
    for name in CASES:
        assert (FIXTURES / f"{name}.json").exists() != (FIXTURES / f"{name}.error").exists(), name


@pytest.mark.parametrize("name", CASES)
def test_fixture(name: str):
    expected_error = FIXTURES / f"{name}.error"
    if expected_error.exists():
        with pytest.raises(DockerfileError) as info:
            parse(read(name), file="Dockerfile")
        assert str(info.value) == expected_error.read_text().rstrip("\n")
    else:
        expected = json.loads((FIXTURES / f"{name}.json").read_text())
        assert parse(read(name), file="Dockerfile").to_json() == expected
