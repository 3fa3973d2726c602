"""Every fixture in fixtures/lint: a Dockerfile and the warnings BuildKit gives for it.

`NAME.expected` lists the warnings in the order the checks run, as BuildKit prints
them in build progress (`Rule: message (line N)`), then `error: ...` when the check
options make them fail the build. `NAME.build-args` (optional) holds `--build-arg`
values, one `NAME=VALUE` a line."""

from pathlib import Path

import pytest

from builder.checks import check_config, lint, violation_message
from builder.parser import parse_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lint"
CASES = sorted(p.name.removesuffix(".Dockerfile") for p in FIXTURES.glob("*.Dockerfile"))


def read_build_args(name: str) -> dict[str, str]:
    path = FIXTURES / f"{name}.build-args"
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def outcome(name: str) -> list[str]:
    dockerfile = parse_file(str(FIXTURES / f"{name}.Dockerfile"))
    build_args = read_build_args(name)
    warnings = lint(dockerfile, build_args)
    lines = [w.short() for w in warnings]
    if warnings and check_config(dockerfile, build_args).error:
        lines.append("error: " + violation_message(warnings))
    return lines


def test_the_corpus_covers_every_rule_both_ways():
    from builder.checks import RULES

    fired = {line.split(":")[0] for name in CASES
             for line in (FIXTURES / f"{name}.expected").read_text().splitlines()}
    assert set(RULES) <= fired
    assert len(CASES) >= 2 * len(RULES)
    assert any((FIXTURES / f"{n}.expected").read_text() == "" for n in CASES)


@pytest.mark.parametrize("name", CASES)
def test_fixture_gives_buildkits_warnings(name: str):
    expected = (FIXTURES / f"{name}.expected").read_text().splitlines()
    assert outcome(name) == expected


PARSER_CORPUS = sorted((FIXTURES.parent / "dockerfiles").glob("*.Dockerfile"))


@pytest.mark.parametrize("path", PARSER_CORPUS, ids=lambda p: p.name)
def test_every_parsable_dockerfile_of_the_parser_corpus_lints(path: Path):
    from builder.checks import LintError
    from builder.errors import DockerfileError

    try:
        dockerfile = parse_file(str(path))
    except DockerfileError:
        return
    try:
        warnings = lint(dockerfile)
    except LintError as exc:
        assert exc.line > 0 and exc.message.startswith("failed to process")
        return
    assert all(w.start_line >= 1 and w.end_line >= w.start_line for w in warnings)
