"""`pybuild build`'s fast path: the hand-written parser reads the same flags as the typer
app, declines what it does not plainly understand, and a cached rebuild through it never
imports typer, rich or click, nor writes to the store's database."""

import subprocess
import sys

import pytest
import typer.main

from pybuild.commands import build as build_command


def test_the_fast_parser_knows_exactly_the_typer_apps_flags():
    command = typer.main.get_command(build_command.app).commands["build"]
    typer_flags = {opt: param.name for param in command.params for opt in param.opts if opt.startswith("-")}
    fast_flags = {flag: name for flag, (name, _, _) in build_command.FLAGS.items()}
    assert fast_flags == typer_flags


def test_flags_repeat_or_take_the_last_value_around_the_context():
    values = build_command.parse_build_args(["-t", "a", "--tag=b", "ctx", "--network", "host", "--network=none",
                                             "-q", "--build-arg", "X=1", "--iidfile", "id.txt"])
    assert (values["context"], values["tag"], values["network"], values["quiet"]) == ("ctx", ["a", "b"], "none", True)
    assert values["build_arg"] == ["X=1"] and str(values["iidfile"]) == "id.txt"


@pytest.mark.parametrize("args", [["--help"], [], ["-t"], ["-t", "x"], ["a", "b"], ["--bogus", "ctx"],
                                  ["-qt", "x", "ctx"], ["--no-cache=true", "ctx"]])
def test_what_the_fast_parser_does_not_plainly_understand_goes_to_typer(args):
    assert build_command.parse_build_args(args) is None


def test_a_cached_rebuild_imports_no_typer_and_commits_nothing(pybuild, busybox_image, context):
    ctx = context("FROM busybox\nRUN echo hi > /x\nCOPY Dockerfile /Dockerfile\n")
    first = pybuild("build", "-q", "--network", "none", "-t", "fast", str(ctx)).stdout.strip()
    wal = pybuild.root / "pybuild.db-wal"
    before = wal.read_bytes() if wal.exists() else b""
    probe = ("import sys; from pybuild.main import main; code = main(['build', '-q', '--network', 'none', '-t',"
             " 'fast', %r]); print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')),"
             " code)" % str(ctx))
    out = subprocess.run([sys.executable, "-c", probe], env=pybuild.env(), capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == [first, "[]", "0"]
    assert (wal.read_bytes() if wal.exists() else b"") == before
