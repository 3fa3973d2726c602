"""`pybuild lint` as a user runs it: docker build --check's output, JSON, exit codes."""

import base64
import io
import json
import tarfile
from pathlib import Path


def write(tmp_path: Path, text: str, name: str = "Dockerfile") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_text_output_is_docker_build_checks(pybuild, tmp_path):
    # One marked line gets four lines of context, taken alternately before and after.
    write(tmp_path, "FROM alpine as base\nRUN true\nRUN true\nRUN true\nRUN true\n")
    result = pybuild("lint", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == (
        "Check complete, 1 warning has been found!\n"
        "\n"
        "WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n"
        "'as' and 'FROM' keywords' casing do not match\n"
        "Dockerfile:1\n"
        "--------------------\n"
        "   1 | >>> FROM alpine as base\n"
        "   2 |     RUN true\n"
        "   3 |     RUN true\n"
        "--------------------\n")


def test_warnings_are_printed_by_line_with_the_whole_instruction_marked(pybuild, tmp_path):
    path = write(tmp_path, "FROM alpine\nRUN a\nCMD run \\\n  --fast\nENV A 1\n", "app.Dockerfile")
    out = pybuild("lint", "-f", path).stdout
    assert out.startswith("Check complete, 2 warnings have been found!\n")
    assert out.index("JSONArgsRecommended") < out.index("LegacyKeyValueFormat")
    assert f"{path}:3\n--------------------\n" \
           "   2 |     RUN a\n" \
           "   3 | >>> CMD run \\\n   4 | >>>   --fast\n   5 |     ENV A 1\n" in out


def test_a_clean_dockerfile_says_so(pybuild, tmp_path):
    write(tmp_path, "FROM alpine\nCMD [\"true\"]\n")
    result = pybuild("lint", tmp_path)
    assert (result.returncode, result.stdout) == (0, "Check complete, no warnings found.\n")


def test_json_is_buildkits_lint_result(pybuild, tmp_path):
    text = "FROM alpine\nMAINTAINER me\n"
    path = write(tmp_path, text)
    result = json.loads(pybuild("lint", "-f", path, "--format", "json").stdout)
    assert result["warnings"] == [{
        "ruleName": "MaintainerDeprecated",
        "description": "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "url": "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
        "detail": "Maintainer instruction is deprecated in favor of using label",
        "location": {"ranges": [{"start": {"line": 2}, "end": {"line": 2}}]},
    }]
    source, = result["sources"]
    assert (source["filename"], source["language"]) == (str(path), "Dockerfile")
    assert base64.b64decode(source["data"]).decode() == text
    assert "buildError" not in result


def test_error_true_fails_with_the_rules_that_fired(pybuild, tmp_path):
    write(tmp_path, "# check=error=true\nFROM alpine as base\nCMD run\n")
    result = pybuild("lint", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "WARNING: FromAsCasing" in result.stdout
    assert result.stderr.strip() == "Error: lint violation found for rules: FromAsCasing, JSONArgsRecommended"
    as_json = json.loads(pybuild("lint", "--format", "json", cwd=tmp_path, check=False).stdout)
    assert as_json["buildError"]["message"] == \
        "lint violation found for rules: FromAsCasing, JSONArgsRecommended"


def test_build_arg_replaces_the_check_directive(pybuild, tmp_path):
    write(tmp_path, "# check=error=true\nFROM alpine as base\n")
    result = pybuild("lint", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=all", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "Check complete, no warnings found.\n")


def test_build_arg_value_is_used_for_arg_defaults(pybuild, tmp_path):
    write(tmp_path, "FROM alpine\nARG DIR=$UNSET\nWORKDIR $DIR\n")
    assert "UndefinedVar" in pybuild("lint", cwd=tmp_path).stdout
    assert pybuild("lint", "--build-arg", "DIR=/srv", cwd=tmp_path).stdout == \
        "Check complete, no warnings found.\n"


def test_target_limits_the_stage_checks_to_what_it_needs(pybuild, tmp_path):
    write(tmp_path, "FROM alpine AS a\nCOPY $X /\nFROM alpine AS b\nCOPY $Y /\n"
                    "FROM alpine AS c\nCOPY --from=a / /\n")
    everything = pybuild("lint", cwd=tmp_path).stdout
    assert "'$X'" in everything and "'$Y'" in everything
    only_c = pybuild("lint", "--target", "c", cwd=tmp_path).stdout
    assert "'$X'" in only_c and "'$Y'" not in only_c


def test_reads_standard_input(pybuild, tmp_path):
    result = pybuild("lint", "-f", "-", input="FROM alpine\nMAINTAINER me\n", cwd=tmp_path)
    assert "-:2\n" in result.stdout


def test_syntax_error_shows_the_line_and_exits_1(pybuild, tmp_path):
    write(tmp_path, "FROM alpine\nFORM alpine\n")
    result = pybuild("lint", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Dockerfile:2: unknown instruction: FORM (did you mean FROM?)\n")
    assert "Traceback" not in result.stderr


def test_bad_check_option_names_the_directive_line(pybuild, tmp_path):
    write(tmp_path, "# check=skip=A;fail=true\nFROM alpine\n")
    result = pybuild("lint", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == \
        'Error: Dockerfile:1: failed to parse check options: invalid check option "fail"'


def test_failing_expansion_keeps_the_warnings_before_it(pybuild, tmp_path):
    write(tmp_path, "FROM alpine\nMAINTAINER me\nCOPY ${SRC:?required} /\n")
    result = pybuild("lint", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "WARNING: MaintainerDeprecated" in result.stdout
    assert 'Error: Dockerfile:3: failed to process "${SRC:?required}": SRC: required' \
        in result.stderr


def test_missing_dockerfile_is_one_line(pybuild, tmp_path):
    result = pybuild("lint", tmp_path / "nowhere", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1


def test_base_image_env_from_the_local_store_defines_variables(pybuild, tmp_path):
    layer = tmp_path / "rootfs.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    pybuild("import", "--change", "ENV GOPATH=/go", layer, "golang:local")
    write(tmp_path, "FROM golang:local\nENV PATH=$GOPATH/bin:$PATH\n"
                    "FROM alpine:unknown\nENV PATH=$GOPATH/bin:$PATH\n")
    out = pybuild("lint", cwd=tmp_path).stdout
    assert out.count("UndefinedVar") == 1
    assert "Dockerfile:4\n" in out


def test_matches_docker_build_check_output_quoted_in_moby_issue_49928(pybuild, tmp_path):
    # docker build --check --build-arg IMAGE_NAME=alpine . (moby/moby#49928); the
    # issue's rendering trimmed the trailing blanks of the excerpt's empty lines.
    write(tmp_path, "# syntax=docker/dockerfile:1\n\nARG IMAGE_NAME\n\nFROM $IMAGE_NAME\nRUN echo hello\n")
    result = pybuild("lint", "--build-arg", "IMAGE_NAME=alpine", cwd=tmp_path)
    assert [line.rstrip() for line in result.stdout.splitlines()] == [
        "Check complete, 1 warning has been found!",
        "",
        "WARNING: InvalidDefaultArgInFrom - https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
        "Default value for ARG $IMAGE_NAME results in empty or invalid base image name",
        "Dockerfile:5",
        "--------------------",
        "   3 |     ARG IMAGE_NAME",
        "   4 |",
        "   5 | >>> FROM $IMAGE_NAME",
        "   6 |     RUN echo hello",
        "   7 |",
        "--------------------",
    ]
