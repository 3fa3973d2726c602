"""`pybuild parse` as a user runs it."""

import json
import subprocess
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dockerfiles"


def test_parse_reads_dockerfile_in_the_current_directory(pybuild, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM alpine AS base\nRUN echo hi\n")
    out = pybuild("parse", cwd=tmp_path).stdout
    assert out == "1-1 FROM image='alpine' stage='base'\n2-2 RUN form='shell' command=['echo hi']\n"


def test_parse_json_from_stdin_matches_the_documented_schema(pybuild):
    text = (FIXTURES / "official-golang-multistage.Dockerfile").read_text()
    out = pybuild("parse", "-f", "-", "--format", "json", input=text).stdout
    assert json.loads(out) == json.loads((FIXTURES / "official-golang-multistage.json").read_text())


def test_parse_error_shows_file_line_and_caret(pybuild, tmp_path: Path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM alpine\nFORM x\n")
    result = pybuild("parse", "-f", path, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: {path}:2: unknown instruction: FORM (did you mean FROM?)\n"
                             "    2 | FORM x\n"
                             "        ^\n")


def test_parse_warns_about_empty_continuation_lines_on_stderr(pybuild):
    result = pybuild("parse", "-f", "-", input="FROM a\nRUN echo \\\n\n  hi\n")
    assert result.stderr == "[WARNING]: Empty continuation line found in: RUN echo   hi (-:4)\n"
    assert "RUN form='shell' command=['echo   hi']" in result.stdout


def test_parse_missing_file_is_one_line_error(pybuild, tmp_path: Path):
    result = pybuild("parse", "-f", tmp_path / "nope", check=False)
    assert result.returncode == 1
    assert result.stderr == f"Error: {tmp_path / 'nope'}: cannot read Dockerfile: No such file or directory\n"


def test_parse_keeps_bytes_that_are_not_utf8(pybuild, tmp_path: Path):
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM a\nRUN echo caf\xe9\n")
    result = subprocess.run([*pybuild.command, "parse", "-f", path, "--format", "json"],
                            capture_output=True, env=pybuild.env(), check=True)
    assert b'"echo caf\xe9"' in result.stdout


def test_parse_rejects_unknown_format(pybuild):
    result = pybuild("parse", "-f", "-", "--format", "yaml", input="FROM a\n", check=False)
    assert result.returncode == 2
    assert "--format must be json or text" in result.stderr
